package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"strings"

	"github.com/sealgate/sealgate/policy"
)

// maxEditedHeader bounds the header section editHeader will hold.
const maxEditedHeader = 1 << 20

// headerEdits are the changes policy asks for before a message leaves:
// subject tags and encrypt-request headers are the sender's instructions to
// sealgate, not part of the message.
type headerEdits struct {
	subjectTags []string
	drop        map[string]bool // canonical lower-case names
}

func editsFor(ds map[string]policy.Decision) headerEdits {
	e := headerEdits{drop: map[string]bool{}}
	seen := map[string]bool{}
	for _, d := range ds {
		for _, t := range d.StripSubjectTags {
			if !seen[t] {
				seen[t] = true
				e.subjectTags = append(e.subjectTags, t)
			}
		}
		for _, h := range d.StripHeaders {
			e.drop[strings.ToLower(h)] = true
		}
	}
	return e
}

func (e headerEdits) empty() bool { return len(e.subjectTags) == 0 && len(e.drop) == 0 }

// open wraps a message opener so that the header section is edited and the
// body streams through untouched.
func (e headerEdits) open(open func() (io.ReadCloser, error)) func() (io.ReadCloser, error) {
	if e.empty() {
		return open
	}
	return func() (io.ReadCloser, error) {
		rc, err := open()
		if err != nil {
			return nil, err
		}
		br := bufio.NewReaderSize(rc, 64<<10)
		hdr, err := e.apply(br)
		if err != nil {
			rc.Close()
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(hdr), br), rc}, nil
	}
}

// apply reads the header section (up to and including the blank line) and
// returns it edited. Folded fields are handled as one field.
func (e headerEdits) apply(br *bufio.Reader) ([]byte, error) {
	var out, field bytes.Buffer
	flush := func() {
		if field.Len() == 0 {
			return
		}
		raw := field.String()
		field.Reset()
		name, value, ok := strings.Cut(raw, ":")
		lname := strings.ToLower(strings.TrimSpace(name))
		switch {
		case ok && e.drop[lname]:
			return
		case ok && lname == "subject" && len(e.subjectTags) > 0:
			out.WriteString(name + ": " + e.subject(strings.TrimSpace(unfold(value))) + "\r\n")
			return
		}
		out.WriteString(raw)
	}
	total := 0
	for {
		line, err := br.ReadString('\n')
		total += len(line)
		if total > maxEditedHeader {
			return nil, errors.New("header section too large to edit")
		}
		if line == "\r\n" || line == "\n" || (err != nil && line == "") {
			flush()
			out.WriteString(line)
			return out.Bytes(), nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			field.WriteString(line)
		} else {
			flush()
			field.WriteString(line)
		}
		if err != nil {
			flush()
			return out.Bytes(), nil
		}
	}
}

// subject removes the tags, decoding RFC 2047 first so that a tag inside an
// encoded word is found, and encoding again only when needed.
func (e headerEdits) subject(raw string) string {
	dec, err := (&mime.WordDecoder{}).DecodeHeader(raw)
	if err != nil {
		dec = raw
	}
	stripped := policy.StripSubject(dec, e.subjectTags)
	if stripped == dec {
		return raw
	}
	for _, r := range stripped {
		if r > 0x7e {
			return mime.QEncoding.Encode("utf-8", stripped)
		}
	}
	return stripped
}

func unfold(v string) string {
	return strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
}

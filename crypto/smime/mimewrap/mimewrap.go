package mimewrap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DefaultGenericSubject replaces the Subject outside the encryption when
// Options.HideSubject is set and Options.GenericSubject is empty.
const DefaultGenericSubject = "Secure message"

// DefaultMaxHeaderBytes bounds the header section read by Split when
// Options.MaxHeaderBytes is zero.
const DefaultMaxHeaderBytes = 1 << 20

// ErrHeaderTooLarge is returned when the header section exceeds the bound.
var ErrHeaderTooLarge = errors.New("mimewrap: header section too large")

// ErrMalformedHeader is returned for a header line that is neither a field
// ("Name: value") nor a continuation line. The error never quotes the line.
var ErrMalformedHeader = errors.New("mimewrap: malformed header line")

// Options controls how the outer and inner headers are chosen.
type Options struct {
	// HideSubject replaces the outer Subject with GenericSubject, keeps only
	// routing and threading fields outside, and carries the real header
	// fields inside the encrypted entity as protected headers.
	HideSubject bool
	// GenericSubject is the outer Subject when HideSubject is set.
	// Empty means DefaultGenericSubject.
	GenericSubject string
	// MaxHeaderBytes bounds the header section; 0 means DefaultMaxHeaderBytes.
	MaxHeaderBytes int
}

// Field is one header field exactly as it appeared (folding kept), with
// every line ending normalised to CRLF.
type Field struct {
	Name string // as written, e.g. "Content-Type"
	Raw  []byte // "Name: value\r\n" including continuation lines
}

// Message is a split RFC 5322 message.
type Message struct {
	// Outer are the header fields to write outside the encryption, in
	// their original order; the caller appends its own Content-* fields.
	Outer []Field
	// Inner are the header fields of the entity to encrypt: protected
	// headers first (HideSubject only), then the original Content-* fields.
	Inner []Field
	// Body is the rest of the input after the blank line, unread.
	Body io.Reader
}

// outerKeep lists the fields that stay outside when HideSubject is set:
// what transport, replies and threading need (RFC 5322 §3.6) and nothing
// that describes the content. Names are lower case.
var outerKeep = map[string]bool{
	"from": true, "sender": true, "to": true, "cc": true, "reply-to": true,
	"date": true, "message-id": true, "in-reply-to": true, "references": true,
	"mime-version": true, "received": true, "return-path": true,
	"auto-submitted": true, "list-id": true, "list-unsubscribe": true,
	"list-unsubscribe-post": true,
}

// notProtected lists the fields never copied into the protected headers:
// trace fields and signatures that describe the transport, not the message.
var notProtected = map[string]bool{
	"received": true, "return-path": true, "mime-version": true,
	"dkim-signature": true, "arc-seal": true, "arc-message-signature": true,
	"arc-authentication-results": true, "authentication-results": true,
}

// Split reads the header section of an RFC 5322 message from r and returns
// the outer fields, the inner entity's fields and the unread body.
// Content-* fields always move inside. A Bcc field is dropped from both
// (RFC 5322 §3.6.3: it must not reach the other recipients), and so is a
// DKIM-Signature, which the new body would break (sealgate signs afterwards).
func Split(r *bufio.Reader, opts Options) (*Message, error) {
	limit := opts.MaxHeaderBytes
	if limit <= 0 {
		limit = DefaultMaxHeaderBytes
	}
	fields, err := readFields(r, limit)
	if err != nil {
		return nil, err
	}
	m := &Message{Body: r}
	var content []Field
	var protected []Field
	haveMIMEVersion := false
	for _, f := range fields {
		lname := strings.ToLower(f.Name)
		switch {
		case strings.HasPrefix(lname, "content-"):
			content = append(content, f)
			continue
		case lname == "bcc":
			continue
		case lname == "dkim-signature":
			// The body it signed is replaced: it could only fail.
			continue
		case lname == "mime-version":
			haveMIMEVersion = true
		}
		if !opts.HideSubject {
			m.Outer = append(m.Outer, f)
			continue
		}
		if !notProtected[lname] {
			protected = append(protected, f)
		}
		if outerKeep[lname] {
			m.Outer = append(m.Outer, f)
		}
	}
	if opts.HideSubject {
		subj := opts.GenericSubject
		if subj == "" {
			subj = DefaultGenericSubject
		}
		m.Outer = append(m.Outer, NewField("Subject", sanitize(subj)))
	}
	if !haveMIMEVersion {
		m.Outer = append(m.Outer, NewField("MIME-Version", "1.0"))
	}
	if opts.HideSubject {
		m.Inner = append(m.Inner, protected...)
		content = markProtected(content)
	}
	if len(content) == 0 || !hasContentType(content) {
		// RFC 2045 §5.2 default, made explicit so the inner entity stands alone.
		ct := "text/plain; charset=us-ascii"
		if opts.HideSubject {
			ct += `; protected-headers="v1"`
		}
		content = append([]Field{NewField("Content-Type", ct)}, content...)
	}
	m.Inner = append(m.Inner, content...)
	return m, nil
}

// NewField builds a field from a name and an unfolded value.
func NewField(name, value string) Field {
	return Field{Name: name, Raw: []byte(name + ": " + value + "\r\n")}
}

// WriteFields writes the fields in order.
func WriteFields(w io.Writer, fields []Field) error {
	for _, f := range fields {
		if _, err := w.Write(f.Raw); err != nil {
			return err
		}
	}
	return nil
}

// WriteInner writes the inner entity: its fields, the blank line and the
// body with line endings canonicalised to CRLF (RFC 8551 §3.1.1, RFC 3156 §3).
func (m *Message) WriteInner(w io.Writer) error {
	if err := WriteFields(w, m.Inner); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\r\n"); err != nil {
		return err
	}
	cw := NewCRLFWriter(w)
	if _, err := io.Copy(cw, m.Body); err != nil {
		return err
	}
	return cw.Close()
}

func hasContentType(fs []Field) bool {
	for _, f := range fs {
		if strings.EqualFold(f.Name, "Content-Type") {
			return true
		}
	}
	return false
}

// markProtected appends protected-headers="v1"
// (draft-autocrypt-lamps-protected-headers §2) to the Content-Type field,
// textually, so that the rest of the original field stays byte for byte.
func markProtected(fs []Field) []Field {
	out := make([]Field, len(fs))
	copy(out, fs)
	for i, f := range out {
		if !strings.EqualFold(f.Name, "Content-Type") {
			continue
		}
		raw := bytes.TrimRight(f.Raw, "\r\n")
		raw = bytes.TrimRight(raw, " \t;")
		nr := make([]byte, 0, len(raw)+32)
		nr = append(nr, raw...)
		nr = append(nr, ";\r\n protected-headers=\"v1\"\r\n"...)
		out[i] = Field{Name: f.Name, Raw: nr}
		break
	}
	return out
}

// sanitize keeps a configured header value on one line.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// readFields reads header fields up to and including the blank line (or
// EOF). Lines may end in CRLF or LF; the result always uses CRLF.
func readFields(r *bufio.Reader, limit int) ([]Field, error) {
	var fields []Field
	total := 0
	for {
		line, err := readLine(r, limit-total)
		if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
			if errors.Is(err, io.EOF) {
				return fields, nil // header only, no body
			}
			return nil, err
		}
		total += len(line) + 2
		if len(line) == 0 {
			return fields, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) == 0 {
				return nil, ErrMalformedHeader
			}
			last := &fields[len(fields)-1]
			last.Raw = append(last.Raw, line...)
			last.Raw = append(last.Raw, '\r', '\n')
		} else {
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 || !validName(line[:colon]) {
				return nil, ErrMalformedHeader
			}
			raw := make([]byte, 0, len(line)+2)
			raw = append(raw, line...)
			raw = append(raw, '\r', '\n')
			fields = append(fields, Field{Name: string(line[:colon]), Raw: raw})
		}
		if errors.Is(err, io.EOF) {
			return fields, nil
		}
	}
}

// validName checks RFC 5322 §3.6.8 field-name: printable US-ASCII except ':'.
func validName(b []byte) bool {
	for _, c := range b {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// readLine returns one line without its terminator; at most max bytes.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > max {
			return nil, ErrHeaderTooLarge
		}
		line = append(line, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			return bytes.TrimRight(line, "\r"), io.EOF
		}
		return nil, fmt.Errorf("mimewrap: reading header: %w", err)
	}
	line = line[:len(line)-1]
	return bytes.TrimSuffix(line, []byte{'\r'}), nil
}

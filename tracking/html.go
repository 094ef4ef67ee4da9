package tracking

import (
	"bytes"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"mime/quotedprintable"
	"net/url"
	"path"
	"strings"

	xhtml "golang.org/x/net/html"
)

// htmlRewriter rewrites one decoded text/html body. It works on the raw
// bytes the tokenizer reports and splices only the href values it
// replaces, so every other byte (entities, case, quoting, non-UTF-8 text)
// is kept exactly.
type htmlRewriter struct {
	p     *Params
	st    *Stats
	links *int   // message-wide link counter
	le    string // line ending for inserted line breaks
	wrap  bool   // keep lines under 998 octets (identity transfer encodings)
	out   bytes.Buffer

	lineStart int // offset in out just after its last '\n' (kept incrementally: O(n) overall)
	src       []byte
	nextNL    int // offset in src of the first '\n' at or after the current token (-1: none)
}

// write appends to the output, keeping track of where its last line starts.
func (h *htmlRewriter) write(b []byte) {
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		h.lineStart = h.out.Len() + i + 1
	}
	h.out.Write(b)
}

func (h *htmlRewriter) writeString(s string) {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		h.lineStart = h.out.Len() + i + 1
	}
	h.out.WriteString(s)
}

// restOfLine is the number of source bytes from off to the end of its line.
// The cached newline position only moves forward, so all calls together
// cost O(len(src)).
func (h *htmlRewriter) restOfLine(off int) int {
	if h.nextNL != -1 && h.nextNL < off {
		if i := bytes.IndexByte(h.src[off:], '\n'); i >= 0 {
			h.nextNL = off + i
		} else {
			h.nextNL = -1
		}
	}
	if h.nextNL == -1 {
		return len(h.src) - off
	}
	return h.nextNL - off
}

func (h *htmlRewriter) rewrite(src []byte) ([]byte, error) {
	h.out.Grow(len(src) + 1024)
	h.src = src
	h.nextNL = bytes.IndexByte(src, '\n')
	z := xhtml.NewTokenizer(bytes.NewReader(src))
	pos := 0 // offset in src of the current token
	inserted := false
	var raw []byte
	for {
		tt := z.Next()
		raw = append(raw[:0], z.Raw()...) // copy first: TagName lower-cases in place
		next := pos + len(raw)
		if tt == xhtml.ErrorToken {
			h.write(raw)
			if !errors.Is(z.Err(), io.EOF) {
				return nil, z.Err()
			}
			break
		}
		switch tt {
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if hasAttr && (string(name) == "a" || string(name) == "area") {
				if err := h.anchor(raw, next); err != nil {
					return nil, err
				}
				pos = next
				continue
			}
		case xhtml.CommentToken:
			if isConditionalComment(raw) {
				if err := h.conditional(raw, pos); err != nil {
					return nil, err
				}
				pos = next
				continue
			}
		case xhtml.EndTagToken:
			name, _ := z.TagName()
			if !inserted && string(name) == "body" {
				if err := h.insertTracking(); err != nil {
					return nil, err
				}
				inserted = true
				// Keep "</body>…" and the rest of its line within the limit too.
				if h.wrap && h.column() > 0 && h.column()+h.restOfLine(pos) > maxLineOctets-2 {
					h.writeString(h.le)
				}
			}
		}
		h.write(raw)
		pos = next
	}
	if !inserted {
		if err := h.insertTracking(); err != nil {
			return nil, err
		}
	}
	return h.out.Bytes(), nil
}

// isConditionalComment reports an Outlook downlevel-hidden conditional
// comment, <!--[if mso]>…<![endif]-->, where "bulletproof" VML buttons
// (<v:roundrect href=…>) live.
func isConditionalComment(raw []byte) bool {
	return len(raw) >= len("<!--[if-->") && bytes.HasPrefix(raw, []byte("<!--[if")) && bytes.HasSuffix(raw, []byte("-->"))
}

// conditional rewrites the href of <a>, <area> and VML (v:*) elements
// inside a conditional comment, which Outlook renders as markup. Nothing
// else in it changes; the pixel is never placed inside one. start is the
// comment's offset in the source.
func (h *htmlRewriter) conditional(raw []byte, start int) error {
	inner := raw[4 : len(raw)-3]
	h.write(raw[:4])
	z := xhtml.NewTokenizer(bytes.NewReader(inner))
	pos := start + 4
	var tok []byte
	for {
		tt := z.Next()
		tok = append(tok[:0], z.Raw()...)
		next := pos + len(tok)
		if tt == xhtml.ErrorToken {
			h.write(tok)
			if !errors.Is(z.Err(), io.EOF) {
				return z.Err()
			}
			break
		}
		if tt == xhtml.StartTagToken || tt == xhtml.SelfClosingTagToken {
			name, hasAttr := z.TagName()
			if hasAttr && (string(name) == "a" || string(name) == "area" || bytes.HasPrefix(name, []byte("v:"))) {
				if err := h.anchor(tok, next); err != nil {
					return err
				}
				pos = next
				continue
			}
		}
		h.write(tok)
		pos = next
	}
	h.write(raw[len(raw)-3:])
	return nil
}

// column is the length of the output's current (last) line.
func (h *htmlRewriter) column() int { return h.out.Len() - h.lineStart }

// breakIfLong starts a new line when adding n more octets would pass the
// RFC 5322 line limit.
func (h *htmlRewriter) breakIfLong(n int) {
	if h.wrap && h.column()+n > maxLineOctets-2 && h.column() > 0 {
		h.writeString(h.le)
	}
}

func (h *htmlRewriter) insertTracking() error {
	if h.p.Honeypot {
		tok, err := h.p.Keys.Seal(h.token(TokenHoneypot, 0, ""), h.p.Rand)
		if err != nil {
			return err
		}
		s := `<a href="` + h.p.BaseURL + "/t/h/" + tok + `" style="display:none!important;visibility:hidden;font-size:0;line-height:0;max-height:0;overflow:hidden" aria-hidden="true" tabindex="-1"></a>`
		h.breakIfLong(len(s))
		h.writeString(s)
		h.st.Honeypots++
	}
	tok, err := h.p.Keys.Seal(h.token(TokenOpen, 0, ""), h.p.Rand)
	if err != nil {
		return err
	}
	s := `<img src="` + h.p.BaseURL + "/t/o/" + tok + `" width="1" height="1" alt="">`
	h.breakIfLong(len(s))
	h.writeString(s)
	h.st.Pixels++
	return nil
}

func (h *htmlRewriter) token(kind TokenKind, idx int, u string) Token {
	return Token{
		Kind: kind, MessageID: h.p.MessageID, Recipient: h.p.Recipient, Sender: h.p.Sender,
		Campaign: h.st.Campaign, LinkIndex: idx, URL: u, IssuedAt: h.p.Now,
	}
}

// attr is one attribute in a raw start tag: name and the value's span
// (quotes excluded) in the raw bytes.
type attr struct {
	name             string
	nameStart        int
	valStart, valEnd int
	quoted, hasValue bool
	unterminated     bool
	attrEnd          int
}

// parseAttrs splits a raw start tag into attributes following the HTML
// tokenizer's rules (WHATWG §13.2.5.32 onwards).
func parseAttrs(raw []byte) []attr {
	i := 1 // skip '<'
	for i < len(raw) && !isSpace(raw[i]) && raw[i] != '/' && raw[i] != '>' {
		i++
	}
	var as []attr
	for i < len(raw) {
		for i < len(raw) && (isSpace(raw[i]) || raw[i] == '/') {
			i++
		}
		if i >= len(raw) || raw[i] == '>' {
			break
		}
		a := attr{nameStart: i}
		j := i + 1 // a leading '=' is part of the name
		for j < len(raw) && !isSpace(raw[j]) && raw[j] != '/' && raw[j] != '>' && raw[j] != '=' {
			j++
		}
		a.name = strings.ToLower(string(raw[i:j]))
		k := j
		for k < len(raw) && isSpace(raw[k]) {
			k++
		}
		if k < len(raw) && raw[k] == '=' {
			k++
			for k < len(raw) && isSpace(raw[k]) {
				k++
			}
			a.hasValue = true
			if k < len(raw) && (raw[k] == '"' || raw[k] == '\'') {
				q := raw[k]
				e := bytes.IndexByte(raw[k+1:], q)
				if e < 0 {
					a.valStart, a.valEnd, a.quoted = k+1, len(raw), true
					a.attrEnd, a.unterminated = len(raw), true
				} else {
					a.valStart, a.valEnd, a.quoted = k+1, k+1+e, true
					a.attrEnd = k + 2 + e
				}
			} else {
				e := k
				for e < len(raw) && !isSpace(raw[e]) && raw[e] != '>' {
					e++
				}
				a.valStart, a.valEnd, a.attrEnd = k, e, e
			}
			i = a.attrEnd
		} else {
			a.valStart, a.valEnd, a.attrEnd = j, j, j
			i = j
		}
		as = append(as, a)
	}
	return as
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// anchor handles one <a> or <area> start tag; next is the source offset
// just after it (to keep the line it is on under the length limit).
func (h *htmlRewriter) anchor(raw []byte, next int) error {
	as := parseAttrs(raw)
	var href *attr
	notrack := false
	for i := range as {
		switch {
		case as[i].name == "data-sealgate-notrack":
			notrack = true
		case as[i].name == "href" && href == nil:
			href = &as[i]
		}
	}
	if href == nil || !href.hasValue || href.unterminated {
		h.write(raw)
		return nil
	}
	if notrack {
		h.st.LinksExcluded++
		h.write(raw)
		return nil
	}
	target, ok := h.classifyLink(html.UnescapeString(string(raw[href.valStart:href.valEnd])))
	if !ok {
		h.write(raw)
		return nil
	}
	idx := *h.links + 1
	tok, err := h.p.Keys.Seal(h.token(TokenClick, idx, target), h.p.Rand)
	if err != nil {
		h.st.LinksSkipped++
		h.write(raw)
		return nil
	}
	*h.links = idx
	h.st.LinksRewritten++
	newVal := h.p.BaseURL + "/t/c/" + tok
	// Splice: everything before the attribute, the new attribute, the rest.
	before := raw[:href.nameStart]
	nameAndEq := raw[href.nameStart:href.valStart]
	if href.quoted {
		nameAndEq = nameAndEq[:len(nameAndEq)-1] // drop the opening quote; we re-quote
	}
	after := raw[href.attrEnd:]
	newAttr := string(nameAndEq) + `"` + newVal + `"`
	h.write(before)
	h.breakIfLong(len(newAttr))
	h.writeString(newAttr)
	if h.wrap && len(after) > 0 {
		lineRest := len(after)
		if nl := bytes.IndexByte(after, '\n'); nl >= 0 {
			lineRest = nl
		} else {
			lineRest += h.restOfLine(next)
		}
		if h.column()+lineRest > maxLineOctets-2 && (isSpace(after[0]) || after[0] == '>' || after[0] == '/') {
			h.writeString(h.le)
		}
	}
	h.write(after)
	return nil
}

// classifyLink decides whether a (decoded) href is rewritten. Browsers
// strip leading/trailing whitespace and remove tabs and newlines.
func (h *htmlRewriter) classifyLink(v string) (string, bool) {
	v = strings.Trim(v, " \t\n\r\f")
	if strings.ContainsAny(v, "\t\n\r") {
		v = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, v)
	}
	lower := strings.ToLower(v)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		h.st.LinksUntracked++
		return "", false
	}
	if strings.HasPrefix(lower, strings.ToLower(h.p.BaseURL)+"/t/") {
		h.st.LinksExcluded++
		return "", false
	}
	if !sealedURLOK(v) {
		h.st.LinksSkipped++
		return "", false
	}
	if excluded(v, h.p.Exclusions) {
		h.st.LinksExcluded++
		return "", false
	}
	return v, true
}

// excluded matches a URL against exclusions: entries containing "://" are
// case-insensitive URL prefixes, others are globs on the host name
// ("*.example.org", "portal.example.com").
func excluded(u string, ex []string) bool {
	if len(ex) == 0 {
		return false
	}
	pu, err := url.Parse(u)
	if err != nil {
		return false
	}
	host := strings.ToLower(pu.Hostname())
	lower := strings.ToLower(u)
	for _, e := range ex {
		if strings.Contains(e, "://") {
			if strings.HasPrefix(lower, strings.ToLower(e)) {
				return true
			}
			continue
		}
		if ok, _ := path.Match(strings.ToLower(e), host); ok {
			return true
		}
	}
	return false
}

func decodeQP(b []byte) ([]byte, error) {
	return io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
}

func encodeQP(b []byte, le string) []byte {
	var out bytes.Buffer
	qw := quotedprintable.NewWriter(&out)
	qw.Write(b) // writes to a bytes.Buffer cannot fail
	qw.Close()
	if le == "\n" {
		return bytes.ReplaceAll(out.Bytes(), []byte("\r\n"), []byte("\n"))
	}
	return out.Bytes()
}

func decodeBase64(b []byte) ([]byte, error) {
	clean := make([]byte, 0, len(b))
	for _, c := range b {
		if !isSpace(c) {
			clean = append(clean, c)
		}
	}
	return base64.StdEncoding.DecodeString(string(clean))
}

func encodeBase64(b []byte, le string) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	var out bytes.Buffer
	out.Grow(len(enc) + len(enc)/76*len(le) + 2)
	for len(enc) > 76 {
		out.WriteString(enc[:76])
		out.WriteString(le)
		enc = enc[76:]
	}
	out.WriteString(enc)
	return out.Bytes()
}

package tracking

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"path"
	"strings"
	"time"
)

// DefaultMaxHTMLBytes is the largest decoded HTML part Rewrite will rewrite.
// Larger parts pass through untouched (Stats.OversizedParts).
const DefaultMaxHTMLBytes = 10 << 20

// CampaignHeader is the header a sending system uses to tag a message with
// a campaign ID. Rewrite reads it and strips it from the message.
const CampaignHeader = "X-Sealgate-Campaign"

const (
	maxHeaderBlock = 1 << 20 // a header block larger than this ends rewriting: the rest passes through
	maxDepth       = 32      // multipart nesting beyond this is copied untouched
	maxLineOctets  = 998     // RFC 5322 §2.1.1
	lineBufSize    = 16 << 10
	maxCampaignLen = 64
)

// Params are everything Rewrite needs for one recipient's copy of one
// message. Options.Params fills the configuration part.
type Params struct {
	BaseURL      string   // e.g. https://gw.example.com; tracking URLs are BaseURL/t/{o,c,h}/TOKEN
	Keys         Keys     // tokens are sealed with Keys.Current
	Exclusions   []string // URL prefixes ("https://portal.example.com/") or host globs ("*.example.org")
	Honeypot     bool     // add a hidden link no human can see or follow
	MaxHTMLBytes int64    // 0 means DefaultMaxHTMLBytes

	MessageID string // sealgate queue ID
	Recipient string
	Sender    string
	Campaign  string    // empty: taken from the X-Sealgate-Campaign header, if any
	Now       time.Time // issued-at of the tokens; zero means time.Now()
	Rand      io.Reader // token nonces; nil means crypto/rand
}

// Stats says what Rewrite did. It holds counts and the campaign ID only.
type Stats struct {
	Campaign         string // campaign the tokens carry
	HTMLParts        int    // text/html parts rewritten
	LinksRewritten   int    // http(s) links now pointing at /t/c/
	LinksUntracked   int    // mailto:, tel:, fragments, relative and other non-http links
	LinksExcluded    int    // matched an exclusion, were marked data-sealgate-notrack, or already tracked
	LinksSkipped     int    // http(s) links left alone because they were non-ASCII, unparsable or too long
	Pixels           int    // open pixels added (one per rewritten HTML part)
	Honeypots        int    // honeypot links added
	OversizedParts   int    // HTML parts over MaxHTMLBytes, passed through untouched
	UndecodableParts int    // HTML parts whose transfer encoding did not decode, passed through untouched
	CharsetParts     int    // HTML parts in a charset that is not ASCII-compatible (UTF-16, UTF-32, UTF-7, EBCDIC), passed through untouched
	Passthrough      bool   // an over-long header block stopped parsing; the rest was copied untouched
}

// Changed reports whether Rewrite altered anything besides stripping headers.
func (s Stats) Changed() bool { return s.Pixels > 0 || s.LinksRewritten > 0 || s.Honeypots > 0 }

// CampaignFromHeader returns the campaign ID carried in an
// X-Sealgate-Campaign header value: trimmed, at most 64 characters of
// [A-Za-z0-9._:-]. Anything else yields "" so free text (which could hold
// PHI) never becomes a campaign ID.
func CampaignFromHeader(value string) string {
	v := strings.TrimSpace(value)
	if v == "" || len(v) > maxCampaignLen {
		return ""
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return ""
		}
	}
	return v
}

func (p *Params) validate() error {
	if err := p.Keys.Validate(); err != nil {
		return err
	}
	u, err := url.Parse(p.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("tracking: base URL must be an absolute http(s) URL without query")
	}
	return validateExclusions(p.Exclusions)
}

func validateExclusions(ex []string) error {
	for _, e := range ex {
		if e == "" {
			return errors.New("tracking: empty exclusion")
		}
		if strings.Contains(e, "://") {
			continue
		}
		if _, err := path.Match(e, "x"); err != nil {
			return fmt.Errorf("tracking: bad host glob %q", e)
		}
	}
	return nil
}

// Rewrite copies the RFC 5322 message in src to dst, pointing every http(s)
// link in its text/html parts at BaseURL/t/c/TOKEN and adding an open pixel
// (and optionally a honeypot link) to each. Everything else is copied
// byte for byte: headers (except X-Sealgate-Campaign, stripped from the top
// level), MIME structure, boundaries, text/plain parts, attachments,
// embedded messages. A rewritten HTML part keeps its charset and its
// transfer encoding (quoted-printable and base64 are re-encoded).
//
// Non-HTML content streams through with bounded memory; an HTML part is
// buffered up to MaxHTMLBytes (and passes through untouched if larger).
// On error dst holds a partial message: callers write to a spool and fall
// back to the original.
func Rewrite(dst io.Writer, src io.Reader, p Params) (Stats, error) {
	if err := p.validate(); err != nil {
		return Stats{}, err
	}
	if p.MaxHTMLBytes <= 0 {
		p.MaxHTMLBytes = DefaultMaxHTMLBytes
	}
	if p.Now.IsZero() {
		p.Now = time.Now()
	}
	p.BaseURL = strings.TrimRight(p.BaseURL, "/")
	bw := bufio.NewWriterSize(dst, 16<<10)
	w := &walker{
		lr: &lineReader{r: bufio.NewReaderSize(src, lineBufSize), atStart: true},
		w:  bw,
		p:  &p,
	}
	w.st.Campaign = CampaignFromHeader(p.Campaign)
	err := w.run()
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return w.st, err
}

// lineReader yields input lines (with their line endings) in fragments of
// at most lineBufSize bytes, so a huge line never costs more memory.
type lineReader struct {
	r       *bufio.Reader
	atStart bool // the next fragment starts a line
	eof     bool
}

// next returns the next fragment, whether it starts a line, and whether it
// is a whole line (ends in LF or at EOF). The slice is valid until the next call.
func (l *lineReader) next() (frag []byte, start, whole bool, err error) {
	if l.eof {
		return nil, false, false, io.EOF
	}
	frag, err = l.r.ReadSlice('\n')
	start = l.atStart
	switch {
	case err == nil:
		l.atStart = true
		return frag, start, true, nil
	case errors.Is(err, bufio.ErrBufferFull):
		l.atStart = false
		return frag, start, false, nil
	case errors.Is(err, io.EOF):
		l.eof = true
		if len(frag) == 0 {
			return nil, false, false, io.EOF
		}
		return frag, start, true, nil
	default:
		return nil, false, false, err
	}
}

// mark is the line that ended an entity: a boundary delimiter of an
// enclosing multipart (level is its index in the boundary stack) or EOF.
type mark struct {
	line  []byte
	level int
	close bool
	eof   bool
}

type walker struct {
	lr    *lineReader
	w     *bufio.Writer
	p     *Params
	st    Stats
	le    string // the message's line ending, from its first line
	links int    // links rewritten so far: the next link index is links+1
}

func (w *walker) run() error {
	m, err := w.entity(nil, true, 0)
	if errors.Is(err, errPassthrough) {
		w.st.Passthrough = true
		_, err = io.Copy(w.w, w.lr.r)
		return err
	}
	if err != nil {
		return err
	}
	if !m.eof {
		// Only possible with an empty boundary stack if something is wrong.
		return errors.New("tracking: internal: unexpected boundary at top level")
	}
	return nil
}

var errPassthrough = errors.New("passthrough")

// boundaryMatch reports which boundary in bounds (innermost first) line
// delimits, per RFC 2046 §5.1.1: "--" boundary ["--"] transport-padding CRLF.
func boundaryMatch(line []byte, bounds []string) (level int, closing, ok bool) {
	if len(line) < 3 || line[0] != '-' || line[1] != '-' {
		return 0, false, false
	}
	body := bytes.TrimRight(line, "\r\n")
	for i := len(bounds) - 1; i >= 0; i-- {
		b := bounds[i]
		if !bytes.HasPrefix(body[2:], []byte(b)) {
			continue
		}
		rest := body[2+len(b):]
		cl := false
		if bytes.HasPrefix(rest, []byte("--")) {
			cl, rest = true, rest[2:]
		}
		if len(bytes.Trim(rest, " \t")) == 0 {
			return i, cl, true
		}
	}
	return 0, false, false
}

// copyUntil writes lines through until a boundary line of bounds or EOF.
func (w *walker) copyUntil(bounds []string) (mark, error) {
	for {
		frag, start, whole, err := w.lr.next()
		if err == io.EOF {
			return mark{eof: true}, nil
		}
		if err != nil {
			return mark{}, err
		}
		if start && whole && len(bounds) > 0 {
			if lvl, cl, ok := boundaryMatch(frag, bounds); ok {
				return mark{line: bytes.Clone(frag), level: lvl, close: cl}, nil
			}
		}
		if _, err := w.w.Write(frag); err != nil {
			return mark{}, err
		}
	}
}

type headerField struct {
	name  string // canonical case as written
	value string // unfolded
	raw   []byte
}

// readHeader reads a header block up to and including its empty line.
// A boundary line inside it ends the entity early (malformed input).
func (w *walker) readHeader(bounds []string) (fields []headerField, end []byte, m *mark, err error) {
	var cur []byte
	total := 0
	flush := func() {
		if cur == nil {
			return
		}
		name, val, _ := bytes.Cut(cur, []byte(":"))
		v := strings.Join(strings.Fields(string(val)), " ")
		fields = append(fields, headerField{name: strings.TrimSpace(string(name)), value: v, raw: cur})
		cur = nil
	}
	writeAll := func() error {
		flush()
		for _, f := range fields {
			if _, err := w.w.Write(f.raw); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		frag, start, whole, err := w.lr.next()
		if err == io.EOF {
			flush()
			return fields, nil, nil, nil
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if w.le == "" && whole {
			if bytes.HasSuffix(frag, []byte("\r\n")) {
				w.le = "\r\n"
			} else {
				w.le = "\n"
			}
		}
		total += len(frag)
		if total > maxHeaderBlock {
			if err := writeAll(); err != nil {
				return nil, nil, nil, err
			}
			if _, err := w.w.Write(frag); err != nil {
				return nil, nil, nil, err
			}
			return nil, nil, nil, errPassthrough
		}
		if start && whole {
			if len(bounds) > 0 {
				if lvl, cl, ok := boundaryMatch(frag, bounds); ok {
					if err := writeAll(); err != nil {
						return nil, nil, nil, err
					}
					return nil, nil, &mark{line: bytes.Clone(frag), level: lvl, close: cl}, nil
				}
			}
			if len(bytes.TrimRight(frag, "\r\n")) == 0 {
				flush()
				return fields, bytes.Clone(frag), nil, nil
			}
		}
		if start && (frag[0] == ' ' || frag[0] == '\t') && cur != nil {
			cur = append(cur, frag...)
			continue
		}
		if start {
			flush()
		}
		cur = append(cur, frag...)
	}
}

func headerValue(fields []headerField, name string) string {
	for _, f := range fields {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

// entity processes one MIME entity (header and body) and returns the line
// that ended it. top is the message itself; bounds are the enclosing
// multipart boundaries, outermost first.
func (w *walker) entity(bounds []string, top bool, depth int) (mark, error) {
	fields, end, m, err := w.readHeader(bounds)
	if err != nil {
		return mark{}, err
	}
	for _, f := range fields {
		if top && strings.EqualFold(f.name, CampaignHeader) {
			if w.st.Campaign == "" {
				w.st.Campaign = CampaignFromHeader(f.value)
			}
			continue
		}
		if _, err := w.w.Write(f.raw); err != nil {
			return mark{}, err
		}
	}
	if m != nil {
		return *m, nil
	}
	if end == nil { // EOF inside the header
		return mark{eof: true}, nil
	}
	if _, err := w.w.Write(end); err != nil {
		return mark{}, err
	}
	ct := headerValue(fields, "Content-Type")
	mt, params, perr := mime.ParseMediaType(ct)
	if ct == "" || perr != nil {
		mt = "text/plain"
	}
	disp, _, _ := mime.ParseMediaType(headerValue(fields, "Content-Disposition"))
	switch {
	case strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" && depth < maxDepth:
		return w.multipart(bounds, params["boundary"], depth)
	case mt == "text/html" && disp != "attachment" && !asciiCompatible(params["charset"]):
		w.st.CharsetParts++
		return w.copyUntil(bounds)
	case mt == "text/html" && disp != "attachment":
		return w.html(bounds, strings.ToLower(headerValue(fields, "Content-Transfer-Encoding")))
	default:
		return w.copyUntil(bounds)
	}
}

// asciiCompatible reports whether a charset encodes ASCII as ASCII, so the
// HTML can be tokenized and ASCII URLs spliced in without transcoding.
func asciiCompatible(charset string) bool {
	c := strings.ToLower(strings.TrimSpace(charset))
	for _, bad := range []string{"utf-16", "utf16", "utf-32", "utf32", "ucs-2", "ucs2", "ucs-4", "ucs4", "unicode", "utf-7", "utf7", "ibm037", "cp037", "ebcdic", "ibm1047", "cp1047"} {
		if strings.HasPrefix(c, bad) {
			return false
		}
	}
	return true
}

func (w *walker) multipart(bounds []string, boundary string, depth int) (mark, error) {
	inner := append(append(make([]string, 0, len(bounds)+1), bounds...), boundary)
	me := len(inner) - 1
	m, err := w.copyUntil(inner) // preamble
	for {
		if err != nil {
			return mark{}, err
		}
		if m.eof || m.level != me {
			return m, nil // unterminated multipart: an enclosing boundary or EOF ends it too
		}
		if _, err := w.w.Write(m.line); err != nil {
			return mark{}, err
		}
		if m.close {
			return w.copyUntil(bounds) // epilogue
		}
		m, err = w.entity(inner, false, depth+1)
	}
}

// html buffers one text/html body (up to the limit), rewrites it and
// writes it back in its transfer encoding.
func (w *walker) html(bounds []string, cte string) (mark, error) {
	switch cte {
	case "", "7bit", "8bit", "binary", "quoted-printable", "base64":
	default:
		return w.copyUntil(bounds) // unknown encoding: leave it alone
	}
	var buf bytes.Buffer
	for {
		frag, start, whole, err := w.lr.next()
		if err == io.EOF {
			return mark{eof: true}, w.finishHTML(buf.Bytes(), cte)
		}
		if err != nil {
			return mark{}, err
		}
		if start && whole && len(bounds) > 0 {
			if lvl, cl, ok := boundaryMatch(frag, bounds); ok {
				m := mark{line: bytes.Clone(frag), level: lvl, close: cl}
				return m, w.finishHTML(buf.Bytes(), cte)
			}
		}
		buf.Write(frag)
		if int64(buf.Len()) > w.p.MaxHTMLBytes*2+1024 || (cte != "quoted-printable" && cte != "base64" && int64(buf.Len()) > w.p.MaxHTMLBytes) {
			// Encoded size can exceed the decoded limit by base64's 4/3 or
			// QP's up to 3x; the decoded check in finishHTML is exact.
			w.st.OversizedParts++
			if _, err := w.w.Write(buf.Bytes()); err != nil {
				return mark{}, err
			}
			return w.copyUntil(bounds)
		}
	}
}

// finishHTML rewrites one buffered body. The last line ending belongs to
// the following boundary delimiter (RFC 2046 §5.1.1) and is kept as is.
func (w *walker) finishHTML(body []byte, cte string) error {
	content, tail := splitTail(body)
	out, ok := w.transformHTML(content, cte)
	if !ok {
		_, err := w.w.Write(body)
		return err
	}
	if _, err := w.w.Write(out); err != nil {
		return err
	}
	_, err := w.w.Write(tail)
	return err
}

func splitTail(b []byte) (content, tail []byte) {
	switch {
	case bytes.HasSuffix(b, []byte("\r\n")):
		return b[:len(b)-2], b[len(b)-2:]
	case bytes.HasSuffix(b, []byte("\n")):
		return b[:len(b)-1], b[len(b)-1:]
	}
	return b, nil
}

func (w *walker) transformHTML(content []byte, cte string) ([]byte, bool) {
	le := w.le
	if le == "" {
		le = "\r\n"
	}
	var decoded []byte
	switch cte {
	case "quoted-printable":
		d, err := decodeQP(content)
		if err != nil {
			w.st.UndecodableParts++
			return nil, false
		}
		decoded = d
	case "base64":
		d, err := decodeBase64(content)
		if err != nil {
			w.st.UndecodableParts++
			return nil, false
		}
		decoded = d
	default:
		decoded = content
	}
	if int64(len(decoded)) > w.p.MaxHTMLBytes {
		w.st.OversizedParts++
		return nil, false
	}
	if bytes.HasPrefix(decoded, []byte{0xfe, 0xff}) || bytes.HasPrefix(decoded, []byte{0xff, 0xfe}) {
		w.st.CharsetParts++ // a UTF-16 byte order mark whatever the label says
		return nil, false
	}
	hr := htmlRewriter{p: w.p, st: &w.st, links: &w.links, le: le, wrap: cte != "quoted-printable" && cte != "base64"}
	out, err := hr.rewrite(decoded)
	if err != nil {
		w.st.UndecodableParts++
		return nil, false
	}
	w.st.HTMLParts++
	switch cte {
	case "quoted-printable":
		return encodeQP(out, le), true
	case "base64":
		return encodeBase64(out, le), true
	}
	return out, true
}

package phi

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"path"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // registers charset decoders with go-message
)

// errReader remembers the first error of the underlying reader so that a
// failing source is told apart from a malformed message.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

func (m *msg) scanMessage(r io.Reader) error {
	er := &errReader{r: r}
	m.walkMessage(er, 0, "") // go-message buffers the reader itself
	if er.err != nil {
		return er.err
	}
	return nil
}

// walkMessage reads a message (top level or message/rfc822) from r. within
// is "" at top level, or the where of the attachment that holds it.
func (m *msg) walkMessage(r io.Reader, depth int, within string) {
	e, err := message.Read(r)
	if e == nil {
		if within == "" {
			within = "body"
		}
		_ = err
		m.unscannable(within)
		return
	}
	subj, _ := e.Header.Text("Subject")
	if subj != "" {
		w := "subject"
		if within != "" {
			w = within
		}
		m.scanUnit(w, []byte(subj))
	}
	// Other header fields a recipient reads besides Subject.
	for _, k := range [...]string{"Comments", "Keywords", "Thread-Topic"} {
		if v, _ := e.Header.Text(k); v != "" {
			w := "header"
			if within != "" {
				w = within
			}
			m.scanUnit(w, []byte(v))
		}
	}
	if err != nil && message.IsUnknownEncoding(err) {
		m.unscannable(orDefault(within, "body"))
		return
	}
	m.walkEntity(e, depth, within)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (m *msg) walkEntity(e *message.Entity, depth int, within string) {
	if m.stopped {
		return
	}
	if depth > m.s.maxDepth {
		m.unscannable(orDefault(within, "body"))
		return
	}
	mt, params, cterr := e.Header.ContentType()
	if cterr != nil && mt == "" {
		mt = "text/plain"
	}
	if mt == "" {
		mt = "text/plain"
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return
			}
			if err != nil && p == nil {
				if !message.IsUnknownCharset(err) {
					m.unscannable(orDefault(within, "body"))
					return
				}
			}
			m.parts++
			if m.parts > m.s.maxParts {
				m.unscannable(orDefault(within, "body"))
				m.stopped = true
				return
			}
			if err != nil && message.IsUnknownEncoding(err) {
				m.unscannable(m.partWhere(p, within))
				continue
			}
			m.walkEntity(p, depth+1, within)
			if m.stopped {
				return
			}
		}
	}
	disp, dparams, _ := e.Header.ContentDisposition()
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	// The header fields just parsed decide the place; partWhere would
	// parse them again.
	where := within
	if where == "" {
		where = m.placeOf(mt, name, disp)
	}
	attached := disp == "attachment" || (name != "" && !strings.HasPrefix(mt, "text/"))
	if name != "" {
		m.scanUnit(where, []byte(name))
	}
	// Parts we skip without reading: signatures and (by default) inline images.
	switch {
	case mt == "application/pkcs7-signature", mt == "application/x-pkcs7-signature", mt == "application/pgp-signature":
		return
	case strings.HasPrefix(mt, "image/"):
		if attached && !m.s.opts.SkipImageAttachments || !attached && m.s.opts.InlineImagesUnscannable {
			m.unscannable(where)
		}
		return
	case mt == "application/pgp-encrypted", mt == "application/pkcs7-mime", mt == "application/x-pkcs7-mime":
		m.unscannable(where)
		return
	}
	data, ok := m.read(e.Body)
	if !ok {
		m.unscannable(where)
		return
	}
	if mt == "message/rfc822" || mt == "message/global" {
		nw := where
		if !strings.HasPrefix(nw, "attachment:") {
			nw = m.attachmentWhere(name, "message.eml")
		}
		m.walkMessage(bytes.NewReader(data), depth+1, nw)
		return
	}
	m.extract(where, mt, name, data, depth)
}

// partWhere names where a part's findings are reported.
func (m *msg) partWhere(e *message.Entity, within string) string {
	if within != "" {
		return within
	}
	mt, params, _ := e.Header.ContentType()
	disp, dparams, _ := e.Header.ContentDisposition()
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	if mt == "" {
		mt = "text/plain"
	}
	return m.placeOf(mt, name, disp)
}

// placeOf names the place of a top-level part from its media type
// (never empty), file name and disposition.
func (m *msg) placeOf(mt, name, disp string) string {
	if mt == "message/rfc822" || mt == "message/global" {
		return m.attachmentWhere(name, "message.eml")
	}
	if disp == "attachment" || (name != "" && !strings.HasPrefix(mt, "text/")) {
		return m.attachmentWhere(name, "")
	}
	if mt == "text/html" {
		return "html"
	}
	return "body"
}

func (m *msg) attachmentWhere(name, def string) string {
	m.nAttach++
	if m.s.opts.HideAttachmentNames {
		return "attachment:#" + strconv.Itoa(m.nAttach)
	}
	name = cleanName(name)
	if name == "" {
		name = def
	}
	if name == "" {
		name = "#" + strconv.Itoa(m.nAttach)
	}
	return "attachment:" + name
}

// cleanName keeps the base name of an attachment and removes control
// characters so that it is safe to print.
func cleanName(n string) string {
	if dec, err := (&mime.WordDecoder{}).DecodeHeader(n); err == nil {
		n = dec
	}
	n = path.Base(strings.ReplaceAll(n, `\`, "/"))
	if n == "." || n == "/" {
		return ""
	}
	n = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, n)
	if len(n) > 100 {
		n = n[:100]
	}
	return strings.ToValidUTF8(n, "")
}

// errOverLimit reports that the scan budget ran out.
type errOverLimit struct{}

func (errOverLimit) Error() string { return "phi: over the scan limit" }

// read reads a part body within the remaining budget. When the budget is
// exhausted the rest of the message is not read: it is unscannable.
func (m *msg) read(r io.Reader) ([]byte, bool) {
	data, err := m.readLimited(r)
	if errors.Is(err, errOverLimit{}) {
		m.stopped = true
		return nil, false
	}
	return data, err == nil
}

func (m *msg) readLimited(r io.Reader) ([]byte, error) {
	buf := m.s.getBuf()
	m.bufs = append(m.bufs, buf)
	n, err := io.Copy(buf, io.LimitReader(r, m.budget+1))
	if n > m.budget {
		m.budget = 0
		return nil, errOverLimit{}
	}
	m.budget -= n
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// getBuf returns an empty buffer from the Scanner's pool; msg.done gives
// the buffers of a finished scan back (small ones only, so that the pool
// never pins a large message's memory).
func (s *Scanner) getBuf() *bytes.Buffer {
	if b, ok := s.bufPool.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

func (m *msg) done() {
	for _, b := range m.bufs {
		if b.Cap() <= 4<<20 {
			m.s.bufPool.Put(b)
		}
	}
	m.bufs = nil
}

// charge takes n decoded bytes (for example a decompressed archive member)
// from the budget.
func (m *msg) charge(n int64) bool {
	if n > m.budget {
		m.budget = 0
		m.stopped = true
		return false
	}
	m.budget -= n
	return true
}

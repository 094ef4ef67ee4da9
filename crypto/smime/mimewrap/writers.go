package mimewrap

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
)

// ErrTooLarge is returned by a LimitReader once more than its limit is read.
var ErrTooLarge = errors.New("mimewrap: message exceeds the configured maximum size")

// LimitReader returns a reader that fails with ErrTooLarge, rather than
// truncating silently, when r yields more than n bytes.
func LimitReader(r io.Reader, n int64) io.Reader {
	return &limitReader{r: r, left: n}
}

type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, ErrTooLarge
	}
	return n, err
}

// crlfWriter canonicalises line endings: LF, CR and CRLF all become CRLF.
type crlfWriter struct {
	w      *bufio.Writer
	pendCR bool
}

// NewCRLFWriter returns a writer that canonicalises line endings to CRLF.
// Close flushes it; it does not close w.
func NewCRLFWriter(w io.Writer) io.WriteCloser {
	return &crlfWriter{w: bufio.NewWriter(w)}
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if c.pendCR {
			c.pendCR = false
			if _, err := c.w.WriteString("\r\n"); err != nil {
				return 0, err
			}
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			if _, err := c.w.Write(p); err != nil {
				return 0, err
			}
			break
		}
		if _, err := c.w.Write(p[:i]); err != nil {
			return 0, err
		}
		if p[i] == '\r' {
			c.pendCR = true
		} else if _, err := c.w.WriteString("\r\n"); err != nil {
			return 0, err
		}
		p = p[i+1:]
	}
	return n, nil
}

func (c *crlfWriter) Close() error {
	if c.pendCR {
		c.pendCR = false
		if _, err := c.w.WriteString("\r\n"); err != nil {
			return err
		}
	}
	return c.w.Flush()
}

// lineWriter breaks its input into lines of at most n bytes ending in CRLF.
type lineWriter struct {
	w   io.Writer
	n   int
	col int
}

func (l *lineWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		room := l.n - l.col
		chunk := p
		if len(chunk) > room {
			chunk = chunk[:room]
		}
		if _, err := l.w.Write(chunk); err != nil {
			return written, err
		}
		written += len(chunk)
		l.col += len(chunk)
		p = p[len(chunk):]
		if l.col == l.n {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return written, err
			}
			l.col = 0
		}
	}
	return written, nil
}

type base64Writer struct {
	enc  io.WriteCloser
	line *lineWriter
	buf  *bufio.Writer
}

// NewBase64Writer returns a writer that base64-encodes into lines of 76
// characters ending in CRLF (RFC 2045 §6.8). Close flushes the final line
// and its CRLF; it does not close w.
func NewBase64Writer(w io.Writer) io.WriteCloser {
	buf := bufio.NewWriter(w)
	lw := &lineWriter{w: buf, n: 76}
	return &base64Writer{enc: base64.NewEncoder(base64.StdEncoding, lw), line: lw, buf: buf}
}

func (b *base64Writer) Write(p []byte) (int, error) { return b.enc.Write(p) }

func (b *base64Writer) Close() error {
	if err := b.enc.Close(); err != nil {
		return err
	}
	if b.line.col != 0 {
		if _, err := io.WriteString(b.buf, "\r\n"); err != nil {
			return err
		}
		b.line.col = 0
	}
	return b.buf.Flush()
}

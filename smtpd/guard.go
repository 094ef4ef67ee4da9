package smtpd

import (
	"errors"
	"io"
)

// errBareLineEnding is returned by lineEndingGuard for a CR without LF or an
// LF without CR anywhere in the message.
var errBareLineEnding = errors.New("bare CR or LF in message data")

// lineEndingGuard passes bytes through and fails at the first CR not
// followed by LF or LF not preceded by CR (RFC 5321 §2.3.8). Rejecting these
// outright, rather than repairing them, is what defeats SMTP smuggling: any
// downstream parser sees the same message boundaries sealgate saw.
type lineEndingGuard struct {
	r      io.Reader
	prevCR bool
	err    error
}

func (g *lineEndingGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	for i := 0; i < n; i++ {
		switch c := p[i]; {
		case g.prevCR && c != '\n':
			g.err = errBareLineEnding
		case !g.prevCR && c == '\n':
			g.err = errBareLineEnding
		}
		if g.err != nil {
			return i, g.err
		}
		g.prevCR = p[i] == '\r'
	}
	if err == io.EOF && g.prevCR {
		// A message ending in a lone CR never happens with DATA (it must end
		// in CRLF before the dot) but can with BDAT.
		g.err = errBareLineEnding
		return n, g.err
	}
	return n, err
}

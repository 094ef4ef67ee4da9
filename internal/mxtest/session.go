package mxtest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// NewSession implements smtp.Backend. go-smtp calls it at the first EHLO
// and again at the first EHLO after STARTTLS, on the same *smtp.Conn.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.conns[c]
	if rec == nil {
		rec = &Conn{}
		s.conns[c] = rec
		s.order = append(s.order, rec)
	}
	if st, ok := c.TLSConnectionState(); ok {
		rec.HelloTLS = append(rec.HelloTLS, c.Hostname())
		rec.TLSVersion = st.Version
	} else {
		rec.HelloPlain = append(rec.HelloPlain, c.Hostname())
	}
	return &session{s: s, conn: rec}, nil
}

type session struct {
	s    *Server
	conn *Conn
	user string
	from string
	opts smtp.MailOptions
	to   []string
}

func (se *session) AuthMechanisms() []string {
	if len(se.s.opts.Users) == 0 {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if want, ok := se.s.opts.Users[user]; !ok || want != pass || (identity != "" && identity != user) {
			return errors.New("invalid credentials")
		}
		se.user = user
		return nil
	}), nil
}

func (se *session) Mail(from string, opts *smtp.MailOptions) error {
	se.s.mu.Lock()
	se.conn.Mails++
	se.s.mu.Unlock()
	if r := se.s.opts.MailReply; r != nil {
		return r
	}
	se.from = from
	if opts != nil {
		se.opts = *opts
	}
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if r, ok := se.s.opts.RcptReplies[strings.ToLower(to)]; ok && r != nil {
		return r
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	h := sha256.New()
	var buf bytes.Buffer
	w := io.Writer(h)
	if !se.s.opts.DiscardBody {
		w = io.MultiWriter(h, &buf)
	}
	n, err := io.Copy(w, r)
	if err != nil {
		return err
	}
	if r := se.s.opts.DataReply; r != nil {
		return r
	}
	m := Message{
		From:     se.from,
		MailOpts: se.opts,
		Rcpts:    append([]string(nil), se.to...),
		AuthUser: se.user,
		Size:     n,
	}
	if !se.s.opts.DiscardBody {
		m.Data = buf.Bytes()
	}
	copy(m.SHA256[:], h.Sum(nil))
	se.s.mu.Lock()
	m.Conn = snapshot(se.conn)
	m.TLSVersion = se.conn.TLSVersion
	se.s.msgs = append(se.s.msgs, m)
	close(se.s.ch)
	se.s.ch = make(chan struct{})
	se.s.mu.Unlock()
	return nil
}

func (se *session) Reset() {
	se.from, se.to, se.opts = "", nil, smtp.MailOptions{}
}

func (se *session) Logout() error { return nil }

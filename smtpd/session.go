package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

type backend struct {
	srv  *Server
	mode TLSMode
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: b.srv, conn: c, ip: remoteIP(c.Conn().RemoteAddr())}, nil
}

type session struct {
	srv  *Server
	conn *smtp.Conn
	ip   netip.Addr

	authUser string

	fromSet    bool
	from       string
	requireTLS bool
	utf8       bool
	rcpts      []string
}

// reply builds the typed SMTP error go-smtp sends, and counts the reason.
func (s *session) reply(reason string, code int, enh smtp.EnhancedCode, msg string) error {
	s.srv.metrics.rejected.WithLabelValues(reason).Inc()
	s.srv.opts.Logger.Info("smtp reject", "client", s.ip.String(), "reason", reason, "code", code)
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

func (s *session) tlsState() (tls.ConnectionState, bool) { return s.conn.TLSConnectionState() }

// relayAllowed is the whole open-relay defence: a relay network, an
// authenticated user, or a verified client certificate.
func (s *session) relayAllowed() bool {
	for _, p := range s.srv.opts.RelayNetworks {
		if p.Contains(s.ip) {
			return true
		}
	}
	if s.authUser != "" {
		return true
	}
	if st, ok := s.tlsState(); ok && len(st.VerifiedChains) > 0 {
		return true
	}
	return false
}

func (s *session) AuthMechanisms() []string {
	if len(s.srv.opts.Users) == 0 {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if _, ok := s.tlsState(); !ok {
		// go-smtp already hides AUTH without TLS; this guards the invariant.
		return nil, s.reply("auth_failed", 538, smtp.EnhancedCode{5, 7, 11}, "Encryption required for requested authentication mechanism")
	}
	check := func(identity, user, pass string) error {
		if identity != "" && identity != user {
			return s.reply("auth_failed", 535, smtp.EnhancedCode{5, 7, 8}, "Authentication credentials invalid")
		}
		if !checkPassword(s.srv.opts.Users, user, pass) {
			return s.reply("auth_failed", 535, smtp.EnhancedCode{5, 7, 8}, "Authentication credentials invalid")
		}
		s.authUser = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(check), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if opts != nil && opts.Size > s.srv.opts.MaxMessageSize {
		return s.reply("size", 552, smtp.EnhancedCode{5, 3, 4}, fmt.Sprintf("Message too big: the limit is %d bytes", s.srv.opts.MaxMessageSize))
	}
	if from != "" && !validAddress(from) {
		return s.reply("bad_address", 501, smtp.EnhancedCode{5, 1, 7}, "Bad sender address syntax")
	}
	if from != "" && !s.senderDomainAllowed(from) {
		return s.reply("sender_domain", 550, smtp.EnhancedCode{5, 7, 1}, "Sender domain not allowed to relay through this gateway")
	}
	if opts != nil && opts.RequireTLS {
		if _, ok := s.tlsState(); !ok {
			return s.reply("require_tls_without_tls", 530, smtp.EnhancedCode{5, 7, 10}, "REQUIRETLS needs a TLS session")
		}
	}
	s.fromSet, s.from = true, from
	s.requireTLS = opts != nil && opts.RequireTLS
	s.utf8 = opts != nil && opts.UTF8
	return nil
}

func (s *session) senderDomainAllowed(from string) bool {
	allowed := s.srv.opts.AllowedSenderDomains
	if len(allowed) == 0 {
		return true
	}
	domain := strings.ToLower(from[strings.LastIndexByte(from, '@')+1:])
	for _, a := range allowed {
		a = strings.ToLower(a)
		if sub, ok := strings.CutPrefix(a, "*."); ok {
			if strings.HasSuffix(domain, "."+sub) || domain == sub {
				return true
			}
		} else if domain == a {
			return true
		}
	}
	return false
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !s.relayAllowed() {
		return s.reply("relay_denied", 554, smtp.EnhancedCode{5, 7, 1}, "Relay access denied")
	}
	if !validAddress(to) {
		return s.reply("bad_address", 501, smtp.EnhancedCode{5, 1, 3}, "Bad recipient address syntax")
	}
	if len(s.rcpts) >= s.srv.opts.MaxRecipients {
		return s.reply("too_many_recipients", 452, smtp.EnhancedCode{4, 5, 3}, "Too many recipients")
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	start := s.srv.opts.Now()
	guard := &lineEndingGuard{r: &errRecorder{r: r}}
	counter := &countingReader{r: guard}
	msg := Message{
		From:       s.from,
		To:         append([]string(nil), s.rcpts...),
		RequireTLS: s.requireTLS,
		SMTPUTF8:   s.utf8,
		ClientAddr: s.ip.String(),
		Helo:       s.conn.Hostname(),
		AuthUser:   s.authUser,
		ReceivedAt: start,
	}
	body := io.MultiReader(strings.NewReader(s.receivedHeader(start)), counter)
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.opts.DataTimeout)
	defer cancel()
	id, err := s.srv.opts.Spooler.Spool(ctx, msg, body)
	srcErr := guard.r.(*errRecorder).err
	var rejected *Reject
	switch {
	case errors.Is(guard.err, errBareLineEnding):
		return s.reply("bare_line_ending", 554, smtp.EnhancedCode{5, 6, 0}, "Message contains a bare CR or LF; lines must end in CRLF")
	case errors.Is(srcErr, smtp.ErrDataTooLarge):
		return s.reply("size", 552, smtp.EnhancedCode{5, 3, 4}, fmt.Sprintf("Message too big: the limit is %d bytes", s.srv.opts.MaxMessageSize))
	case srcErr != nil:
		s.srv.opts.Logger.Info("smtp data aborted", "client", s.ip.String(), "err", srcErr)
		return s.reply("spool_error", 451, smtp.EnhancedCode{4, 3, 0}, "Message data incomplete; not queued")
	case errors.As(err, &rejected):
		return s.reply(rejected.Reason, rejected.Code, smtp.EnhancedCode(rejected.Enhanced), rejected.Message)
	case err != nil:
		s.srv.opts.Logger.Error("spool failed; message not acknowledged", "client", s.ip.String(), "err", err)
		return s.reply("spool_error", 451, smtp.EnhancedCode{4, 3, 0}, "Temporary local problem; message not queued, try again later")
	}
	s.srv.metrics.received.Inc()
	s.srv.metrics.receivedBytes.Add(float64(counter.n))
	st, isTLS := s.tlsState()
	s.srv.opts.Logger.Info("smtp accepted",
		"id", id, "client", s.ip.String(), "helo", msg.Helo, "auth", msg.AuthUser,
		"from", msg.From, "rcpts", len(msg.To), "size", counter.n,
		"tls", tlsVersionName(st, isTLS), "require_tls", msg.RequireTLS,
		"ms", s.srv.opts.Now().Sub(start).Milliseconds())
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + id}
}

func (s *session) Reset() {
	s.fromSet, s.from, s.requireTLS, s.utf8, s.rcpts = false, "", false, false, nil
}

func (s *session) Logout() error { return nil }

// receivedHeader is the RFC 5321 §4.4 trace line, with the TLS details in a
// comment (as Postfix writes them) and RFC 3848 "with" keywords.
func (s *session) receivedHeader(now time.Time) string {
	st, isTLS := s.tlsState()
	with := "ESMTP"
	if isTLS {
		with += "S"
	}
	if s.authUser != "" {
		with += "A"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from %s ([%s])\r\n\tby %s (sealgate) with %s", sanitize(s.conn.Hostname()), s.ip.String(), s.srv.opts.Hostname, with)
	if isTLS {
		fmt.Fprintf(&b, "\r\n\t(using %s with cipher %s)", tlsVersionName(st, true), tls.CipherSuiteName(st.CipherSuite))
	}
	if len(s.rcpts) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", sanitize(s.rcpts[0]))
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", now.Format(time.RFC1123Z))
	return b.String()
}

func tlsVersionName(st tls.ConnectionState, isTLS bool) string {
	if !isTLS {
		return "none"
	}
	return tls.VersionName(st.Version)
}

// sanitize keeps a client-supplied token from breaking the header it is put in.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r == 0x7f || r == '(' || r == ')' || r == '<' || r == '>' || r == ';' {
			return -1
		}
		return r
	}, s)
}

// validAddress is a conservative mailbox check: one local part, one domain,
// no spaces or control characters, RFC 5321 §4.5.3.1 lengths.
func validAddress(a string) bool {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || len(a) > 254 || at > 64 {
		return false
	}
	for _, r := range a {
		if r <= ' ' || r == 0x7f || r == '<' || r == '>' || r == ',' {
			return false
		}
	}
	domain := a[at+1:]
	return !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".") && !strings.Contains(domain, "..")
}

type errRecorder struct {
	r   io.Reader
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

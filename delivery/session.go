package delivery

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// sendState is shared by all attempts of one Deliver call.
type sendState struct {
	req       *Request
	domain    string
	need      TLSPolicy
	smarthost bool
	pending   []int // indexes into req.Rcpts still to deliver

	signOnce sync.Once
	sig      []byte
	sigErr   *Error
}

// connInfo describes the connection that produced an outcome.
type connInfo struct {
	version, cipher string
	level           TLSLevel
}

// attemptOut is the result of one connection to one address.
type attemptOut struct {
	// final: the transaction reached a conclusion for every pending
	// recipient (rcpt[k] nil = accepted); do not try other hosts.
	final bool
	rcpt  []*Error
	reply *Error // the DATA reply when delivered
	info  connInfo
	// !final: why this host failed; try the next one.
	err             *Error
	handshakeFailed bool
}

// attempt runs one SMTP session to addr (steps 5a-5j of doc.go). withTLS=false
// skips STARTTLS; the caller only asks for that under PolicyOpportunistic.
func (c *Client) attempt(ctx context.Context, st *sendState, h hop, addr string, withTLS bool) (out attemptOut) {
	start := time.Now()
	defer func() {
		result, code, reason := "", 0, ""
		switch {
		case out.final && out.reply.Code == 250:
			result, code = Delivered.String(), 250
		case out.final:
			for _, e := range out.rcpt {
				if e != nil {
					result, code, reason = outcomeOf(e).String(), e.Code, e.Msg
					break
				}
			}
		default:
			result, code, reason = outcomeOf(out.err).String(), out.err.Code, out.err.Msg
		}
		accepted := 0
		for _, e := range out.rcpt {
			if e == nil {
				accepted++
			}
		}
		tv := out.info.version
		if tv == "" {
			tv = "none"
		}
		c.log.Info("delivery attempt", "id", st.req.ID, "mx", h.name, "addr", addr,
			"tls", tv, "tls_level", out.info.level.String(), "result", result, "code", code,
			"rcpts", len(st.pending), "accepted", accepted, "reason", reason,
			"duration", time.Since(start).Round(time.Millisecond).String())
	}()
	fail := func(metric string, e *Error) attemptOut {
		c.metrics.connections.WithLabelValues(metric).Inc()
		out.err = e
		return out
	}

	raw, derr := c.dial(ctx, h, addr)
	if derr != nil {
		return fail("dial_error", derr)
	}
	defer raw.Close()
	// Cancelling ctx aborts any blocked read or write.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()

	sc, err := c.hello(raw)
	if err != nil {
		return fail("greeting_error", sessionErr(err, h.name, "greeting"))
	}
	conn := net.Conn(raw)

	// STARTTLS (RFC 3207), step 5c of doc.go.
	offered, _ := sc.Extension("STARTTLS")
	needLevel := st.need.Level()
	switch {
	case st.need == PolicyNone || (!withTLS && st.need == PolicyOpportunistic):
		// plaintext by choice
	case !offered:
		if needLevel > LevelNone {
			sc.Quit()
			return fail("tls_policy", tlsErr("4.7.10", "TLS required but STARTTLS not offered by %s", h.name))
		}
	default:
		hs, terr := c.startTLS(ctx, raw, st.domain, h.name, needLevel)
		if terr != nil {
			out.handshakeFailed = true
			return fail("tls_error", terr)
		}
		tc := hs.conn
		conn = tc
		cs := tc.ConnectionState()
		out.info = connInfo{version: tlsVersionName(cs.Version), cipher: tls.CipherSuiteName(cs.CipherSuite), level: hs.level}
		if sc, err = c.helloTLS(tc); err != nil {
			return fail("protocol_error", sessionErr(err, h.name, "EHLO after STARTTLS"))
		}
	}
	defer sc.Close()
	if out.info.level < needLevel {
		// Unreachable by construction; kept as the last line of defence.
		return fail("tls_policy", tlsErr("4.7.10", "TLS level %s below required %s at %s", out.info.level, st.need, h.name))
	}
	c.metrics.connections.WithLabelValues("ok").Inc()

	req := st.req
	// RFC 8689 §4.1: REQUIRETLS needs the extension on every hop.
	if req.RequireTLS {
		if ok, _ := sc.Extension("REQUIRETLS"); !ok {
			sc.Quit()
			return fail("tls_policy", tlsErr("4.7.30", "REQUIRETLS not supported by %s", h.name))
		}
	}
	// RFC 6531 §3.2: no SMTPUTF8, no delivery of a message that needs it.
	if req.SMTPUTF8 {
		if ok, _ := sc.Extension("SMTPUTF8"); !ok {
			sc.Quit()
			out.err = permErr(553, "5.6.7", "SMTPUTF8 required but not supported by %s", h.name)
			return out
		}
	}
	if limit, ok := sc.MaxMessageSize(); ok && limit > 0 && req.Size > int64(limit) {
		sc.Quit()
		out.err = permErr(552, "5.3.4", "message size %d exceeds limit %d of %s", req.Size, limit, h.name)
		return out
	}
	if st.smarthost && c.opts.SmarthostUser != "" {
		if out.info.level == LevelNone { // also prevented by New
			return fail("tls_policy", tlsErr("4.7.10", "refusing AUTH without TLS"))
		}
		if err := c.auth(sc); err != nil {
			sc.Quit()
			e := sessionErr(err, h.name, "AUTH")
			e.Temporary = true // a credential problem is ours to fix, not a bounce
			e.Code, e.Enhanced = 451, "4.7.8"
			out.err = e
			return out
		}
	}
	c.metrics.tlsVersions.WithLabelValues(versionLabel(out.info.version)).Inc()

	// MAIL FROM (RFC 5321 §3.3).
	mo := &smtp.MailOptions{RequireTLS: req.RequireTLS, UTF8: req.SMTPUTF8}
	if req.Size > 0 {
		mo.Size = req.Size
	}
	if err := sc.Mail(req.From, mo); err != nil {
		e := sessionErr(err, h.name, "MAIL FROM")
		if fromSMTP(err) != nil && !e.Temporary {
			// 5xx to MAIL: the sender is refused; bounce everyone.
			out.final, out.rcpt = true, fill(len(st.pending), e)
			out.reply = &Error{}
			sc.Quit()
			return out
		}
		out.err = e
		return out
	}

	// RCPT TO, one reply per recipient (RFC 5321 §3.3).
	out.rcpt = make([]*Error, len(st.pending))
	accepted := 0
	for k, i := range st.pending {
		err := sc.Rcpt(req.Rcpts[i], nil)
		if err == nil {
			accepted++
			continue
		}
		e := fromSMTP(err)
		if e == nil || e.Code == 421 {
			// Connection trouble: nothing was delivered; try the next host.
			out.rcpt = nil
			out.err = sessionErr(err, h.name, "RCPT TO")
			return out
		}
		out.rcpt[k] = e
	}
	if accepted == 0 {
		sc.Quit()
		out.final, out.reply = true, &Error{}
		return out
	}

	// DATA (RFC 5321 §3.3, §4.5.2). Sign first so a signing error costs
	// nothing on the wire.
	if e := c.sign(st); e != nil {
		sc.Reset()
		sc.Quit()
		return c.finalAll(out, st, e)
	}
	body, err := req.Open()
	if err != nil {
		sc.Reset()
		sc.Quit()
		return c.finalAll(out, st, tempErr(451, "4.3.0", "message could not be opened"))
	}
	defer body.Close()
	w, err := sc.Data()
	if err != nil {
		e := sessionErr(err, h.name, "DATA")
		if fromSMTP(err) == nil || e.Code == 421 {
			out.rcpt = nil
			out.err = e
			return out
		}
		sc.Quit()
		return c.finalAll(out, st, e)
	}
	dw := &deadlineWriter{w: w, conn: conn, d: c.opts.CommandTimeout}
	if _, err := io.Copy(dw, io.MultiReader(bytes.NewReader(st.sig), body)); err != nil {
		if dw.err == nil {
			// Reading our own spool failed: close without the final dot
			// so the server discards the partial message.
			return c.finalAll(out, st, tempErr(451, "4.3.0", "message could not be read"))
		}
		out.rcpt = nil
		out.err = tempErr(451, "4.4.2", "connection to %s lost while sending: %s", h.name, netReason(dw.err))
		return out
	}
	// Bound the final flush and dot; go-smtp then waits DataTimeout for the reply.
	conn.SetWriteDeadline(time.Now().Add(c.opts.CommandTimeout))
	resp, err := w.CloseWithResponse()
	if err != nil {
		e := fromSMTP(err)
		if e == nil {
			// The final dot was written but no reply came: the server may
			// have the message. Defer; a rare duplicate beats a loss.
			e = tempErr(451, "4.4.2", "no reply from %s after end of data: %s", h.name, netReason(err))
		}
		return c.finalAll(out, st, e)
	}
	sc.Quit()
	out.final = true
	out.reply = &Error{Code: 250, Enhanced: "2.0.0", Msg: cleanReply(resp.StatusText)}
	if e := splitEnhanced(out.reply.Msg); e != "" {
		out.reply.Enhanced = e
	}
	return out
}

// finalAll gives every recipient accepted at RCPT the error e; recipients
// refused at RCPT keep their own reply.
func (c *Client) finalAll(out attemptOut, st *sendState, e *Error) attemptOut {
	for k := range out.rcpt {
		if out.rcpt[k] == nil {
			out.rcpt[k] = e
		}
	}
	out.final, out.reply = true, &Error{}
	return out
}

func fill(n int, e *Error) []*Error {
	s := make([]*Error, n)
	for i := range s {
		s[i] = e
	}
	return s
}

func versionLabel(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

func splitEnhanced(msg string) string {
	f, _, _ := strings.Cut(msg, " ")
	if len(f) >= 5 && f[0] == '2' && f[1] == '.' && strings.Count(f, ".") == 2 {
		return f
	}
	return ""
}

// sessionErr maps a go-smtp error to an *Error: SMTP replies keep their
// code; anything else is a temporary connection failure.
func sessionErr(err error, host, stage string) *Error {
	if e := fromSMTP(err); e != nil {
		e.Msg = fmt.Sprintf("%s %s: %s", host, stage, e.Msg)
		return e
	}
	return tempErr(451, "4.4.2", "%s %s: %s", host, stage, netReason(err))
}

// netReason describes a network error without echoing peer-controlled data.
func netReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by peer"
	}
	return cleanReply(err.Error())
}

// dial opens a TCP connection to addr within ConnectTimeout (step 5a).
func (c *Client) dial(ctx context.Context, h hop, addr string) (net.Conn, *Error) {
	dctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout)
	defer cancel()
	raw, err := c.opts.Dialer.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, tempErr(451, "4.4.1", "connection to %s failed: %s", h.name, netReason(err))
	}
	return raw, nil
}

// hello reads the greeting on conn and sends EHLO (HELO if refused) with
// our own name (RFC 5321 §4.1.1.1; go-smtp would say "localhost").
func (c *Client) hello(conn net.Conn) (*smtp.Client, error) {
	sc := smtp.NewClient(conn)
	sc.CommandTimeout = c.opts.CommandTimeout
	sc.SubmissionTimeout = c.opts.DataTimeout
	if err := sc.Hello(c.opts.Hostname); err != nil {
		return nil, err
	}
	return sc, nil
}

// helloTLS sends the second EHLO over tc (RFC 3207 §4.2). The server sends
// no new greeting after STARTTLS; go-smtp's client expects one, so it is
// handed a synthetic 220.
func (c *Client) helloTLS(tc *tls.Conn) (*smtp.Client, error) {
	return c.hello(&greetedConn{Conn: tc, r: io.MultiReader(strings.NewReader("220 TLS\r\n"), tc)})
}

// handshake is what a STARTTLS handshake came to.
type handshake struct {
	conn  *tls.Conn // nil when the handshake failed
	level TLSLevel  // reached, after every Policy's CheckTLS
	// seen: the handshake got as far as judging the certificate; state,
	// pkixErr and policyErr are then set (also when it was refused).
	seen      bool
	state     tls.ConnectionState
	pkixErr   error // nil: PKIX-valid for the host name against RootCAs
	policyErr error // a Policy refused the connection
}

// startTLS sends STARTTLS on raw, which must have no unread input, and
// completes a TLS 1.2+ handshake. It returns the level reached; when need is
// LevelVerified an unverifiable certificate aborts the handshake.
func (c *Client) startTLS(ctx context.Context, raw net.Conn, domain, host string, need TLSLevel) (handshake, *Error) {
	var hs handshake
	raw.SetDeadline(time.Now().Add(c.opts.CommandTimeout))
	defer raw.SetDeadline(time.Time{})
	if _, err := io.WriteString(raw, "STARTTLS\r\n"); err != nil {
		return hs, tlsErr("4.7.5", "STARTTLS to %s failed: %s", host, netReason(err))
	}
	br := bufio.NewReader(raw)
	code, msg, err := textproto.NewReader(br).ReadResponse(220)
	if err != nil {
		if code != 0 {
			return hs, tlsErr("4.7.5", "%s refused STARTTLS: %d %s", host, code, cleanReply(msg))
		}
		return hs, tlsErr("4.7.5", "STARTTLS to %s failed: %s", host, netReason(err))
	}
	if br.Buffered() > 0 {
		// Data after the 220 would be read as if it came over TLS
		// (CVE-2011-0411 style injection): refuse the session.
		return hs, tlsErr("4.7.5", "%s sent data after its STARTTLS reply (possible injection)", host)
	}
	level := LevelNone
	var verr error
	cfg := &tls.Config{
		ServerName: host,
		MinVersion: tls.VersionTLS12,
		// Verification is done in VerifyConnection so that the level
		// reached is known even when the policy does not demand it.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			pkixErr := verifyPeer(cs, host, c.opts.RootCAs)
			level = LevelTLS
			if pkixErr == nil {
				level = LevelVerified
			}
			l, perr := c.checkTLS(ctx, domain, host, cs, level)
			hs.seen, hs.state, hs.pkixErr, hs.policyErr = true, cs, pkixErr, perr
			switch {
			case perr != nil:
				verr = fmt.Errorf("refused by security policy: %w", perr)
			case need >= LevelVerified && l < LevelVerified && pkixErr != nil:
				verr = pkixErr
			case need >= LevelVerified && l < LevelVerified:
				verr = errors.New("not verified by security policy")
			}
			level = l
			return verr
		},
	}
	tc := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, c.opts.CommandTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		if verr != nil {
			return hs, tlsErr("4.7.5", "certificate of %s not verified: %s", host, cleanReply(verr.Error()))
		}
		return hs, tlsErr("4.7.5", "TLS handshake with %s failed: %s", host, netReason(err))
	}
	if v := tc.ConnectionState().Version; v < tls.VersionTLS12 {
		return hs, tlsErr("4.7.5", "%s negotiated %s", host, tls.VersionName(v))
	}
	hs.conn, hs.level = tc, level
	return hs, nil
}

// verifyPeer checks the peer chain against roots (nil: system roots) for
// host, as RFC 6125 / RFC 7817 §3 describe for SMTP servers.
func verifyPeer(cs tls.ConnectionState, host string, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, ct := range cs.PeerCertificates[1:] {
		inter.AddCert(ct)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		DNSName:       host,
		Roots:         roots,
		Intermediates: inter,
	})
	return err
}

func (c *Client) auth(sc *smtp.Client) error {
	if sc.SupportsAuth("PLAIN") {
		return sc.Auth(sasl.NewPlainClient("", c.opts.SmarthostUser, c.opts.SmarthostPassword))
	}
	if sc.SupportsAuth("LOGIN") {
		return sc.Auth(sasl.NewLoginClient(c.opts.SmarthostUser, c.opts.SmarthostPassword))
	}
	return errors.New("smarthost offers neither AUTH PLAIN nor LOGIN")
}

// sign runs the Signer once per Deliver call over a fresh reader.
func (c *Client) sign(st *sendState) *Error {
	st.signOnce.Do(func() {
		if c.opts.Signer == nil {
			return
		}
		r, err := st.req.Open()
		if err != nil {
			st.sigErr = tempErr(451, "4.3.0", "message could not be opened for signing")
			return
		}
		defer r.Close()
		sig, err := c.opts.Signer.Sign(r)
		if err != nil {
			st.sigErr = tempErr(451, "4.3.0", "DKIM signing failed")
			return
		}
		if len(sig) > 0 && (!bytes.HasSuffix(sig, []byte("\r\n")) || len(sig) > 64<<10) {
			st.sigErr = tempErr(451, "4.3.0", "DKIM signer returned malformed header fields")
			return
		}
		st.sig = sig
	})
	return st.sigErr
}

// greetedConn replays a synthetic greeting before the real stream.
type greetedConn struct {
	net.Conn
	r io.Reader
}

func (g *greetedConn) Read(p []byte) (int, error) { return g.r.Read(p) }

// deadlineWriter bounds each write of the message body, so a peer that
// stops reading cannot hold a connection forever.
type deadlineWriter struct {
	w    io.Writer
	conn net.Conn
	d    time.Duration
	err  error
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.conn.SetWriteDeadline(time.Now().Add(d.d))
	n, err := d.w.Write(p)
	if err != nil {
		d.err = err
	}
	return n, err
}

package smtpd

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// memSpool is a Spooler that keeps messages in memory; gate, when set,
// blocks Spool until closed so tests can observe that 250 waits for it.
type memSpool struct {
	mu   sync.Mutex
	msgs []spooled
	gate chan struct{}
	fail error
}

type spooled struct {
	msg  Message
	body string
}

func (m *memSpool) Spool(ctx context.Context, msg Message, body io.Reader) (string, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return "", err
	}
	if m.gate != nil {
		<-m.gate
	}
	if m.fail != nil {
		return "", m.fail
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, spooled{msg, string(data)})
	return fmt.Sprintf("Q%d", len(m.msgs)), nil
}

func (m *memSpool) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert, key, pool}
}

func (ca *testCA) issue(t *testing.T, name string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

type fixture struct {
	srv   *Server
	spool *memSpool
	reg   *prometheus.Registry
	ca    *testCA
	addrs []string
}

func start(t *testing.T, mutate func(*Options)) *fixture {
	t.Helper()
	ca := newCA(t)
	spool := &memSpool{}
	reg := prometheus.NewRegistry()
	hash, _ := HashPassword("s3cret")
	opts := Options{
		Hostname: "gw.test.example",
		Listeners: []Listener{
			{Address: "127.0.0.1:0", Mode: TLSStartTLS},
			{Address: "127.0.0.1:0", Mode: TLSNone},
			{Address: "127.0.0.1:0", Mode: TLSImplicit},
		},
		TLS: &tls.Config{
			Certificates: []tls.Certificate{ca.issue(t, "gw.test.example", x509.ExtKeyUsageServerAuth)},
			ClientCAs:    ca.pool,
			ClientAuth:   tls.VerifyClientCertIfGiven,
		},
		RelayNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Users:         map[string][]byte{"relayuser": []byte(hash)},
		Spooler:       spool,
		Registerer:    reg,
	}
	if mutate != nil {
		mutate(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	t.Cleanup(func() { srv.Close() })
	f := &fixture{srv: srv, spool: spool, reg: reg, ca: ca}
	for _, a := range srv.Addrs() {
		f.addrs = append(f.addrs, a.String())
	}
	return f
}

// rawConn speaks SMTP by hand, for the byte-level cases a client library
// would refuse to send.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	rc := &rawConn{t: t, c: c, r: bufio.NewReader(c)}
	rc.expect("220")
	return rc
}

// reply reads one full (possibly multi-line) reply and returns its last line.
func (rc *rawConn) reply() string {
	rc.t.Helper()
	for {
		line, err := rc.r.ReadString('\n')
		if err != nil {
			rc.t.Fatalf("read reply: %v", err)
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

func (rc *rawConn) expect(prefix string) string {
	rc.t.Helper()
	line := rc.reply()
	if !strings.HasPrefix(line, prefix) {
		rc.t.Fatalf("want reply %s..., got %q", prefix, line)
	}
	return line
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := rc.c.Write([]byte(s)); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawConn) cmd(line, prefix string) string {
	rc.t.Helper()
	rc.send(line + "\r\n")
	return rc.expect(prefix)
}

func TestRelayFromTrustedNetworkQueuesAfterSpool(t *testing.T) {
	f := start(t, nil)
	c := dialRaw(t, f.addrs[1])
	c.cmd("EHLO upstream.example", "250")
	c.cmd("MAIL FROM:<alice@example.com>", "250")
	c.cmd("RCPT TO:<bob@example.org>", "250")
	c.cmd("DATA", "354")
	c.send("Subject: hi\r\n\r\nhello\r\n.\r\n")
	line := c.expect("250 2.0.0 Ok: queued as Q1")
	_ = line
	if f.spool.count() != 1 {
		t.Fatalf("spooled %d", f.spool.count())
	}
	m := f.spool.msgs[0]
	if m.msg.From != "alice@example.com" || len(m.msg.To) != 1 || m.msg.To[0] != "bob@example.org" || m.msg.Helo != "upstream.example" {
		t.Errorf("envelope %+v", m.msg)
	}
	if !strings.HasPrefix(m.body, "Received: from upstream.example ([127.0.0.1])\r\n\tby gw.test.example (sealgate) with ESMTP") ||
		!strings.HasSuffix(m.body, "Subject: hi\r\n\r\nhello\r\n") {
		t.Errorf("body %q", m.body)
	}
	if got := testutil.ToFloat64(f.srv.metrics.received); got != 1 {
		t.Errorf("received metric %v", got)
	}
}

func TestNoReplyBeforeSpoolReturns(t *testing.T) {
	gate := make(chan struct{})
	f := start(t, func(o *Options) { o.Spooler = &memSpool{gate: gate} })
	c := dialRaw(t, f.addrs[1])
	c.cmd("EHLO up", "250")
	c.cmd("MAIL FROM:<a@example.com>", "250")
	c.cmd("RCPT TO:<b@example.org>", "250")
	c.cmd("DATA", "354")
	c.send("\r\nbody\r\n.\r\n")
	c.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.r.ReadString('\n'); err == nil {
		t.Fatal("got a reply while the spool had not returned")
	}
	close(gate)
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.expect("250")
}

func TestSpoolFailureIsTemporaryAndNotAcknowledged(t *testing.T) {
	f := start(t, func(o *Options) { o.Spooler = &memSpool{fail: io.ErrShortWrite} })
	c := dialRaw(t, f.addrs[1])
	c.cmd("EHLO up", "250")
	c.cmd("MAIL FROM:<a@example.com>", "250")
	c.cmd("RCPT TO:<b@example.org>", "250")
	c.cmd("DATA", "354")
	c.send("\r\nbody\r\n.\r\n")
	line := c.expect("451 4.3.0")
	if strings.Contains(line, "short write") {
		t.Errorf("internal error leaked to client: %q", line)
	}
}

func TestSpoolerRejectIsPermanentAndGeneric(t *testing.T) {
	f := start(t, func(o *Options) {
		o.Spooler = &memSpool{fail: &Reject{Code: 550, Enhanced: [3]int{5, 7, 1}, Message: "Message refused by policy", Reason: "policy"}}
	})
	c := dialRaw(t, f.addrs[1])
	c.cmd("EHLO up", "250")
	c.cmd("MAIL FROM:<a@example.com>", "250")
	c.cmd("RCPT TO:<b@example.org>", "250")
	c.cmd("DATA", "354")
	c.send("Subject: SSN 078-05-1120\r\n\r\nbody\r\n.\r\n")
	if line := c.expect("550 5.7.1 Message refused by policy"); strings.Contains(line, "078") {
		t.Fatalf("reply leaks content: %q", line)
	}
	if got := testutil.ToFloat64(f.srv.metrics.rejected.WithLabelValues("policy")); got != 1 {
		t.Errorf("policy reject metric %v", got)
	}
}

func TestRelayDeniedForUnauthorisedClient(t *testing.T) {
	f := start(t, func(o *Options) { o.RelayNetworks = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	c := dialRaw(t, f.addrs[1])
	c.cmd("EHLO outsider", "250")
	c.cmd("MAIL FROM:<spammer@example.net>", "250")
	c.cmd("RCPT TO:<victim@example.org>", "554 5.7.1")
	c.cmd("DATA", "502")
	if f.spool.count() != 0 {
		t.Fatal("open relay: message spooled")
	}
	if got := testutil.ToFloat64(f.srv.metrics.rejected.WithLabelValues("relay_denied")); got != 1 {
		t.Errorf("relay_denied metric = %v", got)
	}
}

func TestAuthOnlyOverTLSAndThenRelays(t *testing.T) {
	f := start(t, func(o *Options) { o.RelayNetworks = nil })
	// Cleartext listener: AUTH is neither offered nor accepted.
	c := dialRaw(t, f.addrs[1])
	c.send("EHLO up\r\n")
	var ehlo []string
	for {
		line, _ := c.r.ReadString('\n')
		ehlo = append(ehlo, line)
		if line[3] == ' ' {
			break
		}
	}
	if strings.Contains(strings.Join(ehlo, ""), "AUTH") {
		t.Errorf("AUTH offered without TLS: %q", ehlo)
	}
	c.cmd("AUTH PLAIN AHJlbGF5dXNlcgBzM2NyZXQ=", "5")

	// STARTTLS listener with go-smtp's client: wrong password, then right.
	tlsConf := &tls.Config{RootCAs: f.ca.pool, ServerName: "gw.test.example"}
	cl, err := smtp.DialStartTLS(f.addrs[0], tlsConf)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Auth(sasl.NewPlainClient("", "relayuser", "wrong")); err == nil || !strings.Contains(err.Error(), "535") {
		t.Fatalf("wrong password: %v", err)
	}
	if err := cl.Auth(sasl.NewPlainClient("", "relayuser", "s3cret")); err != nil {
		t.Fatalf("auth: %v", err)
	}
	if err := cl.SendMail("a@example.com", []string{"b@example.org"}, strings.NewReader("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatalf("send after auth: %v", err)
	}
	if f.spool.count() != 1 || f.spool.msgs[0].msg.AuthUser != "relayuser" {
		t.Fatalf("not spooled with auth user: %+v", f.spool.msgs)
	}
	if !strings.Contains(f.spool.msgs[0].body, "with ESMTPSA") {
		t.Errorf("Received header lacks ESMTPSA: %q", f.spool.msgs[0].body[:200])
	}
}

func TestAuthLoginMechanism(t *testing.T) {
	f := start(t, func(o *Options) { o.RelayNetworks = nil })
	conn, err := tls.Dial("tcp", f.addrs[2], &tls.Config{RootCAs: f.ca.pool, ServerName: "gw.test.example"})
	if err != nil {
		t.Fatal(err)
	}
	c := &rawConn{t: t, c: conn, r: bufio.NewReader(conn)}
	c.expect("220")
	c.cmd("EHLO up", "250")
	c.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
	c.cmd("cmVsYXl1c2Vy", "334 UGFzc3dvcmQ6")
	c.cmd("czNjcmV0", "235")
	c.cmd("MAIL FROM:<a@example.com>", "250")
	c.cmd("RCPT TO:<b@example.org>", "250")
}

func TestClientCertificateAuthorisesRelay(t *testing.T) {
	f := start(t, func(o *Options) { o.RelayNetworks = nil })
	client := f.ca.issue(t, "upstream.example", x509.ExtKeyUsageClientAuth)
	tlsConf := &tls.Config{RootCAs: f.ca.pool, ServerName: "gw.test.example", Certificates: []tls.Certificate{client}}
	cl, err := smtp.DialTLS(f.addrs[2], tlsConf)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.SendMail("a@example.com", []string{"b@example.org"}, strings.NewReader("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatalf("client cert relay: %v", err)
	}
	// Without the certificate the same listener refuses to relay.
	cl2, err := smtp.DialTLS(f.addrs[2], &tls.Config{RootCAs: f.ca.pool, ServerName: "gw.test.example"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	err = cl2.SendMail("a@example.com", []string{"b@example.org"}, strings.NewReader("x\r\n"))
	if err == nil || !strings.Contains(err.Error(), "554") {
		t.Fatalf("relay without cert: %v", err)
	}
}

func TestTLSBelow12Refused(t *testing.T) {
	f := start(t, nil)
	_, err := tls.Dial("tcp", f.addrs[2], &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11})
	if err == nil {
		t.Fatal("TLS 1.1 handshake succeeded")
	}
}

func TestSenderDomainRestriction(t *testing.T) {
	f := start(t, func(o *Options) { o.AllowedSenderDomains = []string{"hospital.example", "*.clinic.example"} })
	c := dialRaw(t, f.addrs[1])
	c.cmd("EHLO up", "250")
	c.cmd("MAIL FROM:<x@evil.example>", "550 5.7.1")
	c.cmd("MAIL FROM:<x@a.clinic.example>", "250")
	c.cmd("RSET", "250")
	c.cmd("MAIL FROM:<x@HOSPITAL.example>", "250")
	c.cmd("RSET", "250")
	c.cmd("MAIL FROM:<>", "250")
}

func TestSizeLimits(t *testing.T) {
	f := start(t, func(o *Options) { o.MaxMessageSize = 64 << 10 })
	c := dialRaw(t, f.addrs[1])
	c.cmd("EHLO up", "250")
	c.cmd(fmt.Sprintf("MAIL FROM:<a@example.com> SIZE=%d", 1<<20), "552 5.3.4")
	// No SIZE declared: the limit applies to the data as it arrives.
	c.cmd("MAIL FROM:<a@example.com>", "250")
	c.cmd("RCPT TO:<b@example.org>", "250")
	c.cmd("DATA", "354")
	line := strings.Repeat("x", 998) + "\r\n"
	for i := 0; i < 100; i++ {
		c.send(line)
	}
	c.send(".\r\n")
	c.expect("552 5.3.4")
	if f.spool.count() != 0 {
		t.Fatal("oversize message spooled")
	}
	// The session is still usable afterwards.
	c.cmd("MAIL FROM:<a@example.com>", "250")
}

func TestTooManyRecipients(t *testing.T) {
	f := start(t, func(o *Options) { o.MaxRecipients = 3 })
	c := dialRaw(t, f.addrs[1])
	c.cmd("EHLO up", "250")
	c.cmd("MAIL FROM:<a@example.com>", "250")
	for i := 0; i < 3; i++ {
		c.cmd(fmt.Sprintf("RCPT TO:<r%d@example.org>", i), "250")
	}
	c.cmd("RCPT TO:<r4@example.org>", "452 4.5.3")
}

func TestBadAddresses(t *testing.T) {
	f := start(t, nil)
	c := dialRaw(t, f.addrs[1])
	c.cmd("EHLO up", "250")
	c.cmd("MAIL FROM:<no-at-sign>", "501")
	c.cmd("MAIL FROM:<a@example.com>", "250")
	for _, bad := range []string{"<bob>", "<bob@>", "<@example.org>", "<bob@.example.org>", "<bob@example..org>"} {
		c.cmd("RCPT TO:"+bad, "501")
	}
}

// TestSmugglingVariantsRejected sends the end-of-data tricks of the SMTP
// smuggling attacks (bare LF and bare CR around the dot). Each must be
// refused as a whole, with nothing spooled and no second message.
func TestSmugglingVariantsRejected(t *testing.T) {
	smuggled := "MAIL FROM:<admin@example.com>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n"
	variants := map[string]string{
		"LF.LF":    "Subject: a\r\n\r\nbody\n.\n" + smuggled,
		"LF.CRLF":  "Subject: a\r\n\r\nbody\n.\r\n" + smuggled,
		"CRLF.LF":  "Subject: a\r\n\r\nbody\r\n.\n" + smuggled,
		"CR.CR":    "Subject: a\r\n\r\nbody\r.\r" + smuggled,
		"bare LF":  "Subject: a\n\nbody\n",
		"bare CR":  "Subject: a\r\n\r\nbo\rdy\r\n",
		"CR CR LF": "Subject: a\r\n\r\nbody\r\r\n",
	}
	for name, payload := range variants {
		t.Run(name, func(t *testing.T) {
			f := start(t, nil)
			c := dialRaw(t, f.addrs[1])
			c.cmd("EHLO up", "250")
			c.cmd("MAIL FROM:<a@example.com>", "250")
			c.cmd("RCPT TO:<b@example.org>", "250")
			c.cmd("DATA", "354")
			c.send(payload + "\r\n.\r\n")
			c.expect("554 5.6.0")
			// The smuggled commands were data: the session is back at the
			// start of a transaction and nothing was queued.
			c.cmd("NOOP", "250")
			if n := f.spool.count(); n != 0 {
				t.Fatalf("%d messages spooled", n)
			}
			if got := testutil.ToFloat64(f.srv.metrics.rejected.WithLabelValues("bare_line_ending")); got != 1 {
				t.Errorf("metric = %v", got)
			}
		})
	}
}

// TestDotCRIsNeutralised covers "\r\n.\rX": go-smtp's DATA reader drops
// the ".\r" pair before sealgate sees the bytes, so no bare CR reaches the
// guard. What matters is the outcome: one message, the smuggled commands are
// inert body text, and the bytes sealgate stores (and later relays) no longer
// contain any end-of-data look-alike for a downstream server to split on.
func TestDotCRIsNeutralised(t *testing.T) {
	f := start(t, nil)
	c := dialRaw(t, f.addrs[1])
	c.cmd("EHLO up", "250")
	c.cmd("MAIL FROM:<a@example.com>", "250")
	c.cmd("RCPT TO:<b@example.org>", "250")
	c.cmd("DATA", "354")
	c.send("Subject: a\r\n\r\nbody\r\n.\rMAIL FROM:<admin@example.com>\r\nRCPT TO:<victim@example.org>\r\n.\r\n")
	c.expect("250")
	c.cmd("NOOP", "250")
	if n := f.spool.count(); n != 1 {
		t.Fatalf("%d messages spooled, want exactly 1", n)
	}
	body := f.spool.msgs[0].body
	if !strings.HasSuffix(body, "\r\n\r\nbody\r\nMAIL FROM:<admin@example.com>\r\nRCPT TO:<victim@example.org>\r\n") {
		t.Fatalf("stored body %q", body)
	}
	if strings.Contains(body, "\r\n.\r") || strings.Contains(body, "\n.\n") {
		t.Fatalf("end-of-data look-alike survived: %q", body)
	}
}

func TestRequireTLSStoredAndRefusedInCleartext(t *testing.T) {
	f := start(t, nil)
	c := dialRaw(t, f.addrs[1])
	c.cmd("EHLO up", "250")
	c.cmd("MAIL FROM:<a@example.com> REQUIRETLS", "5")

	cl, err := smtp.DialStartTLS(f.addrs[0], &tls.Config{RootCAs: f.ca.pool, ServerName: "gw.test.example"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if ok, _ := cl.Extension("REQUIRETLS"); !ok {
		t.Fatal("REQUIRETLS not advertised over TLS")
	}
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE"} {
		if ok, _ := cl.Extension(ext); !ok {
			t.Errorf("%s not advertised", ext)
		}
	}
	if err := cl.Mail("a@example.com", &smtp.MailOptions{RequireTLS: true}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Rcpt("b@example.org", nil); err != nil {
		t.Fatal(err)
	}
	w, err := cl.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: s\r\n\r\nsecret\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if f.spool.count() != 1 || !f.spool.msgs[0].msg.RequireTLS {
		t.Fatalf("REQUIRETLS not stored: %+v", f.spool.msgs)
	}
	if !strings.Contains(f.spool.msgs[0].body, "(using TLS") {
		t.Errorf("Received header lacks TLS details")
	}
}

func TestConnectionLimitPerIP(t *testing.T) {
	f := start(t, func(o *Options) { o.MaxConnectionsPerIP = 2 })
	a := dialRaw(t, f.addrs[1])
	b := dialRaw(t, f.addrs[1])
	c, err := net.Dial("tcp", f.addrs[1])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "421 4.7.0") {
		t.Fatalf("third connection got %q", line)
	}
	// Closing one frees its slot.
	a.cmd("QUIT", "221")
	a.c.Close()
	time.Sleep(100 * time.Millisecond)
	d := dialRaw(t, f.addrs[1])
	d.cmd("NOOP", "250")
	b.cmd("NOOP", "250")
}

func TestLineLengthLimit(t *testing.T) {
	f := start(t, func(o *Options) { o.MaxLineLength = 1000 })
	c := dialRaw(t, f.addrs[1])
	c.cmd("EHLO up", "250")
	c.send("MAIL FROM:<" + strings.Repeat("a", 2000) + "@example.com>\r\n")
	c.expect("5")
}

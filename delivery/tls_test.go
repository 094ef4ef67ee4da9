package delivery_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/internal/mxtest"
)

// oneMX is a zone with example.test → mx.example.test → 192.0.2.1.
func oneMX() dnstest.Zone {
	return dnstest.Zone{
		"example.test":    {MX: []*net.MX{{Host: "mx.example.test", Pref: 10}}},
		"mx.example.test": {A: []string{"192.0.2.1"}},
	}
}

func withPolicy(p delivery.TLSPolicy) func(*delivery.Options) {
	return func(o *delivery.Options) { o.DefaultTLS = p }
}

func TestEHLOHostnameBeforeAndAfterSTARTTLS(t *testing.T) {
	e := newEnv(t, oneMX())
	mx := e.mx("192.0.2.1:25", mxtest.Options{TLS: mxtest.TLSModern})
	res := deliver(t, e.client(), req("example.test", "u@example.test"))
	wantOutcome(t, res, delivery.Delivered)
	msgs := mx.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	c := msgs[0].Conn
	if !slices.Equal(c.HelloPlain, []string{"gw.sealgate.test"}) || !slices.Equal(c.HelloTLS, []string{"gw.sealgate.test"}) {
		t.Errorf("EHLO before TLS %q, after TLS %q; want our hostname both times", c.HelloPlain, c.HelloTLS)
	}
	if msgs[0].TLSVersion != tls.VersionTLS13 || res[0].TLSVersion != "TLS1.3" || res[0].TLSCipher == "" {
		t.Errorf("server TLS %x, result %+v", msgs[0].TLSVersion, res[0])
	}
	// Opportunistic over a self-signed certificate: encrypted, not verified.
	if res[0].TLSLevel != delivery.LevelTLS {
		t.Errorf("level %v, want tls", res[0].TLSLevel)
	}
}

// TestTLS10OnlyMX checks the server really speaks TLS 1.0 and that we
// never accept it: under required nothing is sent; under opportunistic the
// documented choice is a plaintext retry on a fresh connection.
func TestTLS10OnlyMX(t *testing.T) {
	e := newEnv(t, oneMX())
	mx := e.mx("192.0.2.1:25", mxtest.Options{TLS: mxtest.TLSOnly10})
	if v := handshakeVersion(t, mx.Addr(), tls.VersionTLS10); v != tls.VersionTLS10 {
		t.Fatalf("fake MX negotiated %x, want TLS 1.0 (test would prove nothing)", v)
	}
	before := len(mx.Conns())

	for _, p := range []delivery.TLSPolicy{delivery.PolicyRequired, delivery.PolicyVerified} {
		res := deliver(t, e.client(withPolicy(p)), req("example.test", "u@example.test"))
		wantOutcome(t, res, delivery.TempFail)
		if !strings.Contains(res[0].Text, "TLS "+p.String()+" required but not reached") || res[0].Code != 451 {
			t.Errorf("%v: %+v", p, res[0])
		}
	}
	if n := mx.MailCount(); n != 0 {
		t.Fatalf("%d MAIL commands reached a TLS 1.0-only MX under required TLS", n)
	}

	res := deliver(t, e.client(withPolicy(delivery.PolicyOpportunistic)), req("example.test", "u@example.test"))
	wantOutcome(t, res, delivery.Delivered)
	if res[0].TLSLevel != delivery.LevelNone || res[0].TLSVersion != "" {
		t.Errorf("result %+v", res[0])
	}
	conns := mx.Conns()[before:]
	// required + verified: one failed handshake each; opportunistic: a
	// failed handshake then a plaintext session.
	if len(conns) != 4 {
		t.Fatalf("%d connections, want 4: %+v", len(conns), conns)
	}
	if conns[2].Mails != 0 || conns[3].Mails != 1 || conns[3].TLSVersion != 0 || len(conns[3].HelloTLS) != 0 {
		t.Errorf("opportunistic connections %+v", conns[2:])
	}
}

// handshakeVersion does STARTTLS by hand with a client accepting min.
func handshakeVersion(t *testing.T, addr string, min uint16) uint16 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	tp := textproto.NewReader(bufio.NewReader(c))
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "EHLO probe\r\n")
	if _, _, err := tp.ReadResponse(250); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "STARTTLS\r\n")
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: min, MaxVersion: tls.VersionTLS13})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("probe handshake: %v", err)
	}
	return tc.ConnectionState().Version
}

func TestVerifiedPolicy(t *testing.T) {
	ca := mxtest.NewCA(t)
	good := ca.Issue(t, "mx.example.test")
	wrongName := ca.Issue(t, "other.example.test")
	self := mxtest.SelfSigned(t, "mx.example.test")

	cases := []struct {
		name    string
		cert    tls.Certificate
		outcome delivery.Outcome
	}{
		{"ca-right-name", good, delivery.Delivered},
		{"self-signed", self, delivery.TempFail},
		{"ca-wrong-name", wrongName, delivery.TempFail},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, oneMX())
			mx := e.mx("192.0.2.1:25", mxtest.Options{TLS: mxtest.TLSModern, Cert: &tc.cert})
			c := e.client(func(o *delivery.Options) {
				o.DomainTLS = map[string]delivery.TLSPolicy{"example.test": delivery.PolicyVerified}
				o.RootCAs = ca.Pool()
			})
			res := deliver(t, c, req("example.test", "u@example.test"))
			wantOutcome(t, res, tc.outcome)
			if tc.outcome == delivery.Delivered {
				if res[0].TLSLevel != delivery.LevelVerified || res[0].MX != "mx.example.test" {
					t.Errorf("result %+v", res[0])
				}
				return
			}
			if mx.MailCount() != 0 {
				t.Fatalf("MAIL sent to an MX with an unverifiable certificate")
			}
			if !strings.Contains(res[0].Text, "certificate") || !strings.Contains(res[0].Text, "verified required") {
				t.Errorf("reason %q", res[0].Text)
			}
		})
	}
}

// The same CA-issued certificate is only LevelTLS when the policy does not
// ask for verification but RootCAs do not trust it.
func TestLevelReportedUnderRequired(t *testing.T) {
	ca := mxtest.NewCA(t)
	cert := ca.Issue(t, "mx.example.test")
	e := newEnv(t, oneMX())
	e.mx("192.0.2.1:25", mxtest.Options{TLS: mxtest.TLS12, Cert: &cert})
	res := deliver(t, e.client(withPolicy(delivery.PolicyRequired), func(o *delivery.Options) { o.RootCAs = ca.Pool() }),
		req("example.test", "u@example.test"))
	wantOutcome(t, res, delivery.Delivered)
	if res[0].TLSLevel != delivery.LevelVerified || res[0].TLSVersion != "TLS1.2" {
		t.Errorf("with trusted CA: %+v", res[0])
	}
	res = deliver(t, e.client(withPolicy(delivery.PolicyRequired)), req("example.test", "u@example.test"))
	wantOutcome(t, res, delivery.Delivered)
	if res[0].TLSLevel != delivery.LevelTLS {
		t.Errorf("with system roots: %+v", res[0])
	}
}

func TestSTARTTLSNotOffered(t *testing.T) {
	e := newEnv(t, dnstest.Zone{
		"example.test":     {MX: []*net.MX{{Host: "mx1.example.test", Pref: 10}, {Host: "mx2.example.test", Pref: 20}}},
		"mx1.example.test": {A: []string{"192.0.2.1"}},
		"mx2.example.test": {A: []string{"192.0.2.2"}},
	})
	mx1 := e.mx("192.0.2.1:25", mxtest.Options{})
	mx2 := e.mx("192.0.2.2:25", mxtest.Options{})
	for _, p := range []delivery.TLSPolicy{delivery.PolicyRequired, delivery.PolicyVerified} {
		r := req("example.test", "u@example.test", "v@example.test")
		res := deliver(t, e.client(withPolicy(p)), r)
		wantOutcome(t, res, delivery.TempFail)
		for _, x := range res {
			if !strings.Contains(x.Text, "TLS "+p.String()+" required but not reached on any MX") ||
				!strings.Contains(x.Text, "STARTTLS not offered") || x.Enhanced != "4.7.10" {
				t.Errorf("%v: %+v", p, x)
			}
		}
	}
	// A per-request floor works the same way.
	r := req("example.test", "u@example.test")
	r.MinTLS = delivery.PolicyRequired
	wantOutcome(t, deliver(t, e.client(), r), delivery.TempFail)
	if mx1.MailCount()+mx2.MailCount() != 0 {
		t.Fatal("plaintext MAIL sent although TLS was required")
	}
	// Opportunistic: plaintext is allowed when STARTTLS is not offered.
	res := deliver(t, e.client(), req("example.test", "u@example.test"))
	wantOutcome(t, res, delivery.Delivered)
	if res[0].TLSLevel != delivery.LevelNone {
		t.Errorf("%+v", res[0])
	}
	// PolicyNone never starts TLS even when offered.
	e2 := newEnv(t, oneMX())
	mx := e2.mx("192.0.2.1:25", mxtest.Options{TLS: mxtest.TLSModern})
	wantOutcome(t, deliver(t, e2.client(withPolicy(delivery.PolicyNone)), req("example.test", "u@example.test")), delivery.Delivered)
	if m := mx.Messages(); len(m) != 1 || m[0].TLSVersion != 0 {
		t.Errorf("policy none used TLS: %+v", m)
	}
}

// A man in the middle answering STARTTLS with extra pipelined lines must
// not get them treated as post-TLS replies.
func TestSTARTTLSResponseInjection(t *testing.T) {
	e := newEnv(t, oneMX())
	addr := scriptListener(t, "220 mx ESMTP\r\n",
		"250-mx\r\n250 STARTTLS\r\n",
		"220 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n")
	e.dialer.Map["192.0.2.1:25"] = addr
	res := deliver(t, e.client(withPolicy(delivery.PolicyRequired)), req("example.test", "u@example.test"))
	wantOutcome(t, res, delivery.TempFail)
	if !strings.Contains(res[0].Text, "injection") {
		t.Errorf("reason %q", res[0].Text)
	}
}

func TestRequireTLS(t *testing.T) {
	ca := mxtest.NewCA(t)
	cert := ca.Issue(t, "mx.example.test")
	rootCAs := func(o *delivery.Options) { o.RootCAs = ca.Pool() }

	t.Run("passed-on", func(t *testing.T) {
		e := newEnv(t, oneMX())
		mx := e.mx("192.0.2.1:25", mxtest.Options{TLS: mxtest.TLSModern, Cert: &cert, RequireTLS: true})
		r := req("example.test", "u@example.test")
		r.RequireTLS = true
		res := deliver(t, e.client(withPolicy(delivery.PolicyNone), rootCAs), r)
		wantOutcome(t, res, delivery.Delivered)
		m := mx.Messages()
		if len(m) != 1 || !m[0].MailOpts.RequireTLS || res[0].TLSLevel != delivery.LevelVerified {
			t.Errorf("messages %+v result %+v", m, res[0])
		}
	})
	t.Run("not-advertised", func(t *testing.T) {
		e := newEnv(t, oneMX())
		mx := e.mx("192.0.2.1:25", mxtest.Options{TLS: mxtest.TLSModern, Cert: &cert})
		r := req("example.test", "u@example.test")
		r.RequireTLS = true
		res := deliver(t, e.client(rootCAs), r)
		wantOutcome(t, res, delivery.TempFail)
		if res[0].Enhanced != "4.7.30" || mx.MailCount() != 0 {
			t.Errorf("result %+v, MAIL count %d", res[0], mx.MailCount())
		}
	})
	t.Run("unverified", func(t *testing.T) {
		e := newEnv(t, oneMX())
		mx := e.mx("192.0.2.1:25", mxtest.Options{TLS: mxtest.TLSModern, RequireTLS: true})
		r := req("example.test", "u@example.test")
		r.RequireTLS = true
		wantOutcome(t, deliver(t, e.client(rootCAs), r), delivery.TempFail)
		if mx.MailCount() != 0 {
			t.Error("REQUIRETLS message sent over unverified TLS")
		}
	})
}

func TestSmarthostAuth(t *testing.T) {
	e := newEnv(t, dnstest.Zone{})
	smart := e.mx("198.51.100.7:587", mxtest.Options{TLS: mxtest.TLSModern, Users: map[string]string{"gw": "s3cret"}})
	c := e.client(func(o *delivery.Options) {
		o.Smarthost = "198.51.100.7:587"
		o.SmarthostUser, o.SmarthostPassword = "gw", "s3cret"
	})
	wantOutcome(t, deliver(t, c, req("example.test", "u@example.test")), delivery.Delivered)
	if m := smart.Messages(); len(m) != 1 || m[0].AuthUser != "gw" {
		t.Fatalf("messages %+v", m)
	}
	bad := e.client(func(o *delivery.Options) {
		o.Smarthost = "198.51.100.7:587"
		o.SmarthostUser, o.SmarthostPassword = "gw", "wrong"
	})
	res := deliver(t, bad, req("example.test", "u@example.test"))
	wantOutcome(t, res, delivery.TempFail)
	if res[0].Enhanced != "4.7.8" {
		t.Errorf("%+v", res[0])
	}
	// Credentials are never allowed where plaintext is possible.
	for _, p := range []delivery.TLSPolicy{delivery.PolicyNone, delivery.PolicyOpportunistic} {
		o := e.opts
		o.Smarthost, o.SmarthostUser, o.SmarthostPassword, o.SmarthostTLS = "198.51.100.7:587", "gw", "x", p
		if _, err := delivery.New(o); err == nil {
			t.Errorf("New accepted smarthost AUTH with TLS policy %v", p)
		}
	}
	// Smarthost without STARTTLS: default policy is required.
	plain := e.mx("198.51.100.8:25", mxtest.Options{})
	c = e.client(func(o *delivery.Options) { o.Smarthost = "198.51.100.8:25" })
	wantOutcome(t, deliver(t, c, req("example.test", "u@example.test")), delivery.TempFail)
	if plain.MailCount() != 0 {
		t.Error("smarthost used without TLS by default")
	}
}

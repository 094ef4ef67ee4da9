package dane_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dane"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/internal/mxtest"
)

var now = time.Now()

// issuer is a test CA whose certificate is at hand (mxtest.CA keeps its
// own private), so a server can send it in its chain for DANE-TA.
type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newIssuer(t *testing.T, name string) *issuer {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &issuer{cert: c, key: key}
}

// leaf issues a server certificate for names, valid from nb to na, and
// returns it with the chain the server sends (leaf, then the issuer).
func (is *issuer) leaf(t *testing.T, nb, na time.Time, names ...string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: nb, NotAfter: na, DNSNames: names,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, is.cert, &key.PublicKey, is.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, is.cert.Raw}, PrivateKey: key}
}

func state(t *testing.T, c tls.Certificate) tls.ConnectionState {
	t.Helper()
	var cs tls.ConnectionState
	for _, der := range c.Certificate {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		cs.PeerCertificates = append(cs.PeerCertificates, x)
	}
	return cs
}

func parse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tlsa(usage, sel, mt uint8, c *x509.Certificate) delivery.TLSA {
	data := c.Raw
	if sel == 1 {
		data = c.RawSubjectPublicKeyInfo
	}
	switch mt {
	case 1:
		h := sha256.Sum256(data)
		data = h[:]
	case 2:
		h := sha512.Sum512(data)
		data = h[:]
	}
	return delivery.TLSA{Usage: usage, Selector: sel, MatchingType: mt, Data: bytes.Clone(data)}
}

// signedZone is example.test with one MX, everything DNSSEC-authenticated,
// and the given TLSA records at _25._tcp.mx.example.test.
func signedZone(recs ...delivery.TLSA) dnstest.Zone {
	return dnstest.Zone{
		"example.test":             {MX: []*net.MX{{Host: "mx.example.test", Pref: 10}}, Authentic: true},
		"mx.example.test":          {A: []string{"192.0.2.1"}, Authentic: true},
		"_25._tcp.mx.example.test": {TLSA: recs, Authentic: true},
	}
}

type fixture struct {
	p   *dane.Policy
	reg *prometheus.Registry
	r   *dnstest.Resolver
}

func newPolicy(t *testing.T, zone dnstest.Zone, mut ...func(*dane.Options)) fixture {
	t.Helper()
	f := fixture{reg: prometheus.NewRegistry(), r: dnstest.NewResolver(zone)}
	o := dane.Options{Resolver: f.r, Registerer: f.reg, Logger: slog.New(slog.DiscardHandler)}
	for _, m := range mut {
		m(&o)
	}
	p, err := dane.New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	return f
}

// count reads sealgate_dane_checks_total{result}.
func (f fixture) count(result string) float64 {
	mfs, _ := f.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "sealgate_dane_checks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func check(t *testing.T, p *dane.Policy, host string, c tls.Certificate, level delivery.TLSLevel) (delivery.TLSLevel, error) {
	t.Helper()
	return p.CheckTLS(context.Background(), "example.test", host, state(t, c), level)
}

func wantFloor(t *testing.T, p *dane.Policy, want delivery.TLSPolicy) {
	t.Helper()
	f, err := p.Floor(context.Background(), "example.test")
	if err != nil || f != want {
		t.Fatalf("Floor = %v, %v; want %v", f, err, want)
	}
}

func TestDANEEE(t *testing.T) {
	self := mxtest.SelfSigned(t, "mx.example.test")
	leaf := parse(t, self.Certificate[0])
	for _, rec := range []delivery.TLSA{tlsa(3, 1, 1, leaf), tlsa(3, 0, 1, leaf), tlsa(3, 1, 2, leaf), tlsa(3, 0, 0, leaf), tlsa(3, 1, 0, leaf)} {
		f := newPolicy(t, signedZone(rec))
		wantFloor(t, f.p, delivery.PolicyVerified)
		if err := f.p.AllowMX(context.Background(), "example.test", "mx.example.test"); err != nil {
			t.Errorf("%d %d %d: AllowMX: %v", rec.Usage, rec.Selector, rec.MatchingType, err)
		}
		if l, err := check(t, f.p, "MX.example.test.", self, delivery.LevelTLS); err != nil || l != delivery.LevelVerified {
			t.Errorf("%d %d %d: self-signed match: %v %v, want tls-verified", rec.Usage, rec.Selector, rec.MatchingType, l, err)
		}
		if f.count("verified") != 1 {
			t.Errorf("verified count %v", f.count("verified"))
		}
	}
}

func TestDANEEEIgnoresNameAndExpiry(t *testing.T) {
	is := newIssuer(t, "some CA")
	expired := is.leaf(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour), "wrong-name.test")
	f := newPolicy(t, signedZone(tlsa(3, 1, 1, parse(t, expired.Certificate[0]))))
	if l, err := check(t, f.p, "mx.example.test", expired, delivery.LevelTLS); err != nil || l != delivery.LevelVerified {
		t.Errorf("DANE-EE must ignore name and validity (RFC 7672 §3.1.1): %v %v", l, err)
	}
}

func TestDANEMismatchRefuses(t *testing.T) {
	pinned := mxtest.SelfSigned(t, "mx.example.test")
	f := newPolicy(t, signedZone(tlsa(3, 1, 1, parse(t, pinned.Certificate[0]))))
	other := mxtest.SelfSigned(t, "mx.example.test")
	if l, err := check(t, f.p, "mx.example.test", other, delivery.LevelTLS); err == nil {
		t.Errorf("mismatching certificate accepted at %v", l)
	}
	// A PKIX-valid certificate does not make up for a TLSA mismatch.
	ca := mxtest.NewCA(t)
	pkixOK := ca.Issue(t, "mx.example.test")
	if l, err := check(t, f.p, "mx.example.test", pkixOK, delivery.LevelVerified); err == nil {
		t.Errorf("PKIX-valid but TLSA-mismatching certificate accepted at %v (downgrade)", l)
	}
	if _, err := f.p.CheckTLS(context.Background(), "example.test", "mx.example.test", tls.ConnectionState{}, delivery.LevelTLS); err == nil {
		t.Error("a handshake without certificates was accepted")
	}
	if f.count("mismatch") != 3 {
		t.Errorf("mismatch count %v", f.count("mismatch"))
	}
}

func TestUnauthenticatedMeansNoOpinion(t *testing.T) {
	self := mxtest.SelfSigned(t, "mx.example.test")
	rec := tlsa(3, 1, 1, parse(t, self.Certificate[0]))
	cases := map[string]func(z dnstest.Zone){
		"tlsa-unsigned": func(z dnstest.Zone) {
			r := z["_25._tcp.mx.example.test"]
			r.Authentic = false
			z["_25._tcp.mx.example.test"] = r
		},
		// An attacker who forges an unsigned MX answer pointing at his own
		// signed zone with his own TLSA records gains nothing.
		"mx-unsigned": func(z dnstest.Zone) {
			r := z["example.test"]
			r.Authentic = false
			z["example.test"] = r
		},
		"address-unsigned": func(z dnstest.Zone) {
			r := z["mx.example.test"]
			r.Authentic = false
			z["mx.example.test"] = r
		},
		"no-tlsa": func(z dnstest.Zone) { delete(z, "_25._tcp.mx.example.test") },
		"tlsa-nodata": func(z dnstest.Zone) {
			z["_25._tcp.mx.example.test"] = dnstest.Records{Authentic: true}
		},
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			z := signedZone(rec)
			mut(z)
			f := newPolicy(t, z)
			wantFloor(t, f.p, 0)
			if err := f.p.AllowMX(context.Background(), "example.test", "mx.example.test"); err != nil {
				t.Errorf("AllowMX: %v", err)
			}
			if l, err := check(t, f.p, "mx.example.test", self, delivery.LevelTLS); err != nil || l != delivery.LevelTLS {
				t.Errorf("CheckTLS = %v, %v; want tls unchanged (no upgrade without DNSSEC)", l, err)
			}
			other := mxtest.SelfSigned(t, "mx.example.test")
			if l, err := check(t, f.p, "mx.example.test", other, delivery.LevelTLS); err != nil || l != delivery.LevelTLS {
				t.Errorf("CheckTLS other cert = %v, %v; want tls unchanged", l, err)
			}
		})
	}
}

func TestUnusableRecordsOnly(t *testing.T) {
	ca := mxtest.NewCA(t)
	cert := ca.Issue(t, "mx.example.test")
	leaf := parse(t, cert.Certificate[0])
	short := tlsa(3, 1, 1, leaf)
	short.Data = short.Data[:31]
	for name, recs := range map[string][]delivery.TLSA{
		"pkix-ee":      {tlsa(1, 1, 1, leaf)},
		"pkix-ta":      {tlsa(0, 0, 1, leaf)},
		"bad-selector": {{Usage: 3, Selector: 2, MatchingType: 1, Data: make([]byte, 32)}},
		"bad-mtype":    {{Usage: 3, Selector: 1, MatchingType: 3, Data: make([]byte, 32)}},
		"short-digest": {short},
	} {
		t.Run(name, func(t *testing.T) {
			f := newPolicy(t, signedZone(recs...))
			// RFC 7672 §2.2: a secure but unusable TLSA RRset still makes
			// TLS mandatory, without authentication.
			wantFloor(t, f.p, delivery.PolicyRequired)
			for _, lvl := range []delivery.TLSLevel{delivery.LevelTLS, delivery.LevelVerified} {
				if l, err := check(t, f.p, "mx.example.test", cert, lvl); err != nil || l != lvl {
					t.Errorf("CheckTLS(%v) = %v, %v; want unchanged", lvl, l, err)
				}
			}
			if f.count("unusable") != 2 {
				t.Errorf("unusable count %v", f.count("unusable"))
			}
		})
	}
}

func TestTLSAServFailRefuses(t *testing.T) {
	z := signedZone()
	z["_25._tcp.mx.example.test"] = dnstest.Records{ServFail: true, Authentic: true}
	f := newPolicy(t, z)
	wantFloor(t, f.p, delivery.PolicyVerified)
	if err := f.p.AllowMX(context.Background(), "example.test", "mx.example.test"); err == nil || !strings.Contains(err.Error(), "SERVFAIL") {
		t.Errorf("AllowMX after TLSA SERVFAIL: %v, want a refusal naming SERVFAIL", err)
	}
	ca := mxtest.NewCA(t)
	if l, err := check(t, f.p, "mx.example.test", ca.Issue(t, "mx.example.test"), delivery.LevelVerified); err == nil {
		t.Errorf("CheckTLS after TLSA SERVFAIL accepted at %v", l)
	}
	if f.count("dns_error") != 2 {
		t.Errorf("dns_error count %v", f.count("dns_error"))
	}
	// On an unsigned domain the same SERVFAIL is irrelevant: no DANE.
	z2 := signedZone()
	z2["example.test"] = dnstest.Records{MX: z2["example.test"].MX}
	z2["_25._tcp.mx.example.test"] = dnstest.Records{ServFail: true}
	f2 := newPolicy(t, z2)
	wantFloor(t, f2.p, 0)
	if err := f2.p.AllowMX(context.Background(), "example.test", "mx.example.test"); err != nil {
		t.Errorf("unsigned domain: %v", err)
	}
	// A failing MX lookup defers.
	f3 := newPolicy(t, dnstest.Zone{"example.test": {ServFail: true}})
	if _, err := f3.p.Floor(context.Background(), "example.test"); err == nil {
		t.Error("MX SERVFAIL: Floor did not fail")
	}
}

func TestDANETA(t *testing.T) {
	ta := newIssuer(t, "TA")
	good := ta.leaf(t, now.Add(-time.Hour), now.Add(time.Hour), "mx.example.test")
	for _, rec := range []delivery.TLSA{tlsa(2, 0, 1, ta.cert), tlsa(2, 1, 1, ta.cert), tlsa(2, 0, 0, ta.cert)} {
		f := newPolicy(t, signedZone(rec))
		wantFloor(t, f.p, delivery.PolicyVerified)
		if l, err := check(t, f.p, "mx.example.test", good, delivery.LevelTLS); err != nil || l != delivery.LevelVerified {
			t.Errorf("DANE-TA %d %d %d: %v %v", rec.Usage, rec.Selector, rec.MatchingType, l, err)
		}
	}
	rec := tlsa(2, 0, 1, ta.cert)
	f := newPolicy(t, signedZone(rec))
	hostile := map[string]tls.Certificate{
		"wrong-name":  ta.leaf(t, now.Add(-time.Hour), now.Add(time.Hour), "other.example.test"),
		"expired":     ta.leaf(t, now.Add(-3*time.Hour), now.Add(-time.Hour), "mx.example.test"),
		"ta-not-sent": {Certificate: good.Certificate[:1], PrivateKey: good.PrivateKey},
		// The TA certificate is appended, but the leaf was signed by
		// another CA: a matching certificate alone is not enough.
		"not-signed-by-ta": func() tls.Certificate {
			c := newIssuer(t, "other").leaf(t, now.Add(-time.Hour), now.Add(time.Hour), "mx.example.test")
			c.Certificate[1] = ta.cert.Raw
			return c
		}(),
		// DANE-TA never matches the leaf itself.
		"leaf-is-ta": mxtest.SelfSigned(t, "mx.example.test"),
	}
	for name, c := range hostile {
		if l, err := check(t, f.p, "mx.example.test", c, delivery.LevelTLS); err == nil {
			t.Errorf("DANE-TA %s accepted at %v", name, l)
		}
	}
	self := hostile["leaf-is-ta"]
	f2 := newPolicy(t, signedZone(tlsa(2, 0, 1, parse(t, self.Certificate[0]))))
	if l, err := check(t, f2.p, "mx.example.test", self, delivery.LevelTLS); err == nil {
		t.Errorf("DANE-TA record matching the leaf accepted at %v", l)
	}
}

func TestMixedMXAndUnknownHost(t *testing.T) {
	self := mxtest.SelfSigned(t, "mx.example.test")
	z := signedZone(tlsa(3, 1, 1, parse(t, self.Certificate[0])))
	z["example.test"] = dnstest.Records{MX: []*net.MX{{Host: "mx.example.test", Pref: 10}, {Host: "plain.example.test", Pref: 20}}, Authentic: true}
	z["plain.example.test"] = dnstest.Records{A: []string{"192.0.2.2"}, Authentic: true}
	f := newPolicy(t, z)
	wantFloor(t, f.p, delivery.PolicyVerified)
	other := mxtest.SelfSigned(t, "plain.example.test")
	if l, err := check(t, f.p, "plain.example.test", other, delivery.LevelTLS); err != nil || l != delivery.LevelTLS {
		t.Errorf("non-DANE MX of a DANE domain: %v %v, want level unchanged", l, err)
	}
	if err := f.p.AllowMX(context.Background(), "example.test", "intruder.test"); err == nil {
		t.Error("an MX host outside the validated MX set was allowed on a DANE domain")
	}
}

func TestImplicitMX(t *testing.T) {
	self := mxtest.SelfSigned(t, "example.test")
	f := newPolicy(t, dnstest.Zone{
		"example.test":          {A: []string{"192.0.2.1"}, Authentic: true},
		"_25._tcp.example.test": {TLSA: []delivery.TLSA{tlsa(3, 1, 1, parse(t, self.Certificate[0]))}, Authentic: true},
	})
	wantFloor(t, f.p, delivery.PolicyVerified)
	if l, err := check(t, f.p, "example.test", self, delivery.LevelTLS); err != nil || l != delivery.LevelVerified {
		t.Errorf("implicit MX: %v %v", l, err)
	}
}

func TestStateCachedForTTL(t *testing.T) {
	self := mxtest.SelfSigned(t, "mx.example.test")
	clk := now
	f := newPolicy(t, signedZone(tlsa(3, 1, 1, parse(t, self.Certificate[0]))), func(o *dane.Options) {
		o.Clock = func() time.Time { return clk }
		o.CacheTTL = time.Minute
	})
	wantFloor(t, f.p, delivery.PolicyVerified)
	n := len(f.r.Calls())
	f.p.AllowMX(context.Background(), "example.test", "mx.example.test")
	check(t, f.p, "mx.example.test", self, delivery.LevelTLS)
	if got := len(f.r.Calls()); got != n {
		t.Errorf("lookups within the TTL: %d more", got-n)
	}
	clk = clk.Add(2 * time.Minute)
	wantFloor(t, f.p, delivery.PolicyVerified)
	if got := len(f.r.Calls()); got != 2*n {
		t.Errorf("after the TTL: %d lookups, want %d", got, 2*n)
	}
}

func TestNewChecksOptions(t *testing.T) {
	if _, err := dane.New(dane.Options{}); err == nil {
		t.Error("New without a Resolver succeeded")
	}
	if _, err := dane.New(dane.Options{Resolver: dnstest.NewResolver(nil), Port: 70000}); err == nil {
		t.Error("port 70000 accepted")
	}
}

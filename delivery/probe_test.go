package delivery_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/internal/mxtest"
)

func probe(t *testing.T, c *delivery.Client, domain string) []delivery.ProbeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Probe(ctx, domain)
	if err != nil {
		t.Fatalf("Probe(%s): %v", domain, err)
	}
	return res
}

// TestProbeMXKinds probes one fake MX of each kind and checks what was
// seen on both sides: the facts reported, our EHLO name before and after
// STARTTLS, and that no transaction was ever started.
func TestProbeMXKinds(t *testing.T) {
	ca := mxtest.NewCA(t)
	good := ca.Issue(t, "mx.example.test")
	wrongName := ca.Issue(t, "other.example.test")
	zone := dnstest.Zone{
		"example.test":    {MX: []*net.MX{{Host: "mx.example.test", Pref: 10}}},
		"mx.example.test": {A: []string{"192.0.2.1"}},
	}
	for _, tc := range []struct {
		name       string
		opts       mxtest.Options
		starttls   bool
		handshake  bool
		pkix       bool
		level      delivery.TLSLevel
		errPart    string
		pkixErrHas string
	}{
		{name: "no-starttls", opts: mxtest.Options{}},
		{name: "self-signed", opts: mxtest.Options{TLS: mxtest.TLSModern}, starttls: true, handshake: true,
			level: delivery.LevelTLS, pkixErrHas: "unknown authority"},
		{name: "ca-valid", opts: mxtest.Options{TLS: mxtest.TLSModern, Cert: &good}, starttls: true, handshake: true,
			pkix: true, level: delivery.LevelVerified},
		{name: "ca-wrong-name", opts: mxtest.Options{TLS: mxtest.TLS12, Cert: &wrongName}, starttls: true, handshake: true,
			level: delivery.LevelTLS, pkixErrHas: "mx.example.test"},
		{name: "tls10-only", opts: mxtest.Options{TLS: mxtest.TLSOnly10, Cert: &good}, starttls: true,
			errPart: "TLS handshake with mx.example.test failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, zone)
			tc.opts.Hostname = "mx.example.test"
			mx := e.mx("192.0.2.1:25", tc.opts)
			c := e.client(func(o *delivery.Options) { o.RootCAs = ca.Pool() })
			res := probe(t, c, "Example.Test.")
			if len(res) != 1 {
				t.Fatalf("%d results: %+v", len(res), res)
			}
			r := res[0]
			if r.Route != "mx" || r.Host != "mx.example.test" || r.Addr != "192.0.2.1:25" || !r.Connected ||
				r.STARTTLS != tc.starttls || r.Handshake != tc.handshake || r.PKIX != tc.pkix || r.Level != tc.level {
				t.Errorf("result %+v", r)
			}
			if r.Floor != delivery.PolicyOpportunistic || r.PolicyFloor != 0 || r.Vetoed != "" || r.PolicyError != "" {
				t.Errorf("floors %+v", r)
			}
			if tc.handshake && (!strings.HasPrefix(r.TLSVersion, "TLS1.") || r.TLSCipher == "") {
				t.Errorf("TLS version/cipher not recorded: %+v", r)
			}
			if tc.name == "ca-wrong-name" && r.TLSVersion != "TLS1.2" {
				t.Errorf("TLS 1.2-only MX reported as %q", r.TLSVersion)
			}
			if !strings.Contains(r.PKIXError, tc.pkixErrHas) || (tc.pkix && r.PKIXError != "") {
				t.Errorf("PKIX error %q, want it to mention %q", r.PKIXError, tc.pkixErrHas)
			}
			if (tc.errPart == "") != (r.Error == "") || !strings.Contains(r.Error, tc.errPart) {
				t.Errorf("error %q, want %q", r.Error, tc.errPart)
			}
			time.Sleep(50 * time.Millisecond) // let the fake record the QUIT'd session
			if mx.MailCount() != 0 || len(mx.Messages()) != 0 {
				t.Fatalf("probe started a transaction: %d MAIL", mx.MailCount())
			}
			conns := mx.Conns()
			if len(conns) != 1 || !slices.Equal(conns[0].HelloPlain, []string{"gw.sealgate.test"}) {
				t.Fatalf("conns %+v", conns)
			}
			if tc.handshake && !slices.Equal(conns[0].HelloTLS, []string{"gw.sealgate.test"}) {
				t.Errorf("no EHLO after STARTTLS: %+v", conns[0])
			}
		})
	}
}

// TestProbeBoundsAndPolicies: at most 3 hosts and 2 addresses each, in
// preference order; policy floors, vetoes and CheckTLS verdicts reported.
func TestProbeBoundsAndPolicies(t *testing.T) {
	zone := dnstest.Zone{"big.test": {MX: []*net.MX{
		{Host: "mx4.big.test", Pref: 40}, {Host: "mx1.big.test", Pref: 10},
		{Host: "mx3.big.test", Pref: 30}, {Host: "mx2.big.test", Pref: 20},
	}}}
	for _, h := range []string{"mx1", "mx2", "mx3", "mx4"} {
		zone[h+".big.test"] = dnstest.Records{A: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}}
	}
	e := newEnv(t, zone)
	self := mxtest.SelfSigned(t, "mx1.big.test")
	mx := e.mx("192.0.2.1:25", mxtest.Options{TLS: mxtest.TLSModern, Cert: &self})
	pol := &pinPolicy{
		floor: map[string]delivery.TLSPolicy{"big.test": delivery.PolicyVerified},
		deny:  map[string]bool{"mx2.big.test": true},
		pins:  map[string][32]byte{"mx1.big.test": sha256.Sum256(self.Certificate[0]), "mx3.big.test": {1}},
	}
	c := e.client(func(o *delivery.Options) { o.Policies = []delivery.Policy{pol} })
	res := probe(t, c, "big.test")
	var got []string
	for _, r := range res {
		got = append(got, r.Host+" "+r.Addr)
		if r.PolicyFloor != delivery.PolicyVerified {
			t.Errorf("%s: policy floor %v", r.Host, r.PolicyFloor)
		}
	}
	want := []string{
		"mx1.big.test 192.0.2.1:25", "mx1.big.test 192.0.2.2:25",
		"mx2.big.test 192.0.2.1:25", "mx2.big.test 192.0.2.2:25",
		"mx3.big.test 192.0.2.1:25", "mx3.big.test 192.0.2.2:25",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("probed %v, want %v", got, want)
	}
	// mx1: self-signed but pinned: DANE-style raise to verified.
	if r := res[0]; !r.Handshake || r.PKIX || r.Level != delivery.LevelVerified || r.Error != "" {
		t.Errorf("mx1 %+v", r)
	}
	// 192.0.2.2 has no server: refused, reported per address.
	if r := res[1]; r.Connected || !strings.Contains(r.Error, "connection to mx1.big.test failed") {
		t.Errorf("mx1 second address %+v", r)
	}
	// mx2 is vetoed but still probed (TLS-Required: No would use it).
	if r := res[2]; !strings.Contains(r.Vetoed, "refused by security policy") || !r.Connected || r.Level != delivery.LevelTLS {
		t.Errorf("mx2 %+v", r)
	}
	// mx3: the pin does not match: the policy refuses the handshake.
	if r := res[4]; !r.Handshake || r.PolicyError != "TLSA mismatch" || r.Level != delivery.LevelNone || r.Error == "" {
		t.Errorf("mx3 %+v", r)
	}
	if mx.MailCount() != 0 {
		t.Fatal("probe sent MAIL")
	}
	v := delivery.JudgeProbe(res, delivery.PolicyOpportunistic, false, false)
	if !v.Met || v.Need != delivery.PolicyVerified || v.Host != "mx1.big.test" || v.Level != delivery.LevelVerified {
		t.Errorf("verdict %+v", v)
	}
}

func TestProbeRoutingErrors(t *testing.T) {
	e := newEnv(t, dnstest.Zone{
		"null.test":   {MX: []*net.MX{{Host: ".", Pref: 0}}},
		"routed.test": {MX: []*net.MX{{Host: "mx.routed.test", Pref: 10}}},
	})
	routed := e.mx("198.51.100.7:2525", mxtest.Options{})
	c := e.client(func(o *delivery.Options) {
		o.Routes = map[string]string{"routed.test": "198.51.100.7:2525"}
		o.DomainTLS = map[string]delivery.TLSPolicy{"routed.test": delivery.PolicyRequired}
		o.Policies = []delivery.Policy{&pinPolicy{floor: map[string]delivery.TLSPolicy{"routed.test": delivery.PolicyVerified}}}
	})
	var de *delivery.Error
	if _, err := c.Probe(context.Background(), "nope.test"); !errors.As(err, &de) || de.Code != 550 || de.Temporary {
		t.Errorf("NXDOMAIN: %v", err)
	}
	if _, err := c.Probe(context.Background(), "null.test"); !errors.As(err, &de) || de.Code != 556 {
		t.Errorf("null MX: %v", err)
	}
	res := probe(t, c, "routed.test")
	if len(res) != 1 || res[0].Route != "route" || res[0].Addr != "198.51.100.7:2525" || res[0].Floor != delivery.PolicyRequired ||
		res[0].PolicyFloor != 0 || !res[0].Connected || res[0].STARTTLS {
		t.Fatalf("route %+v", res)
	}
	if routed.MailCount() != 0 {
		t.Fatal("probe sent MAIL")
	}
	v := delivery.JudgeProbe(res, delivery.PolicyOpportunistic, false, false)
	if v.Met || !v.TLSShortfall || v.Need != delivery.PolicyRequired || !strings.Contains(v.Reason, "STARTTLS not offered") {
		t.Errorf("verdict %+v", v)
	}
}

// TestJudgeProbe: the connection rules of Deliver applied to probe facts.
func TestJudgeProbe(t *testing.T) {
	plain := delivery.ProbeResult{Route: "mx", Host: "a", Addr: "192.0.2.1:25", Floor: delivery.PolicyOpportunistic, Connected: true}
	tlsOnly := plain
	tlsOnly.Host, tlsOnly.STARTTLS, tlsOnly.Handshake, tlsOnly.Level, tlsOnly.TLSVersion = "b", true, true, delivery.LevelTLS, "TLS1.3"
	verified := tlsOnly
	verified.Host, verified.PKIX, verified.Level = "c", true, delivery.LevelVerified
	down := delivery.ProbeResult{Route: "mx", Host: "d", Addr: "192.0.2.4:25", Floor: delivery.PolicyOpportunistic, Error: "connection to d failed: connection refused"}
	broken := plain
	broken.Host, broken.STARTTLS, broken.Error = "e", true, "TLS handshake with e failed: protocol version not supported"
	refused := verified
	refused.Host, refused.Level, refused.PolicyError = "f", delivery.LevelNone, "TLS downgrade"
	vetoed := verified
	vetoed.Host, vetoed.Vetoed = "g", "MX g refused by security policy: not in policy"

	for _, tc := range []struct {
		name    string
		rs      []delivery.ProbeResult
		min     delivery.TLSPolicy
		reqTLS  bool
		ignore  bool
		met     bool
		host    string
		level   delivery.TLSLevel
		short   bool
		reasons string
	}{
		{"opportunistic-plain", []delivery.ProbeResult{plain}, delivery.PolicyOpportunistic, false, false, true, "a", delivery.LevelNone, false, ""},
		{"required-skips-plain", []delivery.ProbeResult{plain, tlsOnly}, delivery.PolicyRequired, false, false, true, "b", delivery.LevelTLS, false, ""},
		{"verified-shortfall", []delivery.ProbeResult{plain, tlsOnly}, delivery.PolicyVerified, false, false, false, "", 0, true, "tls reached on b"},
		{"unreachable-not-shortfall", []delivery.ProbeResult{down, tlsOnly}, delivery.PolicyVerified, false, false, false, "", 0, false, "TLS verified required"},
		{"down-then-verified", []delivery.ProbeResult{down, verified}, delivery.PolicyVerified, false, false, true, "c", delivery.LevelVerified, false, ""},
		{"broken-handshake-opportunistic-plaintext", []delivery.ProbeResult{broken}, delivery.PolicyOpportunistic, false, false, true, "e", delivery.LevelNone, false, ""},
		{"broken-handshake-required", []delivery.ProbeResult{broken}, delivery.PolicyRequired, false, false, false, "", 0, true, "protocol version"},
		{"policy-refusal", []delivery.ProbeResult{refused}, delivery.PolicyRequired, false, false, false, "", 0, true, "TLS downgrade"},
		{"policy-refusal-ignored", []delivery.ProbeResult{refused}, delivery.PolicyOpportunistic, false, true, true, "f", delivery.LevelVerified, false, ""},
		{"veto", []delivery.ProbeResult{vetoed}, delivery.PolicyOpportunistic, false, false, false, "", 0, true, "not in policy"},
		{"veto-ignored", []delivery.ProbeResult{vetoed}, delivery.PolicyOpportunistic, false, true, true, "g", delivery.LevelVerified, false, ""},
		{"requiretls-not-offered", []delivery.ProbeResult{verified}, delivery.PolicyOpportunistic, true, false, false, "", 0, true, "REQUIRETLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := delivery.JudgeProbe(tc.rs, tc.min, tc.reqTLS, tc.ignore)
			if v.Met != tc.met || v.Host != tc.host || v.Level != tc.level || v.TLSShortfall != tc.short || !strings.Contains(v.Reason, tc.reasons) {
				t.Errorf("%+v", v)
			}
		})
	}
	// The policy floor counts for MX delivery unless ignored.
	pf := verified
	pf.PolicyFloor = delivery.PolicyVerified
	tlsOnly.PolicyFloor = delivery.PolicyVerified
	if v := delivery.JudgeProbe([]delivery.ProbeResult{tlsOnly, pf}, delivery.PolicyOpportunistic, false, false); v.Need != delivery.PolicyVerified || v.Host != "c" {
		t.Errorf("policy floor: %+v", v)
	}
	if v := delivery.JudgeProbe([]delivery.ProbeResult{tlsOnly}, delivery.PolicyOpportunistic, false, true); v.Need != delivery.PolicyOpportunistic || !v.Met {
		t.Errorf("policy floor ignored: %+v", v)
	}
}

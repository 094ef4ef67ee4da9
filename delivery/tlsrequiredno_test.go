package delivery_test

import (
	"net"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/internal/mxtest"
)

// TestIgnoreTLSPolicies: RFC 8689 §5. A domain whose policy demands
// verified TLS and vetoes its only MX (as an enforced MTA-STS policy that
// does not list it would) is refused without the flag and delivered with
// it, while the configured floors still hold.
func TestIgnoreTLSPolicies(t *testing.T) {
	zone := dnstest.Zone{
		"example.test":    {MX: []*net.MX{{Host: "mx.example.test", Pref: 10}}},
		"mx.example.test": {A: []string{"192.0.2.1"}},
	}
	pol := &pinPolicy{
		floor: map[string]delivery.TLSPolicy{"example.test": delivery.PolicyVerified},
		deny:  map[string]bool{"mx.example.test": true},
	}
	withPol := func(o *delivery.Options) { o.Policies = []delivery.Policy{pol} }

	t.Run("refused-without", func(t *testing.T) {
		e := newEnv(t, zone)
		mx := e.mx("192.0.2.1:25", mxtest.Options{})
		res := deliver(t, e.client(withPol), req("example.test", "u@example.test"))
		wantOutcome(t, res, delivery.TempFail)
		if !res[0].TLSShortfall || !strings.Contains(res[0].Text, "refused by security policy") {
			t.Errorf("%+v", res[0])
		}
		if len(mx.Conns()) != 0 || mx.MailCount() != 0 {
			t.Errorf("vetoed MX was contacted: %d conns", len(mx.Conns()))
		}
	})
	t.Run("delivered-with", func(t *testing.T) {
		e := newEnv(t, zone)
		mx := e.mx("192.0.2.1:25", mxtest.Options{})
		r := req("example.test", "u@example.test")
		r.IgnoreTLSPolicies = true
		res := deliver(t, e.client(withPol), r)
		wantOutcome(t, res, delivery.Delivered)
		if res[0].MX != "mx.example.test" || res[0].TLSLevel != delivery.LevelNone || len(mx.Messages()) != 1 {
			t.Errorf("%+v, %d messages", res[0], len(mx.Messages()))
		}
	})
	t.Run("handshake-not-judged", func(t *testing.T) {
		// A policy that would refuse this certificate (a pin mismatch) is
		// not asked: the message goes over TLS, not in plaintext.
		e := newEnv(t, zone)
		cert := mxtest.SelfSigned(t, "mx.example.test")
		mx := e.mx("192.0.2.1:25", mxtest.Options{TLS: mxtest.TLSModern, Cert: &cert})
		pins := &pinPolicy{pins: map[string][32]byte{"mx.example.test": {1}}}
		c := e.client(func(o *delivery.Options) {
			o.Policies = []delivery.Policy{pins}
			o.DefaultTLS = delivery.PolicyRequired
		})
		wantOutcome(t, deliver(t, c, req("example.test", "u@example.test")), delivery.TempFail)
		if mx.MailCount() != 0 {
			t.Fatal("mail sent over a refused handshake")
		}
		r := req("example.test", "u@example.test")
		r.IgnoreTLSPolicies = true
		res := deliver(t, c, r)
		wantOutcome(t, res, delivery.Delivered)
		if res[0].TLSLevel != delivery.LevelTLS || len(mx.Messages()) != 1 || mx.Messages()[0].TLSVersion == 0 {
			t.Errorf("%+v", res[0])
		}
	})
	t.Run("configured-floor-still-applies", func(t *testing.T) {
		e := newEnv(t, zone)
		mx := e.mx("192.0.2.1:25", mxtest.Options{}) // no STARTTLS
		c := e.client(withPol, func(o *delivery.Options) {
			o.DomainTLS = map[string]delivery.TLSPolicy{"example.test": delivery.PolicyRequired}
		})
		r := req("example.test", "u@example.test")
		r.IgnoreTLSPolicies = true
		res := deliver(t, c, r)
		wantOutcome(t, res, delivery.TempFail)
		if mx.MailCount() != 0 || !strings.Contains(res[0].Text, "STARTTLS not offered") {
			t.Errorf("%+v", res[0])
		}
	})
}

package delivery_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/internal/mxtest"
)

// pinPolicy is a stand-in for MTA-STS/DANE: a floor per domain, a deny
// list of MX hosts and certificate pins (like DANE-EE 3 0 1) that make a
// self-signed certificate verified.
type pinPolicy struct {
	floor    map[string]delivery.TLSPolicy
	floorErr error
	deny     map[string]bool
	pins     map[string][32]byte // host -> SHA-256 of the leaf
}

func (p *pinPolicy) Floor(_ context.Context, domain string) (delivery.TLSPolicy, error) {
	return p.floor[domain], p.floorErr
}

func (p *pinPolicy) AllowMX(_ context.Context, _, host string) error {
	if p.deny[host] {
		return errors.New("not in policy")
	}
	return nil
}

func (p *pinPolicy) CheckTLS(_ context.Context, _, host string, cs tls.ConnectionState, level delivery.TLSLevel) (delivery.TLSLevel, error) {
	pin, ok := p.pins[host]
	if !ok {
		return level, nil
	}
	if sha256.Sum256(cs.PeerCertificates[0].Raw) != pin {
		return delivery.LevelNone, errors.New("TLSA mismatch")
	}
	return delivery.LevelVerified, nil
}

func TestPolicies(t *testing.T) {
	zone := dnstest.Zone{
		"example.test":     {MX: []*net.MX{{Host: "mx1.example.test", Pref: 10}, {Host: "mx2.example.test", Pref: 20}}},
		"mx1.example.test": {A: []string{"192.0.2.1"}},
		"mx2.example.test": {A: []string{"192.0.2.2"}},
	}
	self := mxtest.SelfSigned(t, "mx2.example.test")
	other := mxtest.SelfSigned(t, "mx2.example.test")
	pin := sha256.Sum256(self.Certificate[0])

	t.Run("floor", func(t *testing.T) {
		e := newEnv(t, zone)
		mx1 := e.mx("192.0.2.1:25", mxtest.Options{})
		pol := &pinPolicy{floor: map[string]delivery.TLSPolicy{"example.test": delivery.PolicyRequired}}
		res := deliver(t, e.client(func(o *delivery.Options) { o.Policies = []delivery.Policy{pol} }), req("example.test", "u@example.test"))
		wantOutcome(t, res, delivery.TempFail)
		if mx1.MailCount() != 0 || !strings.Contains(res[0].Text, "TLS required") {
			t.Errorf("%+v", res[0])
		}
		pol.floorErr = errors.New("policy fetch failed")
		wantOutcome(t, deliver(t, e.client(func(o *delivery.Options) { o.Policies = []delivery.Policy{pol} }), req("example.test", "u@example.test")), delivery.TempFail)
	})
	t.Run("deny-mx-and-pin", func(t *testing.T) {
		e := newEnv(t, zone)
		mx1 := e.mx("192.0.2.1:25", mxtest.Options{TLS: mxtest.TLSModern})
		mx2 := e.mx("192.0.2.2:25", mxtest.Options{TLS: mxtest.TLSModern, Cert: &self})
		pol := &pinPolicy{
			floor: map[string]delivery.TLSPolicy{"example.test": delivery.PolicyVerified},
			deny:  map[string]bool{"mx1.example.test": true},
			pins:  map[string][32]byte{"mx2.example.test": pin},
		}
		res := deliver(t, e.client(func(o *delivery.Options) { o.Policies = []delivery.Policy{pol} }), req("example.test", "u@example.test"))
		wantOutcome(t, res, delivery.Delivered)
		if res[0].MX != "mx2.example.test" || res[0].TLSLevel != delivery.LevelVerified || len(mx1.Conns()) != 0 {
			t.Errorf("%+v, mx1 conns %d", res[0], len(mx1.Conns()))
		}
		if d := e.dialer.Dials(); !slices.Equal(d, []string{"192.0.2.2:25"}) {
			t.Errorf("dials %v", d)
		}
		if len(mx2.Messages()) != 1 {
			t.Fatalf("mx2 got %d messages", len(mx2.Messages()))
		}
		// A pin mismatch refuses the connection. (A policy that must also
		// forbid the plaintext retry of opportunistic raises its Floor.)
		pol.floor = nil
		mx2b := e.mx("192.0.2.2:25", mxtest.Options{TLS: mxtest.TLSModern, Cert: &other})
		res = deliver(t, e.client(func(o *delivery.Options) {
			o.Policies = []delivery.Policy{pol}
			o.DefaultTLS = delivery.PolicyRequired
		}), req("example.test", "u@example.test"))
		wantOutcome(t, res, delivery.TempFail)
		if mx2b.MailCount() != 0 || !strings.Contains(res[0].Text, "TLSA mismatch") {
			t.Errorf("%+v", res[0])
		}
	})
	t.Run("not-for-routes", func(t *testing.T) {
		e := newEnv(t, zone)
		routed := e.mx("198.51.100.1:25", mxtest.Options{})
		pol := &pinPolicy{floor: map[string]delivery.TLSPolicy{"example.test": delivery.PolicyVerified}}
		c := e.client(func(o *delivery.Options) {
			o.Policies = []delivery.Policy{pol}
			o.Routes = map[string]string{"example.test": "198.51.100.1:25"}
		})
		wantOutcome(t, deliver(t, c, req("example.test", "u@example.test")), delivery.Delivered)
		if len(routed.Messages()) != 1 {
			t.Error("route not used")
		}
	})
}

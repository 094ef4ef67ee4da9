package delivery_test

import (
	"testing"

	"github.com/sealgate/sealgate/delivery"
)

func TestTLSPolicyParseAndOrder(t *testing.T) {
	for _, p := range []delivery.TLSPolicy{delivery.PolicyNone, delivery.PolicyOpportunistic, delivery.PolicyRequired, delivery.PolicyVerified} {
		got, err := delivery.ParseTLSPolicy(p.String())
		if err != nil || got != p {
			t.Errorf("round trip %v: %v %v", p, got, err)
		}
	}
	if p, err := delivery.ParseTLSPolicy(" Verified "); err != nil || p != delivery.PolicyVerified {
		t.Errorf("case/space: %v %v", p, err)
	}
	for _, bad := range []string{"", "tls", "strict", "0", "may", "encrypt", "verify"} {
		if _, err := delivery.ParseTLSPolicy(bad); err == nil {
			t.Errorf("ParseTLSPolicy(%q) accepted", bad)
		}
	}
	if !(delivery.PolicyNone < delivery.PolicyOpportunistic && delivery.PolicyOpportunistic < delivery.PolicyRequired &&
		delivery.PolicyRequired < delivery.PolicyVerified && delivery.TLSPolicy(0) < delivery.PolicyNone) {
		t.Error("policies are not ordered")
	}
	if !(delivery.LevelNone < delivery.LevelTLS && delivery.LevelTLS < delivery.LevelVerified) {
		t.Error("levels are not ordered")
	}
	want := map[delivery.TLSPolicy]delivery.TLSLevel{
		delivery.PolicyNone: delivery.LevelNone, delivery.PolicyOpportunistic: delivery.LevelNone,
		delivery.PolicyRequired: delivery.LevelTLS, delivery.PolicyVerified: delivery.LevelVerified,
	}
	for p, l := range want {
		if p.Level() != l {
			t.Errorf("%v.Level() = %v, want %v", p, p.Level(), l)
		}
	}
	if delivery.LevelVerified.String() != "tls-verified" || delivery.TempFail.String() != "deferred" {
		t.Error("String spellings changed")
	}
}

func TestNewValidates(t *testing.T) {
	base := delivery.Options{Hostname: "gw.example.test", Resolver: nil}
	bad := []func(*delivery.Options){
		func(o *delivery.Options) { o.Hostname = "" },
		func(o *delivery.Options) { o.Hostname = "gw example" },
		func(o *delivery.Options) { o.Hostname = "gw\r\nMAIL FROM:<x>" },
		func(o *delivery.Options) { o.Smarthost = "no-port" },
		func(o *delivery.Options) { o.Routes = map[string]string{"a.test": "host:0"} },
		func(o *delivery.Options) { o.Routes = map[string]string{"a.test": ":25"} },
		func(o *delivery.Options) { o.SmarthostUser = "u" },
		func(o *delivery.Options) { o.DefaultTLS = 9 },
		func(o *delivery.Options) { o.Port = 70000 },
	}
	for i, mut := range bad {
		o := base
		o.Resolver = delivery.NewDNSResolver([]string{"127.0.0.1:1"}, 0)
		mut(&o)
		if _, err := delivery.New(o); err == nil {
			t.Errorf("case %d: New accepted %+v", i, o)
		}
	}
}

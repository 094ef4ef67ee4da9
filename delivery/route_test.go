package delivery_test

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/internal/mxtest"
)

func TestRoutingOrder(t *testing.T) {
	e := newEnv(t, dnstest.Zone{
		"routed.test":     {MX: []*net.MX{{Host: "mx.routed.test", Pref: 10}}},
		"mx.routed.test":  {A: []string{"192.0.2.1"}},
		"plain.test":      {MX: []*net.MX{{Host: "mx.plain.test", Pref: 10}}},
		"mx.plain.test":   {A: []string{"192.0.2.2"}},
		"smarthost.relay": {A: []string{"198.51.100.7"}},
	})
	viaMX := e.mx("192.0.2.1:25", mxtest.Options{})
	viaMX2 := e.mx("192.0.2.2:25", mxtest.Options{})
	viaRoute := e.mx("198.51.100.1:2525", mxtest.Options{})
	viaSmart := e.mx("198.51.100.7:587", mxtest.Options{TLS: mxtest.TLSModern})

	c := e.client(func(o *delivery.Options) {
		o.Routes = map[string]string{"Routed.TEST": "198.51.100.1:2525"}
		o.Smarthost = "smarthost.relay:587"
	})
	// A route beats the smarthost (and the MX).
	wantOutcome(t, deliver(t, c, req("routed.test", "u@routed.test")), delivery.Delivered)
	// The smarthost beats MX lookup; its default policy is TLS required.
	res := deliver(t, c, req("plain.test", "u@plain.test"))
	wantOutcome(t, res, delivery.Delivered)
	if res[0].MX != "smarthost.relay" || res[0].TLSLevel != delivery.LevelTLS {
		t.Errorf("smarthost result %+v", res[0])
	}
	// Without a smarthost, MX lookup.
	c2 := e.client()
	wantOutcome(t, deliver(t, c2, req("plain.test", "v@plain.test")), delivery.Delivered)

	if n := len(viaRoute.Messages()); n != 1 {
		t.Errorf("route got %d messages, want 1", n)
	}
	if n := len(viaSmart.Messages()); n != 1 {
		t.Errorf("smarthost got %d messages, want 1", n)
	}
	if n := len(viaMX2.Messages()); n != 1 {
		t.Errorf("MX got %d messages, want 1", n)
	}
	if n := len(viaMX.Messages()); n != 0 {
		t.Errorf("MX of routed domain got %d messages, want 0", n)
	}
}

func TestMXPreferenceAndFallback(t *testing.T) {
	e := newEnv(t, dnstest.Zone{
		"example.test": {MX: []*net.MX{
			{Host: "mx30.example.test", Pref: 30},
			{Host: "mx10.example.test", Pref: 10},
			{Host: "mx20.example.test", Pref: 20},
		}},
		"mx10.example.test": {A: []string{"192.0.2.10"}}, // refused: not mapped
		"mx20.example.test": {A: []string{"192.0.2.20", "192.0.2.21"}},
		"mx30.example.test": {A: []string{"192.0.2.30"}},
	})
	busy := e.mx("192.0.2.20:25", mxtest.Options{Greeting: "421 4.3.2 too busy"})
	good := e.mx("192.0.2.30:25", mxtest.Options{})

	res := deliver(t, e.client(), req("example.test", "u@example.test"))
	wantOutcome(t, res, delivery.Delivered)
	if res[0].MX != "mx30.example.test" {
		t.Errorf("delivered via %q", res[0].MX)
	}
	want := []string{"192.0.2.10:25", "192.0.2.20:25", "192.0.2.21:25", "192.0.2.30:25"}
	if got := e.dialer.Dials(); !slices.Equal(got, want) {
		t.Errorf("dial order %v, want %v", got, want)
	}
	if len(busy.Conns()) != 1 || len(good.Messages()) != 1 {
		t.Errorf("busy conns %d, good messages %d", len(busy.Conns()), len(good.Messages()))
	}
}

func TestEqualPreferenceTriedBeforeHigher(t *testing.T) {
	e := newEnv(t, dnstest.Zone{
		"example.test": {MX: []*net.MX{
			{Host: "b.example.test", Pref: 5}, {Host: "c.example.test", Pref: 10}, {Host: "a.example.test", Pref: 5},
		}},
		"a.example.test": {A: []string{"192.0.2.1"}},
		"b.example.test": {A: []string{"192.0.2.2"}},
		"c.example.test": {A: []string{"192.0.2.3"}},
	})
	e.mx("192.0.2.3:25", mxtest.Options{})
	seen := map[string]bool{}
	for range 20 {
		e.dialer = &mxtest.Dialer{Map: e.dialer.Map}
		e.opts.Dialer = e.dialer
		wantOutcome(t, deliver(t, e.client(), req("example.test", "u@example.test")), delivery.Delivered)
		d := e.dialer.Dials()
		if len(d) != 3 || d[2] != "192.0.2.3:25" {
			t.Fatalf("dials %v", d)
		}
		seen[d[0]] = true
	}
	if !seen["192.0.2.1:25"] || !seen["192.0.2.2:25"] {
		t.Errorf("equal-preference MXes never shuffled in 20 runs: first dials %v", seen)
	}
}

func TestImplicitMX(t *testing.T) {
	e := newEnv(t, dnstest.Zone{"nomx.test": {A: []string{"192.0.2.44"}}})
	mx := e.mx("192.0.2.44:25", mxtest.Options{})
	res := deliver(t, e.client(), req("nomx.test", "u@nomx.test"))
	wantOutcome(t, res, delivery.Delivered)
	if res[0].MX != "nomx.test" || len(mx.Messages()) != 1 {
		t.Errorf("result %+v, messages %d", res[0], len(mx.Messages()))
	}
}

func TestDNSFailures(t *testing.T) {
	e := newEnv(t, dnstest.Zone{
		"nullmx.test": {MX: []*net.MX{{Host: ".", Pref: 0}}},
		"broken.test": {ServFail: true},
		"noaddr.test": {MX: []*net.MX{{Host: "mx.noaddr.test", Pref: 10}}},
		"empty.test":  {TXT: []string{"v=spf1 -all"}},
		"mxgone.test": {MX: []*net.MX{{Host: "gone.mxgone.test", Pref: 10}}},
	})
	c := e.client()
	cases := []struct {
		domain   string
		outcome  delivery.Outcome
		code     int
		enhanced string
		text     string
	}{
		{"nullmx.test", delivery.PermFail, 556, "5.1.10", "null MX"},
		{"does-not-exist.test", delivery.PermFail, 550, "5.1.2", "NXDOMAIN"},
		{"broken.test", delivery.TempFail, 451, "4.4.3", "SERVFAIL"},
		{"mxgone.test", delivery.TempFail, 451, "4.4.4", "does not exist"},
		{"empty.test", delivery.TempFail, 451, "4.4.4", "no address"},
	}
	for _, tc := range cases {
		t.Run(tc.domain, func(t *testing.T) {
			res := deliver(t, c, req(tc.domain, "u@"+tc.domain, "v@"+tc.domain))
			wantOutcome(t, res, tc.outcome)
			for _, r := range res {
				if r.Code != tc.code || r.Enhanced != tc.enhanced || !strings.Contains(r.Text, tc.text) {
					t.Errorf("%+v, want %d %s ~%q", r, tc.code, tc.enhanced, tc.text)
				}
			}
		})
	}
	if d := e.dialer.Dials(); len(d) != 0 {
		t.Errorf("dialled %v for domains that cannot be delivered", d)
	}
}

func TestInvalidAddresses(t *testing.T) {
	e := newEnv(t, dnstest.Zone{"example.test": {A: []string{"192.0.2.1"}}})
	mx := e.mx("192.0.2.1:25", mxtest.Options{})
	r := req("example.test", "ok@example.test", "evil@example.test>\r\nRCPT TO:<x@y", "")
	res := deliver(t, e.client(), r)
	if res[0].Outcome != delivery.Delivered || res[1].Outcome != delivery.PermFail || res[2].Outcome != delivery.PermFail {
		t.Fatalf("results %+v", res)
	}
	msgs := mx.Messages()
	if len(msgs) != 1 || !slices.Equal(msgs[0].Rcpts, []string{"ok@example.test"}) {
		t.Errorf("server saw %+v", msgs)
	}
	r = req("example.test", "ok@example.test")
	r.From = "bad\r\nsender@x"
	wantOutcome(t, deliver(t, e.client(), r), delivery.PermFail)
}

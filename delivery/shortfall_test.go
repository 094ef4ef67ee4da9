package delivery_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/internal/mxtest"
)

// brokenPolicy is a security policy whose Floor cannot be determined.
type brokenPolicy struct{}

func (brokenPolicy) Floor(context.Context, string) (delivery.TLSPolicy, error) {
	return 0, errors.New("policy fetch failed")
}
func (brokenPolicy) AllowMX(context.Context, string, string) error { return nil }
func (brokenPolicy) CheckTLS(_ context.Context, _, _ string, _ tls.ConnectionState, l delivery.TLSLevel) (delivery.TLSLevel, error) {
	return l, nil
}

// TLSShortfall tells the protection layer "the TLS level was the only
// problem": it must be set exactly then, never for network, DNS or remote
// refusals (where retrying the cleartext later is the right answer).
func TestResultTLSShortfall(t *testing.T) {
	twoMX := dnstest.Zone{
		"example.test":     {MX: []*net.MX{{Host: "mx1.example.test", Pref: 10}, {Host: "mx2.example.test", Pref: 20}}},
		"mx1.example.test": {A: []string{"192.0.2.1"}},
		"mx2.example.test": {A: []string{"192.0.2.2"}},
	}
	cases := []struct {
		name   string
		zone   dnstest.Zone
		mx1    *mxtest.Options // nil: nothing listens (connection refused)
		mx2    *mxtest.Options
		policy delivery.TLSPolicy
		opts   func(*delivery.Options)
		want   delivery.Outcome
		short  bool
	}{
		{name: "no-starttls-required", zone: oneMX(), mx1: &mxtest.Options{}, policy: delivery.PolicyRequired, want: delivery.TempFail, short: true},
		{name: "tls10-only-required", zone: oneMX(), mx1: &mxtest.Options{TLS: mxtest.TLSOnly10}, policy: delivery.PolicyRequired, want: delivery.TempFail, short: true},
		{name: "self-signed-verified", zone: oneMX(), mx1: &mxtest.Options{TLS: mxtest.TLSModern}, policy: delivery.PolicyVerified, want: delivery.TempFail, short: true},
		{name: "both-mx-short", zone: twoMX, mx1: &mxtest.Options{}, mx2: &mxtest.Options{TLS: mxtest.TLSModern}, policy: delivery.PolicyVerified, want: delivery.TempFail, short: true},
		// One MX lacks TLS, the other is down: the down one may do better later.
		{name: "one-short-one-down", zone: twoMX, mx1: &mxtest.Options{}, policy: delivery.PolicyRequired, want: delivery.TempFail, short: false},
		{name: "unreachable", zone: oneMX(), policy: delivery.PolicyRequired, want: delivery.TempFail, short: false},
		{name: "remote-4xx-rcpt", zone: oneMX(), mx1: &mxtest.Options{TLS: mxtest.TLSModern, RcptReplies: map[string]*smtp.SMTPError{
			"u@example.test": {Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "busy"}}},
			policy: delivery.PolicyRequired, want: delivery.TempFail, short: false},
		{name: "dns-servfail", zone: dnstest.Zone{"example.test": {ServFail: true}}, policy: delivery.PolicyRequired, want: delivery.TempFail, short: false},
		{name: "policy-unavailable", zone: oneMX(), mx1: &mxtest.Options{TLS: mxtest.TLSModern}, policy: delivery.PolicyRequired,
			opts: func(o *delivery.Options) { o.Policies = []delivery.Policy{brokenPolicy{}} }, want: delivery.TempFail, short: false},
		{name: "delivered", zone: oneMX(), mx1: &mxtest.Options{TLS: mxtest.TLSModern}, policy: delivery.PolicyRequired, want: delivery.Delivered, short: false},
		{name: "opportunistic-plaintext", zone: oneMX(), mx1: &mxtest.Options{}, policy: delivery.PolicyOpportunistic, want: delivery.Delivered, short: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.zone)
			var servers []*mxtest.Server
			if tc.mx1 != nil {
				servers = append(servers, e.mx("192.0.2.1:25", *tc.mx1))
			}
			if tc.mx2 != nil {
				servers = append(servers, e.mx("192.0.2.2:25", *tc.mx2))
			}
			muts := []func(*delivery.Options){withPolicy(tc.policy)}
			if tc.opts != nil {
				muts = append(muts, tc.opts)
			}
			res := deliver(t, e.client(muts...), req("example.test", "u@example.test"))
			wantOutcome(t, res, tc.want)
			if res[0].TLSShortfall != tc.short {
				t.Errorf("TLSShortfall = %v, want %v (%d %s %q)", res[0].TLSShortfall, tc.short, res[0].Code, res[0].Enhanced, res[0].Text)
			}
			if tc.short {
				for _, s := range servers {
					if s.MailCount() != 0 {
						t.Errorf("a TLS shortfall sent MAIL FROM")
					}
				}
			}
		})
	}
}

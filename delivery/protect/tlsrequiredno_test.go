package protect_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/delivery/protect"
	"github.com/sealgate/sealgate/internal/mxtest"
	"github.com/sealgate/sealgate/policy"
	"github.com/sealgate/sealgate/policy/phi"
)

// vetoPolicy stands in for an enforced MTA-STS policy that does not list
// the domain's MX: verified TLS demanded, every MX refused.
type vetoPolicy struct{ asked int }

func (p *vetoPolicy) Floor(context.Context, string) (delivery.TLSPolicy, error) {
	p.asked++
	return delivery.PolicyVerified, nil
}

func (p *vetoPolicy) AllowMX(_ context.Context, _, host string) error {
	return errors.New(host + " not in the policy")
}

func (p *vetoPolicy) CheckTLS(context.Context, string, string, tls.ConnectionState, delivery.TLSLevel) (delivery.TLSLevel, error) {
	return delivery.LevelNone, errors.New("refused")
}

// TestTLSRequiredNo: RFC 8689 §5 end to end through a real delivery
// client. The MX has a certificate valid for its name, so only the
// recipient domain's policy stands between any message and the MX.
func TestTLSRequiredNo(t *testing.T) {
	ca := mxtest.NewCA(t)
	cert := ca.Issue(t, "mx.example.test")
	mx := mxtest.Start(t, mxtest.Options{Hostname: "mx.example.test", TLS: mxtest.TLSModern, Cert: &cert})
	veto := &vetoPolicy{}
	client, err := delivery.New(delivery.Options{
		Hostname: "gw.sealgate.test",
		Resolver: dnstest.NewResolver(dnstest.Zone{
			"example.test":    {MX: []*net.MX{{Host: "mx.example.test", Pref: 10}}},
			"mx.example.test": {A: []string{"192.0.2.1"}},
		}),
		Dialer:         &mxtest.Dialer{Map: map[string]string{"192.0.2.1:25": mx.Addr()}},
		RootCAs:        ca.Pool(),
		Policies:       []delivery.Policy{veto},
		ConnectTimeout: 2 * time.Second,
		CommandTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(o *protect.Options) { o.Sender = client })

	// The real scanner and engine, with a rule that allows the header for
	// mail without PHI.
	sc, err := phi.New(phi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.New(policy.Options{DefaultOther: policy.Action{Require: policy.RequireNone, AllowTLSRequiredNo: true}})
	if err != nil {
		t.Fatal(err)
	}
	decideWith := func(msg string) policy.Decision {
		t.Helper()
		scan, err := sc.Scan(strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		return eng.Decide(policy.NewMessage("clinic@sender.test", m.Header, scan, false), rcptNone)
	}
	withHeader := func(msg string) string { return "TLS-Required: No\r\n" + msg }

	plain := withHeader(plainMessage)
	d := decideWith(plain)
	if !d.TLSRequiredNo || d.Require != policy.RequireNone {
		t.Fatalf("plain message: decision %+v", d)
	}
	// Without the header the domain's policy holds the message back.
	strict := decideWith(plainMessage)
	res := f.deliver(t, plainMessage, map[string]policy.Decision{rcptNone: strict}, rcptNone)
	if res[0].Outcome == delivery.Delivered || mx.MailCount() != 0 {
		t.Fatalf("without TLS-Required: No the vetoed MX got the message: %+v", res[0])
	}
	res = f.deliver(t, plain, map[string]policy.Decision{rcptNone: d}, rcptNone)
	if res[0].Outcome != delivery.Delivered || res[0].Method != protect.MethodTLSVerified || res[0].MX != "mx.example.test" {
		t.Fatalf("TLS-Required: No honoured: %+v", res[0])
	}
	if msgs := mx.Messages(); len(msgs) != 1 || !strings.Contains(string(msgs[0].Data), "front desk closes") {
		t.Fatalf("MX got %d messages", len(msgs))
	}

	// PHI: the engine does not honour the header; forced on anyway, protect
	// still applies the domain's policy and nothing reaches the MX.
	phiMsg := withHeader(phiMessage)
	pd := decideWith(phiMsg)
	if pd.TLSRequiredNo || pd.Require != policy.RequireTLSVerified {
		t.Fatalf("PHI decision %+v", pd)
	}
	pd.TLSRequiredNo = true
	before := mx.MailCount()
	res = f.deliver(t, phiMsg, map[string]policy.Decision{rcptNone: pd}, rcptNone)
	if res[0].Outcome == delivery.Delivered || res[0].Method != "" || mx.MailCount() != before {
		t.Fatalf("PHI with TLS-Required: No forced on was sent: %+v", res[0])
	}
	if res[0].Fallback != protect.ReasonTLSNotReached {
		t.Errorf("PHI: want the fallback chain after the policy refused every MX, got %+v", res[0])
	}
	// The same holds for a non-PHI decision that asks for TLS: the flag
	// only ever applies to require none.
	td := d
	td.Require, td.MinTLS, td.Fallback = policy.RequireTLS, delivery.PolicyRequired, nil
	res = f.deliver(t, plain, map[string]policy.Decision{rcptNone: td}, rcptNone)
	if res[0].Outcome == delivery.Delivered || mx.MailCount() != before {
		t.Fatalf("require tls with the flag was sent: %+v", res[0])
	}
	for _, m := range mx.Messages() {
		if l := leaked(m.Data); len(l) > 0 {
			t.Errorf("PHI reached the MX: %v", l)
		}
	}
}

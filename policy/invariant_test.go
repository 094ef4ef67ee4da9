package policy

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/policy/phi"
)

// gen makes random options and messages from a fixed seed, so that a
// failure reproduces.
type gen struct{ r *rand.Rand }

func (g gen) pick(n int) int { return g.r.IntN(n) }

func (g gen) boolPtr() *bool {
	switch g.pick(3) {
	case 0:
		return nil
	case 1:
		v := true
		return &v
	}
	v := false
	return &v
}

var (
	genDomains = []string{"x.example", "partner.example", "gmail.com", "med.va.gov", "va.gov"}
	genPats    = []string{"x.example", "*@partner.example", "*.va.gov", "gmail.com", "a@x.example", "*", "*@*"}
	genReqs    = []Requirement{"", RequireNone, RequireTLS, RequireTLSVerified, RequireE2E, RequirePortal}
	genKinds   = []string{"ssn", "mrn", "unscannable", "medication", "dob"}
)

func (g gen) action(allowNone bool) Action {
	a := Action{Require: genReqs[g.pick(len(genReqs))]}
	if !allowNone && a.Require == RequireNone {
		a.Require = RequireTLS
	}
	switch g.pick(3) {
	case 0:
	case 1:
		if a.Require == RequireNone || a.Require == RequirePortal {
			break // mostly valid: these take no fallback
		}
		a.Fallback = []Method{}
	case 2:
		for _, m := range Methods() {
			if g.pick(2) == 0 {
				a.Fallback = append(a.Fallback, m)
			}
		}
	}
	a.Hold = g.pick(5) == 0
	a.AllowTLSRequiredNo = g.pick(6) == 0
	return a
}

func (g gen) options() Options {
	o := Options{SubjectTags: []string{"[secure]"}, EncryptHeaders: []string{"X-Sealgate-Encrypt"}}
	o.DefaultPHI = g.action(g.pick(4) == 0)
	o.DefaultOther = g.action(true)
	o.Domains = map[string]Action{}
	for i := g.pick(3); i > 0; i-- {
		o.Domains[[]string{"gmail.com", "*.va.gov", "partner.example"}[g.pick(3)]] = g.action(g.pick(4) == 0)
	}
	for i := g.pick(6); i > 0; i-- {
		m := Match{PHI: g.boolPtr(), Unscannable: g.boolPtr(), SubjectTag: g.boolPtr(), EncryptHeader: g.boolPtr()}
		if g.pick(2) == 0 {
			m.To = []string{genPats[g.pick(len(genPats))]}
		}
		if g.pick(3) == 0 {
			m.From = []string{genPats[g.pick(len(genPats))]}
		}
		if g.pick(3) == 0 {
			m.Kinds = []string{genKinds[g.pick(len(genKinds))]}
		}
		if g.pick(4) == 0 {
			s := float64(g.pick(30)) / 10
			m.MinScore = &s
		}
		o.Rules = append(o.Rules, Rule{Name: "r" + string(rune('a'+len(o.Rules))), Match: m, Action: g.action(true)})
	}
	return o
}

func (g gen) message() Message {
	m := Message{From: "a@" + genDomains[g.pick(len(genDomains))]}
	switch g.pick(4) {
	case 0:
		m.Scan = nil
	case 1:
		m.Scan = &phi.Result{PHI: true, Kinds: []string{genKinds[g.pick(2)]}, Score: float64(g.pick(30)) / 10}
	case 2:
		m.Scan = &phi.Result{PHI: g.pick(2) == 0, Kinds: []string{phi.KindUnscannable}, Score: 1}
	default:
		m.Scan = &phi.Result{Kinds: []string{"medication"}, Score: float64(g.pick(10)) / 10}
	}
	if g.pick(4) == 0 {
		m.Subject = "x [SECURE] y"
	}
	if g.pick(4) == 0 {
		m.Headers = map[string][]string{"X-Sealgate-Encrypt": {[]string{"always", "no"}[g.pick(2)]}}
	}
	m.RequireTLS = g.pick(4) == 0
	m.TLSRequiredNo = g.pick(2) == 0
	return m
}

func protected(m Message) bool {
	return m.Scan == nil || m.Scan.PHI || len(m.Scan.Kinds) > 0 && m.Scan.Kinds[0] == phi.KindUnscannable
}

// checkNeverPlaintext is the promise: a protected message is never allowed
// in plaintext, nor over TLS without a floor of TLS 1.2.
func checkNeverPlaintext(t *testing.T, d Decision, m Message, what string) {
	t.Helper()
	if !protected(m) {
		return
	}
	if !d.Require.Valid() || d.Require == RequireNone || d.TLSRequiredNo {
		t.Fatalf("%s: protected message allowed in plaintext: %+v\nmessage: %+v scan %+v", what, d, m, m.Scan)
	}
	if d.Require.Cleartext() && d.MinTLS < delivery.PolicyRequired {
		t.Fatalf("%s: cleartext requirement %s with TLS floor %s", what, d.Require, d.MinTLS)
	}
	if m.RequireTLS && (!d.RequireTLSFlag || d.MinTLS < delivery.PolicyVerified) {
		t.Fatalf("%s: REQUIRETLS lost: %+v", what, d)
	}
}

// Every option set New accepts, for every message: never plaintext for
// PHI or unscannable content.
func TestPropertyAcceptedConfigsNeverPlaintext(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(2026, 12))}
	accepted := 0
	for range 3000 {
		o := g.options()
		e, err := New(o)
		if err != nil {
			continue
		}
		accepted++
		for range 20 {
			m := g.message()
			d := e.Decide(m, "r@"+genDomains[g.pick(len(genDomains))])
			checkNeverPlaintext(t, d, m, "accepted options")
			// The first lock alone suffices: for accepted options the
			// floor never has to act on PHI or unscannable content.
			if protected(m) && slices.Contains(d.Reasons, floorReason) {
				t.Fatalf("accepted options needed the floor: %+v\noptions %+v", d, o)
			}
		}
	}
	if accepted < 300 {
		t.Fatalf("only %d of 3000 random option sets were valid: the generator does not exercise New", accepted)
	}
}

// The second lock: even options New would refuse (compiled directly here,
// as a bug elsewhere might) never yield plaintext for a protected message.
func TestPropertyFloorHoldsForUncheckedOptions(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(8689, 5))}
	refused := 0
	for range 3000 {
		o := g.options()
		// Make the dangerous case common: rules and defaults saying none.
		for i := range o.Rules {
			if g.pick(2) == 0 {
				o.Rules[i].Action.Require = RequireNone
			}
		}
		if g.pick(2) == 0 {
			o.DefaultPHI.Require = RequireNone
		}
		if len(o.Problems()) > 0 {
			refused++
		}
		e := compile(o)
		for range 20 {
			m := g.message()
			d := e.Decide(m, "r@"+genDomains[g.pick(len(genDomains))])
			checkNeverPlaintext(t, d, m, "unchecked options")
		}
	}
	if refused < 1000 {
		t.Fatalf("only %d option sets were invalid: the floor is not being exercised", refused)
	}
}

// The floor, one explicit case: a rule saying none for PHI (refused by
// New) still yields tls with the default fallback.
func TestFloorRaisesNoneToTLS(t *testing.T) {
	yes := true
	o := Options{Rules: []Rule{{Name: "bad", Match: Match{PHI: &yes}, Action: Action{Require: RequireNone}}}}
	if _, err := New(o); err == nil {
		t.Fatal("New accepted require: none for phi: true")
	}
	d := compile(o).Decide(Message{Scan: &phi.Result{PHI: true, Kinds: []string{"ssn"}}}, "r@x.example")
	if d.Rule != "bad" || d.Require != RequireTLS || d.MinTLS != delivery.PolicyRequired || len(d.Fallback) != 3 {
		t.Fatalf("floor not applied: %+v", d)
	}
	found := false
	for _, r := range d.Reasons {
		if r == floorReason {
			found = true
		}
	}
	if !found {
		t.Errorf("floor not explained: %v", d.Reasons)
	}
	// Same through the default.
	d = compile(Options{DefaultPHI: Action{Require: RequireNone}}).Decide(Message{}, "r@x.example")
	if d.Require != RequireTLS {
		t.Fatalf("default_phi none not floored: %+v", d)
	}
}

package policy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/policy"
	"github.com/sealgate/sealgate/policy/phi"
)

func ptr[T any](v T) *T { return &v }

var (
	phiScan   = &phi.Result{PHI: true, Kinds: []string{"ssn"}, Score: 1.3, Findings: []phi.Finding{{Kind: "ssn", Where: "body", Count: 2}}}
	cleanScan = &phi.Result{PHI: false, Kinds: []string{}, Score: 0, Findings: []phi.Finding{}}
	unscan    = &phi.Result{PHI: true, Kinds: []string{"unscannable"}, Score: 1, Findings: []phi.Finding{{Kind: "unscannable", Where: "attachment:x.zip", Count: 1}}}
	medScan   = &phi.Result{PHI: false, Kinds: []string{"medication"}, Score: 0.3, Findings: []phi.Finding{{Kind: "medication", Where: "body", Count: 1}}}
)

func mustNew(t *testing.T, o policy.Options) *policy.Engine {
	t.Helper()
	e, err := policy.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// TestMatchers checks each condition on its own, matching and not: a rule
// with only that condition and a distinctive action either fires or leaves
// the message to the default.
func TestMatchers(t *testing.T) {
	base := policy.Message{From: "Alice@Billing.Hospital.Example", Scan: cleanScan}
	with := func(f func(*policy.Message)) policy.Message {
		m := base
		m.Headers = map[string][]string{}
		f(&m)
		return m
	}
	tests := []struct {
		name  string
		match policy.Match
		msg   policy.Message
		rcpt  string
		want  bool
	}{
		{"from exact address, any case", policy.Match{From: []string{"alice@billing.hospital.example"}}, base, "x@y.example", true},
		{"from other address", policy.Match{From: []string{"bob@billing.hospital.example"}}, base, "x@y.example", false},
		{"from domain", policy.Match{From: []string{"billing.hospital.example"}}, base, "x@y.example", true},
		{"from domain is not a parent", policy.Match{From: []string{"hospital.example"}}, base, "x@y.example", false},
		{"from glob address", policy.Match{From: []string{"*@billing.hospital.example"}}, base, "x@y.example", true},
		{"from glob address miss", policy.Match{From: []string{"*@hospital.example"}}, base, "x@y.example", false},
		{"from_domain glob", policy.Match{FromDomain: []string{"*.hospital.example"}}, base, "x@y.example", true},
		{"from any of list", policy.Match{From: []string{"nobody@x.example", "*@*.hospital.example"}}, base, "x@y.example", true},
		{"to address", policy.Match{To: []string{"Bob@Partner.Example"}}, base, "bob@partner.example", true},
		{"to glob *.va.gov", policy.Match{To: []string{"*.va.gov"}}, base, "vet@med.va.gov", true},
		{"to glob *.va.gov excludes va.gov", policy.Match{To: []string{"*.va.gov"}}, base, "vet@va.gov", false},
		{"to glob with ?", policy.Match{To: []string{"dr?@clinic.example"}}, base, "dr7@clinic.example", true},
		{"to_domain", policy.Match{ToDomain: []string{"clearinghouse.example"}}, base, "claims@clearinghouse.example", true},
		{"to_domain trailing dot", policy.Match{ToDomain: []string{"clearinghouse.example"}}, base, "<claims@CLEARINGHOUSE.example.>", true},
		{"to_domain miss", policy.Match{ToDomain: []string{"clearinghouse.example"}}, base, "claims@other.example", false},
		{"from and to both needed", policy.Match{From: []string{"*@billing.hospital.example"}, ToDomain: []string{"a.example"}}, base, "x@b.example", false},
		{"phi true on phi", policy.Match{PHI: ptr(true)}, with(func(m *policy.Message) { m.Scan = phiScan }), "x@y.example", true},
		{"phi true on clean", policy.Match{PHI: ptr(true)}, base, "x@y.example", false},
		{"phi true on not scanned", policy.Match{PHI: ptr(true)}, with(func(m *policy.Message) { m.Scan = nil }), "x@y.example", true},
		{"phi true on unscannable", policy.Match{PHI: ptr(true)}, with(func(m *policy.Message) { m.Scan = unscan }), "x@y.example", true},
		{"phi false on clean", policy.Match{PHI: ptr(false)}, base, "x@y.example", true},
		{"phi false on phi", policy.Match{PHI: ptr(false)}, with(func(m *policy.Message) { m.Scan = phiScan }), "x@y.example", false},
		{"unscannable true", policy.Match{Unscannable: ptr(true)}, with(func(m *policy.Message) { m.Scan = unscan }), "x@y.example", true},
		{"unscannable true, not scanned", policy.Match{Unscannable: ptr(true)}, with(func(m *policy.Message) { m.Scan = nil }), "x@y.example", true},
		{"unscannable true on phi", policy.Match{Unscannable: ptr(true)}, with(func(m *policy.Message) { m.Scan = phiScan }), "x@y.example", false},
		{"unscannable false on phi", policy.Match{Unscannable: ptr(false)}, with(func(m *policy.Message) { m.Scan = phiScan }), "x@y.example", true},
		{"kinds any of", policy.Match{Kinds: []string{"mrn", "ssn"}}, with(func(m *policy.Message) { m.Scan = phiScan }), "x@y.example", true},
		{"kinds none found", policy.Match{Kinds: []string{"mrn"}}, with(func(m *policy.Message) { m.Scan = phiScan }), "x@y.example", false},
		{"kinds unscannable, not scanned", policy.Match{Kinds: []string{"unscannable"}}, with(func(m *policy.Message) { m.Scan = nil }), "x@y.example", true},
		{"min_score reached", policy.Match{MinScore: ptr(1.3)}, with(func(m *policy.Message) { m.Scan = phiScan }), "x@y.example", true},
		{"min_score not reached", policy.Match{MinScore: ptr(1.31)}, with(func(m *policy.Message) { m.Scan = phiScan }), "x@y.example", false},
		{"min_score, not scanned", policy.Match{MinScore: ptr(5.0)}, with(func(m *policy.Message) { m.Scan = nil }), "x@y.example", true},
		{"subject_tag true", policy.Match{SubjectTag: ptr(true)}, with(func(m *policy.Message) { m.Subject = "Re: results [SECURE]" }), "x@y.example", true},
		{"subject_tag plus form", policy.Match{SubjectTag: ptr(true)}, with(func(m *policy.Message) { m.Subject = "+Encrypt+ invoice" }), "x@y.example", true},
		{"subject_tag absent", policy.Match{SubjectTag: ptr(true)}, with(func(m *policy.Message) { m.Subject = "secure your account" }), "x@y.example", false},
		{"subject_tag false", policy.Match{SubjectTag: ptr(false)}, with(func(m *policy.Message) { m.Subject = "hello" }), "x@y.example", true},
		{"encrypt_header always", policy.Match{EncryptHeader: ptr(true)}, with(func(m *policy.Message) { m.Headers["X-Sealgate-Encrypt"] = []string{"always"} }), "x@y.example", true},
		{"encrypt_header lower-case name", policy.Match{EncryptHeader: ptr(true)}, with(func(m *policy.Message) { m.Headers["x-sealgate-encrypt"] = []string{"yes"} }), "x@y.example", true},
		{"encrypt_header negative value", policy.Match{EncryptHeader: ptr(true)}, with(func(m *policy.Message) { m.Headers["X-Sealgate-Encrypt"] = []string{" No "} }), "x@y.example", false},
		{"encrypt_header absent", policy.Match{EncryptHeader: ptr(true)}, base, "x@y.example", false},
		{"headers glob", policy.Match{Headers: map[string]string{"X-Mailer": "epic*"}}, with(func(m *policy.Message) { m.Headers["X-Mailer"] = []string{"Epic Notify 3"} }), "x@y.example", true},
		{"headers glob miss", policy.Match{Headers: map[string]string{"X-Mailer": "epic*"}}, with(func(m *policy.Message) { m.Headers["X-Mailer"] = []string{"Outlook"} }), "x@y.example", false},
		{"headers present", policy.Match{Headers: map[string]string{"X-Campaign": "*"}}, with(func(m *policy.Message) { m.Headers["X-Campaign"] = []string{""} }), "x@y.example", true},
		{"headers absent", policy.Match{Headers: map[string]string{"X-Campaign": "*"}}, base, "x@y.example", false},
		{"empty match matches all", policy.Match{}, base, "x@y.example", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustNew(t, policy.Options{
				SubjectTags:    []string{"[secure]", "+encrypt+"},
				EncryptHeaders: []string{"X-Sealgate-Encrypt"},
				Rules:          []policy.Rule{{Name: "r", Match: tc.match, Action: policy.Action{Require: policy.RequireE2E}}},
			})
			d := e.Decide(tc.msg, tc.rcpt)
			if got := d.Rule == "r"; got != tc.want {
				t.Fatalf("rule fired = %v, want %v (decision %+v)", got, tc.want, d)
			}
			if tc.want && d.Require != policy.RequireE2E {
				t.Errorf("action not applied: %+v", d)
			}
		})
	}
}

func TestActions(t *testing.T) {
	clean := policy.Message{From: "a@x.example", Scan: cleanScan}
	tests := []struct {
		name     string
		action   policy.Action
		msg      policy.Message
		require  policy.Requirement
		fallback []policy.Method
		minTLS   delivery.TLSPolicy
		hold     bool
		reject   bool
	}{
		{"none is opportunistic", policy.Action{Require: policy.RequireNone}, clean, policy.RequireNone, []policy.Method{}, delivery.PolicyOpportunistic, false, false},
		{"tls", policy.Action{Require: policy.RequireTLS}, clean, policy.RequireTLS, []policy.Method{"smime", "pgp", "portal"}, delivery.PolicyRequired, false, false},
		{"tls-verified", policy.Action{Require: policy.RequireTLSVerified}, clean, policy.RequireTLSVerified, []policy.Method{"smime", "pgp", "portal"}, delivery.PolicyVerified, false, false},
		{"e2e", policy.Action{Require: policy.RequireE2E}, clean, policy.RequireE2E, []policy.Method{"smime", "pgp"}, delivery.PolicyOpportunistic, false, false},
		{"e2e pgp only", policy.Action{Require: policy.RequireE2E, Fallback: []policy.Method{"pgp"}}, clean, policy.RequireE2E, []policy.Method{"pgp"}, delivery.PolicyOpportunistic, false, false},
		{"portal", policy.Action{Require: policy.RequirePortal}, clean, policy.RequirePortal, []policy.Method{"portal"}, delivery.PolicyOpportunistic, false, false},
		{"fallback order kept", policy.Action{Require: policy.RequireTLSVerified, Fallback: []policy.Method{"portal", "pgp"}}, clean, policy.RequireTLSVerified, []policy.Method{"portal", "pgp"}, delivery.PolicyVerified, false, false},
		{"no fallback", policy.Action{Require: policy.RequireTLSVerified, Fallback: []policy.Method{}}, clean, policy.RequireTLSVerified, []policy.Method{}, delivery.PolicyVerified, false, false},
		{"hold inherits default (other)", policy.Action{Hold: true}, clean, policy.RequireNone, []policy.Method{}, delivery.PolicyOpportunistic, true, false},
		{"hold inherits default (phi)", policy.Action{Hold: true}, policy.Message{Scan: phiScan}, policy.RequireTLSVerified, []policy.Method{"smime", "pgp", "portal"}, delivery.PolicyVerified, true, false},
		{"inherit with own fallback", policy.Action{Fallback: []policy.Method{"portal"}}, policy.Message{Scan: phiScan}, policy.RequireTLSVerified, []policy.Method{"portal"}, delivery.PolicyVerified, false, false},
		{"reject", policy.Action{Reject: true}, policy.Message{Scan: phiScan}, policy.RequireTLSVerified, []policy.Method{"smime", "pgp", "portal"}, delivery.PolicyVerified, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := policy.Match{}
			if tc.action.Require == policy.RequireNone {
				m.PHI = ptr(false)
			}
			e := mustNew(t, policy.Options{Rules: []policy.Rule{{Name: "only", Match: m, Action: tc.action}}})
			d := e.Decide(tc.msg, "r@y.example")
			if d.Rule != "only" || d.Require != tc.require || !slices.Equal(d.Fallback, tc.fallback) || d.MinTLS != tc.minTLS || d.Hold != tc.hold || d.Reject != tc.reject {
				t.Fatalf("got rule=%s require=%s fallback=%v min=%s hold=%v reject=%v; want %s %v %s %v %v",
					d.Rule, d.Require, d.Fallback, d.MinTLS, d.Hold, d.Reject, tc.require, tc.fallback, tc.minTLS, tc.hold, tc.reject)
			}
			if d.Fallback == nil {
				t.Error("Fallback must be an empty list, not nil, so its JSON is []")
			}
		})
	}
}

func TestFirstMatchWins(t *testing.T) {
	e := mustNew(t, policy.Options{Rules: []policy.Rule{
		{Name: "partner-phi", Match: policy.Match{ToDomain: []string{"partner.example"}, PHI: ptr(true)}, Action: policy.Action{Require: policy.RequireTLSVerified, Fallback: []policy.Method{}}},
		{Name: "partner-any", Match: policy.Match{ToDomain: []string{"partner.example"}}, Action: policy.Action{Require: policy.RequireTLS}},
		{Name: "ssn-portal", Match: policy.Match{Kinds: []string{"ssn"}}, Action: policy.Action{Require: policy.RequirePortal}},
	}})
	for _, tc := range []struct {
		scan *phi.Result
		rcpt string
		rule string
	}{
		{phiScan, "a@partner.example", "partner-phi"}, // also matches the later two
		{cleanScan, "a@partner.example", "partner-any"},
		{phiScan, "a@other.example", "ssn-portal"},
		{cleanScan, "a@other.example", "default"},
	} {
		if d := e.Decide(policy.Message{Scan: tc.scan}, tc.rcpt); d.Rule != tc.rule {
			t.Errorf("%s phi=%v: rule %s, want %s", tc.rcpt, tc.scan.PHI, d.Rule, tc.rule)
		}
	}
}

func TestDefaults(t *testing.T) {
	e := mustNew(t, policy.Options{})
	for _, tc := range []struct {
		name string
		scan *phi.Result
		req  policy.Requirement
		fb   []policy.Method
		min  delivery.TLSPolicy
	}{
		{"phi", phiScan, policy.RequireTLSVerified, []policy.Method{"smime", "pgp", "portal"}, delivery.PolicyVerified},
		{"unscannable", unscan, policy.RequireTLSVerified, []policy.Method{"smime", "pgp", "portal"}, delivery.PolicyVerified},
		{"not scanned", nil, policy.RequireTLSVerified, []policy.Method{"smime", "pgp", "portal"}, delivery.PolicyVerified},
		{"health words, not phi", medScan, policy.RequireNone, []policy.Method{}, delivery.PolicyOpportunistic},
		{"clean", cleanScan, policy.RequireNone, []policy.Method{}, delivery.PolicyOpportunistic},
	} {
		d := e.Decide(policy.Message{Scan: tc.scan}, "r@y.example")
		if d.Rule != policy.DefaultRule || d.Require != tc.req || !slices.Equal(d.Fallback, tc.fb) || d.MinTLS != tc.min {
			t.Errorf("%s: %+v", tc.name, d)
		}
	}
	// Configured defaults replace the built-in ones.
	e = mustNew(t, policy.Options{
		DefaultPHI:   policy.Action{Require: policy.RequireE2E},
		DefaultOther: policy.Action{Require: policy.RequireTLS, Fallback: []policy.Method{}},
	})
	if d := e.Decide(policy.Message{Scan: phiScan}, "r@y.example"); d.Require != policy.RequireE2E || !slices.Equal(d.Fallback, []policy.Method{"smime", "pgp"}) {
		t.Errorf("default_phi: %+v", d)
	}
	if d := e.Decide(policy.Message{Scan: cleanScan}, "r@y.example"); d.Require != policy.RequireTLS || len(d.Fallback) != 0 || d.MinTLS != delivery.PolicyRequired {
		t.Errorf("default_other: %+v", d)
	}
}

func TestSubjectTagsAndHeadersAreProtectedAndStripped(t *testing.T) {
	e := mustNew(t, policy.Options{
		SubjectTags:    []string{"[secure]", "+encrypt+"},
		EncryptHeaders: []string{"x-sealgate-encrypt"},
	})
	m := policy.Message{
		Subject: "Invoice [Secure] for March +ENCRYPT+",
		Headers: map[string][]string{"X-Sealgate-Encrypt": {"never"}},
		Scan:    cleanScan,
	}
	d := e.Decide(m, "r@y.example")
	// A tag makes a clean message protected: default_phi.
	if d.Require != policy.RequireTLSVerified || d.MinTLS != delivery.PolicyVerified {
		t.Errorf("tagged message not protected: %+v", d)
	}
	if !slices.Equal(d.StripSubjectTags, []string{"[secure]", "+encrypt+"}) {
		t.Errorf("StripSubjectTags = %v", d.StripSubjectTags)
	}
	// The header is stripped even with a negative value (it never weakens).
	if !slices.Equal(d.StripHeaders, []string{"X-Sealgate-Encrypt"}) {
		t.Errorf("StripHeaders = %v", d.StripHeaders)
	}
	if got := policy.StripSubject(m.Subject, d.StripSubjectTags); got != "Invoice for March" {
		t.Errorf("StripSubject = %q", got)
	}
	if got := policy.StripSubject("plain", d.StripSubjectTags); got != "plain" {
		t.Errorf("untagged subject changed: %q", got)
	}
	// Header alone.
	d = e.Decide(policy.Message{Headers: map[string][]string{"X-Sealgate-Encrypt": {"always"}}, Scan: cleanScan}, "r@y.example")
	if d.Require != policy.RequireTLSVerified || len(d.StripSubjectTags) != 0 {
		t.Errorf("header request: %+v", d)
	}
	// Nothing: nothing to strip.
	d = e.Decide(policy.Message{Subject: "secure your account", Scan: cleanScan}, "r@y.example")
	if d.Require != policy.RequireNone || d.StripHeaders != nil || d.StripSubjectTags != nil {
		t.Errorf("untagged: %+v", d)
	}
}

func TestDomainOverrides(t *testing.T) {
	e := mustNew(t, policy.Options{
		Domains: map[string]policy.Action{
			"gmail.com":            {Require: policy.RequirePortal},
			"partner-hospital.org": {Require: policy.RequireTLSVerified, Fallback: []policy.Method{}},
			"*.va.gov":             {Require: policy.RequireTLS},
			"*.east.va.gov":        {Require: policy.RequireE2E},
			"exclusive.example":    {Fallback: []policy.Method{}},
		},
		Rules: []policy.Rule{
			{Name: "to-clinic", Match: policy.Match{ToDomain: []string{"gmail.com"}, PHI: ptr(false)}, Action: policy.Action{Require: policy.RequireTLS}},
			{Name: "held", Match: policy.Match{From: []string{"hold@x.example"}}, Action: policy.Action{Hold: true}},
		},
	})
	for _, tc := range []struct {
		name     string
		msg      policy.Message
		rcpt     string
		override string
		require  policy.Requirement
		fallback []policy.Method
		hold     bool
	}{
		{"consumer webmail always portal for phi", policy.Message{Scan: phiScan}, "pat@GMAIL.com", "gmail.com", policy.RequirePortal, []policy.Method{"portal"}, false},
		{"override beats a rule asking for protection", policy.Message{Scan: cleanScan}, "pat@gmail.com", "gmail.com", policy.RequirePortal, []policy.Method{"portal"}, false},
		{"other mail is not overridden", policy.Message{From: "news@x.example", Scan: cleanScan}, "pat@other.example", "", policy.RequireNone, []policy.Method{}, false},
		{"tls-exclusive partner", policy.Message{Scan: phiScan}, "dr@partner-hospital.org", "partner-hospital.org", policy.RequireTLSVerified, []policy.Method{}, false},
		{"longest glob wins", policy.Message{Scan: phiScan}, "a@x.east.va.gov", "*.east.va.gov", policy.RequireE2E, []policy.Method{"smime", "pgp"}, false},
		{"shorter glob", policy.Message{Scan: unscan}, "a@west.va.gov", "*.va.gov", policy.RequireTLS, []policy.Method{"smime", "pgp", "portal"}, false},
		{"fallback-only override keeps require", policy.Message{Scan: nil}, "a@exclusive.example", "exclusive.example", policy.RequireTLSVerified, []policy.Method{}, false},
		{"hold from the rule stays", policy.Message{From: "hold@x.example", Scan: phiScan}, "a@gmail.com", "gmail.com", policy.RequirePortal, []policy.Method{"portal"}, true},
	} {
		d := e.Decide(tc.msg, tc.rcpt)
		if d.Override != tc.override || d.Require != tc.require || !slices.Equal(d.Fallback, tc.fallback) || d.Hold != tc.hold {
			t.Errorf("%s: got override=%q require=%s fallback=%v hold=%v", tc.name, d.Override, d.Require, d.Fallback, d.Hold)
		}
	}
}

func TestRequireTLS(t *testing.T) {
	e := mustNew(t, policy.Options{Rules: []policy.Rule{
		{Name: "e2e-partner", Match: policy.Match{ToDomain: []string{"e2e.example"}}, Action: policy.Action{Require: policy.RequireE2E}},
		{Name: "tls-only", Match: policy.Match{ToDomain: []string{"tls.example"}}, Action: policy.Action{Require: policy.RequireTLS, Fallback: []policy.Method{"portal"}}},
	}})
	for _, tc := range []struct {
		name     string
		scan     *phi.Result
		rcpt     string
		require  policy.Requirement
		fallback []policy.Method
	}{
		{"clean mail raised from none", cleanScan, "a@y.example", policy.RequireTLSVerified, []policy.Method{"smime", "pgp", "portal"}},
		{"phi stays tls-verified", phiScan, "a@y.example", policy.RequireTLSVerified, []policy.Method{"smime", "pgp", "portal"}},
		{"tls raised, explicit fallback kept", cleanScan, "a@tls.example", policy.RequireTLSVerified, []policy.Method{"portal"}},
		{"e2e is not lowered", phiScan, "a@e2e.example", policy.RequireE2E, []policy.Method{"smime", "pgp"}},
	} {
		d := e.Decide(policy.Message{Scan: tc.scan, RequireTLS: true}, tc.rcpt)
		if !d.RequireTLSFlag || d.MinTLS != delivery.PolicyVerified || d.Require != tc.require || !slices.Equal(d.Fallback, tc.fallback) {
			t.Errorf("%s: %+v", tc.name, d)
		}
	}
	if d := e.Decide(policy.Message{Scan: cleanScan}, "a@y.example"); d.RequireTLSFlag {
		t.Errorf("flag set without REQUIRETLS: %+v", d)
	}
}

func TestTLSRequiredNo(t *testing.T) {
	e := mustNew(t, policy.Options{
		SubjectTags: []string{"[secure]"},
		Rules: []policy.Rule{
			{Name: "newsletter", Match: policy.Match{From: []string{"news@x.example"}, PHI: ptr(false)}, Action: policy.Action{Require: policy.RequireTLS, AllowTLSRequiredNo: true}},
			{Name: "strict", Match: policy.Match{From: []string{"ops@x.example"}, PHI: ptr(false)}, Action: policy.Action{Require: policy.RequireTLS}},
		},
	})
	for _, tc := range []struct {
		name      string
		msg       policy.Message
		honoured  bool
		require   policy.Requirement
		stripped  bool
		reqTLSFlg bool
	}{
		{"allowed for clean mail", policy.Message{From: "news@x.example", Scan: cleanScan, TLSRequiredNo: true}, true, policy.RequireNone, false, false},
		{"rule does not allow it", policy.Message{From: "ops@x.example", Scan: cleanScan, TLSRequiredNo: true}, false, policy.RequireTLS, false, false},
		{"default does not allow it", policy.Message{From: "x@x.example", Scan: cleanScan, TLSRequiredNo: true}, false, policy.RequireNone, false, false},
		{"never for phi (default)", policy.Message{From: "news@x.example", Scan: phiScan, TLSRequiredNo: true}, false, policy.RequireTLSVerified, true, false},
		{"never for unscannable", policy.Message{From: "news@x.example", Scan: unscan, TLSRequiredNo: true}, false, policy.RequireTLSVerified, true, false},
		{"never for tagged mail (phi: false still matches it)", policy.Message{From: "news@x.example", Subject: "[secure] x", Scan: cleanScan, TLSRequiredNo: true}, false, policy.RequireTLS, true, false},
		{"REQUIRETLS takes precedence", policy.Message{From: "news@x.example", Scan: cleanScan, TLSRequiredNo: true, RequireTLS: true}, false, policy.RequireTLSVerified, false, true},
	} {
		d := e.Decide(tc.msg, "a@y.example")
		stripped := slices.Contains(d.StripHeaders, "TLS-Required")
		if d.TLSRequiredNo != tc.honoured || d.Require != tc.require || stripped != tc.stripped || d.RequireTLSFlag != tc.reqTLSFlg {
			t.Errorf("%s: %+v", tc.name, d)
		}
		if d.TLSRequiredNo && d.MinTLS != delivery.PolicyOpportunistic {
			t.Errorf("%s: honoured but MinTLS %s", tc.name, d.MinTLS)
		}
	}
}

func TestReasonsAreKindsAndCounts(t *testing.T) {
	e := mustNew(t, policy.Options{})
	scan := &phi.Result{PHI: true, Kinds: []string{"mrn", "ssn", "unscannable"}, Score: 3, Findings: []phi.Finding{
		{Kind: "mrn", Where: "body", Count: 1},
		{Kind: "ssn", Where: "body", Count: 2},
		{Kind: "ssn", Where: "attachment:Okafor, Maria - labs.pdf", Count: 1},
		{Kind: "unscannable", Where: "attachment:#2", Count: 1},
	}}
	d := e.Decide(policy.Message{Scan: scan}, "r@y.example")
	joined := strings.Join(d.Reasons, "\n")
	for _, want := range []string{"verdict: phi (score 3.00)", "phi: ssn×2 in body", "phi: mrn×1 in body", "phi: ssn×1 in attachment", "phi: unscannable×1 in attachment", "no rule matched"} {
		if !strings.Contains(joined, want) {
			t.Errorf("reasons lack %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "Okafor") || strings.Contains(joined, "labs.pdf") {
		t.Errorf("reasons repeat an attachment name:\n%s", joined)
	}
	d = e.Decide(policy.Message{}, "r@y.example")
	if !strings.Contains(strings.Join(d.Reasons, "\n"), "not scanned") {
		t.Errorf("not-scanned reason missing: %v", d.Reasons)
	}
}

func TestNewMessage(t *testing.T) {
	h := map[string][]string{
		"Subject":      {"=?UTF-8?Q?R=C3=A9sultats_[secure]?="},
		"Tls-Required": {" no "},
	}
	m := policy.NewMessage("a@x.example", h, phiScan, true)
	if m.Subject != "Résultats [secure]" || !m.TLSRequiredNo || !m.RequireTLS || m.Scan != phiScan || m.From != "a@x.example" {
		t.Errorf("NewMessage: %+v", m)
	}
	m = policy.NewMessage("", map[string][]string{"TLS-Required": {"yes"}}, nil, false)
	if m.TLSRequiredNo || m.Subject != "" {
		t.Errorf("NewMessage: %+v", m)
	}
}

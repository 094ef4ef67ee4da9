package policy_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/policy"
	"github.com/sealgate/sealgate/policy/phi"
)

func TestOptionsProblems(t *testing.T) {
	tests := []struct {
		name string
		opts policy.Options
		path string
		hint string
	}{
		{"none on a rule that can match phi", policy.Options{Rules: []policy.Rule{{Name: "a", Action: policy.Action{Require: policy.RequireNone}}}}, "rules[0].action.require", "phi: false"},
		{"none on a rule with phi: true", policy.Options{Rules: []policy.Rule{{Name: "a", Match: policy.Match{PHI: ptr(true)}, Action: policy.Action{Require: policy.RequireNone}}}}, "rules[0].action.require", "plaintext"},
		{"none on default_phi", policy.Options{DefaultPHI: policy.Action{Require: policy.RequireNone}}, "default_phi.require", "plaintext"},
		{"none on a domain override", policy.Options{Domains: map[string]policy.Action{"gmail.com": {Require: policy.RequireNone}}}, "domains.gmail.com.require", "plaintext"},
		{"allow_tls_required_no without phi: false", policy.Options{Rules: []policy.Rule{{Name: "a", Action: policy.Action{AllowTLSRequiredNo: true}}}}, "rules[0].action.allow_tls_required_no", "phi: false"},
		{"allow_tls_required_no on default_phi", policy.Options{DefaultPHI: policy.Action{AllowTLSRequiredNo: true}}, "default_phi.allow_tls_required_no", "never honoured"},
		{"unknown requirement", policy.Options{DefaultOther: policy.Action{Require: "tls1.3"}}, "default_other.require", "none | tls | tls-verified | e2e | portal"},
		{"unknown method", policy.Options{DefaultPHI: policy.Action{Fallback: []policy.Method{"fax"}}}, "default_phi.fallback[0]", "smime | pgp | portal"},
		{"duplicate method", policy.Options{DefaultPHI: policy.Action{Fallback: []policy.Method{"pgp", "pgp"}}}, "default_phi.fallback[1]", "twice"},
		{"fallback with none", policy.Options{DefaultOther: policy.Action{Require: policy.RequireNone, Fallback: []policy.Method{"smime"}}}, "default_other.fallback", "never falls back"},
		{"portal in e2e", policy.Options{DefaultPHI: policy.Action{Require: policy.RequireE2E, Fallback: []policy.Method{"smime", "portal"}}}, "default_phi.fallback", "only smime and pgp"},
		{"fallback with portal", policy.Options{DefaultPHI: policy.Action{Require: policy.RequirePortal, Fallback: []policy.Method{"smime"}}}, "default_phi.fallback", "remove fallback"},
		{"reject with more", policy.Options{Rules: []policy.Rule{{Name: "a", Action: policy.Action{Reject: true, Require: policy.RequireTLS}}}}, "rules[0].action.reject", "stands alone"},
		{"domain override hold", policy.Options{Domains: map[string]policy.Action{"gmail.com": {Hold: true}}}, "domains.gmail.com", "to_domain"},
		{"bad domain key", policy.Options{Domains: map[string]policy.Action{"gmail com": {Require: policy.RequirePortal}}}, "domains.gmail com", "domain glob"},
		{"missing rule name", policy.Options{Rules: []policy.Rule{{Action: policy.Action{Require: policy.RequireTLS}}}}, "rules[0].name", "required"},
		{"reserved rule name", policy.Options{Rules: []policy.Rule{{Name: "default"}}}, "rules[0].name", "reserved"},
		{"duplicate rule name", policy.Options{Rules: []policy.Rule{{Name: "a"}, {Name: "a"}}}, "rules[1].name", "rules[0]"},
		{"bad address pattern", policy.Options{Rules: []policy.Rule{{Name: "a", Match: policy.Match{From: []string{"bob smith@x"}}}}}, "rules[0].match.from[0]", "*@x.example"},
		{"address in to_domain", policy.Options{Rules: []policy.Rule{{Name: "a", Match: policy.Match{ToDomain: []string{"bob@x.example"}}}}}, "rules[0].match.to_domain[0]", "use `to`"},
		{"bad kind", policy.Options{Rules: []policy.Rule{{Name: "a", Match: policy.Match{Kinds: []string{"SSN"}}}}}, "rules[0].match.kinds[0]", "kind name"},
		{"negative score", policy.Options{Rules: []policy.Rule{{Name: "a", Match: policy.Match{MinScore: ptr(-1.0)}}}}, "rules[0].match.min_score", "non-negative"},
		{"header without value", policy.Options{Rules: []policy.Rule{{Name: "a", Match: policy.Match{Headers: map[string]string{"X-A": ""}}}}}, "rules[0].match.headers.X-A", "\"*\""},
		{"short tag", policy.Options{SubjectTags: []string{"s"}}, "subject_tags[0]", "too short"},
		{"tag with spaces", policy.Options{SubjectTags: []string{" [secure]"}}, "subject_tags[0]", "leading or trailing"},
		{"bad header name", policy.Options{EncryptHeaders: []string{"X Encrypt:"}}, "encrypt_headers[0]", "header field name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := tc.opts.Problems()
			found := false
			for _, p := range ps {
				if p.Path == tc.path && strings.Contains(p.Message, tc.hint) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no problem at %s containing %q; got %v", tc.path, tc.hint, ps)
			}
			if _, err := policy.New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("New accepted invalid options or hid the path: %v", err)
			}
		})
	}
	// The valid counterparts.
	for _, o := range []policy.Options{
		{},
		{DefaultOther: policy.Action{Require: policy.RequireNone, AllowTLSRequiredNo: true}},
		{Rules: []policy.Rule{{Name: "plain-ok", Match: policy.Match{PHI: ptr(false)}, Action: policy.Action{Require: policy.RequireNone, AllowTLSRequiredNo: true}}}},
		{Rules: []policy.Rule{{Name: "inherit", Action: policy.Action{Hold: true}}, {Name: "no", Action: policy.Action{Reject: true}}}},
		{Domains: map[string]policy.Action{"*.va.gov": {Require: policy.RequireTLS, Fallback: []policy.Method{}}}},
		{DefaultPHI: policy.Action{Require: policy.RequirePortal, Fallback: []policy.Method{"portal"}}},
	} {
		if ps := o.Problems(); len(ps) != 0 {
			t.Errorf("valid options refused: %+v: %v", o, ps)
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	e := mustNew(t, policy.Options{SubjectTags: []string{"[secure]"}})
	ds := map[string]policy.Decision{
		"a@x.example": e.Decide(policy.Message{Scan: phiScan, Subject: "[secure] hi", RequireTLS: true}, "a@x.example"),
		"b@y.example": e.Decide(policy.Message{Scan: cleanScan}, "b@y.example"),
	}
	s, err := policy.EncodeDecisions(ds)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s, "\n") {
		t.Errorf("encoded decisions span lines: %q", s)
	}
	if !strings.Contains(s, `"min_tls":"verified"`) || !strings.Contains(s, `"require":"tls-verified"`) {
		t.Errorf("levels not encoded by name: %s", s)
	}
	got, err := policy.DecodeDecisions(s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ds) {
		t.Fatalf("round trip changed decisions:\n got %+v\nwant %+v", got, ds)
	}
	if got["a@x.example"].MinTLS != delivery.PolicyVerified || !got["a@x.example"].RequireTLSFlag {
		t.Errorf("decoded %+v", got["a@x.example"])
	}
}

// Decode fails closed: whatever it does not fully understand is an error,
// never a weaker decision.
func TestDecodeDecisionsFailsClosed(t *testing.T) {
	good := `{"v":1,"decisions":{"a@x":{"rule":"default","require":"tls-verified","fallback":["smime"],"reasons":[],"min_tls":"verified"}}}`
	if _, err := policy.DecodeDecisions(good); err != nil {
		t.Fatalf("good input refused: %v", err)
	}
	for name, in := range map[string]string{
		"empty":            ``,
		"garbage":          `not json`,
		"version":          strings.Replace(good, `"v":1`, `"v":2`, 1),
		"no version":       strings.Replace(good, `"v":1,`, ``, 1),
		"no decisions":     `{"v":1}`,
		"unknown field":    strings.Replace(good, `"rule"`, `"allow_plain":true,"rule"`, 1),
		"unknown top":      strings.Replace(good, `"v":1`, `"v":1,"x":0`, 1),
		"unknown require":  strings.Replace(good, `"tls-verified"`, `"tls-maybe"`, 1),
		"unknown method":   strings.Replace(good, `["smime"]`, `["fax"]`, 1),
		"floor too low":    strings.Replace(good, `"min_tls":"verified"`, `"min_tls":"opportunistic"`, 1),
		"floor unknown":    strings.Replace(good, `"min_tls":"verified"`, `"min_tls":"default"`, 1),
		"floor missing":    strings.Replace(good, `,"min_tls":"verified"`, ``, 1),
		"requiretls floor": `{"v":1,"decisions":{"a@x":{"rule":"r","require":"none","fallback":[],"reasons":[],"requiretls":true,"min_tls":"opportunistic"}}}`,
		"no rule":          strings.Replace(good, `"rule":"default",`, ``, 1),
		"trailing":         good + `{}`,
	} {
		if _, err := policy.DecodeDecisions(in); err == nil {
			t.Errorf("%s: accepted %s", name, in)
		}
	}
}

// A canary SSN in the subject, the body and an attachment name never
// reaches a decision, its JSON or its reasons.
func TestCanaryNeverInDecision(t *testing.T) {
	const canary = "512-44-8821"
	const canaryDigits = "512448821"
	msg := "From: a@x.example\r\nTo: b@y.example\r\nSubject: [secure] SSN " + canary + " for Maria Okafor\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nPatient: Maria Okafor\r\nSSN: " + canary + "\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"" + canary + ".bin\"\r\n\r\n\x00\x01\x02\r\n" +
		"--b--\r\n"
	s, err := phi.New(phi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Scan(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if !res.PHI {
		t.Fatalf("canary message not PHI: %+v", res)
	}
	e := mustNew(t, policy.Options{SubjectTags: []string{"[secure]"}})
	m := policy.NewMessage("a@x.example", map[string][]string{"Subject": {"[secure] SSN " + canary + " for Maria Okafor"}}, res, false)
	d := e.Decide(m, "b@y.example")
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := policy.EncodeDecisions(map[string]policy.Decision{"b@y.example": d})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{string(b), enc, strings.Join(d.Reasons, "\n")} {
		for _, leak := range []string{canary, canaryDigits, "8821", "Okafor", "Maria", "SSN "} {
			if strings.Contains(out, leak) {
				t.Errorf("decision leaks %q: %s", leak, out)
			}
		}
	}
	if !strings.Contains(strings.Join(d.Reasons, "\n"), "ssn×") {
		t.Errorf("reasons do not name the kind: %v", d.Reasons)
	}
}

package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/policy"
	"github.com/sealgate/sealgate/policy/phi"
)

// loadPolicy loads a configuration file and returns its policy section.
// Once Config has its Policy field, this is config.Load itself; until then
// it runs Load's steps (strict decode, type errors, Validate, file:line)
// for a file holding hostname, phi and policy.
func loadPolicy(t *testing.T, body string) (*PolicyConfig, error) {
	t.Helper()
	path := writeConfig(t, body)
	if _, wired := reflect.TypeOf(Config{}).FieldByName("Policy"); wired {
		cfg, err := Load(path)
		if err != nil {
			return nil, err
		}
		return reflect.ValueOf(cfg).Elem().FieldByName("Policy").Addr().Interface().(*PolicyConfig), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Hostname string       `yaml:"hostname"`
		PHI      PHIConfig    `yaml:"phi"`
		Policy   PolicyConfig `yaml:"policy"`
	}
	e := &Error{File: path}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		e.Problems = append(e.Problems, syntaxProblem(err))
		return nil, e
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			e.Problems = append(e.Problems, syntaxProblem(err))
			return nil, e
		}
		for _, msg := range te.Errors {
			e.Problems = append(e.Problems, typeProblem(msg))
		}
	}
	var ps Problems
	doc.PHI.Validate("phi", &ps)
	doc.Policy.Validate("policy", &ps)
	doc.Policy.ValidateKinds("policy", &doc.PHI, &ps)
	for _, p := range ps {
		p.Line = lineOf(&root, p.Path)
		e.Problems = append(e.Problems, p)
	}
	if len(e.Problems) > 0 {
		sort.SliceStable(e.Problems, func(i, j int) bool { return e.Problems[i].Line < e.Problems[j].Line })
		return nil, e
	}
	return &doc.Policy, nil
}

const policySection = `hostname: gw.example.com
policy:
  subject_tags: ["[secure]", "+encrypt+"]
  encrypt_headers: ["X-Sealgate-Encrypt"]
  default_phi: {require: tls-verified, fallback: [smime, pgp, portal]}
  default_other: {require: none, allow_tls_required_no: true}
  domains:
    gmail.com: {require: portal}
    partner-hospital.org: {require: tls-verified, fallback: []}
    "*.va.gov": {require: tls}
  rules:
    - name: secure-tag
      match: {subject_tag: true}
      action: {require: tls-verified, fallback: [smime, pgp, portal]}
    - name: billing-to-clearinghouse
      match: {from: "*@billing.hospital.example", to_domain: ["clearinghouse.example"], phi: true}
      action: {require: tls-verified, fallback: []}
    - name: lab-results-e2e
      match:
        kinds: [lab_result, mrn]
        min_score: 1.5
        to: ["*@research.example", "pi@university.example"]
      action: {require: e2e, fallback: [pgp]}
    - name: epic-notify
      match:
        headers: {X-Mailer: "epic*"}
        encrypt_header: true
        unscannable: false
      action: {hold: true}
    - name: marketing
      match: {from_domain: [news.hospital.example], phi: false}
      action: {require: none, allow_tls_required_no: true}
    - name: no-phi-to-competitor
      match: {to_domain: "*.competitor.example", phi: true}
      action: {reject: true}
`

func TestPolicyConfigLoadAndOptions(t *testing.T) {
	pc, err := loadPolicy(t, policySection)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	o, err := pc.Options()
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Rules) != 6 || o.Rules[1].Name != "billing-to-clearinghouse" {
		t.Fatalf("rules: %+v", o.Rules)
	}
	if r := o.Rules[1]; !slices.Equal(r.Match.From, []string{"*@billing.hospital.example"}) || r.Action.Fallback == nil || len(r.Action.Fallback) != 0 {
		t.Errorf("a scalar must read as a one-item list and `fallback: []` as no fallback: %+v", r)
	}
	if o.Rules[2].Action.Fallback[0] != policy.MethodPGP || *o.Rules[2].Match.MinScore != 1.5 || o.Rules[2].Match.To[1] != "pi@university.example" {
		t.Errorf("rule 2: %+v", o.Rules[2])
	}
	if o.Domains["gmail.com"].Require != policy.RequirePortal || o.Domains["gmail.com"].Fallback != nil {
		t.Errorf("domains: %+v", o.Domains)
	}
	if o.DefaultPHI.Require != policy.RequireTLSVerified || len(o.DefaultPHI.Fallback) != 3 || !o.DefaultOther.AllowTLSRequiredNo {
		t.Errorf("defaults: %+v %+v", o.DefaultPHI, o.DefaultOther)
	}
	// The options build an engine that applies them.
	e, err := policy.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ssn := &phi.Result{PHI: true, Kinds: []string{"ssn"}, Score: 1}
	clean := &phi.Result{Kinds: []string{}}
	for _, tc := range []struct {
		msg     policy.Message
		rcpt    string
		rule    string
		require policy.Requirement
		reject  bool
	}{
		{policy.Message{Subject: "Re: [SECURE] results", Scan: clean}, "a@b.example", "secure-tag", policy.RequireTLSVerified, false},
		{policy.Message{From: "x@billing.hospital.example", Scan: ssn}, "c@clearinghouse.example", "billing-to-clearinghouse", policy.RequireTLSVerified, false},
		{policy.Message{From: "x@billing.hospital.example", Scan: ssn}, "c@gmail.com", "default", policy.RequirePortal, false},
		{policy.Message{From: "n@news.hospital.example", Scan: clean}, "c@gmail.com", "marketing", policy.RequireNone, false},
		{policy.Message{From: "n@news.hospital.example", Scan: ssn}, "c@x.competitor.example", "no-phi-to-competitor", policy.RequireTLSVerified, true},
		{policy.Message{Scan: ssn}, "c@med.va.gov", "default", policy.RequireTLS, false},
	} {
		d := e.Decide(tc.msg, tc.rcpt)
		if d.Rule != tc.rule || d.Require != tc.require || d.Reject != tc.reject {
			t.Errorf("%s from %s: %+v", tc.rcpt, tc.msg.From, d)
		}
	}
}

func TestPolicyConfigZeroValueIsValid(t *testing.T) {
	var c PolicyConfig
	var ps Problems
	c.Validate("policy", &ps)
	c.ValidateKinds("policy", nil, &ps)
	if len(ps) != 0 {
		t.Fatalf("zero value invalid: %v", ps)
	}
	o, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.New(o)
	if err != nil {
		t.Fatal(err)
	}
	d := e.Decide(policy.Message{}, "a@b.example")
	if d.Require != policy.RequireTLSVerified || d.MinTLS != delivery.PolicyVerified || len(d.Fallback) != 3 {
		t.Errorf("built-in default for an unscanned message: %+v", d)
	}
	if _, err := loadPolicy(t, "hostname: gw.example.com\npolicy: {}\n"); err != nil {
		t.Errorf("empty section: %v", err)
	}
}

func TestPolicyConfigProblemsWithLines(t *testing.T) {
	_, err := loadPolicy(t, `hostname: gw.example.com
phi:
  rules:
    - kind: employee_health_id
      pattern: 'EH-[0-9]{6}'
policy:
  subject_tags: ["s"]
  encrypt_headers: ["X Bad"]
  default_phi: {require: none}
  default_other:
    require: tls-maybe
  rules:
    - name: plain-phi
      match: {phi: true}
      action:
        require: none
    - name: plain-phi
      match:
        from: "bob smith@x"
        kinds: [snn, employee_health_id]
      action:
        require: e2e
        fallback: [smime, portal]
    - match: {to_domain: "a@b.example"}
      action:
        reject: true
        hold: true
    - name: tls-no
      match: {}
      action:
        allow_tls_required_no: true
        fallback: [fax]
`)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %v", err)
	}
	want := map[string]int{
		"policy.subject_tags[0]":                       7,
		"policy.encrypt_headers[0]":                    8,
		"policy.default_phi.require":                   9,
		"policy.default_other.require":                 11,
		"policy.rules[0].action.require":               16,
		"policy.rules[1].name":                         17,
		"policy.rules[1].match.from[0]":                19,
		"policy.rules[1].match.kinds[0]":               20,
		"policy.rules[1].action.fallback":              23,
		"policy.rules[2].name":                         24,
		"policy.rules[2].match.to_domain[0]":           24,
		"policy.rules[2].action.reject":                26,
		"policy.rules[3].action.allow_tls_required_no": 31,
		"policy.rules[3].action.fallback[0]":           32,
	}
	got := map[string]int{}
	for _, p := range ce.Problems {
		got[p.Path] = p.Line
		if p.Message == "" {
			t.Errorf("%s: empty message", p.Path)
		}
	}
	for path, line := range want {
		l, ok := got[path]
		if !ok {
			t.Errorf("no problem reported at %s (got %v)", path, ce.Problems)
			continue
		}
		if l != line {
			t.Errorf("%s reported at line %d, want %d", path, l, line)
		}
	}
	if _, ok := got["policy.rules[1].match.kinds[1]"]; ok {
		t.Error("a custom phi rule's kind was refused")
	}
	msg := err.Error()
	for _, want := range []string{
		":16: policy.rules[0].action.require: none would send PHI in plaintext",
		"add `phi: false`",
		":9: policy.default_phi.require: none would send PHI",
		`unknown kind "snn"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func TestPolicyConfigTypeErrors(t *testing.T) {
	for _, tc := range []struct {
		body, want string
	}{
		{"hostname: gw.example.com\npolicy:\n  rules:\n    - name: a\n      match: {phi: maybe}\n", ":5: wrong type"},
		{"hostname: gw.example.com\npolicy:\n  rules:\n    - name: a\n      match: {to: {a: b}}\n", ":5: expected a string or a list of strings"},
		{"hostname: gw.example.com\npolicy:\n  rules:\n    - name: a\n      match: {to: [[x]]}\n", ":5: expected a string"},
		{"hostname: gw.example.com\npolicy:\n  rules:\n    - name: a\n      mtach: {phi: true}\n", `:5: unknown key "mtach"`},
		{"hostname: gw.example.com\npolicy:\n  default_phi: {requires: tls}\n", `:3: unknown key "requires"`},
	} {
		_, err := loadPolicy(t, tc.body)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: want %q, got %v", tc.body, tc.want, err)
		}
	}
}

func TestPolicyConfigOptionsRefusesInvalid(t *testing.T) {
	c := PolicyConfig{Rules: []PolicyRuleConfig{{Name: "x", Action: PolicyActionConfig{Require: "none"}}}}
	if _, err := c.Options(); err == nil || !strings.Contains(err.Error(), "policy.rules[0].action.require") {
		t.Fatalf("Options accepted plaintext for PHI: %v", err)
	}
}

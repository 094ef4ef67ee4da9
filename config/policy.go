package config

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sealgate/sealgate/policy"
	"github.com/sealgate/sealgate/policy/phi"
)

// PolicyConfig is the `policy:` section: the rules that turn a PHI verdict
// into a per-recipient protection decision (package policy). Every key is
// optional; the zero value gives the built-in defaults: PHI and
// unscannable mail requires tls-verified with fallback [smime, pgp,
// portal], other mail opportunistic TLS.
type PolicyConfig struct {
	// SubjectTags are markers ("[secure]", "+encrypt+") with which senders
	// ask for encryption; matched case-insensitively and stripped.
	SubjectTags []string `yaml:"subject_tags"`
	// EncryptHeaders are header fields ("X-Sealgate-Encrypt: always") with
	// which sending systems ask for encryption; always stripped.
	EncryptHeaders []string `yaml:"encrypt_headers"`
	// DefaultPHI applies to PHI, unscannable or tagged mail no rule matches.
	DefaultPHI PolicyActionConfig `yaml:"default_phi"`
	// DefaultOther applies to all other mail no rule matches.
	DefaultOther PolicyActionConfig `yaml:"default_other"`
	// Domains override require/fallback per recipient domain ("gmail.com"
	// or "*.va.gov") for mail that needs protection.
	Domains map[string]PolicyActionConfig `yaml:"domains"`
	// Rules are evaluated in order; the first that matches wins.
	Rules []PolicyRuleConfig `yaml:"rules"`
}

// PolicyRuleConfig is one rule: a unique name, conditions and an action.
type PolicyRuleConfig struct {
	Name   string             `yaml:"name"`
	Match  PolicyMatchConfig  `yaml:"match"`
	Action PolicyActionConfig `yaml:"action"`
}

// PolicyMatchConfig holds the conditions of a rule; all that are set must
// hold. From/to patterns are an address, a domain or a glob with * and ?.
type PolicyMatchConfig struct {
	From          StringList        `yaml:"from"`
	To            StringList        `yaml:"to"`
	FromDomain    StringList        `yaml:"from_domain"`
	ToDomain      StringList        `yaml:"to_domain"`
	PHI           *bool             `yaml:"phi"`
	Unscannable   *bool             `yaml:"unscannable"`
	Kinds         StringList        `yaml:"kinds"`
	MinScore      *float64          `yaml:"min_score"`
	SubjectTag    *bool             `yaml:"subject_tag"`
	EncryptHeader *bool             `yaml:"encrypt_header"`
	Headers       map[string]string `yaml:"headers"`
}

// PolicyActionConfig is what a rule, a default or a domain prescribes.
// Fallback left out means the requirement's default; `fallback: []` means
// none (the message waits, then bounces).
type PolicyActionConfig struct {
	Require            string   `yaml:"require"`
	Fallback           []string `yaml:"fallback"`
	Hold               bool     `yaml:"hold"`
	Reject             bool     `yaml:"reject"`
	AllowTLSRequiredNo bool     `yaml:"allow_tls_required_no"`
}

// StringList is a YAML list of strings that may also be written as one
// string: `to: "*@x.example"` is `to: ["*@x.example"]`.
type StringList []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (s *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			*s = nil
			return nil
		}
		*s = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(StringList, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
				return lineError(c, "expected a string (a list holds strings only)")
			}
			out = append(out, c.Value)
		}
		*s = out
		return nil
	}
	return lineError(n, "expected a string or a list of strings")
}

func (a *PolicyActionConfig) action() policy.Action {
	out := policy.Action{
		Require:            policy.Requirement(a.Require),
		Hold:               a.Hold,
		Reject:             a.Reject,
		AllowTLSRequiredNo: a.AllowTLSRequiredNo,
	}
	if a.Fallback != nil {
		out.Fallback = make([]policy.Method, len(a.Fallback))
		for i, m := range a.Fallback {
			out.Fallback[i] = policy.Method(m)
		}
	}
	return out
}

func (c *PolicyConfig) options() policy.Options {
	o := policy.Options{
		SubjectTags:    slices.Clone(c.SubjectTags),
		EncryptHeaders: slices.Clone(c.EncryptHeaders),
		DefaultPHI:     c.DefaultPHI.action(),
		DefaultOther:   c.DefaultOther.action(),
	}
	if len(c.Domains) > 0 {
		o.Domains = make(map[string]policy.Action, len(c.Domains))
		for k, a := range c.Domains {
			o.Domains[k] = a.action()
		}
	}
	for _, r := range c.Rules {
		m := r.Match
		o.Rules = append(o.Rules, policy.Rule{
			Name: r.Name,
			Match: policy.Match{
				From:          slices.Clone(m.From),
				To:            slices.Clone(m.To),
				FromDomain:    slices.Clone(m.FromDomain),
				ToDomain:      slices.Clone(m.ToDomain),
				PHI:           m.PHI,
				Unscannable:   m.Unscannable,
				Kinds:         slices.Clone(m.Kinds),
				MinScore:      m.MinScore,
				SubjectTag:    m.SubjectTag,
				EncryptHeader: m.EncryptHeader,
				Headers:       m.Headers,
			},
			Action: r.Action.action(),
		})
	}
	return o
}

// Validate records every problem of the section under path (normally
// "policy"). The checks are policy.Options.Problems, which enforce that no
// rule can send PHI in plaintext; their paths are the section's keys.
func (c *PolicyConfig) Validate(path string, p *Problems) {
	o := c.options()
	for _, pr := range o.Problems() {
		p.Add(Join(path, pr.Path), "%s", pr.Message)
	}
}

// ValidateKinds checks the kinds named in rules against the scanner's
// built-in kinds plus the custom kinds of phiCfg's rules, so that a typo
// ("snn") does not make a rule silently never match. Call it after
// Validate with the same path.
func (c *PolicyConfig) ValidateKinds(path string, phiCfg *PHIConfig, p *Problems) {
	known := map[string]bool{}
	for _, k := range phi.KindNames() {
		known[k] = true
	}
	if phiCfg != nil {
		for _, r := range phiCfg.Rules {
			known[r.Kind] = true
		}
	}
	for i, r := range c.Rules {
		for j, k := range r.Match.Kinds {
			if kindNameOK(k) && !known[k] {
				p.Add(Join(path, fmt.Sprintf("rules[%d].match.kinds[%d]", i, j)), "unknown kind %q; use one of %s or a kind of phi.rules", k, strings.Join(phi.KindNames(), ", "))
			}
		}
	}
}

// Options translates the section into policy.Options; it fails when the
// section is not valid (Validate reports the same problems with lines).
func (c *PolicyConfig) Options() (policy.Options, error) {
	o := c.options()
	if ps := o.Problems(); len(ps) > 0 {
		msgs := make([]string, len(ps))
		for i, pr := range ps {
			msgs[i] = "policy." + pr.String()
		}
		return policy.Options{}, fmt.Errorf("config: %s", strings.Join(msgs, "; "))
	}
	return o, nil
}

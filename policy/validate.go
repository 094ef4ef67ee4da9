package policy

import (
	"errors"
	"fmt"
	"math"
	"net/textproto"
	"slices"
	"strings"
)

// Problem is one thing wrong with Options. Path uses the key names of the
// YAML `policy:` section (for example "rules[2].action.require"), so that
// config can report it at its file:line.
type Problem struct {
	Path    string
	Message string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

type problems []Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func join(parent, child string) string {
	if parent == "" {
		return child
	}
	if strings.HasPrefix(child, "[") {
		return parent + child
	}
	return parent + "." + child
}

// Problems checks the options and returns every problem found, nil when
// they are valid. New refuses options with problems.
//
// The invariant it enforces: no rule, default or override can send a
// protected message in plaintext. `require: none` is only accepted on
// default_other and on rules that match `phi: false`; default_phi and
// domain overrides (which only apply to mail that needs protection) must
// require tls or stronger.
func (o *Options) Problems() []Problem {
	var ps problems
	for i, t := range o.SubjectTags {
		tp := fmt.Sprintf("subject_tags[%d]", i)
		switch {
		case strings.TrimSpace(t) != t || t == "":
			ps.add(tp, "%q must be non-empty without leading or trailing spaces (e.g. \"[secure]\")", t)
		case len(t) > 64 || !printableASCII(t):
			ps.add(tp, "%q must be printable ASCII, at most 64 characters (e.g. \"+encrypt+\")", t)
		case len(t) < 3:
			ps.add(tp, "%q is too short: it would match ordinary subjects; use a marker such as \"[secure]\"", t)
		}
	}
	for i, h := range o.EncryptHeaders {
		if !headerName(h) {
			ps.add(fmt.Sprintf("encrypt_headers[%d]", i), "%q is not a header field name (letters, digits and '-', e.g. X-Sealgate-Encrypt)", h)
		}
	}
	checkAction(&ps, "default_phi", o.DefaultPHI, scopePHI)
	checkAction(&ps, "default_other", o.DefaultOther, scopeOther)
	for _, k := range sortedKeys(o.Domains) {
		dp := join("domains", k)
		if !domainPattern(k) {
			ps.add(dp, "%q is not a domain or a domain glob (e.g. gmail.com or *.va.gov)", k)
		}
		checkAction(&ps, dp, o.Domains[k], scopeDomain)
	}
	names := map[string]int{}
	for i, r := range o.Rules {
		rp := fmt.Sprintf("rules[%d]", i)
		switch {
		case !ruleName(r.Name):
			ps.add(join(rp, "name"), "%q is not a rule name: it is required, lower case letters, digits, '-', '_' or '.', at most 64 (it names the rule in decisions and audit)", r.Name)
		case r.Name == DefaultRule:
			ps.add(join(rp, "name"), "%q is reserved for the defaults; choose another name", r.Name)
		default:
			if j, dup := names[r.Name]; dup {
				ps.add(join(rp, "name"), "%q is already the name of rules[%d]; names must be unique", r.Name, j)
			}
			names[r.Name] = i
		}
		checkMatch(&ps, join(rp, "match"), r.Match)
		scope := scopeRule
		if r.Match.PHI != nil && !*r.Match.PHI {
			scope = scopeRuleNoPHI
		}
		checkAction(&ps, join(rp, "action"), r.Action, scope)
	}
	return ps
}

type actionScope int

const (
	scopePHI       actionScope = iota // default_phi
	scopeOther                        // default_other
	scopeDomain                       // domains.X
	scopeRule                         // a rule that can match protected messages
	scopeRuleNoPHI                    // a rule with phi: false
)

func checkAction(ps *problems, path string, a Action, scope actionScope) {
	if a.Require != "" && !a.Require.Valid() {
		ps.add(join(path, "require"), "%q is not one of none | tls | tls-verified | e2e | portal", a.Require)
	}
	switch scope {
	case scopePHI:
		if a.Require == RequireNone {
			ps.add(join(path, "require"), "none would send PHI and unscannable messages in plaintext; use tls, tls-verified (the default), e2e or portal")
		}
	case scopeDomain:
		if a.Require == RequireNone {
			ps.add(join(path, "require"), "none would send protected mail to this domain in plaintext (overrides only apply to mail that needs protection); use tls, tls-verified, e2e or portal")
		}
		if a.Hold || a.Reject || a.AllowTLSRequiredNo {
			ps.add(path, "a domain override sets only require and fallback; use a rule with to_domain for hold, reject or allow_tls_required_no")
		}
	case scopeRule:
		if a.Require == RequireNone {
			ps.add(join(path, "require"), "none would send PHI in plaintext, and this rule can match PHI or unscannable messages; add `phi: false` to its match, or require tls or stronger")
		}
		if a.AllowTLSRequiredNo {
			ps.add(join(path, "allow_tls_required_no"), "is only allowed on rules that match `phi: false` (it is never honoured for PHI); add `phi: false` to the match")
		}
	}
	if scope == scopePHI && a.AllowTLSRequiredNo {
		ps.add(join(path, "allow_tls_required_no"), "is never honoured for PHI or unscannable messages; set it on default_other or on a rule with `phi: false`")
	}
	if a.Reject && (a.Require != "" || a.Fallback != nil || a.Hold || a.AllowTLSRequiredNo) {
		ps.add(join(path, "reject"), "reject stands alone: remove require, fallback, hold and allow_tls_required_no from this action")
	}
	fp := join(path, "fallback")
	seen := map[Method]bool{}
	for i, m := range a.Fallback {
		if !m.Valid() {
			ps.add(fmt.Sprintf("%s[%d]", fp, i), "%q is not one of smime | pgp | portal", m)
			continue
		}
		if seen[m] {
			ps.add(fmt.Sprintf("%s[%d]", fp, i), "%q is listed twice", m)
		}
		seen[m] = true
	}
	if a.Fallback == nil {
		return
	}
	switch a.Require {
	case RequireNone:
		ps.add(fp, "require: none never falls back (opportunistic TLS sends in plaintext when TLS fails); remove fallback or require tls or stronger")
	case RequireE2E:
		if seen[MethodPortal] {
			ps.add(fp, "e2e allows only smime and pgp; use require: tls-verified with fallback [smime, pgp, portal] to allow the portal")
		}
	case RequirePortal:
		if len(a.Fallback) != 1 || !seen[MethodPortal] {
			ps.add(fp, "require: portal always uses the portal; remove fallback")
		}
	}
}

func checkMatch(ps *problems, path string, m Match) {
	for _, f := range []struct {
		key      string
		pats     []string
		onlyDoms bool
	}{
		{"from", m.From, false}, {"to", m.To, false},
		{"from_domain", m.FromDomain, true}, {"to_domain", m.ToDomain, true},
	} {
		for i, p := range f.pats {
			pp := fmt.Sprintf("%s[%d]", join(path, f.key), i)
			if f.onlyDoms {
				if !domainPattern(p) {
					ps.add(pp, "%q is not a domain or a domain glob (e.g. partner.example or *.va.gov); use `%s` for addresses", p, strings.TrimSuffix(f.key, "_domain"))
				}
				continue
			}
			if !addressPattern(p) {
				ps.add(pp, "%q is not an address, a domain or a glob (e.g. bob@x.example, x.example, *@x.example, *.va.gov)", p)
			}
		}
	}
	for i, k := range m.Kinds {
		if !kindName(k) {
			ps.add(fmt.Sprintf("%s[%d]", join(path, "kinds"), i), "%q is not a kind name (e.g. ssn, mrn, unscannable)", k)
		}
	}
	if m.MinScore != nil && (*m.MinScore < 0 || math.IsNaN(*m.MinScore) || math.IsInf(*m.MinScore, 0)) {
		ps.add(join(path, "min_score"), "must be a non-negative number (scores are sums of kind weights; PHI from 1.0 by default)")
	}
	for _, h := range sortedKeys(m.Headers) {
		if !headerName(h) {
			ps.add(join(join(path, "headers"), h), "%q is not a header field name", h)
		} else if m.Headers[h] == "" {
			ps.add(join(join(path, "headers"), h), "needs a value glob (\"*\" matches any value)")
		}
	}
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func headerName(s string) bool {
	if s == "" || len(s) > 76 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func ruleName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func kindName(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '_' {
			return false
		}
	}
	return true
}

// domainPattern accepts a domain, optionally with globs ("*.va.gov").
func domainPattern(s string) bool {
	if s == "" || len(s) > 253 || strings.Contains(s, "..") || strings.HasPrefix(s, ".") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '*' || c == '?') {
			return false
		}
	}
	return true
}

// addressPattern accepts "local@domain" patterns (globs allowed) and
// domain patterns.
func addressPattern(s string) bool {
	local, dom, ok := strings.Cut(s, "@")
	if !ok {
		return domainPattern(s)
	}
	if local == "" || len(local) > 64 || strings.Contains(dom, "@") || !domainPattern(dom) {
		return false
	}
	for i := 0; i < len(local); i++ {
		if local[i] <= ' ' || local[i] == 0x7f || strings.IndexByte("<>(),;:\\\"[]", local[i]) >= 0 {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func canonicalHeader(h string) string { return textproto.CanonicalMIMEHeaderKey(h) }

func problemsError(ps []Problem) error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = errors.New("policy: " + p.String())
	}
	return errors.Join(errs...)
}

package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/policy/phi"
)

// DefaultRule is Decision.Rule when no rule matched.
const DefaultRule = "default"

const floorReason = "floor: protected messages need at least tls"

// Engine turns a PHI verdict into per-recipient decisions. It is immutable
// after New and safe for concurrent use.
type Engine struct {
	tags       []string // lower case
	tagNames   []string // as configured
	headers    []string // canonical names
	defPHI     Action
	defOther   Action
	domains    map[string]Action // exact, lower case
	domainGlob []domainGlob      // longest first
	rules      []rule
}

type domainGlob struct {
	pat    string
	action Action
}

type rule struct {
	name                   string
	from, to               []addrPattern
	phi, unscannable       *bool
	kinds                  []string
	minScore               *float64
	subjectTag, encryptHdr *bool
	headers                []headerMatch
	action                 Action
}

type headerMatch struct{ name, glob string }

// New checks opts (see Options.Problems) and compiles them.
func New(opts Options) (*Engine, error) {
	if ps := opts.Problems(); len(ps) > 0 {
		return nil, problemsError(ps)
	}
	return compile(opts), nil
}

// compile builds an Engine from checked options.
func compile(opts Options) *Engine {
	e := &Engine{
		defPHI:   opts.DefaultPHI,
		defOther: opts.DefaultOther,
		domains:  map[string]Action{},
	}
	if e.defPHI.Require == "" {
		e.defPHI.Require = RequireTLSVerified
	}
	if e.defOther.Require == "" {
		e.defOther.Require = RequireNone
	}
	for _, t := range opts.SubjectTags {
		e.tags = append(e.tags, strings.ToLower(t))
		e.tagNames = append(e.tagNames, t)
	}
	for _, h := range opts.EncryptHeaders {
		if c := canonicalHeader(h); !slices.Contains(e.headers, c) {
			e.headers = append(e.headers, c)
		}
	}
	for k, a := range opts.Domains {
		k = strings.ToLower(k)
		a.Fallback = slices.Clone(a.Fallback)
		if strings.ContainsAny(k, "*?") {
			e.domainGlob = append(e.domainGlob, domainGlob{k, a})
		} else {
			e.domains[k] = a
		}
	}
	slices.SortFunc(e.domainGlob, func(a, b domainGlob) int {
		if c := cmp.Compare(len(b.pat), len(a.pat)); c != 0 {
			return c
		}
		return strings.Compare(a.pat, b.pat)
	})
	for _, r := range opts.Rules {
		c := rule{
			name:        r.Name,
			phi:         r.Match.PHI,
			unscannable: r.Match.Unscannable,
			kinds:       slices.Clone(r.Match.Kinds),
			minScore:    r.Match.MinScore,
			subjectTag:  r.Match.SubjectTag,
			encryptHdr:  r.Match.EncryptHeader,
			action:      r.Action,
		}
		c.action.Fallback = slices.Clone(r.Action.Fallback)
		c.from = compileAddrs(r.Match.From, r.Match.FromDomain)
		c.to = compileAddrs(r.Match.To, r.Match.ToDomain)
		for _, h := range sortedKeys(r.Match.Headers) {
			c.headers = append(c.headers, headerMatch{canonicalHeader(h), strings.ToLower(r.Match.Headers[h])})
		}
		e.rules = append(e.rules, c)
	}
	return e
}

// compileAddrs merges address patterns and domain-only patterns into one
// any-of list. A nil result means "not set".
func compileAddrs(addrs, domains []string) []addrPattern {
	var out []addrPattern
	for _, p := range addrs {
		p = strings.ToLower(p)
		out = append(out, addrPattern{pat: p, domain: !strings.Contains(p, "@")})
	}
	for _, p := range domains {
		out = append(out, addrPattern{pat: strings.ToLower(p), domain: true})
	}
	return out
}

// facts are what the matchers look at, computed once per message.
type facts struct {
	protected   bool // PHI verdict or unscannable (or not scanned)
	unscannable bool
	requested   bool // subject tag or encrypt header
	tagFound    bool
	hdrFound    bool
	score       float64
	scan        *phi.Result
	fromAddr    string
	fromDomain  string
	tags        []string
	strip       []string
}

var negative = map[string]bool{"": true, "no": true, "false": true, "off": true, "0": true, "never": true, "none": true}

func (e *Engine) facts(m Message) facts {
	f := facts{scan: m.Scan}
	if m.Scan == nil {
		f.protected, f.unscannable = true, true
	} else {
		f.unscannable = slices.Contains(m.Scan.Kinds, phi.KindUnscannable)
		f.protected = m.Scan.PHI || f.unscannable
		f.score = m.Scan.Score
	}
	f.fromAddr, f.fromDomain = splitAddr(m.From)
	for i, t := range e.tags {
		if indexFold(m.Subject, t) >= 0 {
			f.tagFound = true
			f.tags = append(f.tags, e.tagNames[i])
		}
	}
	for _, h := range e.headers {
		vals, ok := headerValues(m.Headers, h)
		if !ok {
			continue
		}
		f.strip = append(f.strip, h)
		for _, v := range vals {
			if !negative[strings.ToLower(strings.TrimSpace(v))] {
				f.hdrFound = true
			}
		}
	}
	f.requested = f.tagFound || f.hdrFound
	return f
}

// headerValues looks a field up case-insensitively.
func headerValues(h map[string][]string, name string) ([]string, bool) {
	if v, ok := h[name]; ok {
		return v, true
	}
	var out []string
	found := false
	for k, v := range h {
		if strings.EqualFold(k, name) {
			out = append(out, v...)
			found = true
		}
	}
	return out, found
}

func (r *rule) matches(f *facts, m Message, rcptAddr, rcptDomain string) bool {
	if r.phi != nil && *r.phi != f.protected {
		return false
	}
	if r.unscannable != nil && *r.unscannable != f.unscannable {
		return false
	}
	if r.subjectTag != nil && *r.subjectTag != f.tagFound {
		return false
	}
	if r.encryptHdr != nil && *r.encryptHdr != f.hdrFound {
		return false
	}
	if r.minScore != nil && f.scan != nil && f.score < *r.minScore {
		return false
	}
	if len(r.kinds) > 0 && !anyKind(r.kinds, f) {
		return false
	}
	if r.from != nil && !anyAddr(r.from, f.fromAddr, f.fromDomain) {
		return false
	}
	if r.to != nil && !anyAddr(r.to, rcptAddr, rcptDomain) {
		return false
	}
	for _, h := range r.headers {
		vals, ok := headerValues(m.Headers, h.name)
		if !ok || !slices.ContainsFunc(vals, func(v string) bool { return glob(h.glob, strings.ToLower(strings.TrimSpace(v))) }) {
			return false
		}
	}
	return true
}

func anyKind(kinds []string, f *facts) bool {
	if f.scan == nil {
		return slices.Contains(kinds, phi.KindUnscannable)
	}
	for _, k := range kinds {
		if slices.Contains(f.scan.Kinds, k) {
			return true
		}
	}
	return false
}

func anyAddr(pats []addrPattern, addr, domain string) bool {
	for _, p := range pats {
		if p.match(addr, domain) {
			return true
		}
	}
	return false
}

// domainOverride finds the override for a recipient domain.
func (e *Engine) domainOverride(domain string) (string, Action, bool) {
	if a, ok := e.domains[domain]; ok {
		return domain, a, true
	}
	for _, g := range e.domainGlob {
		if glob(g.pat, domain) {
			return g.pat, g.action, true
		}
	}
	return "", Action{}, false
}

// Decide returns the decision for one recipient of m. The numbered steps
// are those of doc.go.
func (e *Engine) Decide(m Message, rcpt string) Decision {
	// 1. Facts.
	f := e.facts(m)
	rcptAddr, rcptDomain := splitAddr(rcpt)
	needs := f.protected || f.requested
	d := Decision{Rule: DefaultRule}
	d.Reasons = verdictReasons(&f)

	// 2. Rules, first match wins; else the default for the verdict.
	def := e.defOther
	if needs {
		def = e.defPHI
	}
	act := def
	for i := range e.rules {
		if e.rules[i].matches(&f, m, rcptAddr, rcptDomain) {
			act = e.rules[i].action
			d.Rule = e.rules[i].name
			break
		}
	}
	if d.Rule == DefaultRule {
		if needs {
			d.Reasons = append(d.Reasons, "no rule matched: default for protected messages")
		} else {
			d.Reasons = append(d.Reasons, "no rule matched: default for other messages")
		}
	} else {
		d.Reasons = append(d.Reasons, "rule "+d.Rule+" matched")
	}

	// 3. Inheritance: an action without require takes the default's.
	require, fallback := act.Require, act.Fallback
	if require == "" {
		require = def.Require
		if fallback == nil {
			fallback = def.Fallback
		}
	}
	explicitFallback := fallback != nil
	if fallback == nil {
		fallback = DefaultFallback(require)
	}
	d.Hold, d.Reject = act.Hold, act.Reject

	// 4. Domain override, for mail that needs protection.
	if needs || require != RequireNone {
		if key, o, ok := e.domainOverride(rcptDomain); ok {
			d.Override = key
			if o.Require != "" {
				require = o.Require
				fallback = DefaultFallback(require)
				explicitFallback = false
			}
			if o.Fallback != nil {
				fallback, explicitFallback = o.Fallback, true
			}
			d.Reasons = append(d.Reasons, "domain override "+key)
		}
	}

	// 5. TLS-Required: No (RFC 8689 §5), only where allowed and never for
	// protected messages or with REQUIRETLS.
	if m.TLSRequiredNo {
		switch {
		case m.RequireTLS:
			d.Reasons = append(d.Reasons, "TLS-Required: No ignored: REQUIRETLS takes precedence (RFC 8689 §5)")
		case needs:
			d.Reasons = append(d.Reasons, "TLS-Required: No ignored and stripped: the message needs protection")
			d.StripHeaders = append(d.StripHeaders, "TLS-Required")
		case !act.AllowTLSRequiredNo:
			d.Reasons = append(d.Reasons, "TLS-Required: No ignored: rule "+d.Rule+" does not allow it")
		default:
			d.TLSRequiredNo = true
			require, fallback, explicitFallback = RequireNone, nil, false
			d.Reasons = append(d.Reasons, "TLS-Required: No honoured (RFC 8689 §5): MTA-STS and DANE are not enforced")
		}
	}

	// 6. REQUIRETLS (RFC 8689 §4): at least tls-verified, and passed on.
	if m.RequireTLS {
		d.RequireTLSFlag = true
		if require.rank() < RequireTLSVerified.rank() {
			require = RequireTLSVerified
			if !explicitFallback {
				fallback = DefaultFallback(require)
			}
			d.Reasons = append(d.Reasons, "REQUIRETLS: raised to tls-verified")
		}
	}

	// 7. Floor: a protected message never goes in plaintext, whatever a
	// rule said (New already refuses such rules; this is the second lock).
	if needs && require.rank() < RequireTLS.rank() {
		require = RequireTLS
		if !explicitFallback {
			fallback = DefaultFallback(require)
		}
		d.Reasons = append(d.Reasons, floorReason)
	}

	// 8. The TLS floor for delivery.
	d.Require = require
	d.Fallback = append([]Method{}, fallback...)
	d.MinTLS = require.MinTLS()
	if d.RequireTLSFlag {
		d.MinTLS = max(d.MinTLS, delivery.PolicyVerified)
	}

	// 9. What the caller strips before sending.
	d.StripSubjectTags = f.tags
	d.StripHeaders = append(f.strip, d.StripHeaders...)
	if f.tagFound {
		d.Reasons = append(d.Reasons, fmt.Sprintf("subject tag: encryption requested (%d tag(s), stripped)", len(f.tags)))
	}
	if f.hdrFound {
		d.Reasons = append(d.Reasons, "encrypt header: encryption requested (stripped)")
	}
	if d.Hold {
		d.Reasons = append(d.Reasons, "held for review")
	}
	if d.Reject {
		d.Reasons = append(d.Reasons, "rejected by policy")
	}
	return d
}

// verdictReasons describes the scan as kinds, places and counts.
func verdictReasons(f *facts) []string {
	if f.scan == nil {
		return []string{"not scanned: treated as unscannable"}
	}
	var out []string
	switch {
	case f.scan.PHI:
		out = append(out, fmt.Sprintf("verdict: phi (score %.2f)", f.scan.Score))
	case f.unscannable:
		out = append(out, fmt.Sprintf("verdict: unscannable (score %.2f)", f.scan.Score))
	default:
		out = append(out, fmt.Sprintf("verdict: no phi (score %.2f)", f.scan.Score))
	}
	label := "found"
	if f.protected {
		label = "phi"
	}
	for _, fd := range CoarseFindings(f.scan) {
		out = append(out, fmt.Sprintf("%s: %s×%d in %s", label, fd.Kind, fd.Count, fd.Where))
	}
	return out
}

// CoarseFindings returns a scan's findings with coarse places ("body",
// "html", "subject", "header", "attachment", "part"; attachment names
// dropped, as they may hold what was matched), merged per kind and place,
// in the scan's order. Custom kind names that are not plain identifiers
// become "custom". Safe to log and show.
func CoarseFindings(r *phi.Result) []phi.Finding {
	if r == nil {
		return nil
	}
	type key struct{ kind, where string }
	idx := map[key]int{}
	out := []phi.Finding{}
	for _, fd := range r.Findings {
		k := key{fd.Kind, coarseWhere(fd.Where)}
		if !kindName(k.kind) {
			k.kind = "custom"
		}
		if i, ok := idx[k]; ok {
			out[i].Count += fd.Count
			continue
		}
		idx[k] = len(out)
		out = append(out, phi.Finding{Kind: k.kind, Where: k.where, Count: fd.Count})
	}
	return out
}

// coarseWhere keeps the kind of place and drops attachment names.
func coarseWhere(w string) string {
	if i := strings.IndexByte(w, ':'); i >= 0 {
		w = w[:i]
	}
	switch w {
	case "body", "html", "subject", "header", "attachment":
		return w
	}
	return "part"
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sealgate/sealgate/config"
	"github.com/sealgate/sealgate/crypto/keystore"
	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dane"
	"github.com/sealgate/sealgate/delivery/mtasts"
	"github.com/sealgate/sealgate/delivery/tlsmemory"
	"github.com/sealgate/sealgate/policy"
	"github.com/sealgate/sealgate/policy/phi"
)

const explainUsage = `Usage: sealgate explain --from ADDR --to ADDR [--to ADDR...] [--config FILE]
                        [--keys DIR] [--requiretls] [--json] [--probe] FILE.eml

A dry run of the policy for one message: for each recipient, what the PHI
scan found (kinds and counts, never values), the rule that fired, the
protection required, the fallback chain and which keys are known. Nothing
is sent. Without --probe the MX is not contacted: whether it reaches the
required TLS level is decided at delivery time.
  --from ADDR     envelope sender ("<>" for the null sender)
  --to ADDR       envelope recipient, repeatable
  --config FILE   configuration (phi: and policy: sections); default: embedded
  --keys DIR      recipient key store; default: <data_dir>/keys of the config
  --requiretls    as if received with REQUIRETLS (RFC 8689)
  --json          one JSON object per recipient
  --probe         ask each recipient domain's next hops what they offer
                  today (routes, smarthost, MX through the configured DNS;
                  STARTTLS, TLS version, certificate) and the floors its
                  MTA-STS, DANE and downgrade policies give, then say
                  whether each recipient's required level would be met or
                  what would happen instead. Connects, greets, EHLO,
                  STARTTLS, QUIT: never MAIL FROM, never any content.
Exit status: 0 explained, 1 the message could not be read, 2 usage or
configuration errors.
`

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// explainStep is one link of the delivery chain for a recipient.
type explainStep struct {
	Method string `json:"method"` // smtp | tls | tls-verified | smime | pgp | portal | queue | reject | hold
	Status string `json:"status"` // at-delivery | ready | no-key | if-enabled | final
	Detail string `json:"detail"`
}

type explainKeys struct {
	Store  string `json:"store"`
	SMIME  int    `json:"smime"`
	PGP    int    `json:"pgp"`
	Source string `json:"source,omitempty"`
	Error  string `json:"error,omitempty"`
}

type explainScan struct {
	PHI      bool          `json:"phi"`
	Kinds    []string      `json:"kinds"`
	Score    float64       `json:"score"`
	Findings []phi.Finding `json:"findings"`
}

// explainRecipient is one --json line.
type explainRecipient struct {
	File     string          `json:"file"`
	From     string          `json:"from"`
	Rcpt     string          `json:"rcpt"`
	Scan     explainScan     `json:"scan"`
	Decision policy.Decision `json:"decision"`
	Keys     explainKeys     `json:"keys"`
	Chain    []explainStep   `json:"chain"`
	Probe    *explainProbe   `json:"probe,omitempty"`
}

func runExplain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, explainUsage) }
	from := fs.String("from", "", "envelope sender")
	var to listFlag
	fs.Var(&to, "to", "envelope recipient (repeatable)")
	cfgPath := fs.String("config", "", "configuration file")
	keysDir := fs.String("keys", "", "recipient key store directory (default: keys.dir of the configuration)")
	requireTLS := fs.Bool("requiretls", false, "as if received with REQUIRETLS")
	asJSON := fs.Bool("json", false, "one JSON object per recipient")
	doProbe := fs.Bool("probe", false, "probe the recipient domains' next hops")
	files, code, ok := parseInterspersed(fs, args, stderr)
	if !ok {
		return code
	}
	fromSet := false
	fs.Visit(func(f *flag.Flag) { fromSet = fromSet || f.Name == "from" })
	switch {
	case !fromSet:
		fmt.Fprint(stderr, "sealgate explain: --from is required\n\n"+explainUsage)
		return 2
	case len(to) == 0:
		fmt.Fprint(stderr, "sealgate explain: at least one --to is required\n\n"+explainUsage)
		return 2
	case len(files) != 1:
		fmt.Fprint(stderr, "sealgate explain: give exactly one message file\n\n"+explainUsage)
		return 2
	}
	sender := *from
	if sender == "<>" {
		sender = ""
	}

	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "sealgate explain: %v\n", err)
		return 2
	}
	// The same scanner and engine the gateway builds at reception.
	insp, err := newInspector(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintf(stderr, "sealgate explain: %v\n", err)
		return 2
	}
	scanner, engine := insp.scanner, insp.engine
	dir := *keysDir
	if dir == "" {
		dir = cfg.KeysDir()
	}

	name := files[0]
	res, header, err := explainRead(scanner, name)
	if err != nil {
		fmt.Fprintf(stderr, "sealgate explain: %s: %v\n", name, err)
		return 1
	}
	msg := policy.NewMessage(sender, header, res, *requireTLS)

	var probes map[string]*explainProbe
	if *doProbe {
		if probes, err = runProbes(cfg, to); err != nil {
			fmt.Fprintf(stderr, "sealgate explain: %v\n", err)
			return 2
		}
	}

	store, storeErr := openKeyStore(dir)
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	if !*asJSON {
		printExplainHeader(stdout, name, sender, msg, res, header == nil)
		for _, d := range probeOrder(to) {
			printProbeDomain(stdout, probes[d])
		}
	}
	for _, rcpt := range to {
		out := explainRecipient{
			File:     name,
			From:     sender,
			Rcpt:     rcpt,
			Scan:     explainScan{PHI: res.PHI, Kinds: res.Kinds, Score: res.Score, Findings: policy.CoarseFindings(res)},
			Decision: engine.Decide(msg, rcpt),
			Keys:     lookupKeys(store, storeErr, dir, rcpt),
		}
		out.Chain = explainChain(out.Decision, out.Keys)
		if p := probes[rcptDomain(rcpt)]; p != nil {
			out.Probe = judgeProbe(p, out.Decision, out.Keys)
		}
		if *asJSON {
			if err := enc.Encode(out); err != nil {
				fmt.Fprintf(stderr, "sealgate explain: %v\n", err)
				return 1
			}
			continue
		}
		printExplainRecipient(stdout, out)
	}
	return 0
}

// explainRead scans the message and reads its header for the policy (the
// subject only for tag matching). A header that cannot be parsed leaves
// header nil; the scan then reports the message as unscannable.
func explainRead(s *phi.Scanner, name string) (*phi.Result, map[string][]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, describeOpenError(err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, nil, errors.New("is a directory, not a message file")
	}
	res, err := s.Scan(f)
	if err != nil {
		return nil, nil, fmt.Errorf("read failed: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, fmt.Errorf("read failed: %w", err)
	}
	m, err := mail.ReadMessage(io.LimitReader(f, 1<<20))
	if err != nil {
		return res, nil, nil
	}
	return res, m.Header, nil
}

// openKeyStore opens an existing store without creating it (explain is a
// dry run) and without background reloads.
func openKeyStore(dir string) (*keystore.Store, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("no key store at " + dir)
		}
		return nil, describeOpenError(err)
	}
	if !st.IsDir() {
		return nil, errors.New(dir + " is not a directory")
	}
	return keystore.New(keystore.Options{Dir: dir, ReloadInterval: -1})
}

func lookupKeys(store *keystore.Store, storeErr error, dir, rcpt string) explainKeys {
	k := explainKeys{Store: dir}
	if storeErr != nil {
		k.Error = storeErr.Error()
		return k
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := store.Lookup(ctx, rcpt)
	if err != nil {
		k.Error = "lookup failed: " + err.Error()
		return k
	}
	k.SMIME, k.PGP, k.Source = len(keys.SMIME), len(keys.PGP), string(keys.Source)
	return k
}

var requireText = map[policy.Requirement]string{
	policy.RequireNone:        "opportunistic TLS: STARTTLS when the MX offers it, else plaintext",
	policy.RequireTLS:         "TLS 1.2 or later to the MX (certificate not checked)",
	policy.RequireTLSVerified: "TLS 1.2 or later with an authenticated certificate (PKIX for the MX name, MTA-STS or DANE)",
	policy.RequireE2E:         "end-to-end encryption only (S/MIME or OpenPGP)",
	policy.RequirePortal:      "secure portal: the recipient gets a notification without content",
}

// explainChain lists what delivery will try for the recipient, in order.
func explainChain(d policy.Decision, k explainKeys) []explainStep {
	if d.Reject {
		return []explainStep{{Method: "reject", Status: "final", Detail: "refused at SMTP time with a generic 5xx that reveals nothing"}}
	}
	var chain []explainStep
	if d.Hold {
		chain = append(chain, explainStep{Method: "hold", Status: "final", Detail: "held in the queue until an operator releases it; then:"})
	}
	switch d.Require {
	case policy.RequireNone:
		detail := requireText[policy.RequireNone]
		if d.TLSRequiredNo {
			detail += "; MTA-STS and DANE not enforced (TLS-Required: No)"
		}
		return append(chain, explainStep{Method: "smtp", Status: "at-delivery", Detail: detail})
	case policy.RequireTLS, policy.RequireTLSVerified:
		chain = append(chain, explainStep{Method: string(d.Require), Status: "at-delivery",
			Detail: fmt.Sprintf("send as is if the MX reaches %s (decided at delivery)", d.MinTLS)})
	}
	for _, m := range d.Fallback {
		s := explainStep{Method: string(m)}
		switch m {
		case policy.MethodSMIME:
			s.Status, s.Detail = keyStatus(k, k.SMIME, "S/MIME certificate")
		case policy.MethodPGP:
			s.Status, s.Detail = keyStatus(k, k.PGP, "OpenPGP key")
		case policy.MethodPortal:
			s.Status, s.Detail = "if-enabled", "store in the portal and send a notification without content (if the portal is enabled)"
		}
		chain = append(chain, s)
	}
	return append(chain, explainStep{Method: "queue", Status: "final", Detail: "otherwise stay queued and retry, then bounce: never plaintext"})
}

func keyStatus(k explainKeys, n int, what string) (string, string) {
	switch {
	case k.Error != "":
		return "no-key", "encrypt to the recipient's " + what + ": unknown (" + k.Error + ")"
	case n > 0:
		return "ready", fmt.Sprintf("encrypt to the recipient's %s: %d known (%s)", what, n, k.Source)
	}
	return "no-key", "encrypt to the recipient's " + what + ": none known, skipped"
}

func printExplainHeader(w io.Writer, name, sender string, m policy.Message, res *phi.Result, noHeader bool) {
	fmt.Fprintf(w, "message   %s\n", name)
	verdict := "no phi"
	switch {
	case res.PHI:
		verdict = "PHI"
	case len(res.Findings) > 0:
		verdict = "no phi (findings below the threshold)"
	}
	fmt.Fprintf(w, "scan      %s, score %.2f\n", verdict, res.Score)
	for _, f := range policy.CoarseFindings(res) {
		fmt.Fprintf(w, "          %s×%d in %s\n", f.Kind, f.Count, f.Where)
	}
	if noHeader {
		fmt.Fprintln(w, "          (the header could not be parsed)")
	}
	if sender == "" {
		sender = "<>"
	}
	fmt.Fprintf(w, "envelope  from %s; REQUIRETLS %s; TLS-Required: No %s\n", sender, yesNo(m.RequireTLS), presentAbsent(m.TLSRequiredNo))
}

func printExplainRecipient(w io.Writer, r explainRecipient) {
	d := r.Decision
	fmt.Fprintf(w, "\nto %s\n", r.Rcpt)
	rule := d.Rule
	if d.Override != "" {
		rule += ", domain override " + d.Override
	}
	fmt.Fprintf(w, "  rule      %s\n", rule)
	fmt.Fprintf(w, "  require   %s: %s\n", d.Require, requireText[d.Require])
	fmt.Fprintf(w, "  min TLS   %s%s\n", d.MinTLS, map[bool]string{true: " (REQUIRETLS passed on)"}[d.RequireTLSFlag])
	fallback := "none"
	if len(d.Fallback) > 0 {
		parts := make([]string, len(d.Fallback))
		for i, m := range d.Fallback {
			parts[i] = string(m)
		}
		fallback = strings.Join(parts, ", ")
	}
	fmt.Fprintf(w, "  fallback  %s\n", fallback)
	if r.Keys.Error != "" {
		fmt.Fprintf(w, "  keys      unknown: %s\n", r.Keys.Error)
	} else {
		src := ""
		if r.Keys.Source != "" {
			src = " (" + r.Keys.Source + ")"
		}
		fmt.Fprintf(w, "  keys      S/MIME %d, OpenPGP %d%s\n", r.Keys.SMIME, r.Keys.PGP, src)
	}
	for i, s := range r.Chain {
		label := "  chain   "
		if i > 0 {
			label = "          "
		}
		fmt.Fprintf(w, "%s  %d. %s [%s] %s\n", label, i+1, s.Method, s.Status, s.Detail)
	}
	if len(d.StripSubjectTags) > 0 || len(d.StripHeaders) > 0 {
		fmt.Fprintf(w, "  strip     subject tags %s; header fields %s\n", orNone(d.StripSubjectTags), orNone(d.StripHeaders))
	}
	if r.Probe != nil {
		printProbeVerdict(w, r.Probe)
	}
	for i, reason := range d.Reasons {
		label := "  reasons "
		if i > 0 {
			label = "          "
		}
		fmt.Fprintf(w, "%s  %s\n", label, reason)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func presentAbsent(b bool) string {
	if b {
		return "present"
	}
	return "absent"
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// probeTimeout bounds the probes of all recipient domains together.
const probeTimeout = 2 * time.Minute

// explainFloor is one source of a TLS floor for a domain.
type explainFloor struct {
	Source string `json:"source"` // tls_policy | dane | mta-sts | downgrade-memory
	Floor  string `json:"floor"`  // default | none | opportunistic | required | verified
	Error  string `json:"error,omitempty"`
}

// explainHop is what one next-hop address offered to the probe.
type explainHop struct {
	Route       string `json:"route"` // mx | route | smarthost
	Host        string `json:"host"`
	Addr        string `json:"addr,omitempty"`
	Vetoed      string `json:"vetoed,omitempty"`
	Connected   bool   `json:"connected"`
	STARTTLS    bool   `json:"starttls"`
	TLSVersion  string `json:"tls_version,omitempty"`
	TLSCipher   string `json:"tls_cipher,omitempty"`
	PKIX        bool   `json:"pkix_verified"`
	PKIXError   string `json:"pkix_error,omitempty"`
	PolicyError string `json:"policy_error,omitempty"`
	Level       string `json:"level"` // none | tls | tls-verified
	RequireTLS  bool   `json:"requiretls"`
	Error       string `json:"error,omitempty"`
}

// explainProbe is the probe of a recipient's domain and, per recipient,
// what delivery would do with it.
type explainProbe struct {
	Domain string         `json:"domain"`
	Error  string         `json:"error,omitempty"` // routing or policy failure: nothing was probed
	Floors []explainFloor `json:"floors,omitempty"`
	Hops   []explainHop   `json:"hops,omitempty"`

	Need    string `json:"need,omitempty"`    // floor for this recipient
	Reached string `json:"reached,omitempty"` // level the message itself would get; "" = not sent
	Via     string `json:"via,omitempty"`     // the host that would take it
	Met     bool   `json:"met"`
	Outcome string `json:"outcome"` // send | fallback | hold | queue | defer | bounce | reject
	Method  string `json:"method,omitempty"`
	Reason  string `json:"reason"`

	results   []delivery.ProbeResult
	permanent bool
}

func rcptDomain(rcpt string) string {
	at := strings.LastIndexByte(rcpt, '@')
	return strings.TrimSuffix(strings.ToLower(rcpt[at+1:]), ".")
}

// probeOrder lists the distinct recipient domains in first-seen order.
func probeOrder(rcpts []string) []string {
	var out []string
	for _, r := range rcpts {
		if d := rcptDomain(r); d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// runProbes builds delivery as serve does (deliveryOptions, tlsPolicies)
// and probes each distinct recipient domain once.
func runProbes(cfg *config.Config, rcpts []string) (map[string]*explainProbe, error) {
	dopts, err := deliveryOptions(cfg)
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.DiscardHandler)
	dopts.Logger = quiet
	pols, _, err := tlsPolicies(cfg, dopts, nil, quiet)
	if err != nil {
		return nil, err
	}
	dopts.Policies = pols
	client, err := delivery.New(dopts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	out := map[string]*explainProbe{}
	for _, d := range probeOrder(rcpts) {
		p := &explainProbe{Domain: d}
		out[d] = p
		res, err := client.Probe(ctx, d)
		if err != nil {
			p.Error = err.Error()
			var de *delivery.Error
			p.permanent = errors.As(err, &de) && !de.Temporary
			continue
		}
		p.results = res
		if len(res) > 0 {
			p.Floors = append(p.Floors, explainFloor{Source: "tls_policy", Floor: res[0].Floor.String()})
			if res[0].Route == "mx" {
				for _, pol := range pols {
					f, ferr := pol.Floor(ctx, d)
					ef := explainFloor{Source: policyName(pol), Floor: floorName(f)}
					if ferr != nil {
						ef.Error = ferr.Error()
					}
					p.Floors = append(p.Floors, ef)
				}
			}
		}
		for _, r := range res {
			p.Hops = append(p.Hops, explainHop{
				Route: r.Route, Host: r.Host, Addr: r.Addr, Vetoed: r.Vetoed, Connected: r.Connected,
				STARTTLS: r.STARTTLS, TLSVersion: r.TLSVersion, TLSCipher: r.TLSCipher,
				PKIX: r.PKIX, PKIXError: r.PKIXError, PolicyError: r.PolicyError,
				Level: r.Level.String(), RequireTLS: r.RequireTLS, Error: r.Error,
			})
		}
	}
	return out, nil
}

func policyName(p delivery.Policy) string {
	switch p.(type) {
	case *dane.Policy:
		return "dane"
	case *mtasts.Policy:
		return "mta-sts"
	case *tlsmemory.Policy:
		return "downgrade-memory"
	}
	return fmt.Sprintf("%T", p)
}

func floorName(f delivery.TLSPolicy) string {
	if f == 0 {
		return "none"
	}
	return f.String()
}

// judgeProbe says what delivery (and protect) would do for this recipient
// given the probe of its domain, with the rules of protect's doc.go.
func judgeProbe(dp *explainProbe, d policy.Decision, k explainKeys) *explainProbe {
	p := *dp
	switch {
	case d.Reject:
		p.Outcome, p.Reason = "reject", "refused at SMTP time; nothing is sent"
		return &p
	case p.Error != "" && p.permanent:
		p.Outcome, p.Reason = "bounce", p.Error
		return &p
	case p.Error != "":
		p.Outcome, p.Reason = "defer", "stays queued and is retried: "+p.Error
		return &p
	}
	held := ""
	if d.Hold {
		held = "held by policy until released; then: "
	}
	if d.Require == policy.RequireE2E || d.Require == policy.RequirePortal {
		fallbackVerdict(&p, d, k, "the message itself is never sent")
		p.Reason = held + p.Reason
		return &p
	}
	ignore := d.TLSRequiredNo && d.Require == policy.RequireNone && !d.RequireTLSFlag
	v := delivery.JudgeProbe(p.results, d.MinTLS, d.RequireTLSFlag, ignore)
	p.Need = v.Need.String()
	switch {
	case v.Met:
		p.Met, p.Reached, p.Via = true, v.Level.String(), v.Host
		p.Outcome, p.Method = "send", map[delivery.TLSLevel]string{delivery.LevelNone: "smtp", delivery.LevelTLS: "tls", delivery.LevelVerified: "tls-verified"}[v.Level]
		p.Reason = fmt.Sprintf("%s reached on %s, %s needed: the message itself is sent", v.Level, v.Host, v.Need)
		if ignore {
			p.Reason += " (TLS-Required: No: MTA-STS, DANE and the downgrade memory not applied)"
		}
	case !v.TLSShortfall:
		p.Outcome, p.Reason = "defer", "stays queued and is retried: "+v.Reason
	case d.Require == policy.RequireNone && len(d.Fallback) == 0:
		p.Outcome, p.Reason = "queue", "stays queued: the domain's own policy demands TLS ("+v.Reason+")"
	default:
		fallbackVerdict(&p, d, k, v.Reason)
	}
	if held != "" {
		p.Outcome, p.Reason = "hold", held+p.Reason
	}
	return &p
}

// fallbackVerdict names the first method of the chain that could be used.
func fallbackVerdict(p *explainProbe, d policy.Decision, k explainKeys, why string) {
	for _, m := range d.Fallback {
		switch {
		case m == policy.MethodSMIME && k.Error == "" && k.SMIME > 0,
			m == policy.MethodPGP && k.Error == "" && k.PGP > 0:
			p.Outcome, p.Method, p.Reason = "fallback", string(m), why+": falls back to "+string(m)+" (key known)"
			return
		case m == policy.MethodPortal:
			p.Outcome, p.Method, p.Reason = "fallback", string(m), why+": falls back to the portal if it is enabled, else held"
			return
		}
	}
	p.Outcome, p.Reason = "queue", why+": no allowed method usable (no key known): stays queued, then bounces; never plaintext"
}

func printProbeDomain(w io.Writer, p *explainProbe) {
	if p == nil {
		return
	}
	fmt.Fprintf(w, "\nprobe     %s (connected now; nothing sent)\n", p.Domain)
	if p.Error != "" {
		fmt.Fprintf(w, "  error     %s\n", p.Error)
		return
	}
	var fl []string
	for _, f := range p.Floors {
		s := f.Source + " " + f.Floor
		if f.Error != "" {
			s += " (error: " + f.Error + ")"
		}
		fl = append(fl, s)
	}
	fmt.Fprintf(w, "  floors    %s\n", strings.Join(fl, "; "))
	for i, h := range p.Hops {
		fmt.Fprintf(w, "  %-9s %s\n", fmt.Sprintf("%s %d", h.Route, i+1), hopText(h))
	}
}

func hopText(h explainHop) string {
	s := h.Host
	if h.Addr != "" {
		s += " " + h.Addr
	}
	s += ": "
	if h.Vetoed != "" {
		s += "[" + h.Vetoed + "] "
	}
	switch {
	case !h.Connected:
		return s + "unreachable (" + h.Error + ")"
	case !h.STARTTLS:
		return s + "no STARTTLS → none"
	case h.TLSVersion == "":
		return s + "STARTTLS, handshake failed (" + h.Error + ") → none"
	}
	s += "STARTTLS, " + h.TLSVersion + " " + h.TLSCipher + ", certificate "
	if h.PKIX {
		s += "verified (PKIX)"
	} else {
		s += "not verified (" + h.PKIXError + ")"
	}
	if h.PolicyError != "" {
		s += ", refused by security policy (" + h.PolicyError + ")"
	}
	if h.RequireTLS {
		s += ", REQUIRETLS"
	}
	if h.Error != "" && h.PolicyError == "" {
		s += ", then failed (" + h.Error + ")"
	}
	return s + " → " + h.Level
}

func printProbeVerdict(w io.Writer, p *explainProbe) {
	verdict := p.Outcome
	if p.Method != "" {
		verdict += " " + p.Method
	}
	switch {
	case p.Met:
		verdict = "met: " + verdict
	case p.Need != "":
		verdict = "not met: " + verdict
	}
	fmt.Fprintf(w, "  probe     %s: %s\n", verdict, p.Reason)
}

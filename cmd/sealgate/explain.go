package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/sealgate/sealgate/crypto/keystore"
	"github.com/sealgate/sealgate/policy"
	"github.com/sealgate/sealgate/policy/phi"
)

const explainUsage = `Usage: sealgate explain --from ADDR --to ADDR [--to ADDR...] [--config FILE]
                        [--keys DIR] [--requiretls] [--json] FILE.eml

A dry run of the policy for one message: for each recipient, what the PHI
scan found (kinds and counts, never values), the rule that fired, the
protection required, the fallback chain and which keys are known. Nothing
is sent and the MX is not contacted (no --probe yet): whether the MX reaches
the required TLS level is decided at delivery time.
  --from ADDR     envelope sender ("<>" for the null sender)
  --to ADDR       envelope recipient, repeatable
  --config FILE   configuration (phi: and policy: sections); default: embedded
  --keys DIR      recipient key store; default: <data_dir>/keys of the config
  --requiretls    as if received with REQUIRETLS (RFC 8689)
  --json          one JSON object per recipient
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
}

func runExplain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, explainUsage) }
	from := fs.String("from", "", "envelope sender")
	var to listFlag
	fs.Var(&to, "to", "envelope recipient (repeatable)")
	cfgPath := fs.String("config", "", "configuration file")
	keysDir := fs.String("keys", "", "recipient key store directory")
	requireTLS := fs.Bool("requiretls", false, "as if received with REQUIRETLS")
	asJSON := fs.Bool("json", false, "one JSON object per recipient")
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
	phiOpts, err := cfg.PHI.Options(cfg.BaseDir)
	if err != nil {
		fmt.Fprintf(stderr, "sealgate explain: %v\n", err)
		return 2
	}
	scanner, err := phi.New(phiOpts)
	if err != nil {
		fmt.Fprintf(stderr, "sealgate explain: %v\n", err)
		return 2
	}
	polOpts, err := cfg.Policy.Options()
	if err != nil {
		fmt.Fprintf(stderr, "sealgate explain: %v\n", err)
		return 2
	}
	engine, err := policy.New(polOpts)
	if err != nil {
		fmt.Fprintf(stderr, "sealgate explain: %v\n", err)
		return 2
	}
	dir := *keysDir
	if dir == "" {
		dir = cfg.DataPath("keys")
	}

	name := files[0]
	res, header, err := explainRead(scanner, name)
	if err != nil {
		fmt.Fprintf(stderr, "sealgate explain: %s: %v\n", name, err)
		return 1
	}
	msg := policy.NewMessage(sender, header, res, *requireTLS)

	store, storeErr := openKeyStore(dir)
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	if !*asJSON {
		printExplainHeader(stdout, name, sender, msg, res, header == nil)
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
			Detail: fmt.Sprintf("send as is if the MX reaches %s (not probed: decided at delivery)", d.MinTLS)})
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

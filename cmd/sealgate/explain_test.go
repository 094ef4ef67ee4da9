package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/crypto/keystore"
	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/policy"
)

// The canary is a valid SSN in the subject and the body; explain must never
// print it, nor the patient's name, nor the subject.
const (
	explainCanary  = "512-44-8821"
	explainSubject = "intake for Maria Okafor " + explainCanary
	explainPHIMsg  = "From: a@hospital.example\r\nTo: b@partner.example\r\nSubject: " + explainSubject + "\r\n\r\n" +
		"Patient: Maria Okafor\r\nSSN: " + explainCanary + "\r\nDiagnosed with type 2 diabetes.\r\n"
	explainCleanMsg = "From: a@hospital.example\r\nTo: b@partner.example\r\nSubject: lunch\r\n\r\nSee you at noon.\r\n"
)

func runExplainT(args ...string) (int, string, string) {
	var o, e bytes.Buffer
	code := runExplain(args, &o, &e)
	return code, o.String(), e.String()
}

func assertNoCanary(t *testing.T, out string) {
	t.Helper()
	for _, leak := range []string{explainCanary, "512448821", "8821", "Okafor", "Maria", "intake", "diabetes"} {
		if strings.Contains(out, leak) {
			t.Errorf("explain output leaks %q:\n%s", leak, out)
		}
	}
}

// explainFixture is a config whose data_dir holds a key store with an
// S/MIME certificate for alice@partner.example only.
func explainFixture(t *testing.T) (cfgPath, msgPath string) {
	t.Helper()
	dir := t.TempDir()
	cfgPath = writeFile(t, dir, "sealgate.yaml", "hostname: gw.example.com\ndata_dir: data\n")
	store, err := keystore.Open(filepath.Join(dir, "data", "keys"), keystore.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	_, certPath, _ := keysTestCert(t, dir, "alice@partner.example", time.Now().Add(24*time.Hour))
	if _, err := store.ImportFile(certPath, keystore.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	msgPath = writeFile(t, dir, "phi.eml", explainPHIMsg)
	return cfgPath, msgPath
}

func TestExplainPHITwoRecipientsText(t *testing.T) {
	cfgPath, msgPath := explainFixture(t)
	code, out, errOut := runExplainT("--config", cfgPath, "--from", "a@hospital.example",
		"--to", "alice@partner.example", "--to", "bob@other.example", msgPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	assertNoCanary(t, out+errOut)
	alice, bob, ok := strings.Cut(out, "\nto bob@other.example\n")
	if !ok || !strings.Contains(alice, "\nto alice@partner.example\n") {
		t.Fatalf("recipients missing or out of order:\n%s", out)
	}
	for _, want := range []string{"scan      PHI, score", "ssn×1 in body", "envelope  from a@hospital.example; REQUIRETLS no"} {
		if !strings.Contains(alice, want) {
			t.Errorf("header lacks %q:\n%s", want, out)
		}
	}
	for name, sec := range map[string]string{"alice": alice, "bob": bob} {
		for _, want := range []string{
			"  rule      default\n",
			"  require   tls-verified: TLS 1.2 or later with an authenticated certificate",
			"  min TLS   verified\n",
			"  fallback  smime, pgp, portal\n",
			"1. tls-verified [at-delivery]",
			"4. portal [if-enabled]",
			"5. queue [final] otherwise stay queued and retry, then bounce: never plaintext",
			"no rule matched: default for protected messages",
		} {
			if !strings.Contains(sec, want) {
				t.Errorf("%s: lacks %q:\n%s", name, want, sec)
			}
		}
	}
	if !strings.Contains(alice, "  keys      S/MIME 1, OpenPGP 0 (address)") || !strings.Contains(alice, "2. smime [ready]") {
		t.Errorf("alice's certificate not shown:\n%s", alice)
	}
	if !strings.Contains(bob, "  keys      S/MIME 0, OpenPGP 0\n") || !strings.Contains(bob, "2. smime [no-key]") || !strings.Contains(bob, "3. pgp [no-key]") {
		t.Errorf("bob has no keys:\n%s", bob)
	}
}

func TestExplainPHITwoRecipientsJSON(t *testing.T) {
	cfgPath, msgPath := explainFixture(t)
	code, out, errOut := runExplainT("--json", "--config", cfgPath, "--from", "a@hospital.example",
		"--to", "alice@partner.example", "--to", "bob@other.example", msgPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	assertNoCanary(t, out+errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one line per recipient, got %d:\n%s", len(lines), out)
	}
	var got []explainRecipient
	for _, l := range lines {
		var r explainRecipient
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("not JSON: %v: %s", err, l)
		}
		got = append(got, r)
	}
	a, b := got[0], got[1]
	if a.Rcpt != "alice@partner.example" || b.Rcpt != "bob@other.example" || a.File != msgPath || a.From != "a@hospital.example" {
		t.Fatalf("recipients: %+v %+v", a, b)
	}
	for _, r := range got {
		if !r.Scan.PHI || !slices.Contains(r.Scan.Kinds, "ssn") || r.Decision.Rule != "default" ||
			r.Decision.Require != policy.RequireTLSVerified || r.Decision.MinTLS != delivery.PolicyVerified ||
			!slices.Equal(r.Decision.Fallback, []policy.Method{"smime", "pgp", "portal"}) {
			t.Errorf("%s: %+v", r.Rcpt, r)
		}
		if !strings.HasSuffix(r.Keys.Store, filepath.Join("data", "keys")) {
			t.Errorf("key store not <data_dir>/keys: %q", r.Keys.Store)
		}
	}
	if a.Keys.SMIME != 1 || a.Keys.Source != "address" || a.Chain[1].Method != "smime" || a.Chain[1].Status != "ready" {
		t.Errorf("alice: keys %+v chain %+v", a.Keys, a.Chain)
	}
	if b.Keys.SMIME != 0 || b.Keys.PGP != 0 || b.Chain[1].Status != "no-key" || b.Chain[2].Status != "no-key" {
		t.Errorf("bob: keys %+v chain %+v", b.Keys, b.Chain)
	}
	if !strings.Contains(lines[0], `"min_tls":"verified"`) {
		t.Errorf("min_tls not by name: %s", lines[0])
	}
}

func TestExplainCleanMessageAndRequireTLS(t *testing.T) {
	dir := t.TempDir()
	msg := writeFile(t, dir, "clean.eml", explainCleanMsg)
	keys := filepath.Join(dir, "no-store")
	code, out, errOut := runExplainT("--keys", keys, "--from", "<>", "--to", "x@y.example", msg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"scan      no phi, score 0.00", "envelope  from <>;", "  require   none: opportunistic TLS", "1. smtp [at-delivery]", "keys      unknown: no key store at " + keys} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(keys); err == nil {
		t.Error("explain created the key store: it must be a dry run")
	}
	code, out, errOut = runExplainT("--json", "--requiretls", "--keys", keys, "--from", "a@x.example", "--to", "x@y.example", msg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r explainRecipient
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if !r.Decision.RequireTLSFlag || r.Decision.Require != policy.RequireTLSVerified || r.Decision.MinTLS != delivery.PolicyVerified {
		t.Errorf("REQUIRETLS not applied: %+v", r.Decision)
	}
}

func TestExplainUsageAndErrors(t *testing.T) {
	dir := t.TempDir()
	msg := writeFile(t, dir, "m.eml", explainCleanMsg)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--to", "x@y.example", msg}, 2, "--from is required"},
		{[]string{"--from", "a@x.example", msg}, 2, "at least one --to"},
		{[]string{"--from", "a@x.example", "--to", "x@y.example"}, 2, "exactly one message file"},
		{[]string{"--from", "a@x.example", "--to", "x@y.example", msg, msg}, 2, "exactly one message file"},
		{[]string{"--from", "a@x.example", "--to", "x@y.example", "--config", filepath.Join(dir, "nope.yaml"), msg}, 2, "nope.yaml"},
		{[]string{"--from", "a@x.example", "--to", "x@y.example", filepath.Join(dir, "missing.eml")}, 1, "no such file"},
		{[]string{"--from", "a@x.example", "--to", "x@y.example", dir}, 1, "is a directory"},
		{[]string{"--bogus"}, 2, "Usage: sealgate explain"},
	} {
		code, out, errOut := runExplainT(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
		if out != "" {
			t.Errorf("%v: printed on stdout: %q", tc.args, out)
		}
	}
}

package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/crypto/keystore"
	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/internal/mxtest"
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

// probeWorld is a fake DNS server and one fake MX on 127.0.0.1 for
// partner.example; routed.example is a static route to the same MX.
type probeWorld struct {
	mx      *mxtest.Server
	cfgPath string
	msgPath string
}

// explainCA writes a throw-away CA to dir/ca.pem and returns a server
// certificate it issued for host.
func explainCA(t *testing.T, dir, host string) (tls.Certificate, string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, leafKey := newKey(), newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "explain test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
	return tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}, path
}

func newProbeWorld(t *testing.T, tlsMode mxtest.TLSMode, msg string) *probeWorld {
	t.Helper()
	cfgPath, msgPath := explainFixture(t)
	dir := filepath.Dir(cfgPath)
	cert, caPath := explainCA(t, dir, "mx.partner.example")
	mx := mxtest.Start(t, mxtest.Options{Hostname: "mx.partner.example", TLS: tlsMode, Cert: &cert})
	_, port, _ := net.SplitHostPort(mx.Addr())
	dns := dnstest.Start(t, dnstest.Zone{
		"partner.example":    {MX: []*net.MX{{Host: "mx.partner.example", Pref: 10}}},
		"mx.partner.example": {A: []string{"127.0.0.1"}},
		"routed.example":     {MX: []*net.MX{{Host: "mx.elsewhere.example", Pref: 10}}},
	})
	writeFile(t, dir, "sealgate.yaml", fmt.Sprintf(`hostname: gw.example.com
data_dir: data
delivery:
  dns_servers: [%s]
  port: %s
  ca_file: %s
  routes:
    routed.example: %s
`, dns.Addr(), port, caPath, mx.Addr()))
	if msg != "" {
		msgPath = writeFile(t, dir, "msg.eml", msg)
	}
	return &probeWorld{mx: mx, cfgPath: cfgPath, msgPath: msgPath}
}

// section returns the text block of one recipient.
func section(out, rcpt string) string {
	_, after, ok := strings.Cut(out, "\nto "+rcpt+"\n")
	if !ok {
		return ""
	}
	before, _, _ := strings.Cut(after, "\nto ")
	return before
}

func TestExplainProbeText(t *testing.T) {
	w := newProbeWorld(t, mxtest.TLSModern, "")
	code, out, errOut := runExplainT("--probe", "--config", w.cfgPath, "--from", "a@hospital.example",
		"--to", "alice@partner.example", "--to", "carol@routed.example", "--to", "bob@partner.example", w.msgPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	t.Logf("explain --probe output:\n%s", out)
	assertNoCanary(t, out+errOut)
	if strings.Count(out, "\nprobe     partner.example (connected now; nothing sent)\n") != 1 ||
		strings.Count(out, "\nprobe     routed.example (connected now; nothing sent)\n") != 1 {
		t.Errorf("want one probe block per domain:\n%s", out)
	}
	_, port, _ := net.SplitHostPort(w.mx.Addr())
	for _, want := range []string{
		"  floors    tls_policy opportunistic; dane none; mta-sts none; downgrade-memory none\n",
		"  mx 1      mx.partner.example 127.0.0.1:" + port + ": STARTTLS, TLS1.3 ",
		", certificate verified (PKIX) → tls-verified\n",
		// The route goes to an address: the certificate does not name it.
		"  route 1   127.0.0.1 127.0.0.1:" + port + ": STARTTLS, TLS1.3 ",
		"certificate not verified (x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs) → tls\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	for rcpt, want := range map[string]string{
		"alice@partner.example": "  probe     met: send tls-verified: tls-verified reached on mx.partner.example, verified needed: the message itself is sent\n",
		"bob@partner.example":   "  probe     met: send tls-verified:",
		"carol@routed.example":  "  probe     not met: fallback portal: TLS verified required but not reached on any MX (tls reached on 127.0.0.1, tls-verified needed",
	} {
		if sec := section(out, rcpt); !strings.Contains(sec, want) {
			t.Errorf("%s lacks %q:\n%s", rcpt, want, sec)
		}
	}
	if w.mx.MailCount() != 0 || len(w.mx.Messages()) != 0 {
		t.Fatalf("the probe started a transaction (%d MAIL)", w.mx.MailCount())
	}
	// Two domains, one connection each, each with our EHLO name twice.
	conns := w.mx.Conns()
	if len(conns) != 2 {
		t.Fatalf("%d connections, want 2", len(conns))
	}
	for _, c := range conns {
		if !slices.Equal(c.HelloPlain, []string{"gw.example.com"}) || !slices.Equal(c.HelloTLS, []string{"gw.example.com"}) {
			t.Errorf("EHLO names %+v", c)
		}
	}
}

func TestExplainProbeJSONFallbacks(t *testing.T) {
	w := newProbeWorld(t, mxtest.TLSOff, "")
	code, out, errOut := runExplainT("--probe", "--json", "--config", w.cfgPath, "--from", "a@hospital.example",
		"--to", "alice@partner.example", "--to", "bob@partner.example", "--to", "dan@nowhere.example", w.msgPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	assertNoCanary(t, out+errOut)
	var got []explainRecipient
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r explainRecipient
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("not JSON: %v: %s", err, l)
		}
		got = append(got, r)
	}
	if len(got) != 3 || got[0].Probe == nil || got[1].Probe == nil || got[2].Probe == nil {
		t.Fatalf("probe missing: %s", out)
	}
	a, b, d := got[0].Probe, got[1].Probe, got[2].Probe
	if a.Domain != "partner.example" || len(a.Hops) != 1 || a.Hops[0].STARTTLS || !a.Hops[0].Connected || a.Hops[0].Level != "none" {
		t.Errorf("alice hops %+v", a)
	}
	if a.Met || a.Need != "verified" || a.Outcome != "fallback" || a.Method != "smime" || !strings.Contains(a.Reason, "STARTTLS not offered by mx.partner.example") {
		t.Errorf("alice (S/MIME certificate known): %+v", a)
	}
	if b.Met || b.Outcome != "fallback" || b.Method != "portal" {
		t.Errorf("bob (no key): %+v", b)
	}
	if d.Outcome != "bounce" || !strings.Contains(d.Error, "NXDOMAIN") || len(d.Hops) != 0 {
		t.Errorf("nowhere.example: %+v", d)
	}
	if w.mx.MailCount() != 0 {
		t.Fatal("the probe sent MAIL")
	}
	if !strings.Contains(out, `"probe":{"domain":"partner.example"`) || !strings.Contains(out, `"pkix_verified":false`) {
		t.Errorf("JSON field names: %s", out)
	}
}

func TestExplainProbeCleanMessage(t *testing.T) {
	// Without PHI, opportunistic TLS: plaintext to an MX without STARTTLS
	// is what delivery would do, and explain says so.
	w := newProbeWorld(t, mxtest.TLSOff, explainCleanMsg)
	code, out, errOut := runExplainT("--probe", "--config", w.cfgPath, "--from", "a@hospital.example", "--to", "bob@partner.example", w.msgPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "  mx 1      mx.partner.example 127.0.0.1:") || !strings.Contains(out, ": no STARTTLS → none\n") ||
		!strings.Contains(out, "  probe     met: send smtp: none reached on mx.partner.example, opportunistic needed") {
		t.Errorf("clean message:\n%s", out)
	}

	// TLS-Required: No (RFC 8689 §5), allowed for mail without PHI: the
	// recipient domain's policies would not be applied, and explain says so.
	cfg, err := os.ReadFile(w.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Dir(w.cfgPath), "sealgate.yaml", string(cfg)+"policy:\n  default_other: {require: none, allow_tls_required_no: true}\n")
	msg := writeFile(t, filepath.Dir(w.msgPath), "trn.eml", "TLS-Required: No\r\n"+explainCleanMsg)
	code, out, errOut = runExplainT("--probe", "--json", "--config", w.cfgPath, "--from", "a@hospital.example", "--to", "bob@partner.example", msg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r explainRecipient
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if !r.Decision.TLSRequiredNo || r.Probe == nil || !r.Probe.Met || r.Probe.Outcome != "send" ||
		!strings.Contains(r.Probe.Reason, "TLS-Required: No: MTA-STS, DANE and the downgrade memory not applied") {
		t.Errorf("TLS-Required: No: %+v %+v", r.Decision, r.Probe)
	}
	if w.mx.MailCount() != 0 {
		t.Fatal("the probe sent MAIL")
	}
}

// explain reads the key store the gateway uses: keys.dir when configured.
func TestExplainUsesConfiguredKeysDir(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeFile(t, dir, "sealgate.yaml", "hostname: gw.example.com\ndata_dir: data\nkeys:\n  dir: recipient-keys\n")
	store, err := keystore.Open(filepath.Join(dir, "recipient-keys"), keystore.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	_, certPath, _ := keysTestCert(t, dir, "alice@partner.example", time.Now().Add(24*time.Hour))
	if _, err := store.ImportFile(certPath, keystore.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	msgPath := writeFile(t, dir, "phi.eml", explainPHIMsg)
	code, out, errOut := runExplainT("--json", "--config", cfgPath, "--from", "a@hospital.example", "--to", "alice@partner.example", msgPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r explainRecipient
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
		t.Fatal(err)
	}
	if r.Keys.Store != filepath.Join(dir, "recipient-keys") || r.Keys.SMIME != 1 {
		t.Fatalf("keys: %+v", r.Keys)
	}
}

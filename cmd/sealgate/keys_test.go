package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/crypto/smime"
	"github.com/sealgate/sealgate/internal/testtool"
)

func runKeysT(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = runKeys(args, &o, &e)
	return code, o.String(), e.String()
}

// keysTestCert writes a certificate for email (and its private key, for
// the refusal test) and returns the certificate and the paths.
func keysTestCert(t *testing.T, dir, email string, notAfter time.Time) (*x509.Certificate, string, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(time.Now().UnixNano()),
		Subject:        pkix.Name{CommonName: email},
		EmailAddresses: []string{email},
		NotBefore:      time.Now().Add(-48 * time.Hour),
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	certPath := filepath.Join(dir, email+".crt")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPath := filepath.Join(dir, email+".key.pem")
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return cert, certPath, keyPath
}

func TestKeysImportListRemove(t *testing.T) {
	work := t.TempDir()
	store := filepath.Join(work, "store")
	alice, alicePath, aliceKey := keysTestCert(t, work, "alice@example.org", time.Now().Add(24*time.Hour))
	_, oldPath, _ := keysTestCert(t, work, "old@example.org", time.Now().Add(-time.Hour))
	dom, domPath, _ := keysTestCert(t, work, "gateway@example.net", time.Now().Add(24*time.Hour))

	code, out, errOut := runKeysT("import", alicePath, oldPath, "--dir", store)
	if code != 0 {
		t.Fatalf("import: %d %s", code, errOut)
	}
	if !strings.Contains(out, "imported smime "+smime.Fingerprint(alice)+" for alice@example.org: usable") ||
		!strings.Contains(out, "for old@example.org: not usable: expired") {
		t.Fatalf("import output:\n%s", out)
	}
	if code, _, errOut := runKeysT("import", "--dir", store, "--domain", "Example.NET", domPath); code != 0 {
		t.Fatalf("import --domain: %d %s", code, errOut)
	}

	code, out, errOut = runKeysT("list", "--dir", store)
	if code != 0 {
		t.Fatalf("list: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("list output:\n%s", out)
	}
	var sawAlice, sawOld, sawDomain bool
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		switch {
		case f[0] == smime.Fingerprint(alice):
			sawAlice = f[1] == "smime" && f[2] == "alice@example.org" && f[4] == "usable" &&
				f[3] == alice.NotAfter.UTC().Format(time.RFC3339)
		case f[2] == "old@example.org":
			sawOld = strings.Contains(l, "not usable: expired")
		case f[0] == smime.Fingerprint(dom):
			sawDomain = f[2] == "@example.net" && f[4] == "usable"
		}
	}
	if !sawAlice || !sawOld || !sawDomain {
		t.Fatalf("list lines wrong (alice %v, old %v, domain %v):\n%s", sawAlice, sawOld, sawDomain, out)
	}

	// A private key is refused and never echoed.
	keyPEM, _ := os.ReadFile(aliceKey)
	code, out, errOut = runKeysT("import", "--dir", store, aliceKey)
	if code != 1 || !strings.Contains(errOut, "private key material") {
		t.Fatalf("private key import: %d %q", code, errOut)
	}
	body := strings.Split(string(keyPEM), "\n")[1]
	if strings.Contains(out+errOut, body) || strings.Contains(out, "PRIVATE") {
		t.Fatal("private material printed")
	}

	code, out, errOut = runKeysT("remove", "--dir", store, smime.Fingerprint(alice)[:10])
	if code != 0 || !strings.Contains(out, "removed smime "+smime.Fingerprint(alice)) {
		t.Fatalf("remove: %d %s %s", code, out, errOut)
	}
	if code, _, _ := runKeysT("remove", "--dir", store, smime.Fingerprint(alice)); code != 1 {
		t.Fatalf("second remove: exit %d, want 1", code)
	}
	_, out, _ = runKeysT("list", "--dir", store)
	if strings.Contains(out, "alice@example.org") || strings.Count(out, "\n") != 3 {
		t.Fatalf("list after remove:\n%s", out)
	}

	// A malformed file is reported by list, the others still listed.
	os.WriteFile(filepath.Join(store, "broken.pem"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644)
	code, out, errOut = runKeysT("list", "--dir", store)
	if code != 1 || !strings.Contains(errOut, "broken.pem") || !strings.Contains(out, "@example.net") {
		t.Fatalf("list with broken file: %d\n%s\n%s", code, out, errOut)
	}
}

func TestKeysImportGnuPGKey(t *testing.T) {
	gpg := testtool.Require(t, "gpg")
	home, err := os.MkdirTemp("", "sg-keys")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := exec.Command("gpgconf", "--kill", "gpg-agent")
		c.Env = append(os.Environ(), "GNUPGHOME="+home)
		c.Run()
		os.RemoveAll(home)
	})
	env := append(os.Environ(), "GNUPGHOME="+home)
	gen := exec.Command(gpg, "--batch", "--passphrase", "", "--quick-gen-key", "Pat <pat@example.org>", "future-default", "default", "2y")
	gen.Env = env
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("gpg: %v\n%s", err, out)
	}
	exp := exec.Command(gpg, "--armor", "--export", "pat@example.org")
	exp.Env = env
	pub, err := exp.Output()
	if err != nil {
		t.Fatal(err)
	}
	fprCmd := exec.Command(gpg, "--with-colons", "--fingerprint", "pat@example.org")
	fprCmd.Env = env
	colons, _ := fprCmd.Output()
	var fpr string
	for _, l := range strings.Split(string(colons), "\n") {
		if strings.HasPrefix(l, "fpr:") {
			fpr = strings.ToLower(strings.Split(l, ":")[9])
			break
		}
	}
	work := t.TempDir()
	p := filepath.Join(work, "pat.asc")
	os.WriteFile(p, pub, 0o600)
	store := filepath.Join(work, "store")
	code, out, errOut := runKeysT("import", "--dir", store, p)
	if code != 0 || !strings.Contains(out, "imported pgp "+fpr+" for pat@example.org: usable") {
		t.Fatalf("import gpg key: %d\n%s\n%s", code, out, errOut)
	}
	_, out, _ = runKeysT("list", "--dir", store)
	year := time.Now().AddDate(2, 0, 0).UTC().Format("2006")
	if !strings.Contains(out, fpr) || !strings.Contains(out, "pgp") || !strings.Contains(out, year+"-") {
		t.Fatalf("list:\n%s", out)
	}
}

func TestKeysUsage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	for _, args := range [][]string{{}, {"frobnicate"}, {"import", "--dir", dir}, {"remove", "--dir", dir}, {"list", "--bogus"}} {
		if code, _, errOut := runKeysT(args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 with usage", args, code, errOut)
		}
	}
	if code, out, _ := runKeysT("help"); code != 0 || !strings.Contains(out, "keys import") {
		t.Errorf("help: %d %q", code, out)
	}
	if code, _, errOut := runKeysT("import", "--dir", dir, filepath.Join(dir, "missing.pem")); code != 1 || !strings.Contains(errOut, "missing.pem") {
		t.Errorf("missing file: %d %q", code, errOut)
	}
}

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sealgate/sealgate/internal/mxtest"
	"github.com/sealgate/sealgate/internal/testtool"
)

// TestMandatoryEncryptionEndToEnd: a PHI message to an MX whose certificate
// cannot be verified (self-signed) is never sent as it is. The recipient
// whose S/MIME certificate was imported with `sealgate keys import` gets an
// S/MIME message that `openssl cms -decrypt` opens; the recipient without
// keys is held; a non-PHI message to the same MX goes out over TLS.
func TestMandatoryEncryptionEndToEnd(t *testing.T) {
	openssl := testtool.Require(t, "openssl")
	w := newWorld(t, mxtest.Options{TLS: mxtest.TLSModern})
	port := freePort(t)
	g := prepareGateway(t, w.config(port, ""))

	dir := t.TempDir()
	cert, key := filepath.Join(dir, "carol.pem"), filepath.Join(dir, "carol.key")
	gen := exec.Command(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
		"-keyout", key, "-out", cert, "-subj", "/CN=Carol Patient",
		"-addext", "subjectAltName=email:carol@example.org",
		"-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
		"-addext", "extendedKeyUsage=emailProtection")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	if out, errOut, code := runBinary(t, nil, "keys", "import", "--config", g.cfgPath, cert); code != 0 {
		t.Fatalf("keys import: %s %s", out, errOut)
	}
	g.start()

	const ssn = "SSN 234-56-7890"
	phiMsg := "From: Lab <lab@hospital.example>\r\nTo: carol@example.org, dave@example.org\r\n" +
		"Subject: Results for Carol Patient\r\nMessage-ID: <lab1@hospital.example>\r\n\r\n" +
		"Patient: Carol Patient\r\nMRN: 00482913\r\nDOB: 03/14/1961\r\n" + ssn + "\r\n" +
		"Diagnosis: type 2 diabetes mellitus (E11.9). HbA1c 8.1%.\r\n"
	c, err := smtp.Dial(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("lab@hospital.example", []string{"carol@example.org", "dave@example.org"}, strings.NewReader(phiMsg)); err != nil {
		t.Fatal(err)
	}
	msgs, err := w.mx.WaitFor(1, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if len(m.Rcpts) != 1 || m.Rcpts[0] != "carol@example.org" {
		t.Fatalf("encrypted copy went to %v", m.Rcpts)
	}
	for _, secret := range []string{"234-56-7890", "00482913", "Carol Patient", "diabetes", "Results for"} {
		if strings.Contains(string(m.Data), secret) {
			t.Errorf("%q visible on the wire", secret)
		}
	}
	if !strings.Contains(string(m.Data), "application/pkcs7-mime") || !strings.Contains(string(m.Data), "Subject: Secure message") {
		t.Fatalf("not an S/MIME message with a generic subject:\n%.600s", m.Data)
	}
	wire := filepath.Join(dir, "wire.eml")
	os.WriteFile(wire, m.Data, 0o600)
	dec := exec.Command(openssl, "cms", "-decrypt", "-in", wire, "-recip", cert, "-inkey", key)
	plain, err := dec.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl cms -decrypt: %v\n%s", err, plain)
	}
	if !strings.Contains(string(plain), ssn) || !strings.Contains(string(plain), "Results for Carol Patient") {
		t.Fatalf("decrypted content incomplete:\n%s", plain)
	}
	// DKIM signs the encrypted message that was sent.
	for i := range 2 {
		if got := dkimverify(t, w.dns.Addr(), m.Data, i); got != "signature ok" {
			t.Errorf("DKIM on the S/MIME message, signature %d: %q", i, got)
		}
	}
	// dave has no key and there is no portal yet: held, never sent.
	waitUntil(t, 20*time.Second, "dave held", func() bool {
		out, _, _ := runBinary(t, nil, "queue", "list", "--config", g.cfgPath)
		return regexp.MustCompile(`dave@example.org\s+held\s+\d+\s+portal unavailable`).MatchString(out)
	})
	if n := len(w.mx.Messages()); n != 1 {
		t.Fatalf("%d messages reached the MX; dave's copy must not", n)
	}

	// A message without PHI to the same MX goes out over opportunistic TLS.
	if err := c.SendMail("lab@hospital.example", []string{"dave@example.org"},
		strings.NewReader("From: lab@hospital.example\r\nTo: dave@example.org\r\nSubject: Parking update\r\n\r\nThe north garage is closed on Friday.\r\n")); err != nil {
		t.Fatal(err)
	}
	msgs, err = w.mx.WaitFor(2, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msgs[1].Data), "north garage") || msgs[1].TLSVersion < 0x0303 {
		t.Errorf("non-PHI message: TLS %#x\n%.300s", msgs[1].TLSVersion, msgs[1].Data)
	}
	if strings.Contains(g.logs(), "234-56-7890") || strings.Contains(g.logs(), "00482913") {
		t.Error("PHI in the gateway logs")
	}
	// explain says why, per recipient, without values.
	phiFile := filepath.Join(dir, "phi.eml")
	os.WriteFile(phiFile, []byte(phiMsg), 0o600)
	out, errOut, code := runBinary(t, nil, "explain", "--config", g.cfgPath, "--from", "lab@hospital.example",
		"--to", "carol@example.org", "--to", "dave@example.org", phiFile)
	if code != 0 {
		t.Fatalf("explain: %s", errOut)
	}
	for _, want := range []string{"carol@example.org", "dave@example.org", "tls-verified", "smime", "ssn"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "234-56-7890") {
		t.Error("explain prints the SSN")
	}
}

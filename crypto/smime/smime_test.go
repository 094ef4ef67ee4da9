package smime

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.mozilla.org/pkcs7"

	"github.com/sealgate/sealgate/internal/testtool"
)

const canary = "SSN 123-45-6789 canary-XYZ"

// testCA is a throwaway recipient CA made with crypto/x509.
type testCA struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test Recipient CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

type leafSpec struct {
	email     string
	notBefore time.Time
	notAfter  time.Time
	keyUsage  x509.KeyUsage
	extUsage  []x509.ExtKeyUsage
	pub       any // nil: a fresh RSA-2048 key
}

func (ca *testCA) issue(t *testing.T, s leafSpec) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	var key *rsa.PrivateKey
	pub := s.pub
	if pub == nil {
		var err error
		key, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pub = &key.PublicKey
	}
	if s.notBefore.IsZero() {
		s.notBefore = time.Now().Add(-time.Hour)
	}
	if s.notAfter.IsZero() {
		s.notAfter = time.Now().Add(12 * time.Hour)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        pkix.Name{CommonName: s.email},
		EmailAddresses: []string{s.email},
		NotBefore:      s.notBefore,
		NotAfter:       s.notAfter,
		KeyUsage:       s.keyUsage,
		ExtKeyUsage:    s.extUsage,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func goodLeaf(email string) leafSpec {
	return leafSpec{
		email:    email,
		keyUsage: x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		extUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
}

// bodyPart is the original MIME entity (Content-* fields and body) of
// sampleMessage, in canonical CRLF form.
const bodyPart = "Content-Type: multipart/mixed; boundary=\"XYZb\"\r\n" +
	"Content-Transfer-Encoding: 7bit\r\n" +
	"\r\n" +
	"--XYZb\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Patient record: " + canary + "\r\n" +
	"Follow-up in two weeks.\r\n" +
	"--XYZb\r\n" +
	"Content-Type: application/octet-stream; name=\"lab.txt\"\r\n" +
	"Content-Disposition: attachment; filename=\"lab.txt\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"TGFiIHJlc3VsdDogSGJBMWMgNi4xJQ==\r\n" +
	"--XYZb--\r\n"

const sampleHeader = "Received: from ehr.example.com by gw.example.com; Fri, 4 Dec 2026 10:00:00 +0000\r\n" +
	"From: Clinic <clinic@example.com>\r\n" +
	"To: Alice <alice@example.org>\r\n" +
	"Cc: bob@example.org\r\n" +
	"Bcc: secret-bcc@example.net\r\n" +
	"Subject: Results for " + canary + "\r\n" +
	"Thread-Topic: Results for " + canary + "\r\n" +
	"Date: Fri, 4 Dec 2026 10:00:00 +0000\r\n" +
	"Message-ID: <m1@example.com>\r\n" +
	"In-Reply-To: <m0@example.com>\r\n" +
	"References: <m0@example.com>\r\n" +
	"Reply-To: desk@example.com\r\n" +
	"MIME-Version: 1.0\r\n"

var sampleMessage = sampleHeader + bodyPart

func writeCertPEM(t *testing.T, dir, name string, c *x509.Certificate) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeKeyPEM(t *testing.T, dir, name string, k *rsa.PrivateKey) string {
	t.Helper()
	p := filepath.Join(dir, name)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// opensslDecrypt runs `openssl cms -decrypt` on the message and returns the
// decrypted entity.
func opensslDecrypt(t *testing.T, openssl string, eml []byte, cert *x509.Certificate, key *rsa.PrivateKey) []byte {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "out.eml")
	if err := os.WriteFile(in, eml, 0o600); err != nil {
		t.Fatal(err)
	}
	certPath := writeCertPEM(t, dir, "cert.pem", cert)
	keyPath := writeKeyPEM(t, dir, "key.pem", key)
	outPath := filepath.Join(dir, "dec.txt")
	cmd := exec.Command(openssl, "cms", "-decrypt", "-in", in, "-recip", certPath, "-inkey", keyPath, "-out", outPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -decrypt: %v\n%s", err, out)
	}
	dec, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	return dec
}

func encrypt(t *testing.T, msg string, certs []*x509.Certificate, opts Options) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := Encrypt(&out, strings.NewReader(msg), certs, opts); err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	return out.Bytes()
}

func TestEncryptHideSubjectOpenSSL(t *testing.T) {
	openssl := testtool.Require(t, "openssl")
	ca := newCA(t)
	cert, key := ca.issue(t, goodLeaf("alice@example.org"))

	out := encrypt(t, sampleMessage, []*x509.Certificate{cert}, Options{HideSubject: true})

	// The canary must not appear anywhere in what goes on the wire.
	for _, probe := range []string{canary, "123-45-6789", "canary-XYZ", "secret-bcc"} {
		if bytes.Contains(out, []byte(probe)) {
			t.Fatalf("output contains %q:\n%s", probe, out)
		}
	}

	m, err := mail.ReadMessage(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("output is not an RFC 5322 message: %v", err)
	}
	h := m.Header
	want := map[string]string{
		"From":                      "Clinic <clinic@example.com>",
		"To":                        "Alice <alice@example.org>",
		"Cc":                        "bob@example.org",
		"Date":                      "Fri, 4 Dec 2026 10:00:00 +0000",
		"Message-Id":                "<m1@example.com>",
		"In-Reply-To":               "<m0@example.com>",
		"References":                "<m0@example.com>",
		"Reply-To":                  "desk@example.com",
		"Mime-Version":              "1.0",
		"Subject":                   "Secure message",
		"Content-Disposition":       `attachment; filename="smime.p7m"`,
		"Content-Transfer-Encoding": "base64",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("outer %s = %q, want %q", k, got, v)
		}
	}
	if got := h.Get("Content-Type"); got != `application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"` {
		t.Errorf("outer Content-Type = %q", got)
	}
	for _, k := range []string{"Bcc", "Thread-Topic"} {
		if h.Get(k) != "" {
			t.Errorf("outer header %s must not be present", k)
		}
	}
	if len(h["Subject"]) != 1 || len(h["Content-Type"]) != 1 {
		t.Errorf("duplicate Subject or Content-Type outside: %v", h)
	}
	checkBase64Lines(t, out)

	dec := opensslDecrypt(t, openssl, out, cert, key)
	s := string(dec)
	if !strings.Contains(s, "\r\nSubject: Results for "+canary+"\r\n") && !strings.HasPrefix(s, "Subject: Results for "+canary+"\r\n") {
		t.Errorf("protected headers lack the real Subject:\n%s", s)
	}
	if !strings.Contains(s, "Thread-Topic: Results for "+canary+"\r\n") {
		t.Errorf("protected headers lack Thread-Topic:\n%s", s)
	}
	if strings.Contains(s, "secret-bcc") {
		t.Errorf("Bcc travelled inside:\n%s", s)
	}
	if strings.Contains(s, "Received:") {
		t.Errorf("trace field copied into protected headers:\n%s", s)
	}
	wantPart := strings.Replace(bodyPart,
		"Content-Type: multipart/mixed; boundary=\"XYZb\"\r\n",
		"Content-Type: multipart/mixed; boundary=\"XYZb\";\r\n protected-headers=\"v1\"\r\n", 1)
	if !strings.HasSuffix(s, "\r\n"+wantPart) {
		t.Errorf("decrypted entity does not end with the original body part.\ngot:\n%s\nwant suffix:\n%s", s, wantPart)
	}
	// The decrypted entity must be a parseable MIME entity whose header
	// carries the protected-headers marker.
	inner, err := mail.ReadMessage(strings.NewReader(s))
	if err != nil {
		t.Fatalf("decrypted entity does not parse: %v", err)
	}
	if !strings.Contains(inner.Header.Get("Content-Type"), `protected-headers="v1"`) {
		t.Errorf("inner Content-Type lacks protected-headers: %q", inner.Header.Get("Content-Type"))
	}
	if got := inner.Header.Get("From"); got != "Clinic <clinic@example.com>" {
		t.Errorf("protected From = %q", got)
	}
}

func TestEncryptKeepSubjectOpenSSLAndPKCS7(t *testing.T) {
	openssl := testtool.Require(t, "openssl")
	ca := newCA(t)
	cert1, key1 := ca.issue(t, goodLeaf("alice@example.org"))
	cert2, key2 := ca.issue(t, goodLeaf("alice@example.org"))

	out := encrypt(t, sampleMessage, []*x509.Certificate{cert1, cert2}, Options{})

	m, err := mail.ReadMessage(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get("Subject"); got != "Results for "+canary {
		t.Errorf("Subject = %q; without HideSubject it must be kept", got)
	}
	// The body is still encrypted.
	body := out[bytes.Index(out, []byte("\r\n\r\n")):]
	if bytes.Contains(body, []byte("canary-XYZ")) {
		t.Fatal("canary in the encrypted body")
	}
	// Both recipients decrypt to exactly the original body part.
	for i, pair := range []struct {
		c *x509.Certificate
		k *rsa.PrivateKey
	}{{cert1, key1}, {cert2, key2}} {
		dec := opensslDecrypt(t, openssl, out, pair.c, pair.k)
		if string(dec) != bodyPart {
			t.Errorf("recipient %d: openssl gave\n%q\nwant\n%q", i, dec, bodyPart)
		}
	}

	// An independent CMS implementation agrees.
	der := decodeBody(t, out)
	p7, err := pkcs7.Parse(der)
	if err != nil {
		t.Fatalf("pkcs7.Parse: %v", err)
	}
	plain, err := p7.Decrypt(cert2, key2)
	if err != nil {
		t.Fatalf("pkcs7 Decrypt: %v", err)
	}
	if string(plain) != bodyPart {
		t.Errorf("pkcs7 decrypted %q", plain)
	}
}

func TestEncryptLargeAndLFMessage(t *testing.T) {
	openssl := testtool.Require(t, "openssl")
	ca := newCA(t)
	cert, key := ca.issue(t, goodLeaf("alice@example.org"))

	// LF line endings in, several CMS chunks worth of body, not a multiple
	// of the AES block size.
	var b strings.Builder
	b.WriteString("From: a@example.com\nTo: alice@example.org\nSubject: big\n\n")
	for i := range 6000 {
		b.WriteString("line ")
		b.WriteString(strings.Repeat("x", i%53))
		b.WriteString("\n")
	}
	out := encrypt(t, b.String(), []*x509.Certificate{cert}, Options{})
	dec := opensslDecrypt(t, openssl, out, cert, key)
	body := b.String()[strings.Index(b.String(), "\n\n")+2:]
	want := "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + strings.ReplaceAll(body, "\n", "\r\n")
	if string(dec) != want {
		t.Fatalf("decrypted %d bytes, want %d; mismatch", len(dec), len(want))
	}
}

func TestEncryptRefusesUnusableCertificates(t *testing.T) {
	ca := newCA(t)
	now := time.Now()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	smallKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]leafSpec{
		"expired": {email: "a@example.org", notBefore: now.Add(-48 * time.Hour), notAfter: now.Add(-time.Hour),
			keyUsage: x509.KeyUsageKeyEncipherment, extUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}},
		"not yet valid": {email: "a@example.org", notBefore: now.Add(time.Hour), notAfter: now.Add(48 * time.Hour),
			keyUsage: x509.KeyUsageKeyEncipherment},
		"signing-only key usage": {email: "a@example.org", keyUsage: x509.KeyUsageDigitalSignature,
			extUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}},
		"server-auth-only EKU": {email: "a@example.org", keyUsage: x509.KeyUsageKeyEncipherment,
			extUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		"ECDSA key": {email: "a@example.org", keyUsage: x509.KeyUsageKeyAgreement, pub: &ecKey.PublicKey},
		"RSA-1024":  {email: "a@example.org", keyUsage: x509.KeyUsageKeyEncipherment, pub: &smallKey.PublicKey},
	}
	good, _ := ca.issue(t, goodLeaf("ok@example.org"))
	for name, spec := range cases {
		t.Run(name, func(t *testing.T) {
			bad, _ := ca.issue(t, spec)
			var out bytes.Buffer
			// A bad certificate among good ones refuses the whole message.
			err := Encrypt(&out, strings.NewReader(sampleMessage), []*x509.Certificate{good, bad}, Options{})
			if !errors.Is(err, ErrUnusableCert) {
				t.Fatalf("err = %v, want ErrUnusableCert", err)
			}
			var ce *CertError
			if !errors.As(err, &ce) || ce.Fingerprint != Fingerprint(bad) {
				t.Fatalf("error does not name the refused certificate: %v", err)
			}
			if out.Len() != 0 {
				t.Fatalf("wrote %d bytes before refusing", out.Len())
			}
			if strings.Contains(err.Error(), "canary") {
				t.Fatal("error carries message content")
			}
		})
	}
	// Minimal certificates without key usage extensions are fine.
	plain, _ := ca.issue(t, leafSpec{email: "p@example.org"})
	if err := CheckCertificate(plain, now); err != nil {
		t.Errorf("certificate without usage extensions refused: %v", err)
	}
	// The clock decides: the good certificate is refused a day later.
	if err := CheckCertificate(good, now.Add(24*time.Hour)); !errors.Is(err, ErrUnusableCert) {
		t.Errorf("expired by clock: err = %v", err)
	}
}

func TestEncryptLimitsAndErrors(t *testing.T) {
	ca := newCA(t)
	cert, _ := ca.issue(t, goodLeaf("alice@example.org"))

	if err := Encrypt(&bytes.Buffer{}, strings.NewReader(sampleMessage), nil, Options{}); !errors.Is(err, ErrNoRecipients) {
		t.Errorf("no certs: err = %v", err)
	}
	err := Encrypt(&bytes.Buffer{}, strings.NewReader(sampleMessage), []*x509.Certificate{cert}, Options{MaxSize: int64(len(sampleMessage) - 1)})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("over MaxSize: err = %v, want ErrTooLarge", err)
	}
	if err := Encrypt(&bytes.Buffer{}, strings.NewReader(sampleMessage), []*x509.Certificate{cert}, Options{MaxSize: int64(len(sampleMessage))}); err != nil {
		t.Errorf("exactly MaxSize: %v", err)
	}
	err = Encrypt(&bytes.Buffer{}, strings.NewReader("not a header line "+canary+"\r\n\r\nbody"), []*x509.Certificate{cert}, Options{})
	if err == nil || strings.Contains(err.Error(), "canary") {
		t.Errorf("malformed header: err = %v (must fail without quoting content)", err)
	}
}

func TestGenericSubjectOption(t *testing.T) {
	ca := newCA(t)
	cert, _ := ca.issue(t, goodLeaf("alice@example.org"))
	out := encrypt(t, sampleMessage, []*x509.Certificate{cert}, Options{HideSubject: true, GenericSubject: "Encrypted\r\nBcc: x@evil.example"})
	m, err := mail.ReadMessage(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get("Subject"); got != "Encrypted  Bcc: x@evil.example" {
		t.Errorf("Subject = %q (a configured subject must not inject fields)", got)
	}
	if m.Header.Get("Bcc") != "" {
		t.Error("header injection through GenericSubject")
	}
}

func checkBase64Lines(t *testing.T, out []byte) {
	t.Helper()
	body := out[bytes.Index(out, []byte("\r\n\r\n"))+4:]
	lines := strings.Split(strings.TrimSuffix(string(body), "\r\n"), "\r\n")
	for i, l := range lines {
		if len(l) > 76 || (i < len(lines)-1 && len(l) != 76) {
			t.Fatalf("base64 line %d has %d characters", i, len(l))
		}
	}
}

func decodeBody(t *testing.T, out []byte) []byte {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(m.Body); err != nil {
		t.Fatal(err)
	}
	der, err := decodeStd(strings.ReplaceAll(b.String(), "\r\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func decodeStd(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// bodyReader yields a header and then n bytes of body without holding them.
type bodyReader struct {
	head string
	n    int
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.head != "" {
		c := copy(p, b.head)
		b.head = b.head[c:]
		return c, nil
	}
	if b.n == 0 {
		return 0, io.EOF
	}
	c := min(len(p), b.n)
	for i := 0; i < c; i += 11 {
		copy(p[i:c], "abcdefghij\n")
	}
	b.n -= c
	return c, nil
}

// TestEncryptStreamsInConstantMemory: an 8 MiB message is encrypted with a
// few hundred KiB of allocation in total, not a copy of the message.
func TestEncryptStreamsInConstantMemory(t *testing.T) {
	ca := newCA(t)
	cert, _ := ca.issue(t, goodLeaf("alice@example.org"))
	const size = 8 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	msg := &bodyReader{head: "From: a@example.com\r\nSubject: s\r\n\r\n", n: size}
	if err := Encrypt(io.Discard, msg, []*x509.Certificate{cert}, Options{}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
		t.Fatalf("allocated %d bytes for a %d-byte message", alloc, size)
	}
}

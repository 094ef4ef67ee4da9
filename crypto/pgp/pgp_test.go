package pgp

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/sealgate/sealgate/internal/testtool"
)

const canary = "SSN 123-45-6789 canary-XYZ"

const bodyPart = "Content-Type: multipart/alternative; boundary=\"alt1\"\r\n" +
	"\r\n" +
	"--alt1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Patient record: " + canary + "\r\n" +
	"--alt1\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"\r\n" +
	"<p>Patient record: " + canary + "</p>\r\n" +
	"--alt1--\r\n"

const sampleMessage = "From: Clinic <clinic@example.com>\r\n" +
	"To: Alice <alice@example.org>\r\n" +
	"Subject: Results for " + canary + "\r\n" +
	"Date: Fri, 4 Dec 2026 10:00:00 +0000\r\n" +
	"Message-ID: <m1@example.com>\r\n" +
	"References: <m0@example.com>\r\n" +
	"MIME-Version: 1.0\r\n" +
	bodyPart

// gpgHome is a throw-away GnuPG home with the helpers these tests need.
type gpgHome struct{ *testtool.GPGHome }

func newGPGHome(t *testing.T) *gpgHome { return &gpgHome{testtool.NewGPGHome(t)} }

// genKey makes a key with gpg and returns its public key as go-crypto reads it.
func (g *gpgHome) genKey(t *testing.T, uid, algo, usage, expire string) *openpgp.Entity {
	t.Helper()
	g.Run(t, nil, "--quick-gen-key", uid, algo, usage, expire)
	return g.export(t, uid)
}

func (g *gpgHome) export(t *testing.T, uid string) *openpgp.Entity {
	t.Helper()
	pub := g.Run(t, nil, "--armor", "--export", uid)
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(pub))
	if err != nil {
		t.Fatalf("reading gpg's export: %v", err)
	}
	if len(el) != 1 {
		t.Fatalf("export has %d keys", len(el))
	}
	return el[0]
}

// armoredPart checks the RFC 3156 structure and returns the armored text.
func armoredPart(t *testing.T, out []byte) (*mail.Message, []byte) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("output is not an RFC 5322 message: %v", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/encrypted" || params["protocol"] != "application/pgp-encrypted" {
		t.Fatalf("outer Content-Type = %q", m.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	p1, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if ct := p1.Header.Get("Content-Type"); ct != "application/pgp-encrypted" {
		t.Fatalf("first part Content-Type = %q", ct)
	}
	v, _ := io.ReadAll(p1)
	if strings.TrimSpace(string(v)) != "Version: 1" {
		t.Fatalf("first part = %q", v)
	}
	p2, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if mt, _, _ := mime.ParseMediaType(p2.Header.Get("Content-Type")); mt != "application/octet-stream" {
		t.Fatalf("second part Content-Type = %q", p2.Header.Get("Content-Type"))
	}
	arm, _ := io.ReadAll(p2)
	if !bytes.HasPrefix(arm, []byte("-----BEGIN PGP MESSAGE-----")) {
		t.Fatalf("second part is not armored: %q", arm[:min(len(arm), 60)])
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Fatalf("more than two parts: %v", err)
	}
	return m, arm
}

func TestEncryptGPGRoundTripHideSubject(t *testing.T) {
	g := newGPGHome(t)
	alice := g.genKey(t, "Alice <alice@example.org>", "future-default", "default", "never")

	var out bytes.Buffer
	if err := Encrypt(&out, strings.NewReader(sampleMessage), openpgp.EntityList{alice}, Options{HideSubject: true}); err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	for _, probe := range []string{canary, "123-45-6789", "canary-XYZ"} {
		if bytes.Contains(out.Bytes(), []byte(probe)) {
			t.Fatalf("output contains %q", probe)
		}
	}
	m, arm := armoredPart(t, out.Bytes())
	for k, v := range map[string]string{
		"From": "Clinic <clinic@example.com>", "To": "Alice <alice@example.org>",
		"Subject": "Secure message", "Message-Id": "<m1@example.com>",
		"References": "<m0@example.com>", "Mime-Version": "1.0",
		"Date": "Fri, 4 Dec 2026 10:00:00 +0000",
	} {
		if got := m.Header.Get(k); got != v {
			t.Errorf("outer %s = %q, want %q", k, got, v)
		}
	}

	dec := string(g.Run(t, arm, "--decrypt"))
	if !strings.Contains(dec, "Subject: Results for "+canary+"\r\n") {
		t.Errorf("protected headers lack the real Subject:\n%s", dec)
	}
	wantPart := strings.Replace(bodyPart,
		"Content-Type: multipart/alternative; boundary=\"alt1\"\r\n",
		"Content-Type: multipart/alternative; boundary=\"alt1\";\r\n protected-headers=\"v1\"\r\n", 1)
	if !strings.HasSuffix(dec, "\r\n"+wantPart) {
		t.Errorf("gpg decrypted\n%q\nwant suffix\n%q", dec, wantPart)
	}
	inner, err := mail.ReadMessage(strings.NewReader(dec))
	if err != nil {
		t.Fatal(err)
	}
	if inner.Header.Get("To") != "Alice <alice@example.org>" {
		t.Errorf("protected To = %q", inner.Header.Get("To"))
	}
}

func TestEncryptGPGTwoRecipientsRSA(t *testing.T) {
	g1 := newGPGHome(t)
	g2 := newGPGHome(t)
	alice := g1.genKey(t, "Alice <alice@example.org>", "future-default", "default", "never")
	// An RSA key with an RSA encryption subkey, as older installations have.
	g2.Run(t, nil, "--quick-gen-key", "Bob <bob@example.org>", "rsa2048", "sign", "never")
	fpr := strings.TrimSpace(string(g2.Run(t, nil, "--with-colons", "--list-keys", "bob@example.org")))
	var primary string
	for _, l := range strings.Split(fpr, "\n") {
		if strings.HasPrefix(l, "fpr:") {
			primary = strings.Split(l, ":")[9]
			break
		}
	}
	g2.Run(t, nil, "--quick-add-key", primary, "rsa2048", "encr", "never")
	bob := g2.export(t, "bob@example.org")

	var out bytes.Buffer
	if err := Encrypt(&out, strings.NewReader(sampleMessage), openpgp.EntityList{alice, bob}, Options{}); err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	m, arm := armoredPart(t, out.Bytes())
	if got := m.Header.Get("Subject"); got != "Results for "+canary {
		t.Errorf("Subject = %q: without HideSubject it must be kept", got)
	}
	for i, g := range []*gpgHome{g1, g2} {
		if dec := string(g.Run(t, arm, "--decrypt")); dec != bodyPart {
			t.Errorf("recipient %d: gpg decrypted\n%q\nwant\n%q", i, dec, bodyPart)
		}
	}
}

func TestEncryptRefusesUnusableGPGKeys(t *testing.T) {
	g := newGPGHome(t)
	now := time.Now()

	expiring := g.genKey(t, "Exp <exp@example.org>", "future-default", "default", "1d")
	if err := CheckEntity(expiring, now); err != nil {
		t.Fatalf("key valid for a day refused today: %v", err)
	}
	signOnly := g.genKey(t, "Sig <sig@example.org>", "ed25519", "sign", "never")

	rev := g.genKey(t, "Rev <rev@example.org>", "future-default", "default", "never")
	revFile := filepath.Join(g.Dir, "openpgp-revocs.d", strings.ToUpper(Fingerprint(rev))+".rev")
	revCert, err := os.ReadFile(revFile)
	if err != nil {
		t.Fatalf("gpg made no revocation certificate: %v", err)
	}
	// gpg guards the stored certificate with a leading ':'; remove it to import.
	revCert = bytes.Replace(revCert, []byte(":-----BEGIN PGP PUBLIC KEY BLOCK-----"), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----"), 1)
	g.Run(t, revCert, "--import")
	revoked := g.export(t, "rev@example.org")

	good := g.genKey(t, "Good <good@example.org>", "future-default", "default", "never")
	// gpg stamps keys with the current second: judge them after it.
	now = time.Now().Add(time.Second)

	cases := []struct {
		name   string
		e      *openpgp.Entity
		at     time.Time
		reason string
	}{
		{"expired", expiring, now.Add(49 * time.Hour), "expired"},
		{"revoked", revoked, now, "revoked"},
		{"no encryption subkey", signOnly, now, "no valid encryption subkey"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			at := c.at
			err := Encrypt(&out, strings.NewReader(sampleMessage), openpgp.EntityList{good, c.e}, Options{Now: func() time.Time { return at }})
			if !errors.Is(err, ErrUnusableKey) {
				t.Fatalf("err = %v, want ErrUnusableKey", err)
			}
			var ke *KeyError
			if !errors.As(err, &ke) || ke.Fingerprint != Fingerprint(c.e) || !strings.Contains(ke.Reason, c.reason) {
				t.Fatalf("err = %v, want %s for %s", err, c.reason, Fingerprint(c.e))
			}
			if out.Len() != 0 {
				t.Fatalf("wrote %d bytes before refusing", out.Len())
			}
		})
	}
}

func TestEncryptLimitsGoKey(t *testing.T) {
	// A key made with go-crypto: the library's own view of a fresh key.
	e, err := openpgp.NewEntity("Carol", "", "carol@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if err := Encrypt(&bytes.Buffer{}, strings.NewReader(sampleMessage), nil, Options{}); !errors.Is(err, ErrNoRecipients) {
		t.Errorf("no keys: err = %v", err)
	}
	err = Encrypt(io.Discard, strings.NewReader(sampleMessage), openpgp.EntityList{e}, Options{MaxSize: 100})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("over MaxSize: err = %v", err)
	}
	// Round trip through go-crypto's reader (the gpg tests above are the
	// independent peer).
	var out bytes.Buffer
	if err := Encrypt(&out, strings.NewReader(sampleMessage), openpgp.EntityList{e}, Options{HideSubject: true, GenericSubject: "Encrypted mail"}); err != nil {
		t.Fatal(err)
	}
	m, arm := armoredPart(t, out.Bytes())
	if m.Header.Get("Subject") != "Encrypted mail" {
		t.Errorf("Subject = %q", m.Header.Get("Subject"))
	}
	md, err := openpgp.ReadMessage(mustDearmor(t, arm), openpgp.EntityList{e}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(plain, []byte("Subject: Results for "+canary)) {
		t.Errorf("protected subject missing")
	}
}

func mustDearmor(t *testing.T, arm []byte) io.Reader {
	t.Helper()
	b, err := armorDecode(arm)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func armorDecode(arm []byte) (io.Reader, error) {
	blk, err := armor.Decode(bytes.NewReader(arm))
	if err != nil {
		return nil, err
	}
	return blk.Body, nil
}

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

// TestEncryptStreamsInConstantMemory: an 8 MiB message is encrypted
// without holding a copy of it. crypto/cipher's StreamWriter allocates a
// scratch buffer per Write, so total allocation grows with the message; the
// peak heap must not.
func TestEncryptStreamsInConstantMemory(t *testing.T) {
	e, err := openpgp.NewEntity("Carol", "", "carol@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	const size = 8 << 20
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	stop := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var max uint64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > max {
				max = m.HeapAlloc
			}
			select {
			case <-stop:
				peak <- max
				return
			case <-tick.C:
			}
		}
	}()
	msg := &bodyReader{head: "From: a@example.com\r\nSubject: s\r\n\r\n", n: size}
	err = Encrypt(io.Discard, msg, openpgp.EntityList{e}, Options{})
	close(stop)
	max := <-peak
	if err != nil {
		t.Fatal(err)
	}
	if grew := int64(max) - int64(base.HeapAlloc); grew > 3<<20 {
		t.Fatalf("heap grew by %d bytes for a %d-byte message", grew, size)
	}
}

package protect_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealgate/sealgate/crypto/keystore"
	"github.com/sealgate/sealgate/internal/testtool"
	"github.com/sealgate/sealgate/policy"
	"github.com/sealgate/sealgate/policy/phi"
)

// The PHI message. Every canary is a value that must never be visible on
// the wire unless the message itself was sent over the required TLS.
const phiMessage = "From: Riverside Clinic <clinic@sender.test>\r\n" +
	"To: smime@example.test, pgp@example.test, nokey@example.test\r\n" +
	"Subject: Lab results for Marguerite Oyelaran\r\n" +
	"Date: Fri, 04 Dec 2026 10:00:00 +0000\r\n" +
	"Message-ID: <phi-1@sender.test>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Patient: Marguerite Oyelaran\r\n" +
	"DOB: 03/14/1961\r\n" +
	"SSN 078-05-1120 on the old card, SSN 412-67-3391 on file\r\n" +
	"MRN: 88213047\r\n" +
	"Diagnosed with type 2 diabetes; HbA1c 8.1%, metformin 500 mg twice daily.\r\n"

// phiBodyText is a line of the body that a decrypted copy must give back.
const phiBodyText = "Diagnosed with type 2 diabetes; HbA1c 8.1%, metformin 500 mg twice daily."

var canaries = []string{
	"Oyelaran", "Marguerite", "078-05-1120", "078051120", "412-67-3391", "412673391",
	"88213047", "03/14/1961", "diabetes", "HbA1c", "metformin", "Lab results",
}

const plainMessage = "From: Riverside Clinic <clinic@sender.test>\r\n" +
	"To: smime@example.test, pgp@example.test, nokey@example.test\r\n" +
	"Subject: Holiday opening hours\r\n" +
	"Date: Fri, 04 Dec 2026 10:00:00 +0000\r\n" +
	"Message-ID: <plain-1@sender.test>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Our front desk closes at noon on December 24th.\r\n"

const (
	rcptSMIME = "smime@example.test"
	rcptPGP   = "pgp@example.test"
	rcptNone  = "nokey@example.test"
)

var rcpts = []string{rcptSMIME, rcptPGP, rcptNone}

// leaked returns the canaries visible in b.
func leaked(b []byte) []string {
	var out []string
	lower := strings.ToLower(string(b))
	for _, c := range canaries {
		if strings.Contains(lower, strings.ToLower(c)) {
			out = append(out, c)
		}
	}
	return out
}

// decide scans msg with the real PHI scanner and asks the real policy
// engine with its built-in defaults for every recipient.
func decide(t *testing.T, msg string) (map[string]policy.Decision, *phi.Result) {
	t.Helper()
	sc, err := phi.New(phi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	scan, err := sc.Scan(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.New(policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pm := policy.NewMessage("clinic@sender.test", m.Header, scan, false)
	ds := map[string]policy.Decision{}
	for _, rc := range rcpts {
		ds[rc] = eng.Decide(pm, rc)
	}
	return ds, scan
}

// recipientKeys is a key store holding an S/MIME certificate for
// rcptSMIME and a gpg-made OpenPGP key for rcptPGP, with what it takes to
// decrypt with openssl and gpg.
type recipientKeys struct {
	store    *keystore.Store
	openssl  string
	gpgHome  *testtool.GPGHome
	certPath string
	keyPath  string
}

func newRecipientKeys(t *testing.T) *recipientKeys {
	t.Helper()
	rk := &recipientKeys{openssl: testtool.Require(t, "openssl")}
	dir := t.TempDir()
	store, err := keystore.Open(filepath.Join(dir, "keys"), nil)
	if err != nil {
		t.Fatal(err)
	}
	rk.store = store

	// S/MIME: an RSA certificate for rcptSMIME (RFC 8550 §3).
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(42),
		Subject:        pkix.Name{CommonName: "S/MIME recipient"},
		EmailAddresses: []string{rcptSMIME},
		NotBefore:      time.Now().Add(-time.Hour),
		NotAfter:       time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:       x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	rk.certPath = filepath.Join(dir, "smime-cert.pem")
	rk.keyPath = filepath.Join(dir, "smime-key.pem")
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rk.certPath, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rk.keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Import(bytes.NewReader(certPEM), keystore.ImportOptions{}); err != nil {
		t.Fatal(err)
	}

	// OpenPGP: gpg makes the key in a throw-away home; we import its
	// public export.
	rk.gpgHome = testtool.NewGPGHome(t)
	rk.gpgHome.Run(t, nil, "--quick-gen-key", "PGP Recipient <"+rcptPGP+">", "future-default", "default", "never")
	pub := rk.gpgHome.Run(t, nil, "--armor", "--export", rcptPGP)
	if _, err := store.Import(bytes.NewReader(pub), keystore.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	// The store must now answer as the fallback chain expects.
	for rc, want := range map[string][2]int{rcptSMIME: {1, 0}, rcptPGP: {0, 1}, rcptNone: {0, 0}} {
		k, err := store.LookupAddress(rc)
		if err != nil || len(k.SMIME) != want[0] || len(k.PGP) != want[1] {
			t.Fatalf("key store for %s: %d certs, %d keys, %v; want %v", rc, len(k.SMIME), len(k.PGP), err, want)
		}
	}
	return rk
}

// opensslDecrypt decrypts an S/MIME message as received by the MX.
func (rk *recipientKeys) opensslDecrypt(t *testing.T, eml []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.eml"), filepath.Join(dir, "out.txt")
	if err := os.WriteFile(in, eml, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rk.openssl, "cms", "-decrypt", "-in", in, "-recip", rk.certPath, "-inkey", rk.keyPath, "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -decrypt: %v\n%s", err, b)
	}
	dec, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return dec
}

// gpgDecrypt decrypts the armored OpenPGP part of a PGP/MIME message as
// received by the MX.
func (rk *recipientKeys) gpgDecrypt(t *testing.T, eml []byte) []byte {
	t.Helper()
	s := string(eml)
	i := strings.Index(s, "-----BEGIN PGP MESSAGE-----")
	j := strings.Index(s, "-----END PGP MESSAGE-----")
	if i < 0 || j < i {
		t.Fatalf("no armored OpenPGP message in the copy")
	}
	armored := s[i : j+len("-----END PGP MESSAGE-----")]
	return rk.gpgHome.Run(t, []byte(armored+"\n"), "--decrypt")
}

// stripProxy is an on-path attacker: a TCP proxy in front of backend that
// removes STARTTLS from the EHLO reply (and renumbers the multi-line reply
// so it stays well-formed).
type stripProxy struct {
	addr     string
	stripped atomic.Int32
}

func startStripProxy(t *testing.T, backend string) *stripProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stripProxy{addr: ln.Addr().String()}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, b)
			mu.Unlock()
			go func() { io.Copy(b, c); b.Close() }()
			go func() { p.filter(c, b); c.Close() }()
		}
	}()
	return p
}

// filter copies server replies to the client, dropping STARTTLS from
// multi-line 250 replies (the EHLO reply).
func (p *stripProxy) filter(dst io.Writer, src io.Reader) {
	br := bufio.NewReader(src)
	var block []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		block = append(block, line)
		if len(line) >= 4 && line[3] == '-' {
			continue
		}
		if strings.HasPrefix(line, "250") && len(block) > 1 {
			var kept []string
			for _, l := range block {
				if len(l) > 4 && strings.EqualFold(strings.TrimSpace(l[4:]), "STARTTLS") {
					p.stripped.Add(1)
					continue
				}
				kept = append(kept, l)
			}
			for i := range kept {
				sep := "-"
				if i == len(kept)-1 {
					sep = " "
				}
				kept[i] = kept[i][:3] + sep + kept[i][4:]
			}
			block = kept
		}
		for _, l := range block {
			if _, err := io.WriteString(dst, l); err != nil {
				return
			}
		}
		block = nil
	}
}

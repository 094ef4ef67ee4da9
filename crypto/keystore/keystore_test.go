package keystore

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/sealgate/sealgate/crypto/pgp"
	"github.com/sealgate/sealgate/crypto/smime"
)

var ctx = context.Background()

func openStore(t *testing.T, clock Clock) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := New(Options{Dir: dir, Clock: clock, ReloadInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func TestImportListRemoveRoundTrip(t *testing.T) {
	clock := newFakeClock()
	s, dir := openStore(t, clock)
	key := rsaKey(t)
	certPEM, cert := makeCert(t, key, certSpec{emails: []string{"alice@Example.ORG"}})
	bob := makeEntity(t, "Bob", "bob@example.org", 0, clock.Now().Add(-time.Hour))

	ents, err := s.Import(bytes.NewReader(certPEM), ImportOptions{})
	if err != nil {
		t.Fatalf("import cert: %v", err)
	}
	if len(ents) != 1 || ents[0].ID != smime.Fingerprint(cert) || ents[0].Type != TypeSMIME || !ents[0].Usable {
		t.Fatalf("import cert entries = %+v", ents)
	}
	if got := ents[0].Addresses; len(got) != 1 || got[0] != "alice@example.org" {
		t.Fatalf("addresses = %v (domain must be lower-cased)", got)
	}
	ents, err = s.Import(bytes.NewReader(binaryPublic(t, bob)), ImportOptions{})
	if err != nil {
		t.Fatalf("import binary pgp key: %v", err)
	}
	if len(ents) != 1 || ents[0].ID != pgp.Fingerprint(bob) || ents[0].Type != TypePGP || !ents[0].Usable {
		t.Fatalf("import pgp entries = %+v", ents)
	}
	// Stored files: public material only, named by ID.
	for _, name := range []string{smime.Fingerprint(cert) + ".pem", pgp.Fingerprint(bob) + ".asc"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("stored file %s: %v", name, err)
		}
		if bytes.Contains(b, []byte("PRIVATE")) {
			t.Fatalf("%s holds private material", name)
		}
	}

	if l := s.List(); len(l) != 2 {
		t.Fatalf("List = %+v", l)
	}
	k, err := s.Lookup(ctx, "alice@EXAMPLE.org")
	if err != nil || len(k.SMIME) != 1 || len(k.PGP) != 0 || k.Source != SourceAddress {
		t.Fatalf("Lookup alice (domain case) = %+v, %v", k, err)
	}
	if k, _ := s.Lookup(ctx, "Alice@example.org"); !k.Empty() {
		t.Fatalf("local part must match exactly; got %+v", k)
	}
	if k, _ := s.Lookup(ctx, "bob@example.org"); len(k.PGP) != 1 || k.PGP[0].PrimaryKey.KeyId != bob.PrimaryKey.KeyId {
		t.Fatalf("Lookup bob = %+v", k)
	}
	if _, err := s.Lookup(ctx, "not-an-address"); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("bad address: err = %v", err)
	}

	// A second process sees the same store.
	s2, err := Open(dir, clock)
	if err != nil {
		t.Fatal(err)
	}
	if len(s2.List()) != 2 || len(s2.Problems()) != 0 {
		t.Fatalf("reopened store: %+v %v", s2.List(), s2.Problems())
	}

	if _, err := s.Remove("abc"); err == nil {
		t.Fatal("a 3-digit ID prefix must be refused")
	}
	if _, err := s.Remove("0000000000000000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove unknown: %v", err)
	}
	gone, err := s.Remove(strings.ToUpper(smime.Fingerprint(cert)[:12]))
	if err != nil {
		t.Fatalf("remove by prefix: %v", err)
	}
	if gone.ID != smime.Fingerprint(cert) {
		t.Fatalf("removed %+v", gone)
	}
	if k, _ := s.Lookup(ctx, "alice@example.org"); !k.Empty() {
		t.Fatal("removed certificate still found")
	}
	if _, err := os.Stat(filepath.Join(dir, smime.Fingerprint(cert)+".pem")); !os.IsNotExist(err) {
		t.Fatalf("file not removed: %v", err)
	}
	if l := s.List(); len(l) != 1 || l[0].Type != TypePGP {
		t.Fatalf("List after remove = %+v", l)
	}
	// No temp files left behind.
	left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	if len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

func TestImportRefusals(t *testing.T) {
	clock := newFakeClock()
	s, dir := openStore(t, clock)
	key := rsaKey(t)
	certPEM, _ := makeCert(t, key, certSpec{emails: []string{"alice@example.org"}})
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	withKey := append(append([]byte{}, certPEM...), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)

	if _, err := s.Import(bytes.NewReader(withKey), ImportOptions{}); !errors.Is(err, ErrPrivateKey) {
		t.Fatalf("cert+private key: err = %v", err)
	}
	e := makeEntity(t, "Eve", "eve@example.org", 0, clock.Now())
	var priv bytes.Buffer
	w, _ := armorEncode(&priv, "PGP PRIVATE KEY BLOCK")
	if err := e.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := s.Import(&priv, ImportOptions{}); !errors.Is(err, ErrPrivateKey) {
		t.Fatalf("pgp private key: err = %v", err)
	}
	noMail, _ := makeCert(t, key, certSpec{})
	if _, err := s.Import(bytes.NewReader(noMail), ImportOptions{}); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("cert without address: err = %v", err)
	}
	if _, err := s.Import(bytes.NewReader(noMail), ImportOptions{Domain: "../etc"}); !errors.Is(err, ErrBadDomain) {
		t.Fatalf("path in domain: err = %v", err)
	}
	if _, err := s.Import(strings.NewReader("hello world"), ImportOptions{}); err == nil {
		t.Fatal("garbage imported")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("refused imports wrote files: %v", ents)
	}
}

func TestAddressBeatsDomain(t *testing.T) {
	clock := newFakeClock()
	s, dir := openStore(t, clock)
	key := rsaKey(t)
	alicePEM, aliceCert := makeCert(t, key, certSpec{subject: "alice@example.org"}) // subject emailAddress only
	gateway := makeEntity(t, "Example Gateway", "gateway@example.org", 0, clock.Now().Add(-time.Hour))
	domainPEM, domainCert := makeCert(t, key, certSpec{})

	if _, err := s.Import(bytes.NewReader(alicePEM), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	ents, err := s.Import(bytes.NewReader(armoredPublic(t, gateway)), ImportOptions{Domain: "Example.ORG"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Domain != "example.org" {
		t.Fatalf("domain import = %+v", ents)
	}
	if _, err := s.Import(bytes.NewReader(domainPEM), ImportOptions{Domain: "example.org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, DomainsDir, "example.org", pgp.Fingerprint(gateway)+".asc")); err != nil {
		t.Fatalf("domain key file: %v", err)
	}

	k, _ := s.Lookup(ctx, "alice@example.org")
	if k.Source != SourceAddress || len(k.SMIME) != 1 || !k.SMIME[0].Equal(aliceCert) || len(k.PGP) != 0 {
		t.Fatalf("alice = %+v: her own key must win over the domain's", k)
	}
	k, _ = s.Lookup(ctx, "carol@EXAMPLE.org")
	if k.Source != SourceDomain || len(k.PGP) != 1 || len(k.SMIME) != 1 || !k.SMIME[0].Equal(domainCert) {
		t.Fatalf("carol = %+v: want the domain-wide keys", k)
	}
	// The domain key's own UID is not an address entry.
	if k, _ := s.LookupAddress("gateway@example.org"); !k.Empty() {
		t.Fatalf("domain-wide key indexed by its UID: %+v", k)
	}
	if k, _ := s.Lookup(ctx, "carol@example.net"); !k.Empty() {
		t.Fatalf("other domain = %+v", k)
	}
	// A subdomain is a different domain.
	if k, _ := s.Lookup(ctx, "carol@mail.example.org"); !k.Empty() {
		t.Fatalf("subdomain = %+v", k)
	}
}

func TestUnusableKeysSkipped(t *testing.T) {
	clock := newFakeClock()
	s, dir := openStore(t, clock)
	key := rsaKey(t)
	now := clock.Now()
	expiredPEM, _ := makeCert(t, key, certSpec{emails: []string{"dave@example.org"}, notBefore: now.Add(-48 * time.Hour), notAfter: now.Add(-time.Hour)})
	validPEM, validCert := makeCert(t, key, certSpec{emails: []string{"dave@example.org"}, notAfter: now.Add(2 * time.Hour)})
	// A PGP key valid for one day, and a revoked one.
	shortLived := makeEntity(t, "Erin", "erin@example.org", 24*3600, now.Add(-time.Hour))
	revoked := makeEntity(t, "Rev", "rev@example.org", 0, now.Add(-time.Hour))
	if err := revoked.RevokeKey(packet.KeyCompromised, "test", nil); err != nil {
		t.Fatal(err)
	}
	for _, in := range [][]byte{expiredPEM, validPEM, armoredPublic(t, shortLived), armoredPublic(t, revoked)} {
		if _, err := s.Import(bytes.NewReader(in), ImportOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	k, _ := s.Lookup(ctx, "dave@example.org")
	if len(k.SMIME) != 1 || !k.SMIME[0].Equal(validCert) {
		t.Fatalf("dave = %+v: only the valid certificate", k)
	}
	if k, _ := s.Lookup(ctx, "erin@example.org"); len(k.PGP) != 1 {
		t.Fatalf("erin today = %+v", k)
	}
	if k, _ := s.Lookup(ctx, "rev@example.org"); !k.Empty() {
		t.Fatalf("revoked key returned: %+v", k)
	}
	reasons := map[string]string{}
	for _, e := range s.List() {
		if !e.Usable {
			reasons[strings.Join(e.Addresses, ",")] = e.Reason
		}
	}
	if !strings.Contains(reasons["dave@example.org"], "expired") || !strings.Contains(reasons["rev@example.org"], "revoked") {
		t.Fatalf("list reasons = %v", reasons)
	}
	// The revocation survived the store's re-serialisation: reopen from disk.
	s2, _ := Open(dir, clock)
	if k, _ := s2.Lookup(ctx, "rev@example.org"); !k.Empty() {
		t.Fatal("revocation lost on disk")
	}

	clock.Advance(3 * time.Hour)
	if k, _ := s.Lookup(ctx, "dave@example.org"); !k.Empty() {
		t.Fatalf("dave after expiry = %+v", k)
	}
	clock.Advance(24 * time.Hour)
	if k, _ := s.Lookup(ctx, "erin@example.org"); !k.Empty() {
		t.Fatalf("erin after expiry = %+v", k)
	}
	// With no personal key usable, the domain key takes over.
	domPEM, _ := makeCert(t, key, certSpec{notAfter: now.Add(365 * 24 * time.Hour)})
	if _, err := s.Import(bytes.NewReader(domPEM), ImportOptions{Domain: "example.org"}); err != nil {
		t.Fatal(err)
	}
	if k, _ := s.Lookup(ctx, "dave@example.org"); k.Source != SourceDomain {
		t.Fatalf("dave with expired key = %+v, want domain key", k)
	}
}

func TestMalformedFilesReported(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	key := rsaKey(t)
	goodPEM, _ := makeCert(t, key, certSpec{emails: []string{"ok@example.org"}})
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	files := map[string][]byte{
		"good.pem":        goodPEM,
		"garbage.pem":     []byte("-----BEGIN CERTIFICATE-----\nSSN 123-45-6789 canary\n-----END CERTIFICATE-----\n"),
		"garbage.crt":     []byte("not der at all"),
		"bad.asc":         []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"),
		"private.pem":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"notes.txt":       []byte("ignored"),
		".tmp-123":        []byte("ignored"),
		"big.asc":         bytes.Repeat([]byte("A"), MaxFileSize+1),
		"wrongblock.asc":  []byte("-----BEGIN PGP MESSAGE-----\n\nAAAA\n-----END PGP MESSAGE-----\n"),
		"domains/x/y.pem": goodPEM, // "x" is a valid domain: loads
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(dir, clock)
	if err != nil {
		t.Fatalf("Open must not fail on bad files: %v", err)
	}
	probs := map[string]error{}
	for _, p := range s.Problems() {
		probs[p.File] = p.Err
		if strings.Contains(p.Error(), "canary") || strings.Contains(p.Error(), "123-45") {
			t.Errorf("problem quotes file content: %v", p)
		}
	}
	for _, name := range []string{"garbage.pem", "garbage.crt", "bad.asc", "private.pem", "big.asc", "wrongblock.asc"} {
		if probs[name] == nil {
			t.Errorf("%s not reported; problems = %v", name, probs)
		}
	}
	if len(probs) != 6 {
		t.Errorf("problems = %v", probs)
	}
	if !errors.Is(probs["private.pem"], ErrPrivateKey) || !errors.Is(probs["big.asc"], ErrFileTooBig) {
		t.Errorf("problem kinds = %v", probs)
	}
	if k, _ := s.Lookup(ctx, "ok@example.org"); len(k.SMIME) != 1 {
		t.Fatalf("good file not loaded beside bad ones: %+v", k)
	}
	if k, _ := s.Lookup(ctx, "someone@x"); k.Source != SourceDomain {
		t.Fatalf("hand-placed domain file not loaded: %+v", k)
	}
}

func TestReloadOnChange(t *testing.T) {
	clock := newFakeClock()
	s, dir := openStore(t, clock) // ReloadInterval: one minute
	key := rsaKey(t)
	p, _ := makeCert(t, key, certSpec{emails: []string{"frank@example.org"}})
	// Another process (sealgate keys import) writes a file.
	if err := writeFileAtomic(filepath.Join(dir, "frank.pem"), p); err != nil {
		t.Fatal(err)
	}
	if k, _ := s.Lookup(ctx, "frank@example.org"); !k.Empty() {
		t.Fatal("reloaded before the interval")
	}
	clock.Advance(61 * time.Second)
	if k, _ := s.Lookup(ctx, "frank@example.org"); len(k.SMIME) != 1 {
		t.Fatal("change not picked up after the interval")
	}
	os.Remove(filepath.Join(dir, "frank.pem"))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if k, _ := s.Lookup(ctx, "frank@example.org"); !k.Empty() {
		t.Fatal("Reload did not drop a removed file")
	}
}

func TestRemoveFromBundle(t *testing.T) {
	clock := newFakeClock()
	s, dir := openStore(t, clock)
	key := rsaKey(t)
	a, ca := makeCert(t, key, certSpec{emails: []string{"a@example.org"}})
	b, _ := makeCert(t, key, certSpec{emails: []string{"b@example.org"}})
	if err := os.WriteFile(filepath.Join(dir, "bundle.pem"), append(append([]byte{}, a...), b...), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Reload()
	if _, err := s.Remove(smime.Fingerprint(ca)); err != nil {
		t.Fatal(err)
	}
	if k, _ := s.Lookup(ctx, "a@example.org"); !k.Empty() {
		t.Fatal("removed certificate still found")
	}
	if k, _ := s.Lookup(ctx, "b@example.org"); len(k.SMIME) != 1 {
		t.Fatal("the other certificate of the bundle was lost")
	}
}

func TestConcurrentLookupAndImport(t *testing.T) {
	clock := newFakeClock()
	s, _ := openStore(t, clock)
	key := rsaKey(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 5 {
			p, _ := makeCert(t, key, certSpec{emails: []string{"c@example.org"}})
			if _, err := s.Import(bytes.NewReader(p), ImportOptions{}); err != nil {
				t.Error(err)
			}
			clock.Advance(time.Duration(i) * time.Minute)
		}
	}()
	for {
		select {
		case <-done:
			if k, _ := s.Lookup(ctx, "c@example.org"); len(k.SMIME) != 5 {
				t.Fatalf("got %d certificates, want 5", len(k.SMIME))
			}
			return
		default:
			if _, err := s.Lookup(ctx, "c@example.org"); err != nil {
				t.Fatal(err)
			}
			s.List()
		}
	}
}

package keystore

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/sealgate/sealgate/crypto/pgp"
	"github.com/sealgate/sealgate/crypto/smime"
)

// oidEmailAddress is PKCS #9 emailAddress (RFC 2985 §5.2.1), still found in
// certificate subjects.
var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// DomainsDir is the subdirectory of the store that holds domain-wide keys:
// DIR/domains/<domain>/<fingerprint>.{pem,asc}.
const DomainsDir = "domains"

// DefaultReloadInterval is how often Lookup checks the directory for
// changes when Options.ReloadInterval is zero.
const DefaultReloadInterval = 10 * time.Second

// Clock tells the time; tests pass a fixed one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Type is the kind of key.
type Type string

// Key types.
const (
	TypeSMIME Type = "smime"
	TypePGP   Type = "pgp"
)

// Source says where the keys of a lookup came from, for explanations.
type Source string

// Sources.
const (
	SourceNone    Source = ""
	SourceAddress Source = "address" // the store, keyed by the exact address
	SourceDomain  Source = "domain"  // the store, a domain-wide key
	SourceWKD     Source = "wkd"     // Web Key Directory
)

// Keys are the usable keys for one recipient.
type Keys struct {
	SMIME  []*x509.Certificate
	PGP    openpgp.EntityList
	Source Source
}

// Empty reports whether no key was found.
func (k Keys) Empty() bool { return len(k.SMIME) == 0 && len(k.PGP) == 0 }

// Lookup finds the usable encryption keys of a recipient. Delivery uses it
// to choose between S/MIME, OpenPGP and the portal. No key is (Keys{}, nil);
// an error means the answer is unknown (for example WKD timed out).
type Lookup interface {
	Lookup(ctx context.Context, addr string) (Keys, error)
}

// Entry describes one stored key for `sealgate keys list`. It never holds
// private material.
type Entry struct {
	ID        string    // SHA-256 of the certificate, or the OpenPGP fingerprint; hex
	Type      Type      // smime or pgp
	Addresses []string  // addresses the key is indexed under (not for domain-wide keys)
	Domain    string    // domain-wide key: the domain
	File      string    // path relative to the store directory
	NotAfter  time.Time // expiry; zero when the key does not expire
	Usable    bool      // usable for encryption now
	Reason    string    // why not, when !Usable
}

// FileProblem is a key file that could not be loaded. Other files load.
type FileProblem struct {
	File string // relative to the store directory
	Err  error
}

func (p FileProblem) Error() string { return p.File + ": " + p.Err.Error() }

// Options configures a Store.
type Options struct {
	Dir string
	// Clock decides validity; nil means SystemClock.
	Clock Clock
	// ReloadInterval: Lookup rescans the directory when this much time has
	// passed since the last check and reloads if a file changed.
	// 0 means DefaultReloadInterval; negative disables (call Reload).
	ReloadInterval time.Duration
}

// Store is a directory of recipient certificates and OpenPGP public keys.
// It is safe for concurrent use.
type Store struct {
	dir      string
	clock    Clock
	interval time.Duration

	writeMu  sync.Mutex // serialises Import and Remove
	reloadMu sync.Mutex // serialises scans, so an older scan never replaces a newer one

	mu        sync.RWMutex
	snap      *snapshot
	lastCheck time.Time
}

type snapshot struct {
	items    []*item
	byAddr   map[string][]*item
	byDomain map[string][]*item
	problems []FileProblem
	sig      string
}

// Open opens (creating if needed) the store in dir.
func Open(dir string, clock Clock) (*Store, error) {
	return New(Options{Dir: dir, Clock: clock})
}

// New opens the store described by opts.
func New(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("keystore: no directory")
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.ReloadInterval == 0 {
		opts.ReloadInterval = DefaultReloadInterval
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	s := &Store{dir: opts.Dir, clock: opts.Clock, interval: opts.ReloadInterval}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Reload rescans the directory. A malformed file is recorded in Problems
// and skipped; only an unreadable directory is an error.
func (s *Store) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	snap, err := load(s.dir)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.snap = snap
	s.lastCheck = s.clock.Now()
	s.mu.Unlock()
	return nil
}

// maybeReload reloads when the interval has passed and the files changed.
// A lookup never waits for another one's scan.
func (s *Store) maybeReload() {
	if s.interval < 0 {
		return
	}
	now := s.clock.Now()
	s.mu.RLock()
	due := now.Sub(s.lastCheck) >= s.interval
	s.mu.RUnlock()
	if !due || !s.reloadMu.TryLock() {
		return
	}
	defer s.reloadMu.Unlock()
	s.mu.Lock()
	s.lastCheck = now
	old := s.snap.sig
	s.mu.Unlock()
	files, sig, err := scan(s.dir)
	if err != nil || sig == old {
		return
	}
	snap := build(s.dir, files, sig)
	s.mu.Lock()
	s.snap = snap
	s.mu.Unlock()
}

// Problems returns the files that could not be loaded at the last reload.
func (s *Store) Problems() []FileProblem {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.snap.problems)
}

// List describes every stored key, usable or not, sorted by file.
func (s *Store) List() []Entry {
	s.mu.RLock()
	snap := s.snap
	s.mu.RUnlock()
	now := s.clock.Now()
	out := make([]Entry, 0, len(snap.items))
	for _, it := range snap.items {
		out = append(out, entryOf(it, now))
	}
	return out
}

func entryOf(it *item, now time.Time) Entry {
	e := Entry{ID: it.id, Type: it.typ, Addresses: slices.Clone(it.addrs), Domain: it.domain, File: it.file}
	var err error
	switch it.typ {
	case TypeSMIME:
		e.NotAfter = it.cert.NotAfter
		err = smime.CheckCertificate(it.cert, now)
	case TypePGP:
		e.NotAfter = pgp.Expiry(it.entity)
		err = pgp.CheckEntity(it.entity, now)
	}
	if err != nil {
		e.Reason = reasonOf(err)
	} else {
		e.Usable = true
	}
	return e
}

func reasonOf(err error) string {
	var ce *smime.CertError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	var ke *pgp.KeyError
	if errors.As(err, &ke) {
		return ke.Reason
	}
	return err.Error()
}

// Lookup returns the usable keys for addr: those stored for the exact
// address if there is any, otherwise the domain-wide keys of its domain.
// The local part matches exactly, the domain case-insensitively.
func (s *Store) Lookup(_ context.Context, addr string) (Keys, error) {
	k, err := s.LookupAddress(addr)
	if err != nil || !k.Empty() {
		return k, err
	}
	_, domain, _ := strings.Cut(mustNorm(addr), "@")
	return s.LookupDomain(domain)
}

// LookupAddress returns the usable keys stored for exactly addr.
func (s *Store) LookupAddress(addr string) (Keys, error) {
	n, err := normalizeAddr(addr)
	if err != nil {
		return Keys{}, err
	}
	s.maybeReload()
	s.mu.RLock()
	items := s.snap.byAddr[n]
	s.mu.RUnlock()
	k := usable(items, s.clock.Now(), n)
	if !k.Empty() {
		k.Source = SourceAddress
	}
	return k, nil
}

// LookupDomain returns the usable domain-wide keys for domain.
func (s *Store) LookupDomain(domain string) (Keys, error) {
	d, err := normalizeDomain(domain)
	if err != nil {
		return Keys{}, err
	}
	s.maybeReload()
	s.mu.RLock()
	items := s.snap.byDomain[d]
	s.mu.RUnlock()
	k := usable(items, s.clock.Now(), "")
	if !k.Empty() {
		k.Source = SourceDomain
	}
	return k, nil
}

// usable filters items to those usable now. For an address match of an
// OpenPGP key, the user ID carrying the address must not be revoked.
func usable(items []*item, now time.Time, addr string) Keys {
	var k Keys
	seen := map[string]bool{}
	for _, it := range items {
		if seen[it.id] {
			continue
		}
		switch it.typ {
		case TypeSMIME:
			if smime.CheckCertificate(it.cert, now) != nil {
				continue
			}
			k.SMIME = append(k.SMIME, it.cert)
		case TypePGP:
			if pgp.CheckEntity(it.entity, now) != nil {
				continue
			}
			if addr != "" && !uidValid(it.entity, addr, now) {
				continue
			}
			k.PGP = append(k.PGP, it.entity)
		}
		seen[it.id] = true
	}
	return k
}

func uidValid(e *openpgp.Entity, addr string, now time.Time) bool {
	for _, id := range e.Identities {
		if id.UserId == nil {
			continue
		}
		if n, err := normalizeAddr(id.UserId.Email); err == nil && n == addr && !id.Revoked(now) {
			return true
		}
	}
	return false
}

// normalizeAddr keeps the local part exactly and lower-cases the domain
// (RFC 5321 §2.4: only the domain is case-insensitive).
func normalizeAddr(a string) (string, error) {
	a = strings.TrimSpace(a)
	a = strings.TrimSuffix(strings.TrimPrefix(a, "<"), ">")
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || len(a) > 320 {
		return "", ErrBadAddress
	}
	local := a[:at]
	for _, r := range local {
		if r <= ' ' || r == 0x7f {
			return "", ErrBadAddress
		}
	}
	d, err := normalizeDomain(a[at+1:])
	if err != nil {
		return "", ErrBadAddress
	}
	return local + "@" + d, nil
}

func mustNorm(a string) string {
	n, _ := normalizeAddr(a)
	return n
}

// normalizeDomain lower-cases a DNS name and checks it is a host name
// (letters, digits, hyphens, dots; RFC 1123 §2.1), so that it is safe in a
// file name and a URL.
func normalizeDomain(d string) (string, error) {
	d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(d, "@")), "."))
	if d == "" || len(d) > 253 {
		return "", ErrBadDomain
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", ErrBadDomain
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", ErrBadDomain
			}
		}
	}
	return d, nil
}

// fileInfo is one candidate key file.
type fileInfo struct {
	rel    string
	domain string
	f      format
}

// scan lists the key files and a signature of their names, sizes and
// modification times.
func scan(dir string) ([]fileInfo, string, error) {
	var files []fileInfo
	var sig strings.Builder
	add := func(rel, domain string, info fs.FileInfo) {
		f := formatOf(info.Name())
		if f == formatNone || strings.HasPrefix(info.Name(), ".") || !info.Mode().IsRegular() {
			return
		}
		files = append(files, fileInfo{rel: rel, domain: domain, f: f})
		fmt.Fprintf(&sig, "%s\x00%d\x00%d\n", rel, info.Size(), info.ModTime().UnixNano())
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, "", fmt.Errorf("keystore: %w", err)
	}
	for _, de := range ents {
		if de.IsDir() {
			continue
		}
		if info, err := de.Info(); err == nil {
			add(de.Name(), "", info)
		}
	}
	ddir := filepath.Join(dir, DomainsDir)
	doms, err := os.ReadDir(ddir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("keystore: %w", err)
	}
	for _, dd := range doms {
		if !dd.IsDir() {
			continue
		}
		domain, err := normalizeDomain(dd.Name())
		if err != nil || domain != dd.Name() {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(ddir, dd.Name()))
		if err != nil {
			continue
		}
		for _, de := range ents {
			if info, err := de.Info(); err == nil && !de.IsDir() {
				add(filepath.Join(DomainsDir, dd.Name(), de.Name()), domain, info)
			}
		}
	}
	return files, sig.String(), nil
}

func load(dir string) (*snapshot, error) {
	files, sig, err := scan(dir)
	if err != nil {
		return nil, err
	}
	return build(dir, files, sig), nil
}

func build(dir string, files []fileInfo, sig string) *snapshot {
	snap := &snapshot{byAddr: map[string][]*item{}, byDomain: map[string][]*item{}, sig: sig}
	for _, fi := range files {
		items, err := readKeyFile(filepath.Join(dir, fi.rel), fi.f)
		if err != nil {
			snap.problems = append(snap.problems, FileProblem{File: fi.rel, Err: err})
			continue
		}
		for _, it := range items {
			it.file = fi.rel
			it.domain = fi.domain
			snap.items = append(snap.items, it)
			if fi.domain != "" {
				snap.byDomain[fi.domain] = append(snap.byDomain[fi.domain], it)
				continue
			}
			for _, a := range it.addrs {
				snap.byAddr[a] = append(snap.byAddr[a], it)
			}
		}
	}
	sort.SliceStable(snap.items, func(i, j int) bool { return snap.items[i].file < snap.items[j].file })
	return snap
}

func readKeyFile(path string, f format) ([]*item, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	return parseKeys(data, f)
}

func sortStrings(s []string) { sort.Strings(s) }

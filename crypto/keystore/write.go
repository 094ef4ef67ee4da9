package keystore

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// ImportOptions controls Import.
type ImportOptions struct {
	// Domain, when set, stores the keys as domain-wide keys for that domain
	// (DIR/domains/<domain>/): used for every recipient of the domain that
	// has no key of its own. When empty, the keys are indexed by the email
	// addresses they carry and a key without one is refused.
	Domain string
}

// ImportFile imports the certificates or OpenPGP public keys in the file at
// path. See Import.
func (s *Store) ImportFile(path string, opts ImportOptions) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	defer f.Close()
	return s.Import(f, opts)
}

// Import reads PEM or DER certificates or OpenPGP public keys (armored or
// binary) from r and stores each as its own file named by its ID, replacing
// an earlier copy of the same key. Private key material is refused. Nothing
// is written unless all of r parses. Keys are imported even when not
// usable now (for example not yet valid); the returned entries say so.
func (s *Store) Import(r io.Reader, opts ImportOptions) ([]Entry, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, ErrFileTooBig
	}
	items, err := sniffKeys(data)
	if err != nil {
		return nil, err
	}
	targetDir := s.dir
	var domain string
	if opts.Domain != "" {
		domain, err = normalizeDomain(opts.Domain)
		if err != nil {
			return nil, err
		}
		targetDir = filepath.Join(s.dir, DomainsDir, domain)
	} else {
		for _, it := range items {
			if len(it.addrs) == 0 {
				return nil, fmt.Errorf("%w (key %s)", ErrNoAddress, it.id)
			}
		}
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := os.MkdirAll(targetDir, 0o750); err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	ids := map[string]bool{}
	for _, it := range items {
		content, ext, err := encodeItems([]*item{it})
		if err != nil {
			return nil, err
		}
		if err := writeFileAtomic(filepath.Join(targetDir, it.id+ext), content); err != nil {
			return nil, err
		}
		ids[it.id] = true
	}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range s.List() {
		if ids[e.ID] && e.Domain == domain {
			out = append(out, e)
		}
	}
	return out, nil
}

// sniffKeys parses import input whatever its format.
func sniffKeys(data []byte) ([]*item, error) {
	switch {
	case bytes.Contains(data, []byte("-----BEGIN PGP")):
		return parseKeys(data, formatPGP)
	case bytes.Contains(data, []byte("-----BEGIN")):
		return parseKeys(data, formatX509)
	}
	if items, err := parseKeys(data, formatX509); err == nil {
		return items, nil
	}
	items, err := readEntities(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("keystore: neither a certificate nor an OpenPGP public key")
	}
	return items, nil
}

// encodeItems serialises items of one type: PEM certificates or one
// armored public key block. Only public material is ever written.
func encodeItems(items []*item) ([]byte, string, error) {
	var buf bytes.Buffer
	if len(items) == 0 {
		return nil, "", ErrNoKeys
	}
	if items[0].typ == TypeSMIME {
		for _, it := range items {
			if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: it.cert.Raw}); err != nil {
				return nil, "", err
			}
		}
		return buf.Bytes(), ".pem", nil
	}
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, "", err
	}
	for _, it := range items {
		if err := it.entity.Serialize(w); err != nil {
			return nil, "", fmt.Errorf("keystore: serialising key %s: %w", it.id, err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	buf.WriteString("\n")
	return buf.Bytes(), ".asc", nil
}

// Remove deletes the key whose ID is id or starts with id (at least 8 hex
// digits). A file holding other keys too is rewritten without it.
func (s *Store) Remove(id string) (Entry, error) {
	id = strings.ToLower(strings.NewReplacer(" ", "", ":", "").Replace(id))
	if len(id) < 8 {
		return Entry{}, fmt.Errorf("%w: give at least 8 hex digits", ErrAmbiguousID)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.Reload(); err != nil {
		return Entry{}, err
	}
	s.mu.RLock()
	snap := s.snap
	s.mu.RUnlock()
	var match []*item
	var fullID string
	for _, it := range snap.items {
		if strings.HasPrefix(it.id, id) {
			if fullID != "" && it.id != fullID {
				return Entry{}, ErrAmbiguousID
			}
			fullID = it.id
			match = append(match, it)
		}
	}
	if len(match) == 0 {
		return Entry{}, ErrNotFound
	}
	entry := entryOf(match[0], s.clock.Now())
	for _, it := range match {
		if err := s.removeFromFile(snap, it); err != nil {
			return Entry{}, err
		}
	}
	return entry, s.Reload()
}

func (s *Store) removeFromFile(snap *snapshot, target *item) error {
	var rest []*item
	for _, it := range snap.items {
		if it.file == target.file && it.id != target.id {
			rest = append(rest, it)
		}
	}
	path := filepath.Join(s.dir, target.file)
	if len(rest) == 0 {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("keystore: %w", err)
		}
		return syncDir(filepath.Dir(path))
	}
	content, _, err := encodeItems(rest)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, content)
}

// writeFileAtomic replaces path with content so that a crash leaves either
// the old or the new file: temp file in the same directory, fsync, rename,
// fsync of the directory.
func writeFileAtomic(path string, content []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(content); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("keystore: sync %s: %w", dir, err)
	}
	return nil
}

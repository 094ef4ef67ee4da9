package keystore

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/sealgate/sealgate/crypto/pgp"
	"github.com/sealgate/sealgate/crypto/smime"
)

// MaxFileSize bounds one key file (and one Import).
const MaxFileSize = 1 << 20

// Errors about key material. They never quote file content.
var (
	ErrPrivateKey  = errors.New("keystore: contains private key material; only public keys and certificates are accepted")
	ErrNoKeys      = errors.New("keystore: no certificate or public key found")
	ErrFileTooBig  = fmt.Errorf("keystore: larger than %d bytes", MaxFileSize)
	ErrBadAddress  = errors.New("keystore: malformed email address")
	ErrBadDomain   = errors.New("keystore: malformed domain")
	ErrNoAddress   = errors.New("keystore: key carries no email address; import it as a domain-wide key (--domain)")
	ErrNotFound    = errors.New("keystore: no such key")
	ErrAmbiguousID = errors.New("keystore: ambiguous key ID prefix")
)

// format of a key file, chosen by its extension.
type format int

const (
	formatNone format = iota
	formatX509        // .pem, .crt: PEM certificates, or one DER certificate
	formatPGP         // .asc: one ASCII-armored public key block
)

func formatOf(name string) format {
	switch {
	case strings.HasSuffix(name, ".pem"), strings.HasSuffix(name, ".crt"):
		return formatX509
	case strings.HasSuffix(name, ".asc"):
		return formatPGP
	}
	return formatNone
}

// item is one certificate or OpenPGP key found in the store.
type item struct {
	typ    Type
	id     string
	cert   *x509.Certificate
	entity *openpgp.Entity
	addrs  []string // normalised local@domain
	domain string   // domain-wide key: the domain; otherwise empty
	file   string   // path relative to the store directory
}

// parseKeys parses the content of one key file. It is the fuzz target.
func parseKeys(data []byte, f format) ([]*item, error) {
	if len(data) > MaxFileSize {
		return nil, ErrFileTooBig
	}
	switch f {
	case formatX509:
		return parseX509(data)
	case formatPGP:
		return parsePGP(data)
	}
	return nil, ErrNoKeys
}

func parseX509(data []byte) ([]*item, error) {
	var items []*item
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		certs, err := x509.ParseCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("keystore: not a PEM or DER certificate: %w", err)
		}
		for _, c := range certs {
			items = append(items, certItem(c))
		}
	}
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case strings.Contains(b.Type, "PRIVATE KEY"):
			return nil, ErrPrivateKey
		case b.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("keystore: bad certificate: %w", err)
			}
			items = append(items, certItem(c))
		default:
			return nil, fmt.Errorf("keystore: unsupported PEM block %q", truncate(b.Type, 40))
		}
	}
	if bytes.Contains(rest, []byte("PRIVATE KEY-----")) {
		// A private key block pem.Decode could not parse: still refuse.
		return nil, ErrPrivateKey
	}
	if len(items) == 0 {
		return nil, ErrNoKeys
	}
	return items, nil
}

func certItem(c *x509.Certificate) *item {
	it := &item{typ: TypeSMIME, id: smime.Fingerprint(c), cert: c}
	seen := map[string]bool{}
	add := func(a string) {
		if n, err := normalizeAddr(a); err == nil && !seen[n] {
			seen[n] = true
			it.addrs = append(it.addrs, n)
		}
	}
	for _, a := range c.EmailAddresses {
		add(a)
	}
	for _, atv := range c.Subject.Names {
		if atv.Type.Equal(oidEmailAddress) {
			if s, ok := atv.Value.(string); ok {
				add(s)
			}
		}
	}
	return it
}

func parsePGP(data []byte) ([]*item, error) {
	if bytes.Contains(data, []byte("PRIVATE KEY BLOCK")) {
		return nil, ErrPrivateKey
	}
	blk, err := armor.Decode(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("keystore: no armored OpenPGP block")
		}
		return nil, fmt.Errorf("keystore: bad armor: %w", err)
	}
	if blk.Type != openpgp.PublicKeyType {
		return nil, fmt.Errorf("keystore: armored block is %q, want %q", truncate(blk.Type, 40), openpgp.PublicKeyType)
	}
	return readEntities(blk.Body)
}

func readEntities(r io.Reader) ([]*item, error) {
	el, err := openpgp.ReadKeyRing(io.LimitReader(r, MaxFileSize))
	if err != nil {
		return nil, fmt.Errorf("keystore: bad OpenPGP key: %w", err)
	}
	var items []*item
	for _, e := range el {
		if e.PrivateKey != nil {
			return nil, ErrPrivateKey
		}
		for _, sk := range e.Subkeys {
			if sk.PrivateKey != nil {
				return nil, ErrPrivateKey
			}
		}
		items = append(items, entityItem(e))
	}
	if len(items) == 0 {
		return nil, ErrNoKeys
	}
	return items, nil
}

func entityItem(e *openpgp.Entity) *item {
	it := &item{typ: TypePGP, id: pgp.Fingerprint(e), entity: e}
	seen := map[string]bool{}
	for _, id := range e.Identities {
		if id.UserId == nil {
			continue
		}
		if n, err := normalizeAddr(id.UserId.Email); err == nil && !seen[n] {
			seen[n] = true
			it.addrs = append(it.addrs, n)
		}
	}
	sortStrings(it.addrs)
	return it
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

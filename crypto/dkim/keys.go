package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sealgate/sealgate/internal/safefile"
)

// Algorithm is a key type sealgate can make.
type Algorithm string

const (
	RSA     Algorithm = "rsa"
	Ed25519 Algorithm = "ed25519"
)

// GenerateKey makes an RSA-2048 or Ed25519 signing key.
func GenerateKey(alg Algorithm) (crypto.Signer, error) {
	switch alg {
	case RSA:
		return rsa.GenerateKey(rand.Reader, 2048)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("dkim: unknown algorithm %q (rsa or ed25519)", alg)
}

// MarshalKey encodes a key as PKCS#8 PEM.
func MarshalKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// LoadKey reads a PEM private key: PKCS#8 (RSA or Ed25519) or PKCS#1 RSA.
func LoadKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseKey(data)
}

// ParseKey decodes a PEM private key.
func ParseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("dkim: no PEM block in key file")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("dkim: unsupported key type %T", k)
		}
		switch s.(type) {
		case *rsa.PrivateKey, ed25519.PrivateKey:
			return s, nil
		}
		return nil, fmt.Errorf("dkim: unsupported key type %T (use RSA or Ed25519)", k)
	}
	return nil, fmt.Errorf("dkim: unexpected PEM block %q", block.Type)
}

// WriteKeyFile writes a new key file (mode 0600) safely, never overwriting
// an existing key.
func WriteKeyFile(path string, k crypto.Signer) error {
	data, err := MarshalKey(k)
	if err != nil {
		return err
	}
	if err := safefile.WriteNew(path, data, 0o600); err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	return nil
}

// TXTValue is the DNS TXT record value publishing k's public key (RFC 6376
// §3.6.1; Ed25519 per RFC 8463 §4.2).
func TXTValue(k crypto.Signer) (string, error) {
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", fmt.Errorf("dkim: unsupported key type %T", k)
}

// RecordName is where the record goes: selector._domainkey.domain.
func RecordName(domain, selector string) string {
	return selector + "._domainkey." + strings.TrimSuffix(domain, ".") + "."
}

// ZoneLine formats the record as a zone-file line, splitting the value into
// 255-byte character-strings as DNS requires (RFC 1035 §3.3.14).
func ZoneLine(domain, selector string, k crypto.Signer) (string, error) {
	v, err := TXTValue(k)
	if err != nil {
		return "", err
	}
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	parts = append(parts, `"`+v+`"`)
	return fmt.Sprintf("%s IN TXT ( %s )", RecordName(domain, selector), strings.Join(parts, " ")), nil
}

package smime

import (
	"bufio"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sealgate/sealgate/crypto/smime/mimewrap"
)

// DefaultMaxSize bounds the input message when Options.MaxSize is zero.
const DefaultMaxSize = 64 << 20

// MinRSABits is the smallest RSA modulus accepted for key transport.
const MinRSABits = 2048

// Errors returned by Encrypt and CheckCertificate. They never carry message
// content; certificate errors name the certificate by fingerprint only.
var (
	ErrNoRecipients = errors.New("smime: no recipient certificates")
	ErrTooLarge     = mimewrap.ErrTooLarge
	ErrUnusableCert = errors.New("smime: certificate not usable for encryption")
)

// Options controls Encrypt. The zero value is usable.
type Options struct {
	// HideSubject moves the real header fields inside the encryption as
	// protected headers and puts GenericSubject outside.
	HideSubject bool
	// GenericSubject is the outer Subject with HideSubject;
	// empty means "Secure message".
	GenericSubject string
	// MaxSize bounds the input message in bytes; 0 means DefaultMaxSize.
	// A larger message fails with ErrTooLarge. Encryption streams, so this
	// bounds work, not memory.
	MaxSize int64
	// Now is the clock for certificate validity; nil means time.Now.
	Now func() time.Time
}

// CertError says why a certificate was refused.
type CertError struct {
	Fingerprint string // SHA-256 of the DER certificate, hex
	Reason      string
}

func (e *CertError) Error() string {
	return fmt.Sprintf("smime: certificate %s not usable for encryption: %s", e.Fingerprint, e.Reason)
}

// Unwrap makes errors.Is(err, ErrUnusableCert) true.
func (e *CertError) Unwrap() error { return ErrUnusableCert }

// Fingerprint is the hex SHA-256 of the certificate's DER encoding, the
// identifier used in errors, the key store and `sealgate keys list`.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// CheckCertificate reports whether c can encrypt mail at time now: within
// its validity period, an RSA key of at least MinRSABits, a key usage that
// allows keyEncipherment when the extension is present (RFC 8550 §4.4.2),
// and an extended key usage that allows emailProtection when present
// (RFC 8550 §4.4.4). The certificate is trusted because an administrator
// put it in the key store; no chain is built.
func CheckCertificate(c *x509.Certificate, now time.Time) error {
	fail := func(format string, args ...any) error {
		return &CertError{Fingerprint: Fingerprint(c), Reason: fmt.Sprintf(format, args...)}
	}
	if now.Before(c.NotBefore) {
		return fail("not valid before %s", c.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return fail("expired %s", c.NotAfter.UTC().Format(time.RFC3339))
	}
	pub, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fail("public key is %s; only RSA key transport is supported", c.PublicKeyAlgorithm)
	}
	if pub.N.BitLen() < MinRSABits {
		return fail("RSA key of %d bits; at least %d required", pub.N.BitLen(), MinRSABits)
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		return fail("key usage does not allow keyEncipherment")
	}
	if len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0 {
		allowed := false
		for _, u := range c.ExtKeyUsage {
			if u == x509.ExtKeyUsageEmailProtection || u == x509.ExtKeyUsageAny {
				allowed = true
			}
		}
		if !allowed {
			return fail("extended key usage does not allow emailProtection")
		}
	}
	return nil
}

// Encrypt reads a complete RFC 5322 message from msg and writes to dst a
// complete RFC 5322 message whose body is the original MIME entity
// enveloped for every certificate in certs (RFC 8551 §3.3,
// application/pkcs7-mime; smime-type=enveloped-data).
//
// All certificates are checked with CheckCertificate before anything is
// written. The message is streamed; on error, dst may hold a partial
// message that the caller must discard.
func Encrypt(dst io.Writer, msg io.Reader, certs []*x509.Certificate, opts Options) error {
	if len(certs) == 0 {
		return ErrNoRecipients
	}
	now := time.Now()
	if opts.Now != nil {
		now = opts.Now()
	}
	for _, c := range certs {
		if c == nil {
			return ErrNoRecipients
		}
		if err := CheckCertificate(c, now); err != nil {
			return err
		}
	}
	maxSize := opts.MaxSize
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	br := bufio.NewReader(mimewrap.LimitReader(msg, maxSize))
	m, err := mimewrap.Split(br, mimewrap.Options{HideSubject: opts.HideSubject, GenericSubject: opts.GenericSubject})
	if err != nil {
		return fmt.Errorf("smime: %w", err)
	}

	out := bufio.NewWriter(dst)
	if err := mimewrap.WriteFields(out, m.Outer); err != nil {
		return err
	}
	if _, err := io.WriteString(out, "Content-Type: application/pkcs7-mime; smime-type=enveloped-data;\r\n"+
		" name=\"smime.p7m\"\r\n"+
		"Content-Disposition: attachment; filename=\"smime.p7m\"\r\n"+
		"Content-Transfer-Encoding: base64\r\n"+
		"\r\n"); err != nil {
		return err
	}
	b64 := mimewrap.NewBase64Writer(out)
	env, err := newEnvelopeWriter(b64, certs)
	if err != nil {
		return err
	}
	if err := m.WriteInner(env); err != nil {
		if errors.Is(err, mimewrap.ErrTooLarge) {
			return ErrTooLarge
		}
		return fmt.Errorf("smime: %w", err)
	}
	if err := env.Close(); err != nil {
		return err
	}
	if err := b64.Close(); err != nil {
		return err
	}
	return out.Flush()
}

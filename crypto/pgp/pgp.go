package pgp

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/sealgate/sealgate/crypto/smime/mimewrap"
)

// DefaultMaxSize bounds the input message when Options.MaxSize is zero.
const DefaultMaxSize = 64 << 20

// Errors returned by Encrypt and CheckEntity. They never carry message
// content; keys are named by fingerprint only.
var (
	ErrNoRecipients = errors.New("pgp: no recipient keys")
	ErrTooLarge     = mimewrap.ErrTooLarge
	ErrUnusableKey  = errors.New("pgp: key not usable for encryption")
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
	// Now is the clock for key validity; nil means time.Now.
	Now func() time.Time
}

// KeyError says why a key was refused.
type KeyError struct {
	Fingerprint string // primary key fingerprint, hex
	Reason      string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("pgp: key %s not usable for encryption: %s", e.Fingerprint, e.Reason)
}

// Unwrap makes errors.Is(err, ErrUnusableKey) true.
func (e *KeyError) Unwrap() error { return ErrUnusableKey }

// Fingerprint is the hex fingerprint of the entity's primary key.
func Fingerprint(e *openpgp.Entity) string {
	if e == nil || e.PrimaryKey == nil {
		return ""
	}
	return hex.EncodeToString(e.PrimaryKey.Fingerprint)
}

// CheckEntity reports whether e can receive encrypted mail at time now:
// not revoked, primary key and self-signature not expired, and a valid,
// unexpired, unrevoked key flagged for encrypting communications
// (RFC 4880 §5.2.3.21, §5.2.3.23, §11.1).
func CheckEntity(e *openpgp.Entity, now time.Time) error {
	if e == nil || e.PrimaryKey == nil {
		return ErrNoRecipients
	}
	fail := func(reason string) error { return &KeyError{Fingerprint: Fingerprint(e), Reason: reason} }
	if e.Revoked(now) {
		return fail("revoked")
	}
	sig, id := e.PrimarySelfSignature()
	if sig == nil {
		return fail("no valid self-signature")
	}
	if e.PrimaryKey.CreationTime.Unix() > now.Unix() {
		return fail("created after the current time " + now.UTC().Format(time.RFC3339))
	}
	if e.PrimaryKey.KeyExpired(sig, now) {
		return fail("expired " + expiry(e.PrimaryKey.CreationTime, sig.KeyLifetimeSecs))
	}
	if sig.SigExpired(now) {
		return fail("self-signature expired")
	}
	if id != nil && id.Revoked(now) {
		return fail("primary user ID revoked")
	}
	if _, ok := e.EncryptionKey(now); !ok {
		return fail("no valid encryption subkey")
	}
	return nil
}

// Expiry returns when the entity's primary key expires, or the zero time
// when it does not.
func Expiry(e *openpgp.Entity) time.Time {
	sig, _ := e.PrimarySelfSignature()
	if sig == nil || sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0 {
		return time.Time{}
	}
	return e.PrimaryKey.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
}

func expiry(created time.Time, secs *uint32) string {
	if secs == nil {
		return ""
	}
	return created.Add(time.Duration(*secs) * time.Second).UTC().Format(time.RFC3339)
}

// Encrypt reads a complete RFC 5322 message from msg and writes to dst a
// complete RFC 5322 PGP/MIME message (RFC 3156 §4): multipart/encrypted with
// the "Version: 1" application/pgp-encrypted part and the ASCII-armored
// OpenPGP message (RFC 4880 §6) encrypted to every entity in to.
//
// Every entity is checked with CheckEntity before anything is written. The
// message is streamed; on error, dst may hold a partial message that the
// caller must discard.
func Encrypt(dst io.Writer, msg io.Reader, to openpgp.EntityList, opts Options) error {
	if len(to) == 0 {
		return ErrNoRecipients
	}
	now := time.Now()
	if opts.Now != nil {
		now = opts.Now()
	}
	for _, e := range to {
		if err := CheckEntity(e, now); err != nil {
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
		return fmt.Errorf("pgp: %w", err)
	}
	var rnd [12]byte
	if _, err := io.ReadFull(rand.Reader, rnd[:]); err != nil {
		return err
	}
	// Hex and '=' cannot start an armor line, so the boundary cannot occur
	// in the armored text (RFC 2046 §5.1.1).
	boundary := "=_sealgate-pgp-" + hex.EncodeToString(rnd[:])

	out := bufio.NewWriter(dst)
	if err := mimewrap.WriteFields(out, m.Outer); err != nil {
		return err
	}
	if _, err := io.WriteString(out, "Content-Type: multipart/encrypted;\r\n"+
		" protocol=\"application/pgp-encrypted\";\r\n"+
		" boundary=\""+boundary+"\"\r\n"+
		"\r\n"+
		"This is an OpenPGP/MIME encrypted message (RFC 3156).\r\n"+
		"--"+boundary+"\r\n"+
		"Content-Type: application/pgp-encrypted\r\n"+
		"Content-Description: PGP/MIME version identification\r\n"+
		"\r\n"+
		"Version: 1\r\n"+
		"\r\n"+
		"--"+boundary+"\r\n"+
		"Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\n"+
		"Content-Description: OpenPGP encrypted message\r\n"+
		"Content-Disposition: inline; filename=\"encrypted.asc\"\r\n"+
		"\r\n"); err != nil {
		return err
	}
	lines := mimewrap.NewCRLFWriter(out)
	arm, err := armor.Encode(lines, "PGP MESSAGE", nil)
	if err != nil {
		return err
	}
	cfg := &packet.Config{
		Time:                   func() time.Time { return now },
		DefaultCipher:          packet.CipherAES256,
		DefaultCompressionAlgo: packet.CompressionNone,
	}
	plain, err := openpgp.Encrypt(arm, to, nil, &openpgp.FileHints{IsBinary: true}, cfg)
	if err != nil {
		return fmt.Errorf("pgp: %w", err)
	}
	if err := m.WriteInner(plain); err != nil {
		if errors.Is(err, mimewrap.ErrTooLarge) {
			return ErrTooLarge
		}
		return fmt.Errorf("pgp: %w", err)
	}
	if err := plain.Close(); err != nil {
		return fmt.Errorf("pgp: %w", err)
	}
	if err := arm.Close(); err != nil {
		return err
	}
	if err := lines.Close(); err != nil {
		return err
	}
	if _, err := io.WriteString(out, "\r\n\r\n--"+boundary+"--\r\n"); err != nil {
		return err
	}
	return out.Flush()
}

package tracking

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the length of a tracking key's secret: 256 bits for
// XChaCha20-Poly1305.
const KeySize = chacha20poly1305.KeySize

// Limits on what a token may carry. They keep tokens (and so URLs) bounded.
const (
	maxURLLen       = 2048
	maxFieldLen     = 512
	maxTokenBytes   = 4096
	tokenVersion    = 1
	tokenHeaderSize = 1 + chacha20poly1305.NonceSizeX
)

// ErrInvalidToken is returned for any token that does not open: malformed,
// forged, altered, sealed with an unknown or retired key, or too old. The
// cause is deliberately not distinguished, so nothing about the keys leaks.
var ErrInvalidToken = errors.New("tracking: invalid token")

// Key is one tracking key: a one-byte identifier, carried in clear at the
// start of every token so that keys can rotate, and a 32-byte secret.
type Key struct {
	ID     byte
	Secret []byte
}

// String never shows the secret, so a key printed by mistake leaks nothing.
func (k Key) String() string { return "tracking-key(" + strconv.Itoa(int(k.ID)) + ")" }

// GoString is String, for %#v.
func (k Key) GoString() string { return k.String() }

// GenerateKey makes a new random key with the given ID. rnd nil means
// crypto/rand.
func GenerateKey(id byte, rnd io.Reader) (Key, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	s := make([]byte, KeySize)
	if _, err := io.ReadFull(rnd, s); err != nil {
		return Key{}, fmt.Errorf("tracking: generating key: %w", err)
	}
	return Key{ID: id, Secret: s}, nil
}

// FormatKey renders a key as "ID:base64url-secret", the form ParseKey and
// the key file accept.
func FormatKey(k Key) string {
	return strconv.Itoa(int(k.ID)) + ":" + base64.RawURLEncoding.EncodeToString(k.Secret)
}

// ParseKey parses "ID:SECRET" where ID is 0..255 and SECRET is 32 bytes in
// base64url or standard base64 (padding optional). The error never
// contains the secret.
func ParseKey(s string) (Key, error) {
	idStr, sec, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return Key{}, errors.New("tracking: key must be ID:SECRET")
	}
	id, err := strconv.ParseUint(idStr, 10, 8)
	if err != nil {
		return Key{}, errors.New("tracking: key ID must be a number 0..255")
	}
	sec = strings.TrimRight(sec, "=")
	var b []byte
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.RawStdEncoding} {
		if b, err = enc.DecodeString(sec); err == nil {
			break
		}
	}
	if err != nil {
		return Key{}, errors.New("tracking: key secret is not base64")
	}
	if len(b) != KeySize {
		return Key{}, fmt.Errorf("tracking: key secret must be %d bytes, got %d", KeySize, len(b))
	}
	return Key{ID: byte(id), Secret: b}, nil
}

// Keys is the key ring. New tokens are sealed with Current. Tokens sealed
// with one of Previous still open until PreviousUntil, so links in mail
// already sent keep working through a rotation; after that they are
// rejected like forgeries. Previous keys need a PreviousUntil.
type Keys struct {
	Current       Key
	Previous      []Key
	PreviousUntil time.Time
}

// Validate checks sizes, unique IDs and that previous keys have an end.
func (k Keys) Validate() error {
	if len(k.Current.Secret) != KeySize {
		return fmt.Errorf("tracking: current key must be %d bytes", KeySize)
	}
	seen := map[byte]bool{k.Current.ID: true}
	for _, p := range k.Previous {
		if len(p.Secret) != KeySize {
			return fmt.Errorf("tracking: previous key %d must be %d bytes", p.ID, KeySize)
		}
		if seen[p.ID] {
			return fmt.Errorf("tracking: key ID %d used twice", p.ID)
		}
		seen[p.ID] = true
	}
	if len(k.Previous) > 0 && k.PreviousUntil.IsZero() {
		return errors.New("tracking: previous keys need previous_until")
	}
	return nil
}

// lookup returns the secret for a key ID if it may open tokens at now.
func (k Keys) lookup(id byte, now time.Time) ([]byte, bool) {
	if id == k.Current.ID && len(k.Current.Secret) == KeySize {
		return k.Current.Secret, true
	}
	if !now.Before(k.PreviousUntil) {
		return nil, false
	}
	for _, p := range k.Previous {
		if p.ID == id && len(p.Secret) == KeySize {
			return p.Secret, true
		}
	}
	return nil, false
}

// TokenKind says what a token is for; a token only opens on its own path.
type TokenKind byte

const (
	TokenOpen     TokenKind = 'o' // the open pixel, /t/o/
	TokenClick    TokenKind = 'c' // a rewritten link, /t/c/
	TokenHoneypot TokenKind = 'h' // the hidden honeypot link, /t/h/
)

func (k TokenKind) valid() bool { return k == TokenOpen || k == TokenClick || k == TokenHoneypot }

// Token is what a tracking URL carries, sealed: nothing of it is readable
// without the key. URL is set for clicks only and is the only place the
// destination exists; the redirect goes there and nowhere else.
type Token struct {
	Kind      TokenKind
	MessageID string // sealgate queue ID
	Recipient string
	Sender    string
	Campaign  string
	LinkIndex int // clicks: 1-based position of the link in the message
	URL       string
	IssuedAt  time.Time
}

// sealedURLOK reports whether u may be sealed as a redirect destination:
// absolute http or https with a host, printable ASCII only, bounded.
func sealedURLOK(u string) bool {
	if u == "" || len(u) > maxURLLen {
		return false
	}
	for i := 0; i < len(u); i++ {
		if u[i] <= 0x20 || u[i] >= 0x7f {
			return false
		}
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || p.User != nil {
		return false
	}
	s := strings.ToLower(p.Scheme)
	return s == "http" || s == "https"
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Seal encrypts t with the current key: base64url (no padding) of
// key ID ‖ 24-byte random nonce ‖ XChaCha20-Poly1305(plaintext), with the
// key ID and a version bound as associated data. rnd nil means crypto/rand.
func (k Keys) Seal(t Token, rnd io.Reader) (string, error) {
	if len(k.Current.Secret) != KeySize {
		return "", errors.New("tracking: no current key")
	}
	if !t.Kind.valid() {
		return "", errors.New("tracking: bad token kind")
	}
	if t.Kind == TokenClick {
		if !sealedURLOK(t.URL) || t.LinkIndex < 1 {
			return "", errors.New("tracking: click token needs an http(s) URL and a link index")
		}
	} else if t.URL != "" {
		return "", errors.New("tracking: only click tokens carry a URL")
	}
	for _, f := range []string{t.MessageID, t.Recipient, t.Sender, t.Campaign} {
		if len(f) > maxFieldLen {
			return "", errors.New("tracking: token field too long")
		}
	}
	if t.LinkIndex < 0 {
		return "", errors.New("tracking: negative link index")
	}
	pt := make([]byte, 0, 64+len(t.MessageID)+len(t.Recipient)+len(t.Sender)+len(t.Campaign)+len(t.URL))
	pt = append(pt, tokenVersion, byte(t.Kind))
	issued := t.IssuedAt.Unix()
	if issued < 0 {
		issued = 0
	}
	pt = binary.AppendUvarint(pt, uint64(issued))
	pt = binary.AppendUvarint(pt, uint64(t.LinkIndex))
	for _, f := range []string{t.MessageID, t.Recipient, t.Sender, t.Campaign, t.URL} {
		pt = appendField(pt, f)
	}
	aead, err := chacha20poly1305.NewX(k.Current.Secret)
	if err != nil {
		return "", err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	out := make([]byte, tokenHeaderSize, tokenHeaderSize+len(pt)+aead.Overhead())
	out[0] = k.Current.ID
	if _, err := io.ReadFull(rnd, out[1:tokenHeaderSize]); err != nil {
		return "", fmt.Errorf("tracking: nonce: %w", err)
	}
	out = aead.Seal(out, out[1:tokenHeaderSize], pt, additionalData(out[0]))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

func additionalData(id byte) []byte { return []byte{'s', 'g', 't', tokenVersion, id} }

// Open authenticates and decrypts a token. Any failure is ErrInvalidToken.
// maxAge > 0 also rejects tokens issued longer ago than that.
func (k Keys) Open(s string, now time.Time, maxAge time.Duration) (Token, error) {
	if len(s) == 0 || len(s) > maxTokenBytes*4/3+4 {
		return Token{}, ErrInvalidToken
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(raw) < tokenHeaderSize+chacha20poly1305.Overhead {
		return Token{}, ErrInvalidToken
	}
	secret, ok := k.lookup(raw[0], now)
	if !ok {
		return Token{}, ErrInvalidToken
	}
	aead, err := chacha20poly1305.NewX(secret)
	if err != nil {
		return Token{}, ErrInvalidToken
	}
	pt, err := aead.Open(nil, raw[1:tokenHeaderSize], raw[tokenHeaderSize:], additionalData(raw[0]))
	if err != nil {
		return Token{}, ErrInvalidToken
	}
	t, err := decodeToken(pt)
	if err != nil {
		return Token{}, ErrInvalidToken
	}
	if maxAge > 0 && now.Sub(t.IssuedAt) > maxAge {
		return Token{}, ErrInvalidToken
	}
	return t, nil
}

func decodeToken(pt []byte) (Token, error) {
	bad := errors.New("bad token plaintext")
	if len(pt) < 2 || pt[0] != tokenVersion {
		return Token{}, bad
	}
	t := Token{Kind: TokenKind(pt[1])}
	if !t.Kind.valid() {
		return Token{}, bad
	}
	pt = pt[2:]
	issued, n := binary.Uvarint(pt)
	if n <= 0 || issued > 1<<40 {
		return Token{}, bad
	}
	pt = pt[n:]
	t.IssuedAt = time.Unix(int64(issued), 0).UTC()
	idx, n := binary.Uvarint(pt)
	if n <= 0 || idx > 1<<20 {
		return Token{}, bad
	}
	pt = pt[n:]
	t.LinkIndex = int(idx)
	fields := []*string{&t.MessageID, &t.Recipient, &t.Sender, &t.Campaign, &t.URL}
	for _, f := range fields {
		l, n := binary.Uvarint(pt)
		if n <= 0 || l > uint64(len(pt)-n) {
			return Token{}, bad
		}
		*f = string(pt[n : n+int(l)])
		pt = pt[n+int(l):]
	}
	if len(pt) != 0 {
		return Token{}, bad
	}
	if t.Kind == TokenClick && !sealedURLOK(t.URL) {
		return Token{}, bad
	}
	return t, nil
}

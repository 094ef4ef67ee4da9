package tracking

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func sampleToken() Token {
	return Token{Kind: TokenClick, MessageID: "Q1", Recipient: "pat@example.net", Sender: "news@clinic.example",
		Campaign: "c1", LinkIndex: 3, URL: "https://clinic.example/book?id=7", IssuedAt: testNow}
}

func TestTokenRoundTrip(t *testing.T) {
	k := testKeys()
	s, err := k.Seal(sampleToken(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(s, "=+/") {
		t.Errorf("token %q is not unpadded base64url", s)
	}
	got, err := k.Open(s, testNow, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got != sampleToken() {
		t.Errorf("got %+v", got)
	}
	// Nothing readable: not the URL, host, recipient or message ID, in
	// the token or in its decoded bytes.
	raw, _ := base64.RawURLEncoding.DecodeString(s)
	for _, secret := range []string{"clinic", "pat@", "example", "Q1", "book"} {
		if strings.Contains(s, secret) || bytes.Contains(raw, []byte(secret)) {
			t.Errorf("token reveals %q", secret)
		}
	}
}

func TestTokenEveryByteFlipFails(t *testing.T) {
	k := testKeys()
	s, err := k.Seal(sampleToken(), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(s)
	for i := range raw {
		for _, bit := range []byte{0x01, 0x80} {
			m := bytes.Clone(raw)
			m[i] ^= bit
			if _, err := k.Open(base64.RawURLEncoding.EncodeToString(m), testNow, 0); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("byte %d ^%#x: opened (err %v)", i, bit, err)
			}
		}
	}
	// And every character of the text form.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range s {
		c := alphabet[(strings.IndexByte(alphabet, s[i])+1)%len(alphabet)]
		m := s[:i] + string(c) + s[i+1:]
		if _, err := k.Open(m, testNow, 0); err == nil {
			t.Fatalf("char %d changed: token still opens", i)
		}
	}
	for _, m := range []string{"", s[:len(s)-1], s + "A", s[:40], s + "=", "!" + s[1:]} {
		if _, err := k.Open(m, testNow, 0); err == nil {
			t.Errorf("truncated/extended token %q opened", m)
		}
	}
}

func TestTokenKeys(t *testing.T) {
	old := fixedKey(1, 0x11)
	cur := fixedKey(2, 0x22)
	until := testNow.Add(30 * 24 * time.Hour)
	oldRing := Keys{Current: old}
	s, err := oldRing.Seal(sampleToken(), nil)
	if err != nil {
		t.Fatal(err)
	}
	rotated := Keys{Current: cur, Previous: []Key{old}, PreviousUntil: until}
	if err := rotated.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.Open(s, testNow, 0); err != nil {
		t.Errorf("previous key before PreviousUntil: %v", err)
	}
	if _, err := rotated.Open(s, until, 0); err == nil {
		t.Error("previous key at PreviousUntil still opens")
	}
	if _, err := (Keys{Current: cur}).Open(s, testNow, 0); err == nil {
		t.Error("token of an unknown key opened")
	}
	// Same key ID, different secret: the wrong key.
	wrong := Keys{Current: fixedKey(1, 0x99)}
	if _, err := wrong.Open(s, testNow, 0); err == nil {
		t.Error("wrong secret opened the token")
	}
	// New tokens use the current key.
	s2, _ := rotated.Seal(sampleToken(), nil)
	if _, err := (Keys{Current: cur}).Open(s2, testNow, 0); err != nil {
		t.Errorf("new token not sealed with current key: %v", err)
	}
	// Max age.
	if _, err := rotated.Open(s2, testNow.Add(48*time.Hour), 24*time.Hour); err == nil {
		t.Error("token older than max age opened")
	}
	if _, err := rotated.Open(s2, testNow.Add(time.Hour), 24*time.Hour); err != nil {
		t.Errorf("young token rejected: %v", err)
	}
}

func TestKeysValidate(t *testing.T) {
	bad := []Keys{
		{},
		{Current: Key{ID: 1, Secret: []byte("short")}},
		{Current: fixedKey(1, 1), Previous: []Key{fixedKey(1, 2)}, PreviousUntil: testNow},
		{Current: fixedKey(1, 1), Previous: []Key{fixedKey(2, 2)}},
	}
	for i, k := range bad {
		if k.Validate() == nil {
			t.Errorf("case %d: invalid keys accepted", i)
		}
	}
}

func TestSealRefusesBadURLs(t *testing.T) {
	k := testKeys()
	for _, u := range []string{"javascript:alert(1)", "//evil.example/", "data:text/html,x", "ftp://x.example/",
		"https://user:pw@x.example/", "https://x.example/\r\nSet-Cookie: a", "https://x.example/\u00e9", "/relative",
		"https://x.example/" + strings.Repeat("a", 3000)} {
		tok := sampleToken()
		tok.URL = u
		if _, err := k.Seal(tok, nil); err == nil {
			t.Errorf("sealed %q", u)
		}
	}
}

func TestKeyFormatParseAndRedaction(t *testing.T) {
	k, err := GenerateKey(9, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseKey(FormatKey(k))
	if err != nil || p.ID != 9 || !bytes.Equal(p.Secret, k.Secret) {
		t.Fatalf("round trip: %v", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(k.Secret)
	for _, s := range []string{k.String(), k.GoString(), strings.ReplaceAll(strings.ReplaceAll(sprintAll(k), "\n", ""), " ", "")} {
		if strings.Contains(s, secret[:10]) {
			t.Errorf("key printing shows the secret: %s", s)
		}
	}
	for _, s := range []string{"nokey", "300:" + secret, "1:!!!", "1:" + secret[:20]} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		}
	}
}

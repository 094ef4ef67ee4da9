package tracking

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
)

const testBase = "https://gw.example.com"

func fixedKey(id byte, fill byte) Key {
	return Key{ID: id, Secret: bytes.Repeat([]byte{fill}, KeySize)}
}

func testKeys() Keys { return Keys{Current: fixedKey(7, 0x42)} }

// seededRand is a deterministic nonce source so golden files are stable.
func seededRand() io.Reader {
	return rand.NewChaCha8([32]byte{1, 2, 3})
}

var testNow = time.Date(2026, 12, 4, 16, 0, 0, 0, time.UTC)

func testParams() Params {
	return Params{
		BaseURL:    testBase,
		Keys:       testKeys(),
		Exclusions: []string{"https://clinic.example/unsubscribe", "portal.clinic.example"},
		MessageID:  "Q20261204A",
		Recipient:  "pat@example.net",
		Sender:     "news@clinic.example",
		Now:        testNow,
		Rand:       seededRand(),
	}
}

var trackingURLRE = regexp.MustCompile(`https://gw\.example\.com/t/([och])/([A-Za-z0-9_-]+)`)

// trackingTokens lists (kind, token) of every tracking URL in s, in order.
func trackingTokens(s string) [][2]string {
	var out [][2]string
	for _, m := range trackingURLRE.FindAllStringSubmatch(s, -1) {
		out = append(out, [2]string{m[1], m[2]})
	}
	return out
}

// leaf is one non-multipart part as go-message (an independent parser)
// sees it: its media type, disposition and decoded body.
type leaf struct {
	mediaType, disposition string
	body                   []byte
}

func leaves(t *testing.T, raw []byte) []leaf {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) {
		t.Fatalf("go-message cannot parse: %v", err)
	}
	var out []leaf
	var walk func(e *message.Entity)
	walk = func(e *message.Entity) {
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					return
				}
				if err != nil && !message.IsUnknownCharset(err) {
					t.Fatalf("next part: %v", err)
				}
				walk(p)
			}
		}
		mt, _, _ := e.Header.ContentType()
		d, _, _ := e.Header.ContentDisposition()
		b, err := io.ReadAll(e.Body)
		if err != nil {
			t.Fatalf("reading %s body: %v", mt, err)
		}
		out = append(out, leaf{mediaType: strings.ToLower(mt), disposition: d, body: b})
	}
	walk(e)
	return out
}

func sprintAll(k Key) string { return fmt.Sprintf("%v %+v %#v %s", k, k, k, k) }

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }

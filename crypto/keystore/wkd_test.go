package keystore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealgate/sealgate/internal/testtool"
)

// wkdServer is an httptest TLS server on loopback that serves keys by path.
type wkdServer struct {
	*httptest.Server
	mu    sync.Mutex
	hits  []string // request URIs in order
	files map[string][]byte
}

func newWKDServer(t *testing.T) *wkdServer {
	t.Helper()
	w := &wkdServer{files: map[string][]byte{}}
	w.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.hits = append(w.hits, r.URL.RequestURI())
		body, ok := w.files[r.URL.Path]
		w.mu.Unlock()
		if !ok {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "application/octet-stream")
		rw.Write(body)
	}))
	// The untrusted-certificate test makes the server log a handshake error.
	w.Server.Config.ErrorLog = log.New(io.Discard, "", 0)
	w.StartTLS()
	t.Cleanup(w.Close)
	return w
}

func (w *wkdServer) set(path string, body []byte) {
	w.mu.Lock()
	w.files[path] = body
	w.mu.Unlock()
}

func (w *wkdServer) requests() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.hits...)
}

// closedURL is an https URL on loopback where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "https://" + addr
}

func TestWKDHashAgainstGnuPG(t *testing.T) {
	// The example of draft-koch-openpgp-webkey-service §3.1.
	if got := WKDHash("Joe.Doe"); got != "iy9q119eutrkn8s1mk4r39qejnbu3n5q" {
		t.Fatalf("WKDHash = %s", got)
	}
	want := "https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe"
	if got := WKDURL(WKDAdvanced, "https://openpgpkey.example.org", "Joe.Doe", "example.org"); got != want {
		t.Fatalf("advanced URL = %s", got)
	}
	if got := WKDURL(WKDDirect, "https://example.org", "Joe.Doe", "example.org"); got != "https://example.org/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe" {
		t.Fatalf("direct URL = %s", got)
	}

	// GnuPG's own client computes the same URL (it lower-cases the whole
	// address first, hence the lower-case example).
	tool := "/usr/lib/gnupg/gpg-wks-client"
	if _, err := os.Stat(tool); err != nil {
		tool = testtool.Require(t, "gpg-wks-client")
	}
	for _, addr := range []string{"joe.doe@example.org", "patient.portal+x@clinic.example"} {
		out, err := exec.Command(tool, "--print-wkd-url", addr).Output()
		if err != nil {
			t.Fatalf("gpg-wks-client: %v", err)
		}
		local, domain, _ := strings.Cut(addr, "@")
		got := WKDURL(WKDAdvanced, "https://openpgpkey."+domain, local, domain)
		// GnuPG leaves '+' bare in the query, where form decoding would
		// read a space; we escape it. Compare the decoded local part.
		gu, err1 := url.Parse(strings.TrimSpace(string(out)))
		ou, err2 := url.Parse(got)
		if err1 != nil || err2 != nil {
			t.Fatalf("unparseable URL: %v %v", err1, err2)
		}
		gl, _ := url.PathUnescape(strings.TrimPrefix(gu.RawQuery, "l="))
		ol, _ := url.PathUnescape(strings.TrimPrefix(ou.RawQuery, "l="))
		if gu.Scheme+gu.Host+gu.Path != ou.Scheme+ou.Host+ou.Path || gl != ol || gl != local {
			t.Errorf("gpg-wks-client says %s, we say %s", gu, got)
		}
	}
}

func TestWKDAdvancedDirect404GarbageCache(t *testing.T) {
	clock := newFakeClock()
	srv := newWKDServer(t)
	alice := makeEntity(t, "Alice", "alice@example.org", 0, clock.Now().Add(-time.Hour))
	bob := makeEntity(t, "Bob", "Bob@example.net", 0, clock.Now().Add(-time.Hour))
	srv.set("/.well-known/openpgpkey/example.org/hu/"+WKDHash("alice"), binaryPublic(t, alice))
	srv.set("/.well-known/openpgpkey/hu/"+WKDHash("bob"), armoredPublic(t, bob))
	srv.set("/.well-known/openpgpkey/example.org/hu/"+WKDHash("mallory"), []byte("<html>not a key</html>"))
	// A key served for an address it does not carry.
	srv.set("/.well-known/openpgpkey/example.org/hu/"+WKDHash("carol"), binaryPublic(t, alice))

	dead := closedURL(t)
	w := NewWKD(WKDOptions{
		Client: srv.Client(),
		Clock:  clock,
		BaseURL: func(m WKDMethod, domain string) string {
			if domain == "example.net" && m == WKDAdvanced {
				return dead // no openpgpkey subdomain: the direct method is used
			}
			return srv.URL
		},
		Timeout: 5 * time.Second,
	})

	// Advanced method.
	k, err := w.Lookup(ctx, "alice@Example.org")
	if err != nil || len(k.PGP) != 1 || k.Source != SourceWKD || k.PGP[0].PrimaryKey.KeyId != alice.PrimaryKey.KeyId {
		t.Fatalf("alice = %+v, %v", k, err)
	}
	want := "/.well-known/openpgpkey/example.org/hu/" + WKDHash("alice") + "?l=alice"
	if r := srv.requests(); len(r) != 1 || r[0] != want {
		t.Fatalf("requests = %v, want [%s]", r, want)
	}

	// Direct method after the advanced host is unreachable; the l=
	// parameter keeps the local part as given.
	k, err = w.Lookup(ctx, "Bob@example.net")
	if err != nil || len(k.PGP) != 1 {
		t.Fatalf("bob = %+v, %v", k, err)
	}
	want = "/.well-known/openpgpkey/hu/" + WKDHash("bob") + "?l=Bob"
	if r := srv.requests(); len(r) != 2 || r[1] != want {
		t.Fatalf("requests = %v, want %s last", r, want)
	}

	// 404: no key, no error.
	k, err = w.Lookup(ctx, "nobody@example.org")
	if err != nil || !k.Empty() {
		t.Fatalf("404 = %+v, %v", k, err)
	}
	// Garbage: an error, so that delivery does not mistake it for "no key".
	if _, err := w.Lookup(ctx, "mallory@example.org"); !errors.Is(err, ErrWKD) {
		t.Fatalf("garbage: err = %v", err)
	}
	// A key without the address in a user ID is not used.
	if k, err := w.Lookup(ctx, "carol@example.org"); err != nil || !k.Empty() {
		t.Fatalf("foreign key = %+v, %v", k, err)
	}

	// Cache hits: positive and negative answers are not asked again.
	n := len(srv.requests())
	for _, a := range []string{"alice@example.org", "nobody@example.org", "ALICE@example.org"} {
		if _, err := w.Lookup(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(srv.requests()); got != n {
		t.Fatalf("cache missed: %d new requests", got-n)
	}
	// Garbage is not cached.
	w.Lookup(ctx, "mallory@example.org")
	if got := len(srv.requests()); got != n+1 {
		t.Fatalf("error answer cached or asked twice: %d new requests", got-n)
	}
	// Expiry of the negative entry, then of the positive one.
	clock.Advance(DefaultWKDNegativeTTL + time.Second)
	w.Lookup(ctx, "nobody@example.org")
	w.Lookup(ctx, "alice@example.org")
	if got := len(srv.requests()); got != n+2 {
		t.Fatalf("after negative TTL: %d new requests, want 2", got-n)
	}
	clock.Advance(DefaultWKDCacheTTL)
	w.Lookup(ctx, "alice@example.org")
	if got := len(srv.requests()); got != n+3 {
		t.Fatalf("after positive TTL: %d new requests, want 3", got-n)
	}
}

func TestWKDHostile(t *testing.T) {
	clock := newFakeClock()
	srv := newWKDServer(t)
	srv.set("/.well-known/openpgpkey/example.org/hu/"+WKDHash("big"), bytes.Repeat([]byte{0x99}, 2048))
	slow := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()

	w := NewWKD(WKDOptions{Client: srv.Client(), Clock: clock, MaxKeyBytes: 1024,
		BaseURL: func(WKDMethod, string) string { return srv.URL }})
	if _, err := w.Lookup(ctx, "big@example.org"); !errors.Is(err, ErrWKD) {
		t.Fatalf("oversized answer: err = %v", err)
	}
	plain := NewWKD(WKDOptions{Client: srv.Client(), Clock: clock,
		BaseURL: func(WKDMethod, string) string { return strings.Replace(srv.URL, "https", "http", 1) }})
	if _, err := plain.Lookup(ctx, "a@example.org"); !errors.Is(err, ErrWKD) {
		t.Fatalf("http base URL: err = %v", err)
	}
	if _, err := w.Lookup(ctx, "a@exa mple.org"); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("bad domain: err = %v", err)
	}
	sw := NewWKD(WKDOptions{Client: slow.Client(), Clock: clock, Timeout: 200 * time.Millisecond,
		BaseURL: func(WKDMethod, string) string { return slow.URL }})
	start := time.Now()
	if _, err := sw.Lookup(context.Background(), "a@example.org"); !errors.Is(err, ErrWKD) {
		t.Fatalf("slow server: err = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("timeout not enforced: %v", d)
	}
	// The default client refuses the test server's self-signed certificate.
	def := NewWKD(WKDOptions{Clock: clock, BaseURL: func(WKDMethod, string) string { return srv.URL }})
	if _, err := def.Lookup(ctx, "a@example.org"); !errors.Is(err, ErrWKD) {
		t.Fatalf("untrusted certificate accepted: %v", err)
	}
}

func TestResolverOrder(t *testing.T) {
	clock := newFakeClock()
	s, _ := openStore(t, clock)
	srv := newWKDServer(t)
	key := rsaKey(t)
	alicePEM, _ := makeCert(t, key, certSpec{emails: []string{"alice@example.org"}})
	domPEM, _ := makeCert(t, key, certSpec{})
	s.Import(bytes.NewReader(alicePEM), ImportOptions{})
	s.Import(bytes.NewReader(domPEM), ImportOptions{Domain: "example.org"})
	bob := makeEntity(t, "Bob", "bob@example.org", 0, clock.Now().Add(-time.Hour))
	srv.set("/.well-known/openpgpkey/example.org/hu/"+WKDHash("bob"), binaryPublic(t, bob))
	srv.set("/.well-known/openpgpkey/example.org/hu/"+WKDHash("alice"), []byte("garbage"))

	r := &Resolver{Store: s, WKD: NewWKD(WKDOptions{Client: srv.Client(), Clock: clock,
		BaseURL: func(WKDMethod, string) string { return srv.URL }})}
	var _ Lookup = r
	var _ Lookup = s

	if k, err := r.Lookup(ctx, "alice@example.org"); err != nil || k.Source != SourceAddress {
		t.Fatalf("alice = %+v, %v (local key first, WKD not asked)", k, err)
	}
	if k, err := r.Lookup(ctx, "bob@example.org"); err != nil || k.Source != SourceWKD {
		t.Fatalf("bob = %+v, %v (WKD before the domain key)", k, err)
	}
	if k, err := r.Lookup(ctx, "carol@example.org"); err != nil || k.Source != SourceDomain {
		t.Fatalf("carol = %+v, %v (domain key last)", k, err)
	}
	// WKD broken and no domain key: the error is reported.
	srv.set("/.well-known/openpgpkey/other.org/hu/"+WKDHash("dan"), []byte("garbage"))
	if _, err := r.Lookup(ctx, "dan@other.org"); !errors.Is(err, ErrWKD) {
		t.Fatalf("dan: err = %v", err)
	}
	// Without WKD the store alone answers.
	if k, err := (&Resolver{Store: s}).Lookup(ctx, "bob@example.org"); err != nil || k.Source != SourceDomain {
		t.Fatalf("bob without WKD = %+v, %v", k, err)
	}
}

package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealgate/sealgate/tracking"
	"github.com/sealgate/sealgate/tracking/events"
)

const testWebhookSecret = "whsec-cli-test-0123456789"

func runWebhooksT(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = runWebhooks(args, &o, &e)
	return code, o.String(), e.String()
}

// runStoreUntil runs the store's dispatcher until cond holds (or fails the
// test after 10s), then stops it.
func runStoreUntil(t *testing.T, s *events.Store, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestWebhooksListAndReplayDead(t *testing.T) {
	var accept atomic.Bool
	var delivered atomic.Int32
	var lastBody atomic.Value
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !accept.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if events.VerifySignature([]byte(testWebhookSecret), r.Header.Get(events.HeaderSignature), body, time.Now(), time.Minute) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		lastBody.Store(string(body))
		delivered.Add(1)
	}))
	defer recv.Close()

	dir := t.TempDir()
	opts := events.Options{
		Path: filepath.Join(dir, events.DefaultFile),
		Subscribers: []events.Subscriber{{Name: "crm", URL: recv.URL, Secret: testWebhookSecret,
			IncludeAutomated: true}},
		MaxAttempts: 2, RetryBase: 5 * time.Millisecond, RetryCap: 5 * time.Millisecond, PollInterval: 5 * time.Millisecond,
	}
	s, err := events.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"q1", "q2"} {
		if err := s.Record(tracking.Event{Time: time.Now(), Kind: tracking.EventDelivered, MessageID: id,
			Recipient: "pat@patients.example", Method: "tls"}); err != nil {
			t.Fatal(err)
		}
	}
	deadCount := func() int {
		st, err := s.OutboxStats()
		if err != nil || len(st) != 1 {
			return -1
		}
		return st[0].Dead
	}
	runStoreUntil(t, s, func() bool { return deadCount() == 2 })
	s.Close()

	code, out, errOut := runWebhooksT("list", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, errOut)
	}
	if !regexp.MustCompile(`(?m)^crm\s+0\s+2\s+-\s+status 502$`).MatchString(out) {
		t.Errorf("list output:\n%s", out)
	}

	code, out, errOut = runWebhooksT("replay", "--data-dir", dir, "--dead", "--subscriber", "crm",
		"--since", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	if code != 0 || !strings.Contains(out, "requeued 2 deliveries") {
		t.Fatalf("replay: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runWebhooksT("list", "--data-dir", dir)
	if code != 0 || !regexp.MustCompile(`(?m)^crm\s+2\s+0\s+\d{4}-`).MatchString(out) {
		t.Errorf("list after replay:\n%s", out)
	}

	// The gateway starts again with a working receiver: both are delivered.
	accept.Store(true)
	s, err = events.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	outboxEmpty := func() bool {
		st, err := s.OutboxStats()
		return err == nil && len(st) == 1 && st[0].Pending == 0 && st[0].Dead == 0
	}
	runStoreUntil(t, s, func() bool { return delivered.Load() == 2 && outboxEmpty() })
	if b, _ := lastBody.Load().(string); !strings.Contains(b, `"type":"delivered"`) {
		t.Errorf("re-delivered body = %s", b)
	}
	if n := delivered.Load(); n != 2 {
		t.Errorf("receiver accepted %d deliveries, want 2", n)
	}
}

func TestWebhooksCLIErrors(t *testing.T) {
	dir := t.TempDir()
	s, err := events.Open(events.Options{Path: filepath.Join(dir, events.DefaultFile)})
	if err != nil {
		t.Fatal(err)
	}
	// While another process (here: this one) holds the database, the CLI
	// says so quickly instead of hanging.
	start := time.Now()
	code, _, errOut := runWebhooksT("list", "--data-dir", dir)
	if code != 1 || !strings.Contains(errOut, "sealgate serve running") {
		t.Errorf("locked database: exit %d, %q", code, errOut)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("locked database took %v to report", el)
	}
	s.Close()

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage:"},
		{[]string{"purge"}, 2, "usage:"},
		{[]string{"list", "extra"}, 2, "usage:"},
		{[]string{"replay", "--data-dir", dir}, 2, "needs --dead, or --since"},
		{[]string{"replay", "--data-dir", dir, "--dead", "--since", "yesterday"}, 2, "RFC 3339"},
		{[]string{"replay", "--data-dir", dir, "--dead", "--subscriber", "a b"}, 2, "not a subscriber name"},
		{[]string{"replay", "--data-dir", dir, "--since", "2026-01-01T00:00:00Z"}, 1, "needs the webhook subscribers"},
		{[]string{"list", "--data-dir", filepath.Join(dir, "nope")}, 1, "no events database at"},
		{[]string{"list", "--bogus"}, 2, "flag provided but not defined"},
	} {
		code, _, errOut := runWebhooksT(c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
	// An empty outbox lists nothing but the header and replays nothing.
	code, out, _ := runWebhooksT("list", "--data-dir", dir)
	if code != 0 || strings.TrimSpace(out) != "SUBSCRIBER  PENDING  DEAD  OLDEST PENDING  LAST ERROR" {
		t.Errorf("empty list: %d %q", code, out)
	}
	code, out, _ = runWebhooksT("replay", "--data-dir", dir, "--dead")
	if code != 0 || !strings.Contains(out, "requeued 0") {
		t.Errorf("empty replay: %d %q", code, out)
	}
}

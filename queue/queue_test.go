package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEnqueueDeliverGroupsByDomain(t *testing.T) {
	rec := newRecorder(nil)
	q := mustOpen(t, testOptions(t, rec))
	body := testMessage("hello")
	id, err := q.Enqueue(context.Background(), Envelope{
		From:       "sender@clinic.example",
		To:         []string{"a@Dest.example", "b@dest.EXAMPLE", "c@other.example", "a@Dest.example"},
		RequireTLS: true,
		Meta:       map[string]string{"policy": "tls"},
	}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if !validID(id) {
		t.Fatalf("id %q is not a 16-char queue id", id)
	}
	start(t, q)
	waitFor(t, "message delivered and removed", func() bool { return gone(q, id) })

	atts := rec.forID(id)
	if len(atts) != 2 {
		t.Fatalf("got %d attempts, want 2 (one per domain)", len(atts))
	}
	byDomain := map[string][]string{}
	for _, a := range atts {
		if string(a.body) != body {
			t.Fatalf("attempt body differs from the enqueued body")
		}
		if !a.a.RequireTLS || a.a.Meta["policy"] != "tls" || a.a.From != "sender@clinic.example" {
			t.Fatalf("envelope not handed back: %+v", a.a)
		}
		if a.a.Size != int64(len(body)) || a.a.Attempts != 1 {
			t.Fatalf("size %d attempts %d", a.a.Size, a.a.Attempts)
		}
		byDomain[a.a.Domain] = append(byDomain[a.a.Domain], a.a.Rcpts...)
	}
	sort.Strings(byDomain["dest.example"])
	if got := strings.Join(byDomain["dest.example"], ","); got != "a@Dest.example,b@dest.EXAMPLE" {
		t.Fatalf("dest.example group = %q (duplicates must be removed, domains compared lowercase)", got)
	}
	if got := strings.Join(byDomain["other.example"], ","); got != "c@other.example" {
		t.Fatalf("other.example group = %q", got)
	}
	waitFor(t, "body of the delivered message removed", func() bool {
		_, err := os.Stat(q.spoolPath(id))
		return errors.Is(err, os.ErrNotExist)
	})
	st := q.Stats()
	for s, n := range st.Recipients {
		if n != 0 {
			t.Fatalf("after delivery %d recipients are %s", n, s)
		}
	}
	if st.Messages != 0 || st.OldestAge != 0 {
		t.Fatalf("stats after delivery: %+v", st)
	}
}

func TestEnqueueRejectsBadInput(t *testing.T) {
	q := mustOpen(t, testOptions(t, nil))
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, Envelope{From: "a@b.example"}, strings.NewReader("x")); !errors.Is(err, ErrNoRecipients) {
		t.Fatalf("no recipients: %v", err)
	}
	for _, bad := range []string{"nodomain", "a@b.example\r\nRCPT TO:<x@y>", ""} {
		if _, err := q.Enqueue(ctx, Envelope{To: []string{bad}}, strings.NewReader("x")); err == nil {
			t.Fatalf("recipient %q accepted", bad)
		}
	}
	opts := testOptions(t, nil)
	opts.MaxMessageSize = 10
	q2 := mustOpen(t, opts)
	if _, err := q2.Enqueue(ctx, Envelope{To: []string{"a@b.example"}}, strings.NewReader("01234567890")); !errors.Is(err, ErrTooBig) {
		t.Fatalf("11 bytes with limit 10: %v", err)
	}
	if _, err := q2.Enqueue(ctx, Envelope{To: []string{"a@b.example"}}, strings.NewReader("0123456789")); err != nil {
		t.Fatalf("10 bytes with limit 10: %v", err)
	}
	ents, _ := os.ReadDir(q2.spoolDir)
	if len(ents) != 1 {
		t.Fatalf("rejected messages left %d spool files, want 1", len(ents))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := q.Enqueue(cctx, Envelope{To: []string{"a@b.example"}}, strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	if _, err := Open(Options{Dir: t.TempDir(), Key: []byte("short")}); err == nil {
		t.Fatal("Open accepted a 5-byte key")
	}
}

func TestBackoffBounds(t *testing.T) {
	q := &Queue{opts: Options{MinRetry: time.Minute, MaxRetry: time.Hour}}
	for n := 1; n <= 12; n++ {
		base := time.Minute << (n - 1)
		if base > time.Hour {
			base = time.Hour
		}
		lo, hi := base, time.Duration(0)
		for range 2000 {
			d := q.backoff(n)
			if d <= base*8/10 || d > base {
				t.Fatalf("backoff(%d) = %v, want in (%v, %v]", n, d, base*8/10, base)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if hi-lo < base/10 {
			t.Fatalf("backoff(%d) has no jitter: range %v..%v", n, lo, hi)
		}
	}
}

func TestTempFailRetriedWithGrowingBackoff(t *testing.T) {
	clock := newFakeClock()
	failures := 3
	rec := newRecorder(nil)
	rec.fn = func(a Attempt, body []byte) []Result {
		if a.Attempts <= failures {
			return allStatus(a, StatusTempFail, 451, "4.3.0", "try again later")
		}
		return allStatus(a, StatusDelivered, 250, "2.0.0", "ok")
	}
	opts := testOptions(t, rec)
	opts.Clock = clock
	opts.MinRetry = time.Minute
	opts.MaxRetry = 10 * time.Minute
	q := mustOpen(t, opts)
	id := enqueue(t, q, "s@clinic.example", []string{"r@dest.example"}, testMessage("x"))
	start(t, q)

	for n := 1; n <= failures; n++ {
		waitFor(t, "attempt recorded as deferred", func() bool {
			return len(rec.forID(id)) == n && rcptState(t, q, id, "r@dest.example").State == StateDeferred
		})
		r := rcptState(t, q, id, "r@dest.example")
		if r.Attempts != n || r.Code != 451 || r.Enhanced != "4.3.0" || r.Text != "try again later" {
			t.Fatalf("after attempt %d: %+v", n, r)
		}
		base := time.Minute << (n - 1)
		delay := r.NextAttempt.Sub(clock.Now())
		if delay <= base*8/10 || delay > base {
			t.Fatalf("retry %d scheduled after %v, want in (%v, %v]", n, delay, base*8/10, base)
		}
		// Not due yet: nothing happens even after many scheduler polls.
		clock.Set(r.NextAttempt.Add(-time.Second))
		q.kick()
		neverWithin(t, 60*time.Millisecond, "attempt before its time", func() bool { return len(rec.forID(id)) > n })
		clock.Set(r.NextAttempt)
	}
	waitFor(t, "delivered after retries", func() bool { return gone(q, id) })
	if got := len(rec.forID(id)); got != failures+1 {
		t.Fatalf("%d attempts, want %d", got, failures+1)
	}
	if d := rec.dsns(); len(d) != 0 {
		t.Fatalf("a message delivered within the warning time produced %d DSNs", len(d))
	}
}

func TestMissingResultIsTempFail(t *testing.T) {
	rec := newRecorder(func(a Attempt, body []byte) []Result {
		// Only the first recipient gets a result, and an unknown one is ignored.
		return []Result{{Rcpt: strings.ToUpper(a.Rcpts[0]), Status: StatusDelivered, Code: 250},
			{Rcpt: "intruder@dest.example", Status: StatusPermFail, Code: 550}}
	})
	q := mustOpen(t, testOptions(t, rec))
	id := enqueue(t, q, "s@clinic.example", []string{"a@dest.example", "b@dest.example"}, "x")
	start(t, q)
	waitFor(t, "results applied", func() bool {
		return rcptState(t, q, id, "b@dest.example").State == StateDeferred
	})
	if r := rcptState(t, q, id, "a@dest.example"); r.State != StateDelivered {
		t.Fatalf("a: %+v", r)
	}
	if r := rcptState(t, q, id, "b@dest.example"); !strings.Contains(r.Text, "no result") {
		t.Fatalf("b text %q", r.Text)
	}
	if len(rec.dsns()) != 0 {
		t.Fatal("a missing result produced a DSN")
	}
}

func TestDelivererPanicAndHangDoNotWedge(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	rec := newRecorder(nil)
	rec.fn = func(a Attempt, body []byte) []Result {
		switch {
		case bytes.Contains(body, []byte("PANIC")):
			panic("deliverer bug: " + canary)
		case bytes.Contains(body, []byte("HANG")):
			<-hang // ignores ctx on purpose
		}
		return allStatus(a, StatusDelivered, 250, "", "ok")
	}
	opts := testOptions(t, rec)
	opts.AttemptTimeout = 50 * time.Millisecond
	opts.Workers = 2
	var logs bytes.Buffer
	opts.Logger = newTestLogger(&logs)
	q := mustOpen(t, opts)
	p := enqueue(t, q, "s@clinic.example", []string{"r@dest.example"}, "PANIC")
	h := enqueue(t, q, "s@clinic.example", []string{"r@dest.example"}, "HANG")
	stop := start(t, q)
	waitFor(t, "panic recorded", func() bool { return rcptState(t, q, p, "r@dest.example").State == StateDeferred })
	waitFor(t, "hang recorded", func() bool { return rcptState(t, q, h, "r@dest.example").State == StateDeferred })
	if r := rcptState(t, q, h, "r@dest.example"); !strings.Contains(r.Text, "timed out") {
		t.Fatalf("hang text %q", r.Text)
	}
	if r := rcptState(t, q, p, "r@dest.example"); strings.Contains(r.Text, "CANARY") {
		t.Fatalf("panic value leaked into the state: %q", r.Text)
	}
	// The queue still works with both earlier attempts stuck or failed.
	ok := enqueue(t, q, "s@clinic.example", []string{"r@dest.example"}, "fine")
	waitFor(t, "later message delivered", func() bool { return gone(q, ok) })
	stop()
	if strings.Contains(logs.String(), "CANARY") {
		t.Fatal("panic value with content was logged")
	}
}

func TestRunShutdownIsBounded(t *testing.T) {
	inFlight := make(chan struct{}, 1)
	opts := testOptions(t, delivererFunc(func(ctx context.Context, a Attempt) []Result {
		inFlight <- struct{}{}
		<-ctx.Done() // a slow remote: only the shutdown cancellation ends it
		return nil
	}))
	opts.ShutdownTimeout = 100 * time.Millisecond
	q := mustOpen(t, opts)
	id := enqueue(t, q, "s@clinic.example", []string{"r@dest.example"}, "x")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	<-inFlight
	t0 := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	if el := time.Since(t0); el < 100*time.Millisecond {
		t.Fatalf("Run returned after %v without waiting for the in-flight attempt", el)
	}
	if r := rcptState(t, q, id, "r@dest.example"); r.State != StateDeferred || r.Attempts != 1 {
		t.Fatalf("after shutdown: %+v", r)
	}
}

func TestCloseWhileEnqueueing(t *testing.T) {
	q := mustOpen(t, testOptions(t, nil))
	var wg sync.WaitGroup
	var ok, closed atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				_, err := q.Enqueue(context.Background(), Envelope{To: []string{"r@dest.example"}}, strings.NewReader("x"))
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrClosed):
					closed.Add(1)
				default:
					t.Errorf("Enqueue during Close: %v", err)
				}
			}
		}()
	}
	waitFor(t, "some enqueues acknowledged", func() bool { return ok.Load() >= 5 })
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait() // no Enqueue may hang
	opts := q.opts
	q2 := mustOpen(t, opts)
	if st := q2.Stats(); st.Messages != ok.Load() {
		t.Fatalf("%d enqueues acknowledged, %d messages after reopen", ok.Load(), st.Messages)
	}
	ents, _ := os.ReadDir(q2.spoolDir)
	if int64(len(ents)) != ok.Load() {
		t.Fatalf("%d spool files for %d messages", len(ents), ok.Load())
	}
	t.Logf("%d acknowledged, %d refused with ErrClosed", ok.Load(), closed.Load())
}

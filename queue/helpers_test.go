package queue

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

var testKey = bytes.Repeat([]byte{0x42}, 32)

// fakeClock is a manual clock; the scheduler still polls in real time
// (PollInterval) but decides what is due by this clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// recorder is a fake Deliverer: it records every attempt with the body it
// read, and answers with fn (delivered when fn is nil).
type recorder struct {
	mu       sync.Mutex
	attempts []recorded
	fn       func(a Attempt, body []byte) []Result
	notify   chan struct{}
}

type recorded struct {
	a    Attempt
	body []byte
	err  error
}

func newRecorder(fn func(a Attempt, body []byte) []Result) *recorder {
	return &recorder{fn: fn, notify: make(chan struct{}, 1)}
}

func (r *recorder) Deliver(ctx context.Context, a Attempt) []Result {
	var body []byte
	rc, err := a.Open()
	if err == nil {
		body, err = io.ReadAll(rc)
		rc.Close()
	}
	r.mu.Lock()
	r.attempts = append(r.attempts, recorded{a: a, body: body, err: err})
	fn := r.fn
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	if err != nil {
		return nil
	}
	if fn != nil {
		return fn(a, body)
	}
	return allStatus(a, StatusDelivered, 250, "2.0.0", "ok")
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.attempts...)
}

// forID returns the attempts made for message id.
func (r *recorder) forID(id string) []recorded {
	var out []recorded
	for _, a := range r.all() {
		if a.a.ID == id {
			out = append(out, a)
		}
	}
	return out
}

// dsns returns attempts of null-sender messages (the DSNs).
func (r *recorder) dsns() []recorded {
	var out []recorded
	for _, a := range r.all() {
		if a.a.From == "" {
			out = append(out, a)
		}
	}
	return out
}

func allStatus(a Attempt, s Status, code int, enh, text string) []Result {
	out := make([]Result, 0, len(a.Rcpts))
	for _, rc := range a.Rcpts {
		out = append(out, Result{Rcpt: rc, Status: s, Code: code, Enhanced: enh, Text: text, MX: "mx." + a.Domain})
	}
	return out
}

func testOptions(t testing.TB, d Deliverer) Options {
	return Options{
		Dir:          t.TempDir(),
		Key:          testKey,
		Hostname:     "gw.test.example",
		Deliverer:    d,
		PollInterval: 5 * time.Millisecond,
		Workers:      4,
	}
}

func mustOpen(t testing.TB, opts Options) *Queue {
	t.Helper()
	q, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() }) // runs after the scheduler started later has stopped
	return q
}

// start runs the scheduler until the returned stop function is called (or
// the test ends) and fails the test if Run returns an error.
func start(t testing.TB, q *Queue) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stable asserts that cond stays false for d (used for "nothing happens
// before it is due").
func neverWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			t.Fatalf("unexpected: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func enqueue(t testing.TB, q *Queue, from string, to []string, body string) string {
	t.Helper()
	id, err := q.Enqueue(context.Background(), Envelope{From: from, To: to}, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return id
}

func gone(q *Queue, id string) bool {
	_, err := q.Get(id)
	return errors.Is(err, ErrNotFound)
}

func rcptState(t testing.TB, q *Queue, id, addr string) RcptInfo {
	t.Helper()
	mi, err := q.Get(id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	for _, r := range mi.Rcpts {
		if r.Addr == addr {
			return r
		}
	}
	t.Fatalf("no recipient %s in %s", addr, id)
	return RcptInfo{}
}

const canary = "CANARY-PHI-7f3a9c SSN 078-05-1120 diagnosis: E11.9"

func testMessage(subject string) string {
	return "From: Dr Sender <sender@clinic.example>\r\n" +
		"To: Patient <rcpt@dest.example>\r\n" +
		"Subject: " + subject + "\r\n" +
		"X-Patient-ID: 12345-PHI\r\n" +
		"Message-ID: <orig-123@clinic.example>\r\n" +
		"Date: Sun, 01 Mar 2026 12:00:00 +0000\r\n" +
		"\r\n" +
		"Hello,\r\n" + canary + "\r\nFrom: not-a-header@body.example\r\n"
}

type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// newTestLogger logs to buf (read it only after the queue is stopped).
func newTestLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedBuffer{b: buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

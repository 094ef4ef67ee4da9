package queue

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// Finish sees the whole body spooled, adds Meta before the commit, and an
// error from it leaves nothing behind.
func TestEnqueueFinishHook(t *testing.T) {
	rec := newRecorder(func(a Attempt, body []byte) []Result { return allStatus(a, StatusTempFail, 451, "4.0.0", "later") })
	opts := testOptions(t, rec)
	q := mustOpen(t, opts)
	called := 0
	id, err := q.Enqueue(context.Background(), Envelope{From: "s@clinic.example", To: []string{"a@dest.example"},
		Meta: map[string]string{"keep": "1"},
		Finish: func() (map[string]string, error) {
			called++
			return map[string]string{"policy": "decided"}, nil
		}}, strings.NewReader(testMessage("x")))
	if err != nil || called != 1 {
		t.Fatalf("enqueue: %v, Finish called %d times", err, called)
	}
	mi, err := q.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if mi.Meta["keep"] != "1" || mi.Meta["policy"] != "decided" {
		t.Fatalf("Meta %v", mi.Meta)
	}

	refused := errors.New("policy says no")
	_, err = q.Enqueue(context.Background(), Envelope{From: "s@clinic.example", To: []string{"a@dest.example"},
		Finish: func() (map[string]string, error) { return nil, refused }}, strings.NewReader(testMessage("y")))
	if !errors.Is(err, refused) {
		t.Fatalf("Finish error not returned: %v", err)
	}
	if st := q.Stats(); st.Messages != 1 {
		t.Fatalf("%d messages queued after a refused Finish, want 1", st.Messages)
	}
	entries, _ := os.ReadDir(opts.Dir + "/spool")
	if len(entries) != 1 {
		t.Fatalf("spool holds %d files after a refused Finish, want 1", len(entries))
	}
}

// A deliverer can park a recipient as held, with a reason; it is not retried
// until released.
func TestStatusHeldParksRecipient(t *testing.T) {
	rec := newRecorder(func(a Attempt, body []byte) []Result {
		return allStatus(a, StatusHeld, 0, "", "portal unavailable")
	})
	q := mustOpen(t, testOptions(t, rec))
	id := enqueue(t, q, "s@clinic.example", []string{"a@dest.example"}, "x")
	start(t, q)
	waitFor(t, "held", func() bool { return rcptState(t, q, id, "a@dest.example").State == StateHeld })
	if r := rcptState(t, q, id, "a@dest.example"); r.Text != "portal unavailable" {
		t.Fatalf("held reason %q", r.Text)
	}
	n := len(rec.forID(id))
	time.Sleep(200 * time.Millisecond)
	if got := len(rec.forID(id)); got != n {
		t.Fatalf("held recipient retried: %d attempts, then %d", n, got)
	}
	if len(rec.dsns()) != 0 {
		t.Fatal("holding produced a DSN")
	}
	if err := q.Release(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retried after release", func() bool { return len(rec.forID(id)) > n })
}

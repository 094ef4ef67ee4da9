package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealgate/sealgate/internal/testtool"
)

func TestAdminOperations(t *testing.T) {
	clock := newFakeClock()
	rec := newRecorder(func(a Attempt, body []byte) []Result {
		if strings.Contains(string(body), "defer") {
			return allStatus(a, StatusTempFail, 450, "4.2.0", "mailbox busy")
		}
		return allStatus(a, StatusDelivered, 250, "", "ok")
	})
	opts := testOptions(t, rec)
	opts.Clock = clock
	q := mustOpen(t, opts)

	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, enqueue(t, q, "s@clinic.example", []string{fmt.Sprintf("r%d@dest.example", i)}, "hold me"))
		clock.Advance(time.Minute)
	}
	// Paging returns every message once, in ID order, never the body.
	var seen []string
	after := ""
	for {
		page, err := q.List(context.Background(), ListOptions{After: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 2 {
			t.Fatalf("page of %d with limit 2", len(page))
		}
		for _, mi := range page {
			seen = append(seen, mi.ID)
		}
		after = page[len(page)-1].ID
	}
	if strings.Join(seen, ",") != strings.Join(sortedStrings(ids...), ",") {
		t.Fatalf("paged list %v, want %v", seen, sortedStrings(ids...))
	}
	st := q.Stats()
	if st.Messages != 5 || st.Recipients[StateQueued] != 5 || st.OldestAge != 5*time.Minute {
		t.Fatalf("stats %+v", st)
	}

	for _, id := range ids {
		if err := q.Hold(id); err != nil {
			t.Fatal(err)
		}
	}
	if held, _ := q.List(context.Background(), ListOptions{State: StateHeld}); len(held) != 5 {
		t.Fatalf("%d held in list", len(held))
	}
	stop := start(t, q)
	neverWithin(t, 50*time.Millisecond, "held message delivered", func() bool { return len(rec.all()) > 0 })

	// Release one: delivered. Delete one: body gone, never delivered.
	if err := q.Release(ids[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "released message delivered", func() bool { return gone(q, ids[0]) })
	if err := q.Delete(ids[1]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deleted body removed", func() bool {
		_, err := os.Stat(q.spoolPath(ids[1]))
		return errors.Is(err, os.ErrNotExist)
	})
	if err := q.Release(ids[1]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Release of a deleted message: %v", err)
	}
	for _, f := range []func(string) error{q.Hold, q.Release, q.RetryNow, q.Delete} {
		if err := f("nosuchidxxxxxxxx"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("operation on a missing id: %v", err)
		}
	}
	st = q.Stats()
	if st.Messages != 3 || st.Recipients[StateHeld] != 3 || st.Recipients[StateQueued] != 0 {
		t.Fatalf("stats after release+delete: %+v", st)
	}
	stop()

	// RetryNow: a deferred recipient becomes due at once.
	q2 := mustOpen(t, opts2(t, rec, clock))
	id := enqueue(t, q2, "s@clinic.example", []string{"r@dest.example"}, "defer")
	start(t, q2)
	waitFor(t, "deferred", func() bool { return rcptState(t, q2, id, "r@dest.example").State == StateDeferred })
	r := rcptState(t, q2, id, "r@dest.example")
	if !r.NextAttempt.After(clock.Now()) || r.Text != "mailbox busy" || r.Code != 450 {
		t.Fatalf("deferred: %+v", r)
	}
	if err := q2.RetryNow(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retried at once", func() bool { return len(rec.forID(id)) == 2 })
	if mi, err := q2.Get(id); err != nil || mi.Rcpts[0].Attempts < 2 || mi.Size != 5 || mi.From != "s@clinic.example" {
		t.Fatalf("Get: %+v %v", mi, err)
	}
}

func opts2(t *testing.T, d Deliverer, c Clock) Options {
	o := testOptions(t, d)
	o.Clock = c
	return o
}

func TestHoldWhileInFlight(t *testing.T) {
	release := make(chan struct{})
	inFlight := make(chan struct{}, 1)
	rec := newRecorder(func(a Attempt, body []byte) []Result {
		inFlight <- struct{}{}
		<-release
		return allStatus(a, StatusTempFail, 451, "", "later")
	})
	q := mustOpen(t, testOptions(t, rec))
	id := enqueue(t, q, "s@clinic.example", []string{"r@dest.example"}, "x")
	start(t, q)
	<-inFlight
	if r := rcptState(t, q, id, "r@dest.example"); r.State != StateDelivering || r.Attempts != 1 {
		t.Fatalf("in flight: %+v (the attempt must be committed before delivery)", r)
	}
	if err := q.Hold(id); err != nil {
		t.Fatal(err)
	}
	close(release)
	waitFor(t, "result applied", func() bool { return rcptState(t, q, id, "r@dest.example").Text == "later" })
	if r := rcptState(t, q, id, "r@dest.example"); r.State != StateHeld {
		t.Fatalf("held during a failed attempt, now %s", r.State)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	rec := dsnSink(func(a Attempt) []Result {
		return allStatus(a, StatusPermFail, 550, "5.1.1", "unknown user")
	})
	opts := testOptions(t, rec)
	opts.Registerer = reg
	q := mustOpen(t, opts)
	id := enqueue(t, q, "s@clinic.example", []string{"a@dest.example", "b@dest.example"}, testMessage("x"))
	held := enqueue(t, q, "s@clinic.example", []string{"c@dest.example"}, "held")
	if err := q.Hold(held); err != nil {
		t.Fatal(err)
	}
	start(t, q)
	waitFor(t, "bounced and DSN delivered", func() bool { return gone(q, id) && len(dsnAttempts(rec, "failure")) == 1 })
	waitFor(t, "queue holds only the held message", func() bool { return q.Stats().Messages == 1 })

	text := scrape(t, reg)
	for _, want := range []string{
		"sealgate_queue_received_total 2",
		"sealgate_queue_bounced_total 2",
		"sealgate_queue_delivered_total 1", // the DSN
		`sealgate_queue_dsn_sent_total{type="failure"} 1`,
		`sealgate_queue_dsn_sent_total{type="delay"} 0`,
		`sealgate_queue_recipients{state="held"} 1`,
		`sealgate_queue_recipients{state="queued"} 0`,
		"sealgate_queue_oldest_message_age_seconds ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "dest.example") || strings.Contains(text, "clinic") {
		t.Fatal("addresses in metrics")
	}
	testtool.CheckMetrics(t, text)
}

func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	return testtool.Exposition(t, reg)
}

package events

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sealgate/sealgate/tracking"
)

const (
	sender = "news@clinic.example"
	camp   = "spring-flu-2026"
)

// springCampaign records the scenario used by several tests:
//
//   - 10 recipients delivered (r0-r4 on message q1, r5-r9 on q2): 7 tls, 2
//     smime, 1 portal; r9 was deferred first. r10 bounced.
//   - r0, r1, r2 opened as humans (r0 three times, and once through Apple
//     MPP too); r3, r4, r5 were opened only by Apple MPP.
//   - r0 clicked twice (human); a security scanner clicked for r3.
//   - a honeypot link was hit for r4.
//   - noise: another campaign from another sender, 5 delivered, 5 human opens.
func springCampaign(t *testing.T, s *Store) {
	t.Helper()
	rcpt := func(i int) (msg, addr string) {
		msg = "q1"
		if i >= 5 {
			msg = "q2"
		}
		return msg, fmt.Sprintf("r%d@patients.example", i)
	}
	ev := func(i int, kind tracking.EventKind, at time.Duration) tracking.Event {
		msg, addr := rcpt(i)
		return tracking.Event{Time: t0.Add(at), Kind: kind, MessageID: msg, Recipient: addr, Sender: sender, Campaign: camp}
	}
	with := func(e tracking.Event, f func(*tracking.Event)) tracking.Event { f(&e); return e }
	human := func(e *tracking.Event) { e.Verdict = tracking.VerdictHuman; e.Reason = "ua_browser" }
	mpp := func(e *tracking.Event) { e.Verdict = tracking.VerdictAutomated; e.Reason = "apple_mpp" }

	methods := []string{"tls", "tls", "tls_verified", "tls", "tls", "smime", "tls", "smime", "tls", "portal"}
	for i := range 10 {
		if i == 9 {
			record(t, s, with(ev(i, tracking.EventDeferred, 0), func(e *tracking.Event) { e.Method = "tls" }))
		}
		record(t, s, with(ev(i, tracking.EventDelivered, time.Minute), func(e *tracking.Event) { e.Method = methods[i] }))
	}
	record(t, s, ev(10, tracking.EventBounced, time.Minute))

	record(t, s,
		with(ev(0, tracking.EventOpen, 2*time.Minute), mpp), // MPP prefetch at delivery time
		with(ev(0, tracking.EventOpen, time.Hour), human),
		with(ev(0, tracking.EventOpen, 2*time.Hour), human),
		with(ev(0, tracking.EventOpen, 26*time.Hour), human),
		with(ev(1, tracking.EventOpen, time.Hour), human),
		with(ev(2, tracking.EventOpen, 3*time.Hour), human),
		with(ev(3, tracking.EventOpen, 2*time.Minute), mpp),
		with(ev(4, tracking.EventOpen, 2*time.Minute), mpp),
		with(ev(5, tracking.EventOpen, 3*time.Minute), mpp),
		with(ev(0, tracking.EventClick, time.Hour+time.Minute), func(e *tracking.Event) { human(e); e.LinkIndex = 1 }),
		with(ev(0, tracking.EventClick, 2*time.Hour), func(e *tracking.Event) { human(e); e.LinkIndex = 2 }),
		with(ev(3, tracking.EventClick, 2*time.Minute), func(e *tracking.Event) {
			e.Verdict, e.Reason, e.LinkIndex = tracking.VerdictAutomated, "scanner:proofpoint", 1
		}),
		with(ev(4, tracking.EventHoneypot, 4*time.Minute), func(e *tracking.Event) {
			e.Verdict, e.Reason = tracking.VerdictAutomated, "honeypot"
		}),
	)
	for i := range 5 {
		other := tracking.Event{Time: t0, Kind: tracking.EventDelivered, MessageID: "q9",
			Recipient: fmt.Sprintf("x%d@patients.example", i), Sender: "other@clinic.example", Campaign: "other", Method: "tls"}
		record(t, s, other)
		other.Kind, other.Verdict, other.Time = tracking.EventOpen, tracking.VerdictHuman, t0.Add(time.Hour)
		record(t, s, other)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func checkEngagement(t *testing.T, name string, got, want Engagement) {
	t.Helper()
	if got.Delivered != want.Delivered || got.UniqueOpens != want.UniqueOpens || got.UniqueClicks != want.UniqueClicks ||
		got.Opens != want.Opens || got.Clicks != want.Clicks ||
		!near(got.OpenRate, want.OpenRate) || !near(got.ClickRate, want.ClickRate) || !near(got.ClickToOpen, want.ClickToOpen) {
		t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
	}
}

var (
	wantAll = Engagement{Delivered: 10, UniqueOpens: 6, UniqueClicks: 2, Opens: 9, Clicks: 3,
		OpenRate: 0.6, ClickRate: 0.2, ClickToOpen: 2.0 / 6}
	wantHuman = Engagement{Delivered: 10, UniqueOpens: 3, UniqueClicks: 1, Opens: 5, Clicks: 2,
		OpenRate: 0.3, ClickRate: 0.1, ClickToOpen: 1.0 / 3}
)

func TestCampaignReportCounts(t *testing.T) {
	s, _ := openStore(t, Options{})
	springCampaign(t, s)

	r, err := s.CampaignReport(camp, Query{})
	if err != nil {
		t.Fatal(err)
	}
	checkEngagement(t, "all", r.All, wantAll)
	checkEngagement(t, "human", r.Human, wantHuman)
	checkEngagement(t, "headline (suppress off)", r.Headline, wantAll)
	if r.SuppressAutomated {
		t.Error("SuppressAutomated reported true")
	}
	d := r.Delivery
	if d.Delivered != 10 || d.Deferred != 1 || d.Bounced != 1 {
		t.Errorf("delivery = %+v, want 10 delivered, 1 deferred, 1 bounced", d)
	}
	if fmt.Sprint(d.ByMethod) != "map[portal:1 smime:2 tls:6 tls_verified:1]" {
		t.Errorf("by method = %v", d.ByMethod)
	}
	if r.HoneypotHits != 1 {
		t.Errorf("honeypot hits = %d, want 1", r.HoneypotHits)
	}
	want := []ReasonCount{
		{Reason: "apple_mpp", Opens: 4, Total: 4},
		{Reason: "honeypot", Honeypot: 1, Total: 1},
		{Reason: "scanner:proofpoint", Clicks: 1, Total: 1},
	}
	if fmt.Sprint(r.AutomatedReasons) != fmt.Sprint(want) {
		t.Errorf("reasons = %+v\nwant %+v", r.AutomatedReasons, want)
	}

	// Time series: first engagement at 09:02, last at +26h → hourly, 27 points.
	if r.Bucket != BucketHour || len(r.Series) != 27 {
		t.Fatalf("series: bucket %s, %d points; want hour, 27", r.Bucket, len(r.Series))
	}
	p0, p1 := r.Series[0], r.Series[1]
	if !p0.Start.Equal(t0) || p0.AutomatedOpens != 4 || p0.HumanOpens != 0 || p0.AutomatedClicks != 1 {
		t.Errorf("09:00 bucket = %+v", p0)
	}
	if p1.HumanOpens != 2 || p1.HumanClicks != 1 || p1.AutomatedOpens != 0 {
		t.Errorf("10:00 bucket = %+v", p1)
	}
	var sum Point
	for _, p := range r.Series {
		sum.HumanOpens += p.HumanOpens
		sum.AutomatedOpens += p.AutomatedOpens
		sum.HumanClicks += p.HumanClicks
		sum.AutomatedClicks += p.AutomatedClicks
	}
	if sum.HumanOpens != 5 || sum.AutomatedOpens != 4 || sum.HumanClicks != 2 || sum.AutomatedClicks != 1 {
		t.Errorf("series sums = %+v", sum)
	}
	day, err := s.CampaignReport(camp, Query{Bucket: BucketDay})
	if err != nil {
		t.Fatal(err)
	}
	if len(day.Series) != 2 || day.Series[0].HumanOpens != 4 || day.Series[1].HumanOpens != 1 {
		t.Errorf("daily series = %+v", day.Series)
	}

	// The sender report covers the same events (one sender, case-insensitive).
	sr, err := s.SenderReport("News@Clinic.EXAMPLE", Query{})
	if err != nil {
		t.Fatal(err)
	}
	checkEngagement(t, "sender all", sr.All, wantAll)
	checkEngagement(t, "sender human", sr.Human, wantHuman)

	other, err := s.SenderReport("other@clinic.example", Query{})
	if err != nil {
		t.Fatal(err)
	}
	checkEngagement(t, "other sender", other.All, Engagement{Delivered: 5, UniqueOpens: 5, Opens: 5, OpenRate: 1})
}

func TestSuppressAutomatedHeadline(t *testing.T) {
	s, _ := openStore(t, Options{SuppressAutomated: true})
	springCampaign(t, s)
	r, err := s.CampaignReport(camp, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.SuppressAutomated {
		t.Error("SuppressAutomated not reported")
	}
	checkEngagement(t, "headline", r.Headline, wantHuman)
	// Raw numbers stay available.
	checkEngagement(t, "all", r.All, wantAll)
	checkEngagement(t, "human", r.Human, wantHuman)
	evs, err := s.MessageEvents("q1", "r3@patients.example")
	if err != nil || len(evs) != 3 {
		t.Fatalf("automated events of r3 must stay stored: %d, %v", len(evs), err)
	}
}

func TestReportRange(t *testing.T) {
	s, _ := openStore(t, Options{})
	springCampaign(t, s)
	// [09:00, 09:30) holds the deliveries and the automated burst only.
	r, err := s.CampaignReport(camp, Query{From: t0, To: t0.Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	checkEngagement(t, "first half hour, all", r.All, Engagement{Delivered: 10, UniqueOpens: 4, UniqueClicks: 1,
		Opens: 4, Clicks: 1, OpenRate: 0.4, ClickRate: 0.1, ClickToOpen: 0.25})
	checkEngagement(t, "first half hour, human", r.Human, Engagement{Delivered: 10})
	// To is exclusive: an event exactly at To is not counted.
	r, err = s.CampaignReport(camp, Query{From: t0, To: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Delivery.Delivered != 0 || r.Delivery.Deferred != 1 {
		t.Errorf("[09:00,09:01) delivery = %+v, want only the deferral", r.Delivery)
	}
	if _, err := s.CampaignReport(camp, Query{From: t0, To: t0}); err == nil {
		t.Error("from == to accepted")
	}
}

func TestUniqueness(t *testing.T) {
	s, _ := openStore(t, Options{})
	base := tracking.Event{Kind: tracking.EventDelivered, MessageID: "m1", Recipient: "pat@x.example", Sender: sender, Campaign: "c"}
	record(t, s, base)
	for i := range 5 {
		e := base
		e.Kind, e.Verdict, e.Time = tracking.EventOpen, tracking.VerdictHuman, t0.Add(time.Duration(i)*time.Minute)
		if i == 4 {
			e.Recipient = "PAT@X.example" // same mailbox, different case
		}
		record(t, s, e)
		e.Kind = tracking.EventClick
		record(t, s, e)
	}
	// The same recipient on another message is another unique.
	second := base
	second.MessageID = "m2"
	record(t, s, second)
	second.Kind, second.Verdict = tracking.EventOpen, tracking.VerdictHuman
	record(t, s, second, second)

	r, err := s.CampaignReport("c", Query{})
	if err != nil {
		t.Fatal(err)
	}
	checkEngagement(t, "human", r.Human, Engagement{Delivered: 2, UniqueOpens: 2, UniqueClicks: 1,
		Opens: 7, Clicks: 5, OpenRate: 1, ClickRate: 0.5, ClickToOpen: 0.5})
}

func TestClickImpliesOpen(t *testing.T) {
	s, _ := openStore(t, Options{})
	e := tracking.Event{Time: t0, Kind: tracking.EventDelivered, MessageID: "m", Recipient: "a@x.example", Campaign: "c"}
	record(t, s, e)
	e.Kind, e.Verdict = tracking.EventClick, tracking.VerdictHuman
	record(t, s, e)
	r, err := s.CampaignReport("c", Query{})
	if err != nil {
		t.Fatal(err)
	}
	checkEngagement(t, "human", r.Human, Engagement{Delivered: 1, UniqueOpens: 1, UniqueClicks: 1, Clicks: 1,
		OpenRate: 1, ClickRate: 1, ClickToOpen: 1})
}

func TestRecordRejectsBadEvents(t *testing.T) {
	s, _ := openStore(t, Options{})
	ok := tracking.Event{Kind: tracking.EventOpen, MessageID: "m", Recipient: "a@x.example", Verdict: tracking.VerdictHuman}
	for name, mut := range map[string]func(*tracking.Event){
		"unknown kind":     func(e *tracking.Event) { e.Kind = "purchase" },
		"no message id":    func(e *tracking.Event) { e.MessageID = "" },
		"NUL in campaign":  func(e *tracking.Event) { e.Campaign = "a\x00b" },
		"CRLF in sender":   func(e *tracking.Event) { e.Sender = "a@b\r\nX: y" },
		"huge recipient":   func(e *tracking.Event) { e.Recipient = strings.Repeat("a", 400) + "@x" },
		"unknown verdict":  func(e *tracking.Event) { e.Verdict = "maybe" },
		"negative link":    func(e *tracking.Event) { e.LinkIndex = -1 },
		"bad utf8 message": func(e *tracking.Event) { e.MessageID = "\xff\xfe" },
	} {
		e := ok
		mut(&e)
		if err := s.Record(e); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: Record = %v, want ErrInvalidEvent", name, err)
		}
	}
	if err := s.Record(ok); err != nil {
		t.Fatalf("valid event refused: %v", err)
	}
	// Reasons are reduced to a token; client details are bounded.
	e := ok
	e.Reason = "UA Mozilla/5.0 (X11; <b>) " + strings.Repeat("z", 100)
	e.UserAgent = strings.Repeat("é", 400)
	record(t, s, e)
	evs, err := s.MessageEvents("m", "")
	if err != nil || len(evs) != 2 {
		t.Fatalf("MessageEvents: %d, %v", len(evs), err)
	}
	got := evs[1]
	if got.Reason != "ua_mozilla_5.0__x11___b___zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz" || len(got.Reason) != 64 {
		t.Errorf("reason token = %q (%d)", got.Reason, len(got.Reason))
	}
	if len(got.UserAgent) > 512 || !strings.HasPrefix(got.UserAgent, "éé") || strings.ContainsRune(got.UserAgent, '\uFFFD') {
		t.Errorf("user agent not truncated on a rune boundary: %d bytes", len(got.UserAgent))
	}
}

func TestMessageEventsAndCampaignList(t *testing.T) {
	s, _ := openStore(t, Options{})
	springCampaign(t, s)
	evs, err := s.MessageEvents("q1", "R0@patients.example")
	if err != nil {
		t.Fatal(err)
	}
	// delivered + 4 opens + 2 clicks for r0.
	if len(evs) != 7 {
		t.Fatalf("r0 has %d events, want 7", len(evs))
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Time.Before(evs[i-1].Time) || evs[i].Recipient != "r0@patients.example" {
			t.Fatalf("events out of order or foreign: %+v", evs)
		}
	}
	all, err := s.MessageEvents("q1", "")
	if err != nil {
		t.Fatal(err)
	}
	// q1: 5 delivered, r0 6 engagement, r1 1, r2 1, r3 2, r4 2 (open + honeypot).
	if len(all) != 17 {
		t.Errorf("q1 has %d events, want 17", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Time.Before(all[i-1].Time) {
			t.Fatal("message events not in time order")
		}
	}

	list, err := s.Campaigns(Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "other" || list[1].ID != camp {
		t.Fatalf("campaigns = %+v", list)
	}
	if !list[1].FirstEvent.Equal(t0) || !list[1].LastEvent.Equal(t0.Add(26*time.Hour)) {
		t.Errorf("spring range = %v .. %v", list[1].FirstEvent, list[1].LastEvent)
	}
	later, err := s.Campaigns(Query{From: t0.Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(later) != 1 || later[0].ID != camp || !later[0].FirstEvent.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("campaigns after 11:00 = %+v", later)
	}
}

func TestPrune(t *testing.T) {
	clock := newFakeClock(t0)
	s, _ := openStore(t, Options{Retention: 24 * time.Hour, Clock: clock})
	old := tracking.Event{Time: t0.Add(-49 * time.Hour), Kind: tracking.EventDelivered, MessageID: "old",
		Recipient: "a@x.example", Sender: sender, Campaign: "c"}
	fresh := old
	fresh.MessageID, fresh.Time = "new", t0.Add(-time.Hour)
	record(t, s, old, fresh)
	old.Kind, old.Verdict, old.Time = tracking.EventOpen, tracking.VerdictHuman, t0.Add(-48*time.Hour)
	record(t, s, old)

	n, err := s.Prune(t0)
	if err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v; want 2 deleted", n, err)
	}
	r, err := s.CampaignReport("c", Query{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Delivery.Delivered != 1 || r.All.Opens != 0 {
		t.Errorf("after prune: %+v / %+v", r.Delivery, r.All)
	}
	if evs, _ := s.MessageEvents("old", ""); len(evs) != 0 {
		t.Errorf("pruned message still has %d events", len(evs))
	}
	// Index entries went with the events: one left per index.
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bEvents, bCampaign, bSender, bMessage} {
			if n := tx.Bucket(b).Stats().KeyN; n != 1 {
				t.Errorf("bucket %s holds %d keys after prune, want 1", b, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Pruning again finds nothing; a day later the fresh event goes too.
	if n, _ := s.Prune(t0); n != 0 {
		t.Errorf("second prune deleted %d", n)
	}
	if n, _ := s.Prune(t0.Add(24 * time.Hour)); n != 1 {
		t.Errorf("prune a day later deleted %d, want 1", n)
	}
}

func TestPruneManyChunks(t *testing.T) {
	s, _ := openStore(t, Options{Retention: time.Hour})
	const n = pruneChunk*2 + 17
	// Concurrent Records share group commits (DB.Batch).
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- s.Record(tracking.Event{Time: t0.Add(-2*time.Hour + time.Duration(i)*time.Millisecond),
				Kind: tracking.EventDelivered, MessageID: fmt.Sprint("m", i), Recipient: "a@x.example", Campaign: "c"})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if r, err := s.CampaignReport("c", Query{}); err != nil || r.Delivery.Delivered != n {
		t.Fatalf("before prune: %d delivered, %v", r.Delivery.Delivered, err)
	}
	got, err := s.Prune(t0)
	if err != nil || got != n {
		t.Fatalf("Prune = %d, %v; want %d", got, err, n)
	}
}

func TestRunPrunesPeriodically(t *testing.T) {
	clock := newFakeClock(t0)
	s, _ := openStore(t, Options{Retention: time.Hour, PruneInterval: 20 * time.Millisecond, Clock: clock})
	record(t, s, tracking.Event{Time: t0.Add(-30 * time.Minute), Kind: tracking.EventDelivered, MessageID: "m", Recipient: "a@x.example"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(60 * time.Millisecond) // several prune ticks: nothing is old yet
	if evs, _ := s.MessageEvents("m", ""); len(evs) != 1 {
		t.Fatalf("event pruned too early")
	}
	clock.Add(time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs, _ := s.MessageEvents("m", "")
		if len(evs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not prune the expired event")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

func TestMetricsCountEvents(t *testing.T) {
	s, reg := openStore(t, Options{})
	springCampaign(t, s)
	for _, c := range []struct {
		kind, verdict string
		want          float64
	}{
		{"open", "human", 10}, {"open", "automated", 4}, {"click", "human", 2}, {"click", "automated", 1},
		{"honeypot", "automated", 1}, {"delivered", "none", 15}, {"deferred", "none", 1}, {"bounced", "none", 1},
	} {
		if got := counterValue(t, reg, "sealgate_tracking_events_total", map[string]string{"kind": c.kind, "verdict": c.verdict}); got != c.want {
			t.Errorf("events_total{%s,%s} = %v, want %v", c.kind, c.verdict, got, c.want)
		}
	}
}

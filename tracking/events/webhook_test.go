package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sealgate/sealgate/internal/testtool"
	"github.com/sealgate/sealgate/tracking"
)

const secret = "whsec-0123456789abcdef-test"

// hit is one request a receiver saw.
type hit struct {
	header http.Header
	body   []byte
}

// receiver is an httptest webhook endpoint whose answer the test chooses.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	hits   []hit
	answer func(n int, w http.ResponseWriter, r *http.Request) // n counts from 1
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{r.Header.Clone(), body})
		n := len(rc.hits)
		answer := rc.answer
		rc.mu.Unlock()
		answer(n, w, r)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setAnswer(f func(n int, w http.ResponseWriter, r *http.Request)) {
	rc.mu.Lock()
	rc.answer = f
	rc.mu.Unlock()
}

func (rc *receiver) got() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.hits)
}

func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// verifyDocumented checks a hit against the documented scheme, computed
// here independently of the package: HMAC-SHA256(secret, t + "." + body),
// hex, in "Sealgate-Signature: t=<unix>,v1=<hex>".
func verifyDocumented(t *testing.T, h hit, wantUnix int64) {
	t.Helper()
	sig := h.header.Get("Sealgate-Signature")
	parts := strings.Split(sig, ",")
	if len(parts) != 2 || !strings.HasPrefix(parts[0], "t=") || !strings.HasPrefix(parts[1], "v1=") {
		t.Fatalf("signature header %q not in t=<unix>,v1=<hex> form", sig)
	}
	ts := strings.TrimPrefix(parts[0], "t=")
	if ts != strconv.FormatInt(wantUnix, 10) {
		t.Errorf("signature timestamp %s, want %d (attempt time)", ts, wantUnix)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(h.body)))
	if want := hex.EncodeToString(m.Sum(nil)); parts[1] != "v1="+want {
		t.Errorf("signature %s does not match HMAC of t.body (%s)", parts[1], want)
	}
	if h.header.Get("Content-Type") != "application/json" {
		t.Errorf("content type %q", h.header.Get("Content-Type"))
	}
}

func sub(url string) Subscriber {
	return Subscriber{Name: "crm", URL: url, Secret: secret, IncludeAutomated: true}
}

var click = tracking.Event{Time: t0, Kind: tracking.EventClick, MessageID: "q42", Recipient: "pat@patients.example",
	Sender: sender, Campaign: camp, LinkIndex: 2, Verdict: tracking.VerdictHuman, Reason: "ua_browser"}

func TestWebhookRetriesWithBackoffThenDelivers(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	clock := newFakeClock(t0)
	s, reg := openStore(t, Options{Clock: clock, Subscribers: []Subscriber{sub(rc.srv.URL)},
		RetryBase: 10 * time.Second, RetryCap: time.Minute})
	record(t, s, click)
	if got := counterValue(t, reg, "sealgate_tracking_webhook_pending", nil); got != 1 {
		t.Errorf("pending gauge = %v, want 1", got)
	}
	ctx := context.Background()
	step := func(advance time.Duration, wantAttempted int) {
		t.Helper()
		clock.Add(advance)
		n, err := s.dispatchOnce(ctx)
		if err != nil || n != wantAttempted {
			t.Fatalf("at +%v: dispatchOnce = %d, %v; want %d attempted", clock.Now().Sub(t0), n, err, wantAttempted)
		}
	}
	step(0, 1)              // attempt 1 at t0: 500
	step(0, 0)              // not due again yet
	step(9*time.Second, 0)  // backoff is 10s
	step(time.Second, 1)    // attempt 2 at +10s: 500
	step(19*time.Second, 0) // backoff doubles to 20s
	step(time.Second, 1)    // attempt 3 at +30s: accepted
	step(time.Hour, 0)      // nothing left

	hits := rc.got()
	if len(hits) != 3 {
		t.Fatalf("receiver saw %d attempts, want 3", len(hits))
	}
	for i, wantAt := range []time.Duration{0, 10 * time.Second, 30 * time.Second} {
		verifyDocumented(t, hits[i], t0.Add(wantAt).Unix())
		if a := hits[i].header.Get("Sealgate-Attempt"); a != strconv.Itoa(i+1) {
			t.Errorf("attempt %d header = %q", i+1, a)
		}
		if !bytes.Equal(hits[i].body, hits[0].body) {
			t.Errorf("attempt %d body differs from the first", i+1)
		}
		// The package's own verifier agrees.
		if err := VerifySignature([]byte(secret), hits[i].header.Get(HeaderSignature), hits[i].body, t0.Add(wantAt), 5*time.Minute); err != nil {
			t.Errorf("VerifySignature attempt %d: %v", i+1, err)
		}
	}
	var p map[string]any
	if err := json.Unmarshal(hits[0].body, &p); err != nil {
		t.Fatal(err)
	}
	id := hits[0].header.Get("Sealgate-Event-Id")
	if !strings.HasPrefix(id, "evt_") || p["id"] != id || hits[2].header.Get("Sealgate-Event-Id") != id {
		t.Errorf("event id header %q, payload id %v: must match and stay the same across attempts", id, p["id"])
	}
	if p["type"] != "click" || p["recipient"] != "pat@patients.example" || p["message_id"] != "q42" ||
		p["link_index"] != 2.0 || p["verdict"] != "human" || p["campaign"] != camp || p["time"] != "2026-03-02T09:00:00Z" {
		t.Errorf("payload = %v", p)
	}
	for result, want := range map[string]float64{"ok": 1, "retry": 2, "dead": 0} {
		if got := counterValue(t, reg, "sealgate_tracking_webhook_deliveries_total", map[string]string{"result": result}); got != want {
			t.Errorf("deliveries_total{result=%s} = %v, want %v", result, got, want)
		}
	}
	if got := counterValue(t, reg, "sealgate_tracking_webhook_pending", nil); got != 0 {
		t.Errorf("pending gauge = %v, want 0", got)
	}
}

func TestBackoffIsCapped(t *testing.T) {
	s, _ := openStore(t, Options{RetryBase: time.Second, RetryCap: 10 * time.Second})
	var got []time.Duration
	for a := 1; a <= 6; a++ {
		got = append(got, s.backoff(a))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("backoff = %v, want %v", got, want)
	}
}

func TestDeadLetterThenReplay(t *testing.T) {
	rc := newReceiver(t, status(http.StatusServiceUnavailable))
	clock := newFakeClock(t0)
	s, reg := openStore(t, Options{Clock: clock, Subscribers: []Subscriber{sub(rc.srv.URL)},
		RetryBase: time.Second, RetryCap: time.Second, MaxAttempts: 3})
	record(t, s, click)
	ctx := context.Background()
	for range 3 {
		if n, err := s.dispatchOnce(ctx); n != 1 || err != nil {
			t.Fatalf("dispatchOnce = %d, %v", n, err)
		}
		clock.Add(time.Second)
	}
	clock.Add(time.Hour)
	if n, _ := s.dispatchOnce(ctx); n != 0 {
		t.Fatalf("a dead letter was attempted again")
	}
	if len(rc.got()) != 3 {
		t.Fatalf("receiver saw %d attempts, want 3 (MaxAttempts)", len(rc.got()))
	}
	st, err := s.OutboxStats()
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Pending != 0 || st[0].Dead != 1 || st[0].LastError != "status 503" || !st[0].Configured {
		t.Fatalf("outbox stats = %+v", st)
	}
	if got := counterValue(t, reg, "sealgate_tracking_webhook_deliveries_total", map[string]string{"result": "dead"}); got != 1 {
		t.Errorf("dead counter = %v", got)
	}

	// The receiver is fixed; replaying the dead letters re-delivers.
	rc.setAnswer(status(http.StatusOK))
	n, err := s.Replay(ctx, ReplayFilter{Dead: true, Subscriber: "crm"})
	if err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v; want 1", n, err)
	}
	if got := counterValue(t, reg, "sealgate_tracking_webhook_pending", nil); got != 1 {
		t.Errorf("pending gauge after replay = %v, want 1", got)
	}
	if n, err := s.dispatchOnce(ctx); n != 1 || err != nil {
		t.Fatalf("dispatch after replay = %d, %v", n, err)
	}
	hits := rc.got()
	if len(hits) != 4 {
		t.Fatalf("receiver saw %d requests, want 4", len(hits))
	}
	last := hits[3]
	verifyDocumented(t, last, clock.Now().Unix())
	if !bytes.Equal(last.body, hits[0].body) || last.header.Get(HeaderEventID) != hits[0].header.Get(HeaderEventID) {
		t.Error("replayed delivery differs from the original (body or event id)")
	}
	if last.header.Get(HeaderAttempt) != "1" {
		t.Errorf("replay restarts the attempt count; got %q", last.header.Get(HeaderAttempt))
	}
	st, _ = s.OutboxStats()
	if st[0].Pending != 0 || st[0].Dead != 0 {
		t.Errorf("outbox after replay = %+v", st[0])
	}
	// Nothing else to replay.
	if n, _ := s.Replay(ctx, ReplayFilter{Dead: true}); n != 0 {
		t.Errorf("second replay moved %d", n)
	}
}

func TestReplayTimeRange(t *testing.T) {
	rc := newReceiver(t, status(http.StatusOK))
	clock := newFakeClock(t0.Add(10 * time.Hour))
	s, _ := openStore(t, Options{Clock: clock, Subscribers: []Subscriber{sub(rc.srv.URL)}})
	for i := range 4 {
		e := click
		e.Time = t0.Add(time.Duration(i) * time.Hour)
		record(t, s, e)
	}
	ctx := context.Background()
	if n, _ := s.dispatchOnce(ctx); n != 4 {
		t.Fatalf("first dispatch sent %d, want 4", n)
	}
	first := map[string]string{} // event id → time
	for _, h := range rc.got() {
		var p Payload
		if err := json.Unmarshal(h.body, &p); err != nil {
			t.Fatal(err)
		}
		first[p.ID] = p.Time.Format(time.RFC3339)
	}
	// Replay [+1h, +3h): two events.
	n, err := s.Replay(ctx, ReplayFilter{Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour)})
	if err != nil || n != 2 {
		t.Fatalf("Replay = %d, %v; want 2", n, err)
	}
	if n, _ := s.dispatchOnce(ctx); n != 2 {
		t.Fatalf("replay dispatch sent %d, want 2", n)
	}
	hits := rc.got()[4:]
	var times []string
	for _, h := range hits {
		var p Payload
		if err := json.Unmarshal(h.body, &p); err != nil {
			t.Fatal(err)
		}
		if first[p.ID] == "" || h.header.Get(HeaderEventID) != p.ID {
			t.Errorf("replayed event %s has a new id; receivers could not deduplicate", p.ID)
		}
		times = append(times, p.Time.Format("15:04"))
	}
	slices.Sort(times)
	if !slices.Equal(times, []string{"10:00", "11:00"}) {
		t.Errorf("replayed event times = %v, want 10:00 and 11:00", times)
	}
	// Without subscribers a range replay cannot know who wants what.
	bare, _ := openStore(t, Options{})
	if _, err := bare.Replay(ctx, ReplayFilter{Since: t0}); err != ErrNoSubscribers {
		t.Errorf("range replay without subscribers = %v", err)
	}
}

func TestHangingReceiverTimesOutAndIsRetried(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select { // hang until the client gives up
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	defer close(release)
	clock := newFakeClock(t0)
	s, _ := openStore(t, Options{Clock: clock, Subscribers: []Subscriber{sub(rc.srv.URL)},
		WebhookTimeout: 300 * time.Millisecond, RetryBase: time.Minute, RetryCap: time.Hour})
	record(t, s, click)
	start := time.Now()
	if n, err := s.dispatchOnce(context.Background()); n != 1 || err != nil {
		t.Fatalf("dispatchOnce = %d, %v", n, err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("a hanging receiver held the dispatcher for %v (timeout 300ms)", el)
	}
	st, _ := s.OutboxStats()
	if st[0].Pending != 1 {
		t.Fatalf("timed-out delivery not pending: %+v", st[0])
	}
	if d := pendingDeliveries(t, s); len(d) != 1 || d[0].Attempts != 1 || d[0].LastError != "timeout" ||
		!d[0].NextTry.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after the timeout: %+v", d)
	}
	clock.Add(time.Minute)
	if n, _ := s.dispatchOnce(context.Background()); n != 1 {
		t.Fatalf("retry not attempted after backoff")
	}
	if hits := rc.got(); len(hits) != 2 {
		t.Fatalf("receiver saw %d requests, want 2", len(hits))
	}
	st, _ = s.OutboxStats()
	if st[0].Pending != 0 || st[0].Dead != 0 {
		t.Errorf("after retry: %+v", st[0])
	}
}

func TestSubscriberFilters(t *testing.T) {
	rc := newReceiver(t, status(http.StatusOK))
	s, _ := openStore(t, Options{Subscribers: []Subscriber{
		{Name: "clicks-human", URL: rc.srv.URL + "/a", Secret: secret, Kinds: []tracking.EventKind{tracking.EventClick}},
		{Name: "bounces", URL: rc.srv.URL + "/b", Secret: secret, Kinds: []tracking.EventKind{tracking.EventBounced}, IncludeAutomated: true},
	}})
	bot := click
	bot.Verdict, bot.Reason = tracking.VerdictAutomated, "scanner"
	open := click
	open.Kind = tracking.EventOpen
	bounce := tracking.Event{Time: t0, Kind: tracking.EventBounced, MessageID: "q42", Recipient: "pat@patients.example"}
	record(t, s, click, bot, open, bounce)
	if n, _ := s.dispatchOnce(context.Background()); n != 2 {
		t.Fatalf("dispatched %d, want 2 (human click, bounce)", n)
	}
	got := map[string]string{}
	for _, h := range rc.got() {
		var p Payload
		json.Unmarshal(h.body, &p)
		got[string(p.Type)+"/"+string(p.Verdict)] = "x"
	}
	if len(got) != 2 || got["click/human"] == "" || got["bounced/"] == "" {
		t.Errorf("delivered %v", got)
	}
}

// TestWebhookPayloadCarriesNoPHI plants a canary in every field that is not
// a documented identifier and checks it never reaches the receiver, the
// outbox, the logs or the metrics; and that the payload has only the
// documented keys.
func TestWebhookPayloadCarriesNoPHI(t *testing.T) {
	const canary = "CANARY-7f3a9-PHI"
	rc := newReceiver(t, status(http.StatusOK))
	var logs bytes.Buffer
	s, reg := openStore(t, Options{Subscribers: []Subscriber{sub(rc.srv.URL)},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ev := click
	ev.IP = "203.0.113.7 " + canary
	ev.UserAgent = "Mozilla/5.0 " + canary
	record(t, s, ev)
	// A campaign-free delivery event with the canary in its client details.
	record(t, s, tracking.Event{Time: t0, Kind: tracking.EventDelivered, MessageID: "q43", Recipient: "b@patients.example",
		Method: "tls", IP: canary, UserAgent: canary})
	// The outbox holds exactly the payloads: no canary in it either.
	for _, d := range pendingDeliveries(t, s) {
		raw, _ := json.Marshal(d)
		if strings.Contains(string(raw), canary) {
			t.Errorf("canary stored in the outbox: %s", raw)
		}
	}
	if n, _ := s.dispatchOnce(context.Background()); n != 2 {
		t.Fatalf("dispatched %d, want 2", n)
	}
	documented := []string{"id", "type", "time", "message_id", "recipient", "sender", "campaign",
		"link_index", "verdict", "reason", "method"}
	for _, h := range rc.got() {
		if bytes.Contains(bytes.ToLower(h.body), bytes.ToLower([]byte(canary))) {
			t.Errorf("canary in webhook body: %s", h.body)
		}
		for k, v := range h.header {
			if strings.Contains(strings.ToLower(strings.Join(v, " ")), strings.ToLower(canary)) {
				t.Errorf("canary in header %s", k)
			}
		}
		var m map[string]any
		if err := json.Unmarshal(h.body, &m); err != nil {
			t.Fatal(err)
		}
		for k := range m {
			if !slices.Contains(documented, k) {
				t.Errorf("undocumented payload key %q", k)
			}
		}
		for _, k := range []string{"id", "type", "time", "message_id", "recipient"} {
			if _, ok := m[k]; !ok {
				t.Errorf("payload lacks required key %q: %s", k, h.body)
			}
		}
	}
	if !slices.Equal(PayloadKeys(), documented) {
		t.Errorf("PayloadKeys() = %v, documented %v", PayloadKeys(), documented)
	}
	if strings.Contains(logs.String(), canary) || strings.Contains(logs.String(), "patients.example") {
		t.Errorf("logs carry client details or addresses: %s", logs.String())
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if strings.Contains(mf.String(), canary) {
			t.Errorf("canary in metric %s", mf.GetName())
		}
	}
}

func TestUnconfiguredSubscriberIsDeadLettered(t *testing.T) {
	rc := newReceiver(t, status(http.StatusOK))
	path := t.TempDir() + "/events.db"
	s, _ := openStore(t, Options{Path: path, Subscribers: []Subscriber{sub(rc.srv.URL)}})
	record(t, s, click)
	s.Close()
	other := sub(rc.srv.URL)
	other.Name = "other"
	s2, _ := openStore(t, Options{Path: path, Subscribers: []Subscriber{other}})
	if n, _ := s2.dispatchOnce(context.Background()); n != 1 {
		t.Fatal("orphaned delivery not picked up")
	}
	if len(rc.got()) != 0 {
		t.Fatal("a removed subscriber's delivery was sent")
	}
	st, _ := s2.OutboxStats()
	if len(st) != 2 || st[0].Subscriber != "crm" || st[0].Dead != 1 || st[0].Configured || st[0].LastError != "subscriber not configured" {
		t.Errorf("stats = %+v", st)
	}
}

func TestRunDeliversPromptly(t *testing.T) {
	got := make(chan []byte, 1)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		if n == 1 {
			got <- nil
		}
	})
	s, _ := openStore(t, Options{Clock: systemClock{}, Subscribers: []Subscriber{sub(rc.srv.URL)}, PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	record(t, s, click) // Record wakes the dispatcher; the hour-long poll is not needed
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("webhook not delivered by Run within 5s")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
}

func TestOpenValidatesSubscribers(t *testing.T) {
	for name, s := range map[string]Subscriber{
		"bad name":     {Name: "a b", URL: "https://x.example/h", Secret: secret},
		"relative url": {Name: "a", URL: "/hook", Secret: secret},
		"ftp url":      {Name: "a", URL: "ftp://x.example/h", Secret: secret},
		"short secret": {Name: "a", URL: "https://x.example/h", Secret: "short"},
		"bad kind":     {Name: "a", URL: "https://x.example/h", Secret: secret, Kinds: []tracking.EventKind{"sale"}},
	} {
		_, err := Open(Options{Path: t.TempDir() + "/e.db", Subscribers: []Subscriber{s}})
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	dup := Subscriber{Name: "a", URL: "https://x.example/h", Secret: secret}
	if _, err := Open(Options{Path: t.TempDir() + "/e.db", Subscribers: []Subscriber{dup, dup}}); err == nil {
		t.Error("duplicate subscriber names accepted")
	}
}

func TestVerifySignatureRejects(t *testing.T) {
	body := []byte(`{"id":"evt_1"}`)
	now := time.Unix(1_800_000_000, 0)
	good := Sign([]byte(secret), now, body)
	if err := VerifySignature([]byte(secret), good, body, now, time.Minute); err != nil {
		t.Fatalf("good signature rejected: %v", err)
	}
	for name, c := range map[string]struct {
		header string
		body   []byte
		now    time.Time
		secret string
		want   error
	}{
		"tampered body": {good, []byte(`{"id":"evt_2"}`), now, secret, ErrSignatureMismatch},
		"wrong secret":  {good, body, now, secret + "x", ErrSignatureMismatch},
		"too old":       {good, body, now.Add(6 * time.Minute), secret, ErrSignatureTimestamp},
		"no v1":         {"t=1800000000", body, now, secret, ErrSignatureFormat},
		"garbage":       {"hello", body, now, secret, ErrSignatureFormat},
		"short mac":     {"t=1800000000,v1=abcd", body, now, secret, ErrSignatureFormat},
		"two t":         {"t=1,t=1800000000," + strings.Split(good, ",")[1], body, now, secret, ErrSignatureFormat},
	} {
		if err := VerifySignature([]byte(c.secret), c.header, c.body, c.now, 5*time.Minute); err != c.want {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func FuzzVerifySignature(f *testing.F) {
	body := []byte(`{"id":"evt_1"}`)
	now := time.Unix(1_800_000_000, 0)
	f.Add(Sign([]byte(secret), now, body), body)
	f.Add("t=1800000000,v1=00", body)
	f.Add("t=,v1=", []byte{})
	f.Add(",,,=,v1=zz", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, b []byte) {
		err := VerifySignature([]byte(secret), header, b, now, 5*time.Minute)
		if err != nil {
			return
		}
		// Accepting is only right when the header carries a valid MAC for
		// b, keyed by its t value; re-derive it the documented way.
		var ts string
		for part := range strings.SplitSeq(header, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
				ts = v
			}
		}
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(ts + "." + string(b)))
		if !strings.Contains(strings.ToLower(header), hex.EncodeToString(m.Sum(nil))) {
			t.Fatalf("accepted a header without a valid MAC: %q", header)
		}
	})
}

func pendingDeliveries(t *testing.T, s *Store) []delivery {
	t.Helper()
	var out []delivery
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bPending).ForEach(func(_, v []byte) error {
			var d delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMetricsPassPromtool(t *testing.T) {
	testtool.Require(t, "promtool")
	rc := newReceiver(t, status(http.StatusOK))
	s, reg := openStore(t, Options{Subscribers: []Subscriber{sub(rc.srv.URL)}})
	record(t, s, click)
	if n, _ := s.dispatchOnce(context.Background()); n != 1 {
		t.Fatal("not dispatched")
	}
	text := testtool.Exposition(t, reg)
	testtool.CheckMetrics(t, text)
	for _, want := range []string{
		`sealgate_tracking_events_total{kind="click",verdict="human"} 1`,
		`sealgate_tracking_webhook_deliveries_total{result="ok"} 1`,
		`sealgate_tracking_webhook_pending 0`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

func TestShutdownKeepsOutcomes(t *testing.T) {
	bStarted := make(chan struct{})
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderAttempt) == "1" && strings.Contains(r.URL.Path, "slow") {
			close(bStarted)
			<-r.Context().Done() // hangs until the dispatcher gives up
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	fast, slow := sub(rc.srv.URL+"/fast"), sub(rc.srv.URL+"/slow")
	slow.Name = "slow"
	// One POST at a time, fast first (outbox order): when the slow one has
	// started, the fast one's outcome is known to the dispatcher.
	s, reg := openStore(t, Options{Subscribers: []Subscriber{fast, slow}, WebhookTimeout: time.Minute, Concurrency: 1})
	record(t, s, click)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-bStarted
		cancel()
	}()
	if n, err := s.dispatchOnce(ctx); n != 2 || err != nil {
		t.Fatalf("dispatchOnce = %d, %v", n, err)
	}
	d := pendingDeliveries(t, s)
	if len(d) != 1 || d[0].Subscriber != "slow" || d[0].Attempts != 0 || d[0].LastError != "" {
		t.Fatalf("after shutdown the outbox holds %+v; want only the interrupted delivery, unchanged", d)
	}
	if got := counterValue(t, reg, "sealgate_tracking_webhook_deliveries_total", map[string]string{"result": "ok"}); got != 1 {
		t.Errorf("ok counter = %v, want 1", got)
	}
	if got := counterValue(t, reg, "sealgate_tracking_webhook_deliveries_total", map[string]string{"result": "retry"}); got != 0 {
		t.Errorf("an interrupted attempt counted as a retry")
	}
}

package tracking

import (
	"bytes"
	"encoding/base64"
	"errors"
	"image/gif"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealgate/sealgate/internal/testtool"
)

type memSink struct {
	mu     sync.Mutex
	events []Event
	fail   bool
}

func (s *memSink) Record(e Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("disk full")
	}
	s.events = append(s.events, e)
	return nil
}

func (s *memSink) all() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

type fakeDeliveries map[string]time.Time

func (f fakeDeliveries) DeliveredAt(id, rcpt string) (time.Time, error) { return f[id+"|"+rcpt], nil }

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type rig struct {
	h     http.Handler
	sink  *memSink
	clock *fakeClock
	reg   *prometheus.Registry
	logs  *bytes.Buffer
	opts  Options
}

func newRig(t *testing.T, tweak func(*Options)) *rig {
	t.Helper()
	r := &rig{sink: &memSink{}, clock: &fakeClock{t: testNow.Add(time.Hour)}, reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	o := Options{
		BaseURL: testBase, Keys: testKeys(), Sink: r.sink, Now: r.clock.now, Registerer: r.reg,
		Deliveries: fakeDeliveries{"Q1|pat@example.net": testNow},
		Logger:     slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RateLimit:  RateLimit{PerSecond: 1000, Burst: 1000},
	}
	if tweak != nil {
		tweak(&o)
	}
	h, err := Handler(o)
	if err != nil {
		t.Fatal(err)
	}
	r.h, r.opts = h, o
	return r
}

func (r *rig) do(method, path, ua, remote string, hdr http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://gw.example.com"+path, nil)
	req.RemoteAddr = remote
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	return w
}

func seal(t *testing.T, k Keys, tok Token) string {
	t.Helper()
	s, err := k.Seal(tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openTok() Token {
	return Token{Kind: TokenOpen, MessageID: "Q1", Recipient: "pat@example.net", Sender: "news@clinic.example", Campaign: "c1", IssuedAt: testNow}
}

func clickTok(n int, u string) Token {
	t := openTok()
	t.Kind, t.LinkIndex, t.URL = TokenClick, n, u
	return t
}

const home = "73.12.34.56:51000"

func TestHandlerPixel(t *testing.T) {
	r := newRig(t, nil)
	w := r.do("GET", "/t/o/"+seal(t, testKeys(), openTok()), uaIPhoneMail, home, nil)
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/gif" {
		t.Fatalf("got %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store, no-cache, must-revalidate, private" {
		t.Errorf("Cache-Control %q", got)
	}
	if w.Header().Get("Pragma") != "no-cache" {
		t.Errorf("Pragma %q", w.Header().Get("Pragma"))
	}
	img, err := gif.Decode(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatalf("pixel is not a GIF: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1 || b.Dy() != 1 {
		t.Errorf("pixel is %v", b)
	}
	if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
		t.Errorf("pixel is not transparent (alpha %d)", a)
	}
	ev := r.sink.all()
	if len(ev) != 1 {
		t.Fatalf("%d events", len(ev))
	}
	e := ev[0]
	if e.Kind != EventOpen || e.MessageID != "Q1" || e.Recipient != "pat@example.net" || e.Sender != "news@clinic.example" ||
		e.Campaign != "c1" || e.Verdict != VerdictHuman || e.Reason != ReasonHuman || !e.Time.Equal(testNow.Add(time.Hour)) {
		t.Errorf("event %+v", e)
	}
	if e.IP != "" || e.UserAgent != "" {
		t.Errorf("client details stored by default: %+v", e)
	}
}

func TestHandlerStoreClientDetails(t *testing.T) {
	r := newRig(t, func(o *Options) { o.StoreClientDetails = true })
	r.do("GET", "/t/o/"+seal(t, testKeys(), openTok()), uaIPhoneMail, home, nil)
	ev := r.sink.all()
	if len(ev) != 1 || ev[0].IP != "73.12.34.56" || ev[0].UserAgent != uaIPhoneMail {
		t.Fatalf("events %+v", ev)
	}
}

func TestHandlerClickAndReplay(t *testing.T) {
	r := newRig(t, nil)
	const dest = "https://clinic.example/book?id=7&x=%2F"
	path := "/t/c/" + seal(t, testKeys(), clickTok(2, dest))
	for i := 0; i < 2; i++ { // the second is a replay: just another event
		w := r.do("GET", path, uaChrome, home, nil)
		if w.Code != http.StatusFound || w.Header().Get("Location") != dest {
			t.Fatalf("try %d: %d → %q", i, w.Code, w.Header().Get("Location"))
		}
		r.clock.set(r.clock.now().Add(time.Minute))
	}
	ev := r.sink.all()
	if len(ev) != 2 {
		t.Fatalf("%d events after a replay, want 2", len(ev))
	}
	for _, e := range ev {
		if e.Kind != EventClick || e.LinkIndex != 2 || e.Verdict != VerdictHuman {
			t.Errorf("event %+v", e)
		}
	}
	// HEAD on a click: redirected, counted as automated.
	w := r.do("HEAD", path, uaChrome, home, nil)
	if w.Code != http.StatusFound {
		t.Errorf("HEAD click: %d", w.Code)
	}
	if e := r.sink.all()[2]; e.Verdict != VerdictAutomated || e.Reason != ReasonHeadRequest {
		t.Errorf("HEAD click event %+v", e)
	}
}

func TestHandlerHeadPixelAndHoneypot(t *testing.T) {
	r := newRig(t, nil)
	w := r.do("HEAD", "/t/o/"+seal(t, testKeys(), openTok()), uaChrome, home, nil)
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") != "43" {
		t.Errorf("HEAD pixel: %d, %d bytes, length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
	hp := openTok()
	hp.Kind = TokenHoneypot
	w = r.do("GET", "/t/h/"+seal(t, testKeys(), hp), uaChrome, home, nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "noindex") {
		t.Errorf("honeypot: %d %q", w.Code, w.Body.String())
	}
	ev := r.sink.all()
	if len(ev) != 2 || ev[0].Reason != ReasonHeadRequest || ev[1].Kind != EventHoneypot || ev[1].Reason != ReasonHoneypot || ev[1].Verdict != VerdictAutomated {
		t.Errorf("events %+v", ev)
	}
}

func TestHandlerRejectsForgeries(t *testing.T) {
	r := newRig(t, nil)
	tok := seal(t, testKeys(), clickTok(1, "https://clinic.example/book"))
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	expect404 := func(what, path string) {
		t.Helper()
		w := r.do("GET", path, uaChrome, home, nil)
		if w.Code != 404 || w.Header().Get("Location") != "" {
			t.Fatalf("%s: %d location %q", what, w.Code, w.Header().Get("Location"))
		}
		if strings.Contains(w.Body.String(), "token") || len(w.Body.String()) > 40 {
			t.Fatalf("%s: 404 body says too much: %q", what, w.Body.String())
		}
	}
	for i := range raw {
		m := bytes.Clone(raw)
		m[i] ^= 0x01
		expect404("flipped byte", "/t/c/"+base64.RawURLEncoding.EncodeToString(m))
	}
	expect404("click token on pixel path", "/t/o/"+tok)
	expect404("click token on honeypot path", "/t/h/"+tok)
	expect404("unknown kind", "/t/x/"+tok)
	expect404("no token", "/t/c/")
	expect404("trailing path", "/t/c/"+tok+"/https://evil.example/")
	expect404("garbage", "/t/c/%00%0d%0aLocation:%20https://evil.example/")
	other := Keys{Current: fixedKey(7, 0x66)} // same key ID, attacker's secret
	expect404("wrong key", "/t/c/"+seal(t, other, clickTok(1, "https://evil.example/")))
	if n := len(r.sink.all()); n != 0 {
		t.Errorf("%d events recorded for forgeries", n)
	}
	if got := testutil.ToFloat64(mustCounter(t, r, "invalid", "none")); got < float64(len(raw)) {
		t.Errorf("invalid counter %v", got)
	}
	w := r.do("POST", "/t/c/"+tok, uaChrome, home, nil)
	if w.Code != http.StatusMethodNotAllowed || len(r.sink.all()) != 0 {
		t.Errorf("POST: %d", w.Code)
	}
}

func TestHandlerNoOpenRedirect(t *testing.T) {
	r := newRig(t, nil)
	const dest = "https://clinic.example/book"
	tok := seal(t, testKeys(), clickTok(1, dest))
	for _, q := range []string{"?url=https://evil.example/", "?redirect=//evil.example", "?next=javascript:alert(1)", "?%0d%0aLocation:+https://evil.example/"} {
		w := r.do("GET", "/t/c/"+tok+q, uaChrome, home, http.Header{"Referer": {"https://evil.example/"}, "X-Original-Url": {"https://evil.example/"}})
		if w.Code != http.StatusFound || w.Header().Get("Location") != dest || len(w.Header().Values("Location")) != 1 {
			t.Errorf("%s: %d → %q", q, w.Code, w.Header().Values("Location"))
		}
	}
	// A raw fragment or path suffix makes the token unreadable: 404, never a redirect elsewhere.
	for _, q := range []string{"#https://evil.example", "/..%2f..%2fhttps://evil.example", "%2f%2fevil.example"} {
		w := r.do("GET", "/t/c/"+tok+q, uaChrome, home, nil)
		if w.Code != 404 || w.Header().Get("Location") != "" {
			t.Errorf("%s: %d → %q", q, w.Code, w.Header().Get("Location"))
		}
	}
	// A token can only hold http(s): Seal refuses anything else, and a
	// token whose plaintext names another scheme does not open.
	for _, u := range []string{"javascript:alert(1)", "//evil.example/", "data:text/html,<script>"} {
		if _, err := testKeys().Seal(clickTok(1, u), nil); err == nil {
			t.Errorf("sealed %q", u)
		}
	}
}

func TestHandlerKeyRotation(t *testing.T) {
	old, cur := fixedKey(1, 0x11), fixedKey(2, 0x22)
	until := testNow.Add(2 * time.Hour)
	r := newRig(t, func(o *Options) { o.Keys = Keys{Current: cur, Previous: []Key{old}, PreviousUntil: until} })
	path := "/t/c/" + seal(t, Keys{Current: old}, clickTok(1, "https://clinic.example/"))
	if w := r.do("GET", path, uaChrome, home, nil); w.Code != http.StatusFound {
		t.Errorf("previous key before expiry: %d", w.Code)
	}
	r.clock.set(until.Add(time.Second))
	if w := r.do("GET", path, uaChrome, home, nil); w.Code != 404 {
		t.Errorf("previous key after expiry: %d", w.Code)
	}
}

func TestHandlerTrustedProxies(t *testing.T) {
	r := newRig(t, func(o *Options) {
		o.StoreClientDetails = true
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	})
	path := "/t/c/" + seal(t, testKeys(), clickTok(1, "https://clinic.example/"))
	cases := []struct {
		name, remote string
		hdr          http.Header
		ip, reason   string
	}{
		{"spoofed XFF from untrusted peer is ignored", home, http.Header{"X-Forwarded-For": {"40.107.1.1"}}, "73.12.34.56", ReasonHuman},
		{"spoofed Forwarded from untrusted peer is ignored", home, http.Header{"Forwarded": {"for=40.107.1.1"}}, "73.12.34.56", ReasonHuman},
		{"trusted proxy: right-most untrusted", "10.0.0.1:443", http.Header{"X-Forwarded-For": {"40.107.1.1, 73.9.9.9, 10.0.0.2"}}, "73.9.9.9", ReasonHuman},
		{"trusted proxy, several XFF headers", "10.0.0.1:443", http.Header{"X-Forwarded-For": {"1.1.1.1", "40.107.1.1"}}, "40.107.1.1", ReasonMicrosoftSafeLinks},
		{"trusted proxy: Forwarded wins", "[fd00::1]:443", http.Header{"Forwarded": {`for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"`}, "X-Forwarded-For": {"73.1.1.1"}}, "2001:db8::1", ReasonHuman},
		{"trusted proxy without header", "10.0.0.1:443", nil, "10.0.0.1", ReasonHuman},
		{"all hops trusted", "10.0.0.1:443", http.Header{"X-Forwarded-For": {"10.9.9.9, 10.0.0.2"}}, "10.9.9.9", ReasonHuman},
		{"garbage hop stops the walk", "10.0.0.1:443", http.Header{"X-Forwarded-For": {"73.1.1.1, nonsense, 10.0.0.2"}}, "10.0.0.2", ReasonHuman},
	}
	for i, tc := range cases {
		r.do("GET", path, uaChrome, tc.remote, tc.hdr)
		ev := r.sink.all()
		if len(ev) != i+1 {
			t.Fatalf("%s: no event", tc.name)
		}
		if e := ev[i]; e.IP != tc.ip || e.Reason != tc.reason {
			t.Errorf("%s: ip %s reason %s, want %s %s", tc.name, e.IP, e.Reason, tc.ip, tc.reason)
		}
		r.clock.set(r.clock.now().Add(time.Hour)) // keep the burst rule out of it
	}
}

func TestHandlerRateLimit(t *testing.T) {
	r := newRig(t, func(o *Options) { o.RateLimit = RateLimit{PerSecond: 1, Burst: 3, MaxClients: 10} })
	pix := "/t/o/" + seal(t, testKeys(), openTok())
	click := "/t/c/" + seal(t, testKeys(), clickTok(1, "https://clinic.example/"))
	for i := 0; i < 3; i++ {
		if w := r.do("GET", pix, uaIPhoneMail, home, nil); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	if w := r.do("GET", pix, uaIPhoneMail, home, nil); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d", w.Code)
	}
	// A person's click is never stranded: redirected, but not recorded.
	if w := r.do("GET", click, uaChrome, home, nil); w.Code != http.StatusFound {
		t.Fatalf("limited click: %d", w.Code)
	}
	if n := len(r.sink.all()); n != 3 {
		t.Fatalf("%d events, want 3 (limited requests are not recorded)", n)
	}
	// Another client is unaffected; after a second the bucket refills.
	if w := r.do("GET", pix, uaIPhoneMail, "98.1.2.3:1", nil); w.Code != 200 {
		t.Errorf("other client limited: %d", w.Code)
	}
	r.clock.set(r.clock.now().Add(1100 * time.Millisecond))
	if w := r.do("GET", pix, uaIPhoneMail, home, nil); w.Code != 200 {
		t.Errorf("after refill: %d", w.Code)
	}
	// IPv6 clients share a bucket per /64.
	for i := 0; i < 3; i++ {
		r.do("GET", pix, uaIPhoneMail, "[2001:db8:1:2::"+string(rune('a'+i))+"]:1", nil)
	}
	if w := r.do("GET", pix, uaIPhoneMail, "[2001:db8:1:2::ff]:1", nil); w.Code != http.StatusTooManyRequests {
		t.Errorf("same /64 not limited together: %d", w.Code)
	}
	if got := testutil.ToFloat64(mustCounter(t, r, "limited", "none")); got != 3 {
		t.Errorf("limited counter %v, want 3", got)
	}
	// The table is bounded.
	l := newLimiter(RateLimit{PerSecond: 1, Burst: 1, MaxClients: 10})
	for i := 0; i < 1000; i++ {
		l.allow(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), testNow)
	}
	if l.size() != 10 {
		t.Errorf("limiter holds %d clients, max 10", l.size())
	}
}

func TestRecentRequestsBounded(t *testing.T) {
	rr := NewRecentRequests(5, 3, time.Hour)
	for i := 0; i < 50; i++ {
		rr.Observe(string(rune('a'+i%26))+string(rune('a'+i/26)), Prior{Time: testNow})
	}
	if rr.Len() != 5 {
		t.Errorf("%d keys held, max 5", rr.Len())
	}
	var got []Prior
	for i := 0; i < 10; i++ {
		got, _ = rr.Observe("k", Prior{Time: testNow.Add(time.Duration(i) * time.Minute), Target: Target{Kind: TargetClick, Link: i + 1}})
	}
	if len(got) != 3 || got[2].Target.Link != 9 {
		t.Errorf("per-key history %+v, want the newest 3 before this one", got)
	}
	got, _ = rr.Observe("k", Prior{Time: testNow.Add(5 * time.Hour)})
	if len(got) != 0 {
		t.Errorf("entries older than the TTL kept: %d", len(got))
	}
}

func mustCounter(t *testing.T, r *rig, kind, verdict string) prometheus.Collector {
	t.Helper()
	return r.h.(*server).requests.WithLabelValues(kind, verdict)
}

func TestHandlerMetrics(t *testing.T) {
	r := newRig(t, nil)
	r.do("GET", "/t/o/"+seal(t, testKeys(), openTok()), uaIPhoneMail, home, nil)
	r.do("GET", "/t/o/"+seal(t, testKeys(), openTok()), "curl/8", home, nil)
	r.do("GET", "/t/c/bogus", uaChrome, home, nil)
	want := `
# HELP sealgate_tracking_requests_total Tracking requests by kind (open, click, honeypot, invalid, limited) and verdict (human, automated, none).
# TYPE sealgate_tracking_requests_total counter
sealgate_tracking_requests_total{kind="invalid",verdict="none"} 1
sealgate_tracking_requests_total{kind="open",verdict="automated"} 1
sealgate_tracking_requests_total{kind="open",verdict="human"} 1
`
	if err := testutil.GatherAndCompare(r.reg, strings.NewReader(want), "sealgate_tracking_requests_total"); err != nil {
		t.Error(err)
	}
	// Registering twice on one registry is an error, not a panic.
	if _, err := Handler(r.opts); err == nil {
		t.Error("second registration accepted")
	}
	testtool.CheckMetrics(t, testtool.Exposition(t, r.reg))
}

func TestHandlerSinkFailureStillServes(t *testing.T) {
	r := newRig(t, nil)
	r.sink.fail = true
	w := r.do("GET", "/t/c/"+seal(t, testKeys(), clickTok(1, "https://clinic.example/")), uaChrome, home, nil)
	if w.Code != http.StatusFound {
		t.Errorf("click with a failing sink: %d", w.Code)
	}
	if !strings.Contains(r.logs.String(), `"error_class":"sink"`) {
		t.Errorf("sink failure not logged: %s", r.logs.String())
	}
}

func TestHandlerOptionsValidation(t *testing.T) {
	good := Options{BaseURL: testBase, Keys: testKeys(), Sink: &memSink{}}
	if _, err := Handler(good); err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]Options{
		"no sink":    {BaseURL: testBase, Keys: testKeys()},
		"no key":     {BaseURL: testBase, Sink: &memSink{}},
		"bad base":   {BaseURL: "gw.example.com", Keys: testKeys(), Sink: &memSink{}},
		"base query": {BaseURL: testBase + "/?a=1", Keys: testKeys(), Sink: &memSink{}},
		"bad glob":   {BaseURL: testBase, Keys: testKeys(), Sink: &memSink{}, Exclusions: []string{"[x"}},
		"neg rate":   {BaseURL: testBase, Keys: testKeys(), Sink: &memSink{}, RateLimit: RateLimit{PerSecond: -1}},
		"bad apple":  {BaseURL: testBase, Keys: testKeys(), Sink: &memSink{}, Classifier: ClassifierOptions{AppleRangesFile: "/nonexistent"}},
		"bad burst":  {BaseURL: testBase, Keys: testKeys(), Sink: &memSink{}, Classifier: ClassifierOptions{BurstMinLinks: 1}},
	} {
		if _, err := Handler(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The live handler and the offline batch use one classifier: replaying the
// labelled set through HTTP gives exactly ClassifyBatch's verdicts.
func TestLiveMatchesOffline(t *testing.T) {
	items, _ := loadLabelled(t)
	deliveries := fakeDeliveries{}
	for _, it := range items {
		deliveries[it.Key+"|r@example.net"] = it.Request.DeliveredAt
	}
	r := newRig(t, func(o *Options) { o.Deliveries = deliveries })
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	sortByTime(order, items)
	c := newTestClassifier(t, ClassifierOptions{})
	want := c.ClassifyBatch(items)
	for n, i := range order {
		it := items[i]
		tok := Token{MessageID: it.Key, Recipient: "r@example.net", IssuedAt: it.Request.DeliveredAt}
		prefix := ""
		switch it.Request.Target.Kind {
		case TargetPixel:
			tok.Kind, prefix = TokenOpen, "/t/o/"
		case TargetClick:
			tok.Kind, tok.LinkIndex, tok.URL, prefix = TokenClick, it.Request.Target.Link, "https://clinic.example/l", "/t/c/"
		default:
			tok.Kind, prefix = TokenHoneypot, "/t/h/"
		}
		r.clock.set(it.Request.Time)
		remote := netip.AddrPortFrom(it.Request.IP, 40000).String()
		r.do(it.Request.Method, prefix+seal(t, testKeys(), tok), it.Request.UserAgent, remote, it.Request.Header)
		ev := r.sink.all()
		if len(ev) != n+1 {
			t.Fatalf("request %d not recorded", i)
		}
		got := ev[n]
		if got.Verdict != want[i].Verdict || got.Reason != want[i].Reason {
			t.Errorf("request %d (%s): live %s/%s, offline %s/%s", i, it.Key, got.Verdict, got.Reason, want[i].Verdict, want[i].Reason)
		}
	}
}

func sortByTime(order []int, items []KeyedRequest) {
	for i := 1; i < len(order); i++ { // insertion sort keeps ties in input order
		for j := i; j > 0 && items[order[j]].Request.Time.Before(items[order[j-1]].Request.Time); j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
}

// Many clients at once: the limiter, history and metrics are safe for
// concurrent use (run under -race) and every request is recorded once.
func TestHandlerConcurrent(t *testing.T) {
	r := newRig(t, nil)
	var wg sync.WaitGroup
	const workers, each = 8, 50
	paths := make([]string, workers)
	for g := range paths {
		tok := openTok()
		tok.MessageID = "Q" + string(rune('A'+g))
		paths[g] = "/t/o/" + seal(t, testKeys(), tok)
	}
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r.do("GET", paths[g], uaIPhoneMail, netip.AddrFrom4([4]byte{73, 0, byte(g), byte(i)}).String()+":1", nil)
			}
		}(g)
	}
	wg.Wait()
	if n := len(r.sink.all()); n != workers*each {
		t.Errorf("%d events, want %d", n, workers*each)
	}
}

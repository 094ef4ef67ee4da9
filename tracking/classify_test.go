package tracking

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

const (
	uaIPhoneMail = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
	uaChrome     = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaGoogle     = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)

func newTestClassifier(t *testing.T, o ClassifierOptions) *Classifier {
	t.Helper()
	c, err := NewClassifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClassifierSignals(t *testing.T) {
	c := newTestClassifier(t, ClassifierOptions{})
	d := testNow
	pixel := Target{Kind: TargetPixel}
	click := func(n int) Target { return Target{Kind: TargetClick, Link: n} }
	home := netip.MustParseAddr("73.12.34.56")
	at := func(s float64) time.Time { return d.Add(time.Duration(s * float64(time.Second))) }
	cases := []struct {
		name   string
		r      Request
		reason string
	}{
		{"person opens an hour later", Request{Time: at(3600), Target: pixel, UserAgent: uaIPhoneMail, IP: home}, ReasonHuman},
		{"person clicks a minute later", Request{Time: at(60), Target: click(1), UserAgent: uaChrome, IP: home}, ReasonHuman},
		{"honeypot", Request{Time: at(3600), Target: Target{Kind: TargetHoneypot}, UserAgent: uaChrome, IP: home}, ReasonHoneypot},
		{"apple mpp by range", Request{Time: at(30), Target: pixel, UserAgent: "Mozilla/5.0", IP: netip.MustParseAddr("17.58.101.7")}, ReasonAppleMPP},
		{"apple mpp by range, IPv6", Request{Time: at(30), Target: pixel, UserAgent: uaIPhoneMail, IP: netip.MustParseAddr("2620:149:a:1::7")}, ReasonAppleMPP},
		{"apple mpp by UA shape alone", Request{Time: at(30), Target: pixel, UserAgent: "Mozilla/5.0", IP: home}, ReasonAppleMPP},
		{"apple range click is not mpp", Request{Time: at(600), Target: click(1), UserAgent: uaIPhoneMail, IP: netip.MustParseAddr("17.1.2.3")}, ReasonHuman},
		{"google proxy at delivery", Request{Time: at(3), Target: pixel, UserAgent: uaGoogle, IP: netip.MustParseAddr("66.102.8.1")}, ReasonGoogleImageProxy},
		{"google proxy later is a person", Request{Time: at(7200), Target: pixel, UserAgent: uaGoogle, IP: netip.MustParseAddr("66.249.84.1")}, ReasonHuman},
		{"google proxy near delivery but not first", Request{Time: at(20), Target: pixel, UserAgent: uaGoogle,
			Earlier: []Prior{{Time: at(2), Method: "GET", Target: pixel}}}, ReasonHuman},
		{"safe links by network", Request{Time: at(3600), Target: click(1), UserAgent: uaChrome, IP: netip.MustParseAddr("40.107.22.9")}, ReasonMicrosoftSafeLinks},
		{"safe links IPv6", Request{Time: at(3600), Target: click(1), UserAgent: uaChrome, IP: netip.MustParseAddr("2a01:111:f400:fe1e::5")}, ReasonMicrosoftSafeLinks},
		{"office existence discovery", Request{Time: at(3600), Target: click(1), UserAgent: "Microsoft Office Existence Discovery", IP: home}, ReasonMicrosoftSafeLinks},
		{"proofpoint by network", Request{Time: at(3600), Target: click(1), UserAgent: uaChrome, IP: netip.MustParseAddr("148.163.150.2")}, ReasonProofpoint},
		{"mimecast by network", Request{Time: at(3600), Target: click(1), UserAgent: uaChrome, IP: netip.MustParseAddr("205.139.110.40")}, ReasonMimecast},
		{"barracuda by network", Request{Time: at(3600), Target: click(1), UserAgent: uaChrome, IP: netip.MustParseAddr("64.235.150.1")}, ReasonBarracuda},
		{"cisco by UA", Request{Time: at(3600), Target: click(1), UserAgent: "Mozilla/5.0 (compatible; Cisco Secure Email URL Scanner)", IP: home}, ReasonCisco},
		{"other scanner UA", Request{Time: at(3600), Target: click(1), UserAgent: "Mozilla/5.0 Sophos/1.0", IP: home}, ReasonScannerUA},
		{"curl", Request{Time: at(3600), Target: click(1), UserAgent: "curl/8.5.0", IP: home}, ReasonHeadlessUA},
		{"python-requests", Request{Time: at(3600), Target: pixel, UserAgent: "python-requests/2.31", IP: home}, ReasonHeadlessUA},
		{"Go-http-client", Request{Time: at(3600), Target: click(2), UserAgent: "Go-http-client/2.0", IP: home}, ReasonHeadlessUA},
		{"HeadlessChrome", Request{Time: at(3600), Target: click(1), UserAgent: "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0 Safari/537.36", IP: home}, ReasonHeadlessUA},
		{"empty UA", Request{Time: at(3600), Target: pixel, IP: home}, ReasonEmptyUA},
		{"HEAD", Request{Time: at(3600), Method: "HEAD", Target: click(1), UserAgent: uaChrome, IP: home}, ReasonHeadRequest},
		{"click 3s after delivery", Request{Time: at(3), Target: click(1), UserAgent: uaChrome, IP: home}, ReasonClickTooSoon},
		{"click 11s after delivery", Request{Time: at(11), Target: click(1), UserAgent: uaChrome, IP: home}, ReasonHuman},
		{"click before delivery", Request{Time: at(-30), Target: click(1), UserAgent: uaChrome, IP: home}, ReasonClickTooSoon},
		{"open before delivery", Request{Time: at(-10), Target: pixel, UserAgent: uaChrome, IP: home}, ReasonOpenBeforeDelivery},
		{"open within clock skew of delivery", Request{Time: at(-1), Target: pixel, UserAgent: uaChrome, IP: home}, ReasonHuman},
		{"burst: third link within 3s", Request{Time: at(100), Target: click(3), UserAgent: uaChrome, IP: home,
			Earlier: []Prior{{Time: at(98.5), Target: click(1)}, {Time: at(99.2), Target: click(2)}}}, ReasonBurstAllLinks},
		{"same link thrice is no burst", Request{Time: at(100), Target: click(1), UserAgent: uaChrome, IP: home,
			Earlier: []Prior{{Time: at(99), Target: click(1)}, {Time: at(99.5), Target: click(1)}}}, ReasonHuman},
		{"three links over a minute is no burst", Request{Time: at(160), Target: click(3), UserAgent: uaChrome, IP: home,
			Earlier: []Prior{{Time: at(100), Target: click(1)}, {Time: at(130), Target: click(2)}}}, ReasonHuman},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.DeliveredAt = d
			if tc.r.Method == "" {
				tc.r.Method = "GET"
			}
			got := c.Classify(tc.r)
			want := VerdictAutomated
			if tc.reason == ReasonHuman {
				want = VerdictHuman
			}
			if got.Reason != tc.reason || got.Verdict != want {
				t.Errorf("got %s/%s, want %s/%s", got.Verdict, got.Reason, want, tc.reason)
			}
		})
	}
	// Unknown delivery time: timing rules do not fire.
	got := c.Classify(Request{Time: d, Method: "GET", Target: click(1), UserAgent: uaChrome, IP: home})
	if got.Reason != ReasonHuman {
		t.Errorf("unknown delivery time: %s", got.Reason)
	}
}

func TestClassifierOptionsAndDataFiles(t *testing.T) {
	dir := t.TempDir()
	apple := filepath.Join(dir, "apple.csv")
	os.WriteFile(apple, []byte("# egress list\n203.0.113.0/24,US,US-CA,Cupertino,\n198.51.100.7\n"), 0o644)
	scan := filepath.Join(dir, "scanners.json")
	os.WriteFile(scan, []byte(`{"scanners":[{"reason":"acme_gateway","networks":["192.0.2.0/24"],"user_agents":["AcmeScan"],"headers":["X-Acme-Scan","Via: acme-proxy"]}]}`), 0o644)
	c := newTestClassifier(t, ClassifierOptions{AppleRangesFile: apple, ScannerDataFile: scan, ClickTooSoon: time.Minute})
	at := testNow.Add(30 * time.Second)
	pix := Target{Kind: TargetPixel}
	for _, tc := range []struct {
		r      Request
		reason string
	}{
		{Request{Target: pix, IP: netip.MustParseAddr("203.0.113.9"), UserAgent: uaIPhoneMail}, ReasonAppleMPP},
		{Request{Target: pix, IP: netip.MustParseAddr("198.51.100.7"), UserAgent: uaIPhoneMail}, ReasonAppleMPP},
		{Request{Target: pix, IP: netip.MustParseAddr("17.58.1.1"), UserAgent: uaIPhoneMail}, ReasonHuman}, // override replaces defaults
		{Request{Target: pix, IP: netip.MustParseAddr("192.0.2.5"), UserAgent: uaChrome}, "acme_gateway"},
		{Request{Target: pix, UserAgent: "AcmeScan/2"}, "acme_gateway"},
		{Request{Target: pix, UserAgent: uaChrome, Header: http.Header{"X-Acme-Scan": {"1"}}}, "acme_gateway"},
		{Request{Target: pix, UserAgent: uaChrome, Header: http.Header{"Via": {"1.1 ACME-PROXY"}}}, "acme_gateway"},
		{Request{Target: pix, UserAgent: uaChrome, Header: http.Header{"Via": {"1.1 other"}}}, ReasonHuman},
		{Request{Target: pix, UserAgent: "curl/8"}, ReasonHuman},                                       // the defaults are replaced, not merged
		{Request{Target: Target{Kind: TargetClick, Link: 1}, UserAgent: uaChrome}, ReasonClickTooSoon}, // 30s < 1m
	} {
		tc.r.Time, tc.r.DeliveredAt, tc.r.Method = at, testNow, "GET"
		if got := c.Classify(tc.r); got.Reason != tc.reason {
			t.Errorf("%+v: got %s, want %s", tc.r, got.Reason, tc.reason)
		}
	}
	for _, bad := range []string{`{"scanners":[{"reason":"Bad Reason"}]}`, `{"scanners":[{"reason":"x","networks":["nope"]}]}`, `{"scanners":[{"reason":"human"}]}`, `{"unknown":1}`, `not json`} {
		os.WriteFile(scan, []byte(bad), 0o644)
		if _, err := NewClassifier(ClassifierOptions{ScannerDataFile: scan}); err == nil {
			t.Errorf("scanner data %s accepted", bad)
		}
	}
	os.WriteFile(apple, []byte("17.0.0.0/8\nnot-a-cidr\n"), 0o644)
	if _, err := NewClassifier(ClassifierOptions{AppleRangesFile: apple}); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad apple file: %v", err)
	}
	if _, err := NewClassifier(ClassifierOptions{AppleRangesFile: filepath.Join(dir, "missing")}); err == nil {
		t.Error("missing apple file accepted")
	}
}

type labelled struct {
	Expected string `json:"expected"`
	Scenario string `json:"scenario"`
}

func loadLabelled(t *testing.T) ([]KeyedRequest, []labelled) {
	t.Helper()
	f, err := os.Open("testdata/classify/labelled.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var items []KeyedRequest
	var labels []labelled
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		kr, err := ParseJSONRequest(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		var l labelled
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || (l.Expected != "human" && l.Expected != "automated") {
			t.Fatalf("line %d: no label", n)
		}
		items = append(items, kr)
		labels = append(labels, l)
	}
	return items, labels
}

// TestLabelledAccuracy runs the shipped classifier over the labelled set
// (labels come from the scenario that generated each request, see
// testdata/classify/gen.go) and requires 95% accuracy.
func TestLabelledAccuracy(t *testing.T) {
	items, labels := loadLabelled(t)
	if len(items) < 200 {
		t.Fatalf("labelled set has %d requests, want ≥ 200", len(items))
	}
	c := newTestClassifier(t, ClassifierOptions{})
	res := c.ClassifyBatch(items)
	right := 0
	wrong := map[string]int{}
	var fp, fn int
	for i, r := range res {
		if string(r.Verdict) == labels[i].Expected {
			right++
			continue
		}
		wrong[labels[i].Scenario+" → "+r.Reason]++
		if r.Verdict == VerdictHuman {
			fn++
		} else {
			fp++
		}
	}
	acc := float64(right) / float64(len(items))
	var ws []string
	for k, v := range wrong {
		ws = append(ws, fmt.Sprintf("%s ×%d", k, v))
	}
	sort.Strings(ws)
	t.Logf("labelled accuracy %.4f (%d/%d); automated called human %d, human called automated %d; misses: %s",
		acc, right, len(items), fn, fp, strings.Join(ws, ", "))
	if acc < 0.95 {
		t.Errorf("accuracy %.4f < 0.95", acc)
	}
}

// ClassifyBatch must not depend on input order: the same requests
// shuffled give the same results.
func TestClassifyBatchOrderIndependent(t *testing.T) {
	items, _ := loadLabelled(t)
	c := newTestClassifier(t, ClassifierOptions{})
	a := c.ClassifyBatch(items)
	rev := make([]KeyedRequest, len(items))
	for i := range items {
		rev[len(items)-1-i] = items[i]
	}
	b := c.ClassifyBatch(rev)
	for i := range a {
		if a[i] != b[len(items)-1-i] {
			t.Fatalf("request %d: %v in order, %v reversed", i, a[i], b[len(items)-1-i])
		}
	}
}

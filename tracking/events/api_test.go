package events

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/tracking"
)

const adminToken = "admin-token-5b1f0c9e2d"

func get(t *testing.T, h http.Handler, method, target, bearer string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestReportAPIRequiresToken(t *testing.T) {
	s, _ := openStore(t, Options{})
	springCampaign(t, s)
	h := ReportHandler(s, HandlerOptions{AdminToken: adminToken, AllowQueryToken: true})
	routes := []string{
		"/api/reports/campaigns",
		"/api/reports/campaigns/" + camp,
		"/api/reports/senders/" + url.PathEscape(sender),
		"/api/messages/q1/events",
		"/api/webhooks",
		"/reports/campaigns/" + camp,
	}
	for _, r := range routes {
		for name, tok := range map[string]string{"none": "", "wrong": "admin-token-5b1f0c9e2e", "prefix": adminToken[:10], "longer": adminToken + "x"} {
			rec := get(t, h, "GET", r, tok)
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("GET %s with %s token: %d, want 401", r, name, rec.Code)
			}
			if strings.Contains(rec.Body.String(), "patients.example") || strings.Contains(rec.Body.String(), camp) {
				t.Errorf("GET %s with %s token leaked data", r, name)
			}
		}
		if rec := get(t, h, "GET", r, adminToken); rec.Code != http.StatusOK {
			t.Errorf("GET %s with the token: %d %s", r, rec.Code, rec.Body)
		}
	}
	// Basic auth or a bare token is not a bearer token.
	req := httptest.NewRequest("GET", "/api/reports/campaigns", nil)
	req.Header.Set("Authorization", adminToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("bare Authorization token accepted: %d", rec.Code)
	}
	// The scheme is case-insensitive (RFC 7235).
	req = httptest.NewRequest("GET", "/api/reports/campaigns", nil)
	req.Header.Set("Authorization", "bearer "+adminToken)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("lower-case bearer scheme refused: %d", rec.Code)
	}
	// POST replay needs the token too.
	if rec := get(t, h, "POST", "/api/webhooks/replay?dead=1", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("replay without token: %d", rec.Code)
	}
	// The query token is for the HTML page only.
	if rec := get(t, h, "GET", "/api/reports/campaigns/"+camp+"?token="+adminToken, ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("JSON API accepted ?token=: %d", rec.Code)
	}
	if rec := get(t, h, "GET", "/reports/campaigns/"+camp+"?token="+adminToken, ""); rec.Code != http.StatusOK {
		t.Errorf("HTML page refused ?token= with AllowQueryToken: %d", rec.Code)
	}
	strict := ReportHandler(s, HandlerOptions{AdminToken: adminToken})
	if rec := get(t, strict, "GET", "/reports/campaigns/"+camp+"?token="+adminToken, ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("HTML page accepted ?token= without AllowQueryToken: %d", rec.Code)
	}
	// No configured token refuses everything, even an empty bearer.
	closed := ReportHandler(s, HandlerOptions{})
	req = httptest.NewRequest("GET", "/api/reports/campaigns", nil)
	req.Header.Set("Authorization", "Bearer ")
	rec = httptest.NewRecorder()
	closed.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("empty AdminToken and empty bearer: %d, want 401", rec.Code)
	}
}

func TestReportAPIJSON(t *testing.T) {
	s, _ := openStore(t, Options{SuppressAutomated: true})
	springCampaign(t, s)
	h := ReportHandler(s, HandlerOptions{AdminToken: adminToken})

	rec := get(t, h, "GET", "/api/reports/campaigns/"+camp, adminToken)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("campaign report: %d %v", rec.Code, rec.Header())
	}
	var r Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	checkEngagement(t, "api headline", r.Headline, wantHuman)
	checkEngagement(t, "api all", r.All, wantAll)
	checkEngagement(t, "api human", r.Human, wantHuman)
	// Check the wire names, not only the Go round trip.
	var raw map[string]any
	json.Unmarshal(rec.Body.Bytes(), &raw)
	hl := raw["headline"].(map[string]any)
	if hl["unique_opens"] != 3.0 || hl["open_rate"] != 0.3 || raw["suppress_automated"] != true || raw["bucket"] != "hour" {
		t.Errorf("wire JSON: headline %v, suppress %v, bucket %v", hl, raw["suppress_automated"], raw["bucket"])
	}

	rec = get(t, h, "GET", "/api/reports/senders/"+url.PathEscape("NEWS@clinic.example")+
		"?from=2026-03-02T09:00:00Z&to=2026-03-02T09:30:00Z&bucket=day", adminToken)
	if rec.Code != 200 {
		t.Fatalf("sender report: %d %s", rec.Code, rec.Body)
	}
	r = Report{}
	json.Unmarshal(rec.Body.Bytes(), &r)
	if r.ID != sender || r.All.UniqueOpens != 4 || r.Human.UniqueOpens != 0 || r.Bucket != BucketDay || len(r.Series) != 1 {
		t.Errorf("sender report in range: id %q all %+v human %+v bucket %s series %d", r.ID, r.All, r.Human, r.Bucket, len(r.Series))
	}

	rec = get(t, h, "GET", "/api/reports/campaigns?from=2026-03-02T11:00:00Z", adminToken)
	var list struct{ Campaigns []CampaignSummary }
	json.Unmarshal(rec.Body.Bytes(), &list)
	if rec.Code != 200 || len(list.Campaigns) != 1 || list.Campaigns[0].ID != camp {
		t.Errorf("campaign list: %d %s", rec.Code, rec.Body)
	}

	rec = get(t, h, "GET", "/api/messages/q1/events?recipient=r3@patients.example", adminToken)
	var evs struct{ Events []tracking.Event }
	json.Unmarshal(rec.Body.Bytes(), &evs)
	if rec.Code != 200 || len(evs.Events) != 3 {
		t.Errorf("message events: %d, %d events", rec.Code, len(evs.Events))
	}

	for _, bad := range []string{
		"?from=yesterday", "?to=2026-13-01T00:00:00Z", "?from=2026-03-03T00:00:00Z&to=2026-03-02T00:00:00Z",
		"?bucket=week",
	} {
		if rec := get(t, h, "GET", "/api/reports/campaigns/"+camp+bad, adminToken); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, rec.Code)
		}
	}
	if rec := get(t, h, "GET", "/api/reports/campaigns/nope/extra", adminToken); rec.Code != http.StatusNotFound {
		t.Errorf("unknown route: %d", rec.Code)
	}
	if rec := get(t, h, "DELETE", "/api/reports/campaigns/"+camp, adminToken); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d, want 405", rec.Code)
	}
}

func TestSeriesTooLongIsRefused(t *testing.T) {
	s, _ := openStore(t, Options{})
	e := tracking.Event{Time: t0, Kind: tracking.EventOpen, MessageID: "m", Recipient: "a@x.example", Campaign: "c", Verdict: tracking.VerdictHuman}
	record(t, s, e)
	e.Time = t0.Add(100 * 24 * time.Hour)
	record(t, s, e)
	h := ReportHandler(s, HandlerOptions{AdminToken: adminToken})
	if rec := get(t, h, "GET", "/api/reports/campaigns/c?bucket=hour", adminToken); rec.Code != http.StatusBadRequest {
		t.Errorf("2400 hourly points: %d, want 400", rec.Code)
	}
	rec := get(t, h, "GET", "/api/reports/campaigns/c", adminToken)
	var r Report
	json.Unmarshal(rec.Body.Bytes(), &r)
	if rec.Code != 200 || r.Bucket != BucketDay || len(r.Series) != 101 {
		t.Errorf("auto bucket over 100 days: %d, %s, %d points", rec.Code, r.Bucket, len(r.Series))
	}
}

func TestReplayAPI(t *testing.T) {
	rc := newReceiver(t, status(http.StatusOK))
	s, _ := openStore(t, Options{Subscribers: []Subscriber{sub(rc.srv.URL)}})
	record(t, s, click)
	h := ReportHandler(s, HandlerOptions{AdminToken: adminToken})
	if rec := get(t, h, "POST", "/api/webhooks/replay", adminToken); rec.Code != http.StatusBadRequest {
		t.Errorf("range replay without since: %d, want 400", rec.Code)
	}
	rec := get(t, h, "POST", "/api/webhooks/replay?since=2026-03-01T00:00:00Z", adminToken)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"requeued": 1`) {
		t.Errorf("range replay: %d %s", rec.Code, rec.Body)
	}
	rec = get(t, h, "GET", "/api/webhooks", adminToken)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"pending": 2`) {
		t.Errorf("outbox: %d %s", rec.Code, rec.Body)
	}
}

func TestHTMLReportPage(t *testing.T) {
	s, _ := openStore(t, Options{})
	springCampaign(t, s)
	hostile := `<script>alert("x")</script>`
	record(t, s, tracking.Event{Time: t0, Kind: tracking.EventOpen, MessageID: "h", Recipient: "a@x.example",
		Campaign: hostile, Verdict: tracking.VerdictAutomated, Reason: "</text><script>"})
	h := ReportHandler(s, HandlerOptions{AdminToken: adminToken})

	rec := get(t, h, "GET", "/reports/campaigns/"+camp, adminToken)
	if rec.Code != 200 {
		t.Fatalf("page: %d %s", rec.Code, rec.Body)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; style-src 'unsafe-inline'; img-src data:") {
		t.Errorf("CSP = %q", csp)
	}
	if rec.Header().Get("Referrer-Policy") != "no-referrer" || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("headers = %v", rec.Header())
	}
	body := rec.Body.String()
	for _, want := range []string{`id="chart-opens"`, `id="chart-clicks"`, `id="chart-reasons"`, `id="headline"`,
		"<td>Unique opens</td>", ">60.0%<", ">30.0%<", ">apple_mpp<", "via smime"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "http://", "https://", "@import", "url("} {
		if strings.Contains(strings.ReplaceAll(body, `xmlns="http://www.w3.org/2000/svg"`, ""), banned) {
			t.Errorf("page contains %q (no scripts or external resources allowed)", banned)
		}
	}

	rec = get(t, h, "GET", "/reports/campaigns/"+url.PathEscape(hostile), adminToken)
	page, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 || strings.Contains(string(page), "<script") || !strings.Contains(string(page), "&lt;script&gt;") {
		t.Errorf("hostile campaign ID or reason not escaped (status %d)", rec.Code)
	}
}

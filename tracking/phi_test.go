package tracking

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/internal/testtool"
)

// TestCanaryPHINeverLeaks plants an SSN-like canary in the subject, the
// text, the HTML and a link's query string, then follows every tracking
// URL. The canary must appear in no tracking URL, no event, no log line,
// no metric and no Stats: only in the message itself and in the redirect
// to the sender's own link.
func TestCanaryPHINeverLeaks(t *testing.T) {
	const canary = "078-05-1120"
	msg := strings.ReplaceAll(`From: news@clinic.example
To: pat@example.net
Subject: Results for SSN `+canary+`
X-Sealgate-Campaign: results
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b"

--b
Content-Type: text/plain

Your SSN `+canary+` results: https://clinic.example/results?ssn=`+canary+`
--b
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<html><body><p>SSN `+canary+`</p><a href=3D"https://clinic.example/results?ssn=3D`+canary+`&amp;d=3D1">results</a>
<a href=3D"https://clinic.example/`+canary+`/view">view</a></body></html>
--b--
`, "\n", "\r\n")
	p := testParams()
	p.Honeypot = true
	var out bytes.Buffer
	st, err := Rewrite(&out, strings.NewReader(msg), p)
	if err != nil {
		t.Fatal(err)
	}
	if st.LinksRewritten != 2 {
		t.Fatalf("links rewritten %d", st.LinksRewritten)
	}
	forbidden := []string{canary, strings.ReplaceAll(canary, "-", "")}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
		for shift := 0; shift < 3; shift++ { // every alignment
			e := enc.EncodeToString([]byte(strings.Repeat("x", shift) + canary))
			forbidden = append(forbidden, e[(shift*4+2)/3+1:len(e)-3])
		}
	}
	check := func(where, s string) {
		t.Helper()
		for _, f := range forbidden {
			if strings.Contains(s, f) {
				t.Errorf("canary (%q) leaked into %s", f, where)
			}
		}
	}
	check("stats", fmt.Sprintf("%+v", st))
	// Every tracking URL in the decoded HTML.
	var urls []string
	for _, l := range leaves(t, out.Bytes()) {
		for _, m := range trackingURLRE.FindAllString(string(l.body), -1) {
			urls = append(urls, m)
		}
	}
	if len(urls) != 4 { // 2 links, honeypot, pixel
		t.Fatalf("%d tracking URLs", len(urls))
	}
	r := newRig(t, func(o *Options) { o.Keys = p.Keys; o.Honeypot = true })
	for _, u := range urls {
		check("tracking URL", u)
		w := r.do("GET", strings.TrimPrefix(u, testBase), uaChrome, home, nil)
		if w.Code >= 400 {
			t.Fatalf("%d for a tracking URL", w.Code)
		}
		for k, v := range w.Header() {
			if k != "Location" {
				check("response header "+k, strings.Join(v, " "))
			}
		}
		check("response body", w.Body.String())
		if strings.Contains(u, "/t/c/") && !strings.Contains(w.Header().Get("Location"), canary) {
			t.Errorf("redirect lost the sender's own link: %q", w.Header().Get("Location"))
		}
	}
	r.do("GET", "/t/c/"+canary, uaChrome, home, nil) // garbage carrying the canary
	ev, _ := json.Marshal(r.sink.all())
	if len(r.sink.all()) != 4 {
		t.Fatalf("%d events", len(r.sink.all()))
	}
	check("events", string(ev))
	check("logs", r.logs.String())
	if !strings.Contains(r.logs.String(), `"reason"`) {
		t.Fatal("debug log is empty: the check above proves nothing")
	}
	check("metrics", testtool.Exposition(t, r.reg))
}

package tracking

import (
	"bytes"
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/internal/testtool"
)

// TestChromiumEndToEnd renders a rewritten message in headless Chromium (a
// real browser nobody here wrote) against the live handlers on loopback:
// the pixel loads as a 1×1 image and is recorded, the honeypot link is
// invisible and out of the accessibility tree, and clicking a tracked link
// goes through the 302 to the sender's destination.
func TestChromiumEndToEnd(t *testing.T) {
	chromium := testtool.Require(t, "chromium")
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	sink := &memSink{}
	h, err := Handler(Options{BaseURL: srv.URL, Keys: testKeys(), Sink: sink, Honeypot: true})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/t/", h)
	mux.HandleFunc("/landing", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html><body><p id=landed>landed "+html.EscapeString(r.URL.RawQuery)+"</p></body></html>")
	})
	msg := crlf("Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
		"<html><body><p>Hello</p><a id=3Dbook href=3D\"" + srv.URL + "/landing?appt=3D42\">Schedule appointment</a></body></html>\n")
	p := testParams()
	p.BaseURL, p.Honeypot = srv.URL, true
	var out bytes.Buffer
	st, err := Rewrite(&out, strings.NewReader(msg), p)
	if err != nil || st.LinksRewritten != 1 || st.Honeypots != 1 {
		t.Fatalf("rewrite: %v %+v", err, st)
	}
	page := string(leaves(t, out.Bytes())[0].body)
	probe := `<script>window.onload=function(){
var hp=document.querySelector('a[href*="/t/h/"]'), px=document.querySelector('img[src*="/t/o/"]');
var r=[getComputedStyle(hp).display, hp.offsetWidth, hp.offsetHeight, hp.getAttribute('aria-hidden'), px.naturalWidth, px.naturalHeight, px.complete];
document.body.setAttribute('data-probe', r.join(','));
if (location.hash=='#click') { document.getElementById('book').click(); }
}</script>`
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, strings.Replace(page, "</body>", probe+"</body>", 1))
	})
	run := func(url string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
			"--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000", "--dump-dom", url)
		dom, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium: %v", err)
		}
		return string(dom)
	}

	dom := run(srv.URL + "/page")
	m := regexp.MustCompile(`data-probe="([^"]*)"`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("probe did not run:\n%s", dom)
	}
	if m[1] != "none,0,0,true,1,1,true" {
		t.Errorf("honeypot display,width,height,aria-hidden / pixel width,height,loaded = %s, want none,0,0,true,1,1,true", m[1])
	}
	ev := sink.all()
	if len(ev) != 1 || ev[0].Kind != EventOpen || ev[0].Verdict != VerdictAutomated || ev[0].Reason != ReasonHeadlessUA {
		t.Fatalf("after loading the page: events %+v (want one open, headless_ua)", ev)
	}

	dom = run(srv.URL + "/page#click")
	if !strings.Contains(dom, `id="landed">landed appt=42<`) {
		t.Fatalf("click did not reach the destination:\n%s", dom)
	}
	var clicks, honeypots int
	for _, e := range sink.all() {
		switch e.Kind {
		case EventClick:
			clicks++
			if e.LinkIndex != 1 {
				t.Errorf("click on link %d", e.LinkIndex)
			}
		case EventHoneypot:
			honeypots++
		}
	}
	if clicks != 1 || honeypots != 0 {
		t.Errorf("clicks %d honeypots %d, want 1 and 0 (the browser must not follow the hidden link)", clicks, honeypots)
	}
}

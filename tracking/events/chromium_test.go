package events

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/internal/testtool"
	"github.com/sealgate/sealgate/tracking"
)

// chartCampaign records two days of a realistic send: an automated burst
// at delivery (Apple MPP, Gmail's image proxy, a link scanner) followed by
// human opens and clicks tailing off.
func chartCampaign(t *testing.T, s *Store) {
	t.Helper()
	const n = 60
	for i := range n {
		msg, rcpt := fmt.Sprintf("q%d", i/10), fmt.Sprintf("p%d@patients.example", i)
		base := tracking.Event{Kind: tracking.EventDelivered, MessageID: msg, Recipient: rcpt, Sender: sender,
			Campaign: "autumn", Method: []string{"tls", "tls_verified", "smime", "pgp", "portal"}[i%5]}
		e := base
		e.Time = t0.Add(time.Duration(i) * time.Second)
		record(t, s, e)
		auto := base
		auto.Kind, auto.Verdict = tracking.EventOpen, tracking.VerdictAutomated
		switch {
		case i%3 == 0:
			auto.Reason, auto.Time = "apple_mpp", t0.Add(time.Duration(i)*time.Minute/4)
			record(t, s, auto)
		case i%7 == 0:
			auto.Reason, auto.Time = "google_image_proxy", t0.Add(time.Hour+time.Duration(i)*time.Minute)
			record(t, s, auto)
		case i%11 == 0:
			auto.Kind, auto.Reason, auto.Time = tracking.EventClick, "scanner:mimecast", t0.Add(time.Duration(i)*time.Second)
			record(t, s, auto)
		}
		if i%2 == 0 {
			h := base
			h.Kind, h.Verdict, h.Reason = tracking.EventOpen, tracking.VerdictHuman, "ua_browser"
			h.Time = t0.Add(time.Duration(i*i%40) * time.Hour)
			record(t, s, h)
			if i%4 == 0 {
				h.Kind, h.LinkIndex, h.Time = tracking.EventClick, 1, h.Time.Add(3*time.Minute)
				record(t, s, h)
			}
		}
	}
}

func TestHTMLReportInChromium(t *testing.T) {
	chromium := testtool.Require(t, "chromium")
	s, _ := openStore(t, Options{})
	chartCampaign(t, s)
	srv := httptest.NewServer(ReportHandler(s, HandlerOptions{AdminToken: adminToken, AllowQueryToken: true}))
	t.Cleanup(srv.Close)
	page := srv.URL + "/reports/campaigns/autumn?token=" + url.QueryEscape(adminToken)

	dir := t.TempDir()
	shot := filepath.Join(dir, "report.png")
	run := func(extra ...string) (stdout, stderr string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + t.TempDir(), "--window-size=1200,900", "--enable-logging=stderr", "--v=0"}, extra...)
		args = append(args, page)
		cmd := exec.CommandContext(ctx, chromium, args...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", extra, err, e.String())
		}
		return o.String(), e.String()
	}

	_, logs := run("--screenshot=" + shot)
	for _, bad := range []string{"Uncaught", "Refused to", "Content Security Policy", "Failed to load resource"} {
		if strings.Contains(logs, bad) {
			t.Errorf("chromium console reports %q:\n%s", bad, logs)
		}
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 900 {
		t.Errorf("screenshot is %dx%d, want 1200x900", b.Dx(), b.Dy())
	}
	colours := countColours(img)
	if len(colours) < 4 {
		t.Errorf("screenshot has %d colours: blank page?", len(colours))
	}
	// The chart colours were painted: human blue, automated amber, reasons purple.
	for name, c := range map[string][3]uint8{"human": {0x1f, 0x6f, 0xeb}, "automated": {0xd2, 0x99, 0x22}, "reason": {0x82, 0x50, 0xdf}} {
		if colours[c] < 50 {
			t.Errorf("%s colour #%02x%02x%02x covers only %d pixels", name, c[0], c[1], c[2], colours[c])
		}
	}
	if out := os.Getenv("SEALGATE_REPORT_PNG"); out != "" {
		data, _ := os.ReadFile(shot)
		if err := os.WriteFile(out, data, 0o644); err != nil {
			t.Errorf("copy screenshot: %v", err)
		}
	}

	dom, _ := run("--dump-dom")
	for _, id := range []string{"chart-opens", "chart-clicks", "chart-reasons"} {
		re := regexp.MustCompile(`<svg[^>]*id="` + id + `"[\s\S]*?</svg>`)
		svg := re.FindString(dom)
		if svg == "" {
			t.Errorf("rendered DOM lacks svg#%s", id)
			continue
		}
		if n := strings.Count(svg, "<rect"); n < 3 {
			t.Errorf("svg#%s has %d bars", id, n)
		}
	}
	for _, want := range []string{"apple_mpp", "google_image_proxy", "scanner:mimecast", "Unique opens", "Human only"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	if strings.Contains(dom, "<script") {
		t.Error("rendered DOM contains a script")
	}
}

func countColours(img image.Image) map[[3]uint8]int {
	out := map[[3]uint8]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			out[[3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}]++
		}
	}
	return out
}

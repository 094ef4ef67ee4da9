package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sealgate/sealgate/internal/mxtest"
)

// TestTrackingEndToEnd sends a campaign through the relay with tracking on,
// then opens and clicks as Apple Mail Privacy Protection, as a link scanner
// and as a person, and checks the campaign report counts each right.
func TestTrackingEndToEnd(t *testing.T) {
	w := newWorld(t, mxtest.Options{TLS: mxtest.TLSModern})
	port, webPort := freePort(t), freePort(t)
	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	os.WriteFile(tokenFile, []byte("s3cret-admin-token-0123456789\n"), 0o600)
	cfg := strings.Replace(w.config(port, ""), "web:\n  address: 127.0.0.1:0\n", fmt.Sprintf(`web:
  address: 127.0.0.1:%d
  base_url: http://127.0.0.1:%d
  trusted_proxies: [127.0.0.1/32]
tracking:
  enabled: true
  senders: ["@hospital.example"]
  admin_token_file: %s
  classifier:
    click_too_soon: 1s
`, webPort, webPort, tokenFile), 1)
	g := startGateway(t, cfg)

	const canary = "078-05-1120"
	msg := "From: Clinic <news@hospital.example>\r\n" +
		"To: bob@example.org, carol@example.org\r\n" +
		"Subject: Flu shots for patient SSN " + canary + "\r\n" +
		"Message-ID: <flu1@hospital.example>\r\n" +
		"X-Sealgate-Campaign: flu-2026\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=\"b1\"\r\n" +
		"\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBook at https://clinic.example/schedule\r\n" +
		"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		"<html><body><p>Book your shot: <a href=\"https://clinic.example/schedule?ref=" + canary + "\">schedule</a>" +
		" or <a href=\"mailto:front@hospital.example\">write</a>.</p></body></html>\r\n" +
		"--b1--\r\n"
	c, err := smtp.Dial(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("news@hospital.example", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	msgs, err := w.mx.WaitFor(2, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", webPort)
	linkRE := regexp.MustCompile(regexp.QuoteMeta(base) + `/t/c/([A-Za-z0-9_-]+)`)
	pixelRE := regexp.MustCompile(regexp.QuoteMeta(base) + `/t/o/([A-Za-z0-9_-]+)`)
	copies := map[string]string{}
	for _, m := range msgs {
		data := string(m.Data)
		if len(m.Rcpts) != 1 {
			t.Fatalf("a tracked copy went to %v; want one recipient per copy", m.Rcpts)
		}
		copies[m.Rcpts[0]] = data
		if strings.Contains(data, "X-Sealgate-Campaign") {
			t.Error("campaign header not stripped")
		}
		if !strings.Contains(data, "mailto:front@hospital.example") || !strings.Contains(data, "https://clinic.example/schedule\r\n") {
			t.Error("mailto link or text part changed")
		}
		for i := range 2 {
			if got := dkimverify(t, w.dns.Addr(), m.Data, i); got != "signature ok" {
				t.Errorf("DKIM after rewriting, signature %d: %q", i, got)
			}
		}
		for _, u := range append(linkRE.FindAllString(data, -1), pixelRE.FindAllString(data, -1)...) {
			if strings.Contains(u, canary) || strings.Contains(u, "clinic.example") {
				t.Errorf("tracking URL reveals content: %s", u)
			}
		}
	}
	bob := copies["bob@example.org"]
	link, pixel := linkRE.FindString(bob), pixelRE.FindString(bob)
	if link == "" || pixel == "" {
		t.Fatalf("bob's copy has no tracked link or pixel:\n%s", bob)
	}
	if link == linkRE.FindString(copies["carol@example.org"]) {
		t.Error("recipients share a token")
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(url, ua, ip string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("User-Agent", ua)
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	const human = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
	// Apple Mail Privacy Protection preloads the pixel from Apple's range.
	if r := get(pixel, "Mozilla/5.0", "17.58.101.7"); r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/gif" {
		t.Fatalf("pixel: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	// A security gateway follows the link.
	get(link, "Mozilla/5.0 (compatible; Cisco Secure Email URL Scanner)", "198.51.100.20")
	// The patient opens and clicks, later.
	time.Sleep(1500 * time.Millisecond)
	get(pixel, human, "203.0.113.50")
	r := get(link, human, "203.0.113.50")
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "https://clinic.example/schedule?ref="+canary {
		t.Fatalf("click: %d Location %q", r.StatusCode, r.Header.Get("Location"))
	}
	// A forged token is a plain 404 and redirects nowhere.
	forged := link[:len(link)-3] + "AAA"
	if r := get(forged, human, "203.0.113.50"); r.StatusCode != http.StatusNotFound || r.Header.Get("Location") != "" {
		t.Fatalf("forged token: %d %q", r.StatusCode, r.Header.Get("Location"))
	}

	// The report, all events and human only.
	type counts struct {
		Delivered    int `json:"delivered"`
		UniqueOpens  int `json:"unique_opens"`
		UniqueClicks int `json:"unique_clicks"`
		Opens        int `json:"opens"`
		Clicks       int `json:"clicks"`
	}
	var rep struct {
		All              counts `json:"all"`
		Human            counts `json:"human"`
		AutomatedReasons []struct {
			Reason string `json:"reason"`
			Opens  int    `json:"opens"`
			Clicks int    `json:"clicks"`
		} `json:"automated_reasons"`
	}
	report := func() string {
		req, _ := http.NewRequest("GET", base+"/api/reports/campaigns/flu-2026", nil)
		req.Header.Set("Authorization", "Bearer s3cret-admin-token-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("report: %d %s", resp.StatusCode, b)
		}
		return string(b)
	}
	var body string
	waitUntil(t, 10*time.Second, "report counts", func() bool {
		body = report()
		json.Unmarshal([]byte(body), &rep)
		return rep.All.Clicks == 2 && rep.All.Opens == 2
	})
	if got, want := rep.All, (counts{Delivered: 2, UniqueOpens: 1, UniqueClicks: 1, Opens: 2, Clicks: 2}); got != want {
		t.Errorf("all: %+v, want %+v", got, want)
	}
	if got, want := rep.Human, (counts{Delivered: 2, UniqueOpens: 1, UniqueClicks: 1, Opens: 1, Clicks: 1}); got != want {
		t.Errorf("human: %+v, want %+v", got, want)
	}
	reasons := map[string][2]int{}
	for _, r := range rep.AutomatedReasons {
		reasons[r.Reason] = [2]int{r.Opens, r.Clicks}
	}
	if reasons["apple_mpp"] != [2]int{1, 0} || reasons["cisco"] != [2]int{0, 1} {
		t.Errorf("automated reasons %v", reasons)
	}
	// Without the admin token the report is refused.
	if resp, err := http.Get(base + "/api/reports/campaigns/flu-2026"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("report without token: %v %v", resp.StatusCode, err)
	}
	for where, text := range map[string]string{"report": body, "logs": g.logs()} {
		if strings.Contains(text, canary) {
			t.Errorf("canary PHI value in %s", where)
		}
	}
}

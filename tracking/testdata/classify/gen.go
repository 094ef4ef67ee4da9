//go:build ignore

// gen writes labelled.jsonl: synthetic but realistically shaped tracking
// requests, each labelled by the scenario that produced it (who really
// made the request), not by the classifier. Run from this folder:
//
//	go run gen.go > labelled.jsonl
package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"time"
)

type req struct {
	Key         string            `json:"key"`
	Time        string            `json:"time"`
	DeliveredAt string            `json:"delivered_at"`
	Method      string            `json:"method"`
	Target      string            `json:"target"`
	UA          string            `json:"ua"`
	IP          string            `json:"ip"`
	Headers     map[string]string `json:"headers,omitempty"`
	Expected    string            `json:"expected"`
	Scenario    string            `json:"scenario"`
}

const (
	uaIPhoneMail   = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
	uaIPhoneSafari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	uaMacMail      = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
	uaMacSafari    = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
	uaAndroid      = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36"
	uaSamsung      = "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"
	uaWinEdge      = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70"
	uaWinChrome    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaOutlook      = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
	uaThunderbird  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"
	uaFirefox      = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
	uaGoogleProxy  = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
	uaYahooProxy   = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
	uaMPP          = "Mozilla/5.0"
)

var rng = rand.New(rand.NewPCG(2026, 12))

var out []req

func ip4(a, b int) string { return fmt.Sprintf("%d.%d.%d.%d", a, b, rng.IntN(256), 1+rng.IntN(254)) }

func residential() string {
	nets := [][2]int{{73, 0}, {24, 0}, {98, 0}, {71, 0}, {108, 0}, {174, 0}, {68, 0}, {99, 0}}
	n := nets[rng.IntN(len(nets))]
	return ip4(n[0], rng.IntN(256))
}

func mobile() string {
	nets := [][2]int{{172, 56}, {172, 58}, {166, 170}, {107, 77}}
	n := nets[rng.IntN(len(nets))]
	return ip4(n[0], n[1])
}

type keyGen struct {
	key       string
	delivered time.Time
}

var base = time.Date(2026, 11, 2, 14, 0, 0, 0, time.UTC)
var nkey int

func newKey() *keyGen {
	nkey++
	d := base.Add(time.Duration(nkey)*97*time.Minute + time.Duration(rng.IntN(3600))*time.Second)
	return &keyGen{key: fmt.Sprintf("Q%05d/r%03d", 10000+nkey*7, nkey), delivered: d}
}

func (k *keyGen) add(after time.Duration, method, target, ua, ip, expected, scenario string) {
	var hdr map[string]string
	if len(ua) > 20 && ua[:11] == "Mozilla/5.0" {
		hdr = map[string]string{"Accept": "image/webp,image/apng,*/*;q=0.8", "Accept-Language": "en-US,en;q=0.9"}
		if target != "pixel" {
			hdr["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
		}
	}
	out = append(out, req{Key: k.key, Time: k.delivered.Add(after).Format(time.RFC3339Nano),
		DeliveredAt: k.delivered.Format(time.RFC3339), Method: method, Target: target, UA: ua, IP: ip,
		Headers: hdr, Expected: expected, Scenario: scenario})
}

func sec(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func jitter(lo, hi float64) time.Duration { return sec(lo + rng.Float64()*(hi-lo)) }

func main() {
	H, A := "human", "automated"
	// --- people ---
	for i := 0; i < 8; i++ { // iPhone Mail without MPP, opens later, taps a link
		k := newKey()
		t := jitter(600, 20000)
		ip := mobile()
		k.add(t, "GET", "pixel", uaIPhoneMail, ip, H, "iphone_mail")
		if i%2 == 0 {
			k.add(t+jitter(15, 90), "GET", "click:1", uaIPhoneSafari, ip, H, "iphone_safari_click")
		}
		if i%3 == 0 {
			k.add(t+jitter(3600, 30000), "GET", "pixel", uaIPhoneMail, residential(), H, "iphone_reopen")
		}
	}
	for i := 0; i < 8; i++ { // Gmail on Android: the proxy fetches when the person opens
		k := newKey()
		t := jitter(900, 40000)
		k.add(t, "GET", "pixel", uaGoogleProxy, ip4(66, 249), H, "gmail_open_via_proxy")
		if i%2 == 1 {
			k.add(t+jitter(20, 200), "GET", fmt.Sprintf("click:%d", 1+i%3), uaAndroid, mobile(), H, "android_chrome_click")
		}
	}
	for i := 0; i < 7; i++ { // Outlook desktop at work, click opens Edge
		k := newKey()
		t := jitter(300, 28000)
		ip := residential()
		k.add(t, "GET", "pixel", uaOutlook, ip, H, "outlook_desktop_open")
		k.add(t+jitter(10, 120), "GET", "click:2", uaWinEdge, ip, H, "edge_click")
		if i%3 == 0 { // a second link a little later
			k.add(t+jitter(130, 300), "GET", "click:1", uaWinEdge, ip, H, "edge_second_click")
		}
	}
	for i := 0; i < 5; i++ { // Apple Mail on a Mac without MPP, Safari
		k := newKey()
		t := jitter(1200, 50000)
		ip := residential()
		k.add(t, "GET", "pixel", uaMacMail, ip, H, "mac_mail_open")
		k.add(t+jitter(30, 400), "GET", "click:1", uaMacSafari, ip, H, "mac_safari_click")
	}
	for i := 0; i < 4; i++ { // Thunderbird + Firefox
		k := newKey()
		t := jitter(2000, 60000)
		ip := residential()
		k.add(t, "GET", "pixel", uaThunderbird, ip, H, "thunderbird_open")
		k.add(t+jitter(8, 60), "GET", "click:3", uaFirefox, ip, H, "firefox_click")
	}
	for i := 0; i < 4; i++ { // Samsung / Yahoo
		k := newKey()
		t := jitter(1000, 30000)
		k.add(t, "GET", "pixel", uaYahooProxy, ip4(98, 137), H, "yahoo_proxy_open")
		k.add(t+jitter(20, 100), "GET", "click:1", uaSamsung, mobile(), H, "samsung_click")
	}
	for i := 0; i < 3; i++ { // eager reader: clicks 12–25 s after delivery (still a person)
		k := newKey()
		ip := residential()
		k.add(jitter(5, 8), "GET", "pixel", uaOutlook, ip, H, "eager_open")
		k.add(jitter(12, 25), "GET", "click:1", uaWinChrome, ip, H, "eager_click")
	}
	for i := 0; i < 3; i++ { // person clicks two links with cmd-click, 1.5 s apart
		k := newKey()
		t := jitter(3000, 9000)
		ip := residential()
		k.add(t, "GET", "pixel", uaMacMail, ip, H, "two_tabs_open")
		k.add(t+jitter(20, 40), "GET", "click:1", uaMacSafari, ip, H, "two_tabs_click1")
		k.add(t+jitter(41.5, 42), "GET", "click:2", uaMacSafari, ip, H, "two_tabs_click2")
	}
	// --- machines ---
	for i := 0; i < 12; i++ { // Apple Mail Privacy Protection prefetch (and a person later, sometimes)
		k := newKey()
		k.add(jitter(2, 900), "GET", "pixel", uaMPP, ip4(17, 58+rng.IntN(10)), A, "apple_mpp_prefetch")
		if i%3 == 0 {
			k.add(jitter(4000, 30000), "GET", "pixel", uaMPP, ip4(17, 120+rng.IntN(20)), A, "apple_mpp_refetch")
		}
		if i%4 == 1 {
			k.add(jitter(5000, 20000), "GET", "click:1", uaIPhoneSafari, mobile(), H, "mpp_user_clicks")
		}
	}
	for i := 0; i < 8; i++ { // Gmail prefetch at delivery
		k := newKey()
		k.add(jitter(0.5, 8), "GET", "pixel", uaGoogleProxy, ip4(66, 102), A, "gmail_prefetch")
		if i%2 == 0 {
			k.add(jitter(3600, 20000), "GET", "pixel", uaGoogleProxy, ip4(66, 249), H, "gmail_later_open")
		}
	}
	for i := 0; i < 8; i++ { // Microsoft Safe Links / Defender detonation of every link
		k := newKey()
		ip := ip4(40, 107)
		if i%2 == 1 {
			ip = ip4(52, 100+rng.IntN(4))
		}
		t := jitter(1, 6)
		if i%4 == 3 { // time-of-click check from Microsoft's network, much later
			t = jitter(5000, 9000)
		}
		k.add(t, "HEAD", "click:1", uaWinEdge, ip, A, "safelinks_head")
		k.add(t+jitter(0.1, 0.4), "GET", "click:1", uaWinChrome, ip, A, "safelinks_click1")
		k.add(t+jitter(0.5, 0.9), "GET", "click:2", uaWinChrome, ip, A, "safelinks_click2")
		k.add(t+jitter(1.0, 1.5), "GET", "click:3", uaWinChrome, ip, A, "safelinks_click3")
	}
	for i := 0; i < 5; i++ { // Proofpoint URL Defense sandboxing
		k := newKey()
		ip := fmt.Sprintf("148.163.%d.%d", 128+rng.IntN(32), 1+rng.IntN(254))
		if i%2 == 0 {
			ip = fmt.Sprintf("67.231.%d.%d", 144+rng.IntN(16), 1+rng.IntN(254))
		}
		t := jitter(2, 30)
		k.add(t, "GET", "click:1", uaWinChrome, ip, A, "proofpoint_click")
		k.add(t+jitter(0.2, 1), "GET", "click:2", "Mozilla/5.0 (compatible; Proofpoint URL Defense)", ip, A, "proofpoint_click2")
	}
	for i := 0; i < 5; i++ { // Mimecast
		k := newKey()
		ip := fmt.Sprintf("205.139.110.%d", 10+rng.IntN(200))
		k.add(jitter(1, 20), "GET", "click:1", uaFirefox, ip, A, "mimecast_click")
		k.add(jitter(21, 25), "GET", "pixel", uaFirefox, ip, A, "mimecast_pixel")
	}
	for i := 0; i < 4; i++ { // Barracuda
		k := newKey()
		ip := fmt.Sprintf("64.235.%d.%d", 144+rng.IntN(16), 1+rng.IntN(254))
		k.add(jitter(1, 15), "GET", "click:1", uaWinChrome, ip, A, "barracuda_click")
	}
	for i := 0; i < 3; i++ { // Cisco Secure Email by UA
		k := newKey()
		k.add(jitter(1, 15), "GET", "click:1", "Mozilla/5.0 (compatible; Cisco Secure Email URL Scanner)", ip4(68, 232), A, "cisco_click")
	}
	scripts := []string{"curl/8.5.0", "python-requests/2.31.0", "Go-http-client/1.1", "Wget/1.21.4", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109 Safari/537.36", "Apache-HttpClient/4.5.14 (Java/17.0.9)"}
	for i, ua := range scripts { // scripts and headless browsers
		k := newKey()
		t := jitter(60, 40000)
		ip := ip4(34, 120+i)
		k.add(t, "GET", "pixel", ua, ip, A, "script_pixel")
		k.add(t+jitter(1, 200), "GET", "click:1", ua, ip, A, "script_click")
	}
	for i := 0; i < 4; i++ { // unknown scanner, browser UA, cloud IP: clicks all links and the honeypot
		k := newKey()
		t := jitter(15, 40)
		ip := ip4(35, 190+i)
		k.add(t, "GET", "click:1", uaWinChrome, ip, A, "unknown_scanner_click1")
		k.add(t+jitter(0.2, 0.5), "GET", "click:2", uaWinChrome, ip, A, "unknown_scanner_click2")
		k.add(t+jitter(0.6, 0.9), "GET", "click:3", uaWinChrome, ip, A, "unknown_scanner_click3")
		k.add(t+jitter(1.0, 1.4), "GET", "honeypot", uaWinChrome, ip, A, "unknown_scanner_honeypot")
	}
	for i := 0; i < 3; i++ { // inline gateway fetching during the SMTP transaction
		k := newKey()
		k.add(-jitter(4, 20), "GET", "pixel", uaWinChrome, ip4(45, 60), A, "inline_gateway_pixel")
	}
	for i := 0; i < 3; i++ { // link checker sending HEAD
		k := newKey()
		k.add(jitter(300, 3000), "HEAD", "click:2", uaWinChrome, ip4(52, 14), A, "head_linkcheck")
	}
	for i := 0; i < 2; i++ { // no user agent at all
		k := newKey()
		k.add(jitter(100, 3000), "GET", "pixel", "", ip4(45, 33), A, "empty_ua")
	}
	// Shuffle: the classifier must sort each key by time itself.
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	for _, r := range out {
		if err := enc.Encode(r); err != nil {
			panic(err)
		}
	}
}

package tracking

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

//go:embed data/scanners.json
var defaultScannerData string

//go:embed data/apple_ranges.txt
var defaultAppleRanges string

// DefaultScannerData returns the embedded scanner fingerprint file, the
// starting point for an admin's override.
func DefaultScannerData() string { return defaultScannerData }

// DefaultAppleRanges returns the embedded Apple MPP range file.
func DefaultAppleRanges() string { return defaultAppleRanges }

// Stable, machine-readable classifier reasons. Scanner data files may add
// their own reasons (any [a-z0-9_]+ name).
const (
	ReasonHuman              = "human"
	ReasonHoneypot           = "honeypot"
	ReasonAppleMPP           = "apple_mpp"
	ReasonGoogleImageProxy   = "google_image_proxy"
	ReasonMicrosoftSafeLinks = "microsoft_safelinks"
	ReasonProofpoint         = "proofpoint"
	ReasonMimecast           = "mimecast"
	ReasonBarracuda          = "barracuda"
	ReasonCisco              = "cisco"
	ReasonScannerUA          = "scanner_ua"
	ReasonHeadlessUA         = "headless_ua"
	ReasonEmptyUA            = "empty_ua"
	ReasonHeadRequest        = "head_request"
	ReasonClickTooSoon       = "click_too_soon"
	ReasonBurstAllLinks      = "burst_all_links"
	ReasonOpenBeforeDelivery = "open_before_delivery"
)

// TargetKind is what a request asked for.
type TargetKind string

const (
	TargetPixel    TargetKind = "pixel"
	TargetClick    TargetKind = "click"
	TargetHoneypot TargetKind = "honeypot"
)

// Target is a request's target: the pixel, link N, or the honeypot.
type Target struct {
	Kind TargetKind
	Link int // 1-based, clicks only
}

// String renders the target as in the JSONL input: pixel, click:N, honeypot.
func (t Target) String() string {
	if t.Kind == TargetClick {
		return "click:" + strconv.Itoa(t.Link)
	}
	return string(t.Kind)
}

// ParseTarget parses "pixel" (or "open"), "click:N" (N ≥ 1) or "honeypot".
func ParseTarget(s string) (Target, error) {
	switch s {
	case "pixel", "open":
		return Target{Kind: TargetPixel}, nil
	case "honeypot":
		return Target{Kind: TargetHoneypot}, nil
	}
	if n, ok := strings.CutPrefix(s, "click:"); ok {
		i, err := strconv.Atoi(n)
		if err == nil && i >= 1 {
			return Target{Kind: TargetClick, Link: i}, nil
		}
	}
	return Target{}, fmt.Errorf("target %q is not pixel, click:N or honeypot", s)
}

// Prior is an earlier request for the same message and recipient: all the
// classifier needs to see bursts and repeated fetches.
type Prior struct {
	Time   time.Time
	Method string
	Target Target
}

// Request is everything the classifier looks at for one request.
type Request struct {
	Time        time.Time
	DeliveredAt time.Time // zero when unknown: timing rules are then skipped
	Method      string    // GET or HEAD
	Target      Target
	UserAgent   string
	IP          netip.Addr // invalid when unknown
	Header      http.Header
	Earlier     []Prior // earlier requests of the same key, any order
}

// Result is the classifier's verdict and its stable reason.
type Result struct {
	Verdict Verdict
	Reason  string
}

// ClassifierOptions tune the classifier. Zero values take the defaults.
type ClassifierOptions struct {
	AppleRangesFile   string        // "" = embedded default (data/apple_ranges.txt)
	ScannerDataFile   string        // "" = embedded default (data/scanners.json); a file replaces it entirely
	ClickTooSoon      time.Duration // default 10s: a click this soon after delivery is automated
	BurstWindow       time.Duration // default 3s
	BurstMinLinks     int           // default 3: this many distinct links inside BurstWindow is automated
	GoogleProxyWindow time.Duration // default 60s: Gmail's proxy fetching the pixel this soon after delivery is a prefetch
	ClockSkew         time.Duration // default 2s: tolerance before calling a request "before delivery"
}

// Classifier decides human or automated. It is immutable after
// NewClassifier and safe for concurrent use; Classify is a pure function
// of its input, so the live handlers and `sealgate tracking classify`
// give the same answer for the same request history.
type Classifier struct {
	o        ClassifierOptions
	apple    []netip.Prefix
	scanners []scanner
}

type scanner struct {
	reason   string
	networks []netip.Prefix
	uas      []string // lower-case substrings
	headers  []headerMatch
}

type headerMatch struct{ name, contains string }

// scannerFile is the JSON form of the scanner data file.
type scannerFile struct {
	Comment  string `json:"comment"`
	Updated  string `json:"updated"`
	Scanners []struct {
		Reason     string   `json:"reason"`
		Networks   []string `json:"networks"`
		UserAgents []string `json:"user_agents"`
		Headers    []string `json:"headers"`
	} `json:"scanners"`
}

// NewClassifier loads the data files (or the embedded defaults).
func NewClassifier(o ClassifierOptions) (*Classifier, error) {
	if o.ClickTooSoon == 0 {
		o.ClickTooSoon = 10 * time.Second
	}
	if o.BurstWindow == 0 {
		o.BurstWindow = 3 * time.Second
	}
	if o.BurstMinLinks == 0 {
		o.BurstMinLinks = 3
	}
	if o.GoogleProxyWindow == 0 {
		o.GoogleProxyWindow = 60 * time.Second
	}
	if o.ClockSkew == 0 {
		o.ClockSkew = 2 * time.Second
	}
	if o.ClickTooSoon < 0 || o.BurstWindow < 0 || o.BurstMinLinks < 2 || o.GoogleProxyWindow < 0 || o.ClockSkew < 0 {
		return nil, errors.New("tracking: classifier durations must be positive and burst_min_links at least 2")
	}
	c := &Classifier{o: o}
	var err error
	apple := io.Reader(strings.NewReader(defaultAppleRanges))
	if o.AppleRangesFile != "" {
		f, ferr := os.Open(o.AppleRangesFile)
		if ferr != nil {
			return nil, fmt.Errorf("tracking: apple ranges: %w", ferr)
		}
		defer f.Close()
		apple = f
	}
	if c.apple, err = ParseRanges(apple); err != nil {
		return nil, fmt.Errorf("tracking: apple ranges: %w", err)
	}
	data := []byte(defaultScannerData)
	if o.ScannerDataFile != "" {
		if data, err = os.ReadFile(o.ScannerDataFile); err != nil {
			return nil, fmt.Errorf("tracking: scanner data: %w", err)
		}
	}
	if c.scanners, err = parseScanners(data); err != nil {
		return nil, fmt.Errorf("tracking: scanner data: %w", err)
	}
	return c, nil
}

// ParseRanges reads one CIDR (or bare address) per line; '#' comments and
// blank lines are ignored, and on CSV lines only the first column counts.
func ParseRanges(r io.Reader) ([]netip.Prefix, error) {
	var out []netip.Prefix
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	n := 0
	for sc.Scan() {
		n++
		line, _, _ := strings.Cut(sc.Text(), "#")
		line, _, _ = strings.Cut(line, ",")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		p, err := parsePrefix(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q is not a CIDR", n, line)
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parseScanners(data []byte) ([]scanner, error) {
	var f scannerFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	var out []scanner
	for i, e := range f.Scanners {
		if !validReason(e.Reason) || e.Reason == ReasonHuman {
			return nil, fmt.Errorf("scanners[%d]: reason %q must be [a-z0-9_]+ and not %q", i, e.Reason, ReasonHuman)
		}
		s := scanner{reason: e.Reason}
		for _, n := range e.Networks {
			p, err := parsePrefix(n)
			if err != nil {
				return nil, fmt.Errorf("scanners[%d]: %q is not a CIDR", i, n)
			}
			s.networks = append(s.networks, p)
		}
		for _, u := range e.UserAgents {
			if u = strings.TrimSpace(u); u == "" {
				return nil, fmt.Errorf("scanners[%d]: empty user agent pattern", i)
			}
			s.uas = append(s.uas, strings.ToLower(u))
		}
		for _, h := range e.Headers {
			name, val, _ := strings.Cut(h, ":")
			name = strings.TrimSpace(name)
			if name == "" {
				return nil, fmt.Errorf("scanners[%d]: empty header name", i)
			}
			s.headers = append(s.headers, headerMatch{name: http.CanonicalHeaderKey(name), contains: strings.ToLower(strings.TrimSpace(val))})
		}
		out = append(out, s)
	}
	return out, nil
}

func validReason(r string) bool {
	if r == "" || len(r) > 40 {
		return false
	}
	for _, c := range r {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func inAny(ip netip.Addr, ps []netip.Prefix) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (s *scanner) match(r *Request, ua string) bool {
	if inAny(r.IP, s.networks) {
		return true
	}
	for _, u := range s.uas {
		if strings.Contains(ua, u) {
			return true
		}
	}
	for _, h := range s.headers {
		for _, v := range r.Header.Values(h.name) {
			if h.contains == "" || strings.Contains(strings.ToLower(v), h.contains) {
				return true
			}
		}
	}
	return false
}

// Classify returns the verdict for one request. Rules, first match wins:
//
//  1. honeypot target: only automation follows a link no human can see.
//  2. scanner data: a security gateway's network, user agent or header
//     (microsoft_safelinks, proofpoint, mimecast, barracuda, cisco,
//     scanner_ua, headless_ua, or any reason the data file names).
//  3. pixel from an Apple MPP range, or with MPP's bare "Mozilla/5.0"
//     user agent: apple_mpp.
//  4. GoogleImageProxy fetching the pixel for the first time within
//     GoogleProxyWindow of delivery: google_image_proxy (a later fetch
//     through the proxy is a person opening the mail in Gmail).
//  5. empty user agent: empty_ua.
//  6. HEAD: head_request (browsers and mail clients GET).
//  7. before delivery (beyond ClockSkew): open_before_delivery for the
//     pixel, click_too_soon for a click.
//  8. a click within ClickTooSoon of delivery: click_too_soon.
//  9. this click completes BurstMinLinks distinct links clicked within
//     BurstWindow: burst_all_links.
//  10. otherwise human.
func (c *Classifier) Classify(r Request) Result {
	auto := func(reason string) Result { return Result{Verdict: VerdictAutomated, Reason: reason} }
	ua := strings.ToLower(strings.TrimSpace(r.UserAgent))
	if r.Target.Kind == TargetHoneypot {
		return auto(ReasonHoneypot)
	}
	for i := range c.scanners {
		if c.scanners[i].match(&r, ua) {
			return auto(c.scanners[i].reason)
		}
	}
	if r.Target.Kind == TargetPixel && (inAny(r.IP, c.apple) || ua == "mozilla/5.0") {
		return auto(ReasonAppleMPP)
	}
	known := !r.DeliveredAt.IsZero()
	if r.Target.Kind == TargetPixel && strings.Contains(ua, "googleimageproxy") && known {
		first := true
		for _, p := range r.Earlier {
			if p.Target.Kind == TargetPixel && !p.Time.After(r.Time) {
				first = false
				break
			}
		}
		if first && r.Time.Sub(r.DeliveredAt) < c.o.GoogleProxyWindow {
			return auto(ReasonGoogleImageProxy)
		}
	}
	if ua == "" {
		return auto(ReasonEmptyUA)
	}
	if strings.EqualFold(r.Method, http.MethodHead) {
		return auto(ReasonHeadRequest)
	}
	if known && r.Time.Before(r.DeliveredAt.Add(-c.o.ClockSkew)) {
		if r.Target.Kind == TargetPixel {
			return auto(ReasonOpenBeforeDelivery)
		}
		return auto(ReasonClickTooSoon)
	}
	if r.Target.Kind == TargetClick {
		if known && r.Time.Sub(r.DeliveredAt) < c.o.ClickTooSoon {
			return auto(ReasonClickTooSoon)
		}
		if c.burst(r) {
			return auto(ReasonBurstAllLinks)
		}
	}
	return Result{Verdict: VerdictHuman, Reason: ReasonHuman}
}

// burst reports whether r and earlier clicks of other links make
// BurstMinLinks distinct links inside one BurstWindow ending at r.
func (c *Classifier) burst(r Request) bool {
	links := map[int]bool{r.Target.Link: true}
	from := r.Time.Add(-c.o.BurstWindow)
	for _, p := range r.Earlier {
		if p.Target.Kind == TargetClick && !p.Time.Before(from) && !p.Time.After(r.Time) {
			links[p.Target.Link] = true
		}
	}
	return len(links) >= c.o.BurstMinLinks
}

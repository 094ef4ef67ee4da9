package tracking

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// transparentGIF is a 1×1 transparent GIF89a (43 bytes).
const transparentGIF = "GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff\x21\xf9\x04\x01\x00\x00\x00\x00\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b"

const honeypotPage = "<!doctype html><html><head><meta name=\"robots\" content=\"noindex,nofollow\"><title>sealgate</title></head><body></body></html>\n"

// Metric label values besides the event kinds and verdicts.
const (
	kindInvalid = "invalid" // forged, altered, retired or malformed token, or unknown path
	kindLimited = "limited" // over the per-client rate limit
	verdictNone = "none"
)

type server struct {
	o        Options
	cls      *Classifier
	lim      *limiter
	hist     History
	log      *slog.Logger
	now      func() time.Time
	requests *prometheus.CounterVec
}

// Handler serves the tracking endpoints. Mount it at /t/ without
// stripping the prefix (paths /t/o/TOKEN, /t/c/TOKEN, /t/h/TOKEN; the
// prefix-less o/, c/, h/ forms are accepted too):
//
//	mux.Handle("/t/", h)
//
// Per request, in order: method check (GET or HEAD, else 405), rate limit
// by client IP, token check (any failure is a bare 404), classification,
// one Event to the sink, the response. The pixel is a no-store 1×1 GIF;
// a click is a 302 to the URL sealed in the token, and nowhere else; the
// honeypot is a tiny blank page. Over the rate limit the pixel and
// honeypot get 429 and nothing is recorded, but a valid click is still
// redirected (unrecorded), so a person behind a busy NAT is never stranded.
// Logs carry kinds, verdicts, reasons and error classes only: never
// tokens, URLs, addresses or client details.
func Handler(o Options) (http.Handler, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Sink == nil {
		return nil, errors.New("tracking: handler needs an event sink")
	}
	cls, err := NewClassifier(o.Classifier)
	if err != nil {
		return nil, err
	}
	s := &server{o: o, cls: cls, lim: newLimiter(o.RateLimit), hist: o.History, log: o.Logger, now: o.Now}
	if s.hist == nil {
		n := o.HistoryKeys
		if n == 0 {
			n = 100000
		}
		s.hist = NewRecentRequests(n, 64, 7*24*time.Hour)
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sealgate_tracking_requests_total",
		Help: "Tracking requests by kind (open, click, honeypot, invalid, limited) and verdict (human, automated, none).",
	}, []string{"kind", "verdict"})
	if o.Registerer != nil {
		if err := o.Registerer.Register(s.requests); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *server) count(kind, verdict string) { s.requests.WithLabelValues(kind, verdict).Inc() }

func notFound(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotFound)
	io.WriteString(w, "404 page not found\n")
}

// historyKey is an opaque per-recipient-per-message key: a hash, so no
// History implementation ever holds an address.
func historyKey(t Token) string {
	h := sha256.New()
	io.WriteString(h, t.MessageID)
	h.Write([]byte{0})
	io.WriteString(h, strings.ToLower(t.Recipient))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/t/")
	p = strings.TrimPrefix(p, "/")
	kindStr, tokStr, ok := strings.Cut(p, "/")
	var want TokenKind
	switch kindStr {
	case "o":
		want = TokenOpen
	case "c":
		want = TokenClick
	case "h":
		want = TokenHoneypot
	default:
		ok = false
	}
	now := s.now()
	ip := clientIP(r, s.o.TrustedProxies)
	allowed := s.lim.allow(ip, now)
	if !ok || strings.Contains(tokStr, "/") {
		s.count(kindInvalid, verdictNone)
		notFound(w)
		return
	}
	tok, err := s.o.Keys.Open(tokStr, now, s.o.MaxTokenAge)
	if err != nil || tok.Kind != want {
		s.count(kindInvalid, verdictNone)
		notFound(w)
		return
	}
	if !allowed {
		s.count(kindLimited, verdictNone)
		if tok.Kind == TokenClick {
			s.redirect(w, tok)
			return
		}
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}

	var target Target
	var kind EventKind
	switch tok.Kind {
	case TokenOpen:
		target, kind = Target{Kind: TargetPixel}, EventOpen
	case TokenClick:
		target, kind = Target{Kind: TargetClick, Link: tok.LinkIndex}, EventClick
	default:
		target, kind = Target{Kind: TargetHoneypot}, EventHoneypot
	}
	var delivered time.Time
	if s.o.Deliveries != nil {
		d, err := s.o.Deliveries.DeliveredAt(tok.MessageID, tok.Recipient)
		if err != nil {
			s.log.Warn("tracking: delivery time lookup failed", "error_class", "delivery_lookup")
		} else {
			delivered = d
		}
	}
	earlier, err := s.hist.Observe(historyKey(tok), Prior{Time: now, Method: r.Method, Target: target})
	if err != nil {
		s.log.Warn("tracking: history lookup failed", "error_class", "history")
	}
	res := s.cls.Classify(Request{
		Time: now, DeliveredAt: delivered, Method: r.Method, Target: target,
		UserAgent: r.UserAgent(), IP: ip, Header: r.Header, Earlier: earlier,
	})
	ev := Event{
		Time: now.UTC(), Kind: kind, MessageID: tok.MessageID, Recipient: tok.Recipient,
		Sender: tok.Sender, Campaign: tok.Campaign, Verdict: res.Verdict, Reason: res.Reason,
	}
	if tok.Kind == TokenClick {
		ev.LinkIndex = tok.LinkIndex
	}
	if s.o.StoreClientDetails {
		if ip.IsValid() {
			ev.IP = ip.String()
		}
		ev.UserAgent = truncate(r.UserAgent(), 512)
	}
	if err := s.o.Sink.Record(ev); err != nil {
		s.log.Error("tracking: recording event failed", "kind", string(kind), "error_class", "sink")
	}
	s.count(string(kind), string(res.Verdict))
	s.log.Debug("tracking: request", "kind", string(kind), "verdict", string(res.Verdict), "reason", res.Reason)

	switch tok.Kind {
	case TokenOpen:
		h := w.Header()
		h.Set("Content-Type", "image/gif")
		h.Set("Content-Length", strconv.Itoa(len(transparentGIF)))
		h.Set("Cache-Control", "no-store, no-cache, must-revalidate, private")
		h.Set("Pragma", "no-cache")
		h.Set("Expires", "0")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			io.WriteString(w, transparentGIF)
		}
	case TokenClick:
		s.redirect(w, tok)
	default:
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Robots-Tag", "noindex, nofollow")
		h.Set("Referrer-Policy", "no-referrer")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			io.WriteString(w, honeypotPage)
		}
	}
}

// redirect sends the client to the URL sealed in the token. The URL was
// checked when sealed and again when opened (absolute http/https, printable
// ASCII), so nothing from the request can steer it.
func (s *server) redirect(w http.ResponseWriter, tok Token) {
	h := w.Header()
	h.Set("Location", tok.URL)
	h.Set("Cache-Control", "no-store, private")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusFound)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

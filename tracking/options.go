package tracking

import (
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DeliveryTimes tells when a recipient's copy was accepted by the remote
// server. A zero time with a nil error means "not known" (not delivered
// yet, or forgotten): timing rules are then skipped.
type DeliveryTimes interface {
	DeliveredAt(messageID, rcpt string) (time.Time, error)
}

// History remembers the recent requests of each key (one recipient of one
// message) so bursts and repeated fetches can be seen. Observe records p
// and returns the requests recorded before it for the same key.
type History interface {
	Observe(key string, p Prior) ([]Prior, error)
}

// RateLimit is the per-client token bucket in front of the handlers.
type RateLimit struct {
	PerSecond  float64 // sustained requests per second per client; default 10
	Burst      int     // bucket size; default 60
	MaxClients int     // clients tracked at once (LRU beyond); default 100000
	IPv6Prefix int     // IPv6 clients are grouped by this prefix length; default 64
}

// Options configure tracking: rewriting (Params) and the HTTP handlers.
// cmd/sealgate fills it from the tracking and web sections of the YAML.
type Options struct {
	BaseURL      string
	Keys         Keys
	Exclusions   []string
	Honeypot     bool
	MaxHTMLBytes int64
	MaxTokenAge  time.Duration // 0 = tokens do not age out (only key retirement ends them)

	Classifier         ClassifierOptions
	TrustedProxies     []netip.Prefix // peers whose X-Forwarded-For / Forwarded is believed
	RateLimit          RateLimit
	StoreClientDetails bool // put client IP and user agent in events; off by default

	Sink        EventSink     // required for Handler
	Deliveries  DeliveryTimes // may be nil
	History     History       // nil = an in-memory RecentRequests(HistoryKeys, 64, 7 days)
	HistoryKeys int           // default 100000

	Registerer prometheus.Registerer // nil = metrics are counted but not exported
	Logger     *slog.Logger          // nil = discard
	Now        func() time.Time      // nil = time.Now
}

// Params returns the rewrite parameters for one recipient's copy.
func (o Options) Params(messageID, recipient, sender, campaign string) Params {
	return Params{
		BaseURL: o.BaseURL, Keys: o.Keys, Exclusions: o.Exclusions, Honeypot: o.Honeypot,
		MaxHTMLBytes: o.MaxHTMLBytes,
		MessageID:    messageID, Recipient: recipient, Sender: sender, Campaign: campaign,
	}
}

// Validate checks the options Handler and Rewrite depend on.
func (o Options) Validate() error {
	p := o.Params("", "", "", "")
	if err := p.validate(); err != nil {
		return err
	}
	if o.MaxHTMLBytes < 0 || o.MaxTokenAge < 0 || o.HistoryKeys < 0 {
		return errors.New("tracking: sizes and durations must not be negative")
	}
	r := o.RateLimit
	if r.PerSecond < 0 || r.Burst < 0 || r.MaxClients < 0 || r.IPv6Prefix < 0 || r.IPv6Prefix > 128 {
		return errors.New("tracking: bad rate limit")
	}
	for _, p := range o.TrustedProxies {
		if !p.IsValid() {
			return errors.New("tracking: bad trusted proxy prefix")
		}
	}
	return nil
}

package events

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealgate/sealgate/tracking"
)

// DefaultFile is the name of the events database inside the data directory.
const DefaultFile = "events.db"

// Defaults applied by Open when an Options field is zero.
const (
	DefaultRetention      = 180 * 24 * time.Hour
	DefaultPruneInterval  = time.Hour
	DefaultWebhookTimeout = 10 * time.Second
	DefaultRetryBase      = time.Minute
	DefaultRetryCap       = time.Hour
	DefaultMaxAttempts    = 8
	DefaultPollInterval   = time.Second
	DefaultConcurrency    = 4
	DefaultBatchSize      = 100

	// MinSecretLen is the shortest webhook secret accepted.
	MinSecretLen = 16
)

// Clock tells the time. Tests pass a fake one.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Subscriber is one webhook receiver.
type Subscriber struct {
	// Name identifies the subscriber in the outbox, logs and the CLI
	// ([A-Za-z0-9_.-], unique).
	Name string
	// URL is where events are POSTed (http or https).
	URL string
	// Secret keys the HMAC-SHA256 signature (at least MinSecretLen bytes).
	Secret string
	// Kinds are the event kinds wanted; empty means all kinds.
	Kinds []tracking.EventKind
	// IncludeAutomated also sends opens and clicks whose verdict is not
	// human. Honeypot events are sent whenever their kind is subscribed.
	IncludeAutomated bool
}

// wants reports whether the subscriber receives e.
func (s *Subscriber) wants(e *tracking.Event) bool {
	if len(s.Kinds) > 0 && !slices.Contains(s.Kinds, e.Kind) {
		return false
	}
	if (e.Kind == tracking.EventOpen || e.Kind == tracking.EventClick) &&
		e.Verdict != tracking.VerdictHuman && !s.IncludeAutomated {
		return false
	}
	return true
}

// Options configures a Store. Zero values take the defaults above.
type Options struct {
	// Path of the bbolt file, e.g. data_dir/events.db. Required.
	Path string
	// Retention is how long events and dead letters are kept (default 180 days).
	Retention time.Duration
	// PruneInterval is how often Run prunes (default 1h).
	PruneInterval time.Duration
	// SuppressAutomated makes report headlines human-only; raw events stay.
	SuppressAutomated bool

	// Subscribers receive webhooks. A CLI that only lists or replays the
	// outbox may leave it empty.
	Subscribers []Subscriber
	// WebhookTimeout bounds one POST, connection to response (default 10s).
	WebhookTimeout time.Duration
	// RetryBase and RetryCap shape the exponential backoff (default 1m, 1h).
	RetryBase time.Duration
	RetryCap  time.Duration
	// MaxAttempts before a delivery is dead-lettered (default 8).
	MaxAttempts int
	// PollInterval is how often the dispatcher looks for due deliveries
	// when nothing wakes it (default 1s).
	PollInterval time.Duration
	// Concurrency is the number of POSTs in flight at once (default 4).
	Concurrency int

	// OpenTimeout bounds the wait for bbolt's file lock (0 waits forever).
	// The CLI sets it so that it fails fast while sealgate serve runs.
	OpenTimeout time.Duration

	// Clock defaults to the system clock.
	Clock Clock
	// Registerer receives the metrics; nil means they are not registered.
	Registerer prometheus.Registerer
	// Logger defaults to a logger that discards. Logs never carry
	// addresses or content, only subscriber names, IDs and counts.
	Logger *slog.Logger
}

func (o *Options) withDefaults() (Options, error) {
	r := *o
	if r.Path == "" {
		return r, errors.New("events: Options.Path is required")
	}
	if r.Retention == 0 {
		r.Retention = DefaultRetention
	}
	if r.PruneInterval == 0 {
		r.PruneInterval = DefaultPruneInterval
	}
	if r.WebhookTimeout == 0 {
		r.WebhookTimeout = DefaultWebhookTimeout
	}
	if r.RetryBase == 0 {
		r.RetryBase = DefaultRetryBase
	}
	if r.RetryCap == 0 {
		r.RetryCap = DefaultRetryCap
	}
	if r.MaxAttempts == 0 {
		r.MaxAttempts = DefaultMaxAttempts
	}
	if r.PollInterval == 0 {
		r.PollInterval = DefaultPollInterval
	}
	if r.Concurrency == 0 {
		r.Concurrency = DefaultConcurrency
	}
	if r.Clock == nil {
		r.Clock = systemClock{}
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case r.Retention < 0, r.PruneInterval < 0, r.WebhookTimeout < 0, r.RetryBase < 0,
		r.RetryCap < 0, r.PollInterval < 0, r.OpenTimeout < 0:
		return r, errors.New("events: durations must not be negative")
	case r.RetryCap < r.RetryBase:
		return r, errors.New("events: RetryCap must be at least RetryBase")
	case r.MaxAttempts < 1:
		return r, errors.New("events: MaxAttempts must be at least 1")
	case r.Concurrency < 1:
		return r, errors.New("events: Concurrency must be at least 1")
	}
	seen := map[string]bool{}
	for i, s := range r.Subscribers {
		if err := s.validate(); err != nil {
			return r, fmt.Errorf("events: subscriber %d: %w", i, err)
		}
		if seen[s.Name] {
			return r, fmt.Errorf("events: subscriber name %q used twice", s.Name)
		}
		seen[s.Name] = true
	}
	return r, nil
}

func (s *Subscriber) validate() error {
	if !validName(s.Name) {
		return fmt.Errorf("name %q must be 1-64 characters of A-Z a-z 0-9 _ . -", s.Name)
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: url must be an absolute http or https URL", s.Name)
	}
	if len(s.Secret) < MinSecretLen {
		return fmt.Errorf("%s: secret must be at least %d bytes", s.Name, MinSecretLen)
	}
	for _, k := range s.Kinds {
		if !knownKind(k) {
			return fmt.Errorf("%s: unknown event kind %q", s.Name, k)
		}
	}
	return nil
}

// ValidSubscriberName reports whether name is acceptable as Subscriber.Name.
func ValidSubscriberName(name string) bool { return validName(name) }

func validName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, c := range []byte(n) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

// Kinds lists every event kind the store accepts.
func Kinds() []tracking.EventKind {
	return []tracking.EventKind{
		tracking.EventOpen, tracking.EventClick, tracking.EventHoneypot,
		tracking.EventDelivered, tracking.EventDeferred, tracking.EventBounced,
	}
}

func knownKind(k tracking.EventKind) bool { return slices.Contains(Kinds(), k) }

func isEngagement(k tracking.EventKind) bool {
	return k == tracking.EventOpen || k == tracking.EventClick || k == tracking.EventHoneypot
}

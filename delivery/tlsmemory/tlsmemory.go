package tlsmemory

import (
	"container/list"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealgate/sealgate/delivery"
)

// Entry is what is remembered of a domain: the best TLS level reached and
// when it was last reached.
type Entry struct {
	Level delivery.TLSLevel
	Seen  time.Time
}

// Store keeps entries by domain (lower-case, no trailing dot). It must be
// safe for concurrent use. MemoryStore is the default; a persistent store
// keeps the memory across restarts.
type Store interface {
	Get(ctx context.Context, domain string) (Entry, bool)
	Put(ctx context.Context, domain string, e Entry)
}

// Options configure a Policy. Zero values get the defaults documented on
// each field.
type Options struct {
	// Enforce turns the memory into a floor: a domain that reached
	// tls-verified (tls) within Window gets PolicyVerified
	// (PolicyRequired), and a handshake below the remembered level is
	// refused. Default false: report only.
	Enforce bool
	// Window is how long a level is remembered after it was last reached.
	// Default: 30 days.
	Window time.Duration
	// Store keeps the memory. Default: NewMemoryStore(Size).
	Store Store
	// Size bounds the default store, in domains. Default: 10000.
	Size int
	// Clock tells the time. Default: time.Now.
	Clock func() time.Time
	// Logger receives a WARN "tls downgrade attempt" line per downgrade
	// seen (domain, MX host, previous and current level). Default: discard.
	Logger *slog.Logger
	// Registerer receives the metrics. Default: none registered.
	Registerer prometheus.Registerer
}

// Policy is the downgrade memory as a delivery.Policy. It is safe for
// concurrent use. Put it last in delivery.Options.Policies so CheckTLS sees
// the level the other policies (DANE) vouched for.
type Policy struct {
	opts      Options
	store     Store
	now       func() time.Time
	log       *slog.Logger
	downgrade *prometheus.CounterVec

	mu sync.Mutex // makes read-compare-write of an entry atomic
}

var _ delivery.Policy = (*Policy)(nil)

// New fills in defaults and registers the metrics.
func New(opts Options) (*Policy, error) {
	if opts.Window <= 0 {
		opts.Window = 30 * 24 * time.Hour
	}
	if opts.Size <= 0 {
		opts.Size = 10000
	}
	if opts.Store == nil {
		opts.Store = NewMemoryStore(opts.Size)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sealgate_tls_downgrades_total",
		Help: "Connections or deliveries below the TLS level a domain reached recently, by whether the memory is enforced (true: refused) or not (false: reported).",
	}, []string{"enforced"})
	c.WithLabelValues("true")
	c.WithLabelValues("false")
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("tlsmemory: registering metrics: %w", err)
		}
	}
	return &Policy{opts: opts, store: opts.Store, now: opts.Clock, log: opts.Logger, downgrade: c}, nil
}

func normName(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// Remembered returns the best level domain reached within Window.
func (p *Policy) Remembered(ctx context.Context, domain string) (delivery.TLSLevel, bool) {
	e, ok := p.store.Get(ctx, normName(domain))
	if !ok || p.now().Sub(e.Seen) > p.opts.Window {
		return delivery.LevelNone, false
	}
	return e.Level, true
}

// Floor, when enforced, demands the level domain reached recently:
// PolicyVerified after tls-verified, PolicyRequired after tls. Otherwise 0.
func (p *Policy) Floor(ctx context.Context, domain string) (delivery.TLSPolicy, error) {
	if !p.opts.Enforce {
		return 0, nil
	}
	switch l, _ := p.Remembered(ctx, domain); l {
	case delivery.LevelVerified:
		return delivery.PolicyVerified, nil
	case delivery.LevelTLS:
		return delivery.PolicyRequired, nil
	}
	return 0, nil
}

// AllowMX has no opinion.
func (p *Policy) AllowMX(context.Context, string, string) error { return nil }

// CheckTLS remembers level for domain and, when it is below the level the
// domain reached within Window, logs "tls downgrade attempt" and counts
// it; when enforced it then refuses the connection.
func (p *Policy) CheckTLS(ctx context.Context, domain, host string, _ tls.ConnectionState, level delivery.TLSLevel) (delivery.TLSLevel, error) {
	if prev, down := p.observe(ctx, domain, host, level); down && p.opts.Enforce {
		return delivery.LevelNone, fmt.Errorf("TLS downgrade: %s reached %s recently, %s offers %s", normName(domain), prev, normName(host), level)
	}
	return level, nil
}

// Observe records the outcome of a delivery made without a TLS handshake,
// which CheckTLS never sees: call it with the domain, Result.MX and
// Result.TLSLevel of each delivered Result. A plaintext delivery to a
// domain that reached TLS recently is logged and counted as a downgrade
// (the message is gone: this can only report; Enforce prevents it through
// Floor). Levels above none only refresh the memory, as CheckTLS already
// judged those connections.
func (p *Policy) Observe(ctx context.Context, domain, host string, level delivery.TLSLevel) {
	if level > delivery.LevelNone {
		p.remember(ctx, normName(domain), level)
		return
	}
	p.observe(ctx, domain, host, level)
}

// observe compares level with the memory of domain, remembers it if it is
// not lower, and reports a downgrade.
func (p *Policy) observe(ctx context.Context, domain, host string, level delivery.TLSLevel) (delivery.TLSLevel, bool) {
	domain = normName(domain)
	p.mu.Lock()
	defer p.mu.Unlock()
	prev, ok := p.Remembered(ctx, domain)
	if ok && level < prev {
		p.downgrade.WithLabelValues(fmt.Sprint(p.opts.Enforce)).Inc()
		p.log.Warn("tls downgrade attempt", "domain", domain, "mx", normName(host),
			"previous", prev.String(), "now", level.String(), "enforced", p.opts.Enforce)
		return prev, true
	}
	p.rememberLocked(ctx, domain, level)
	return prev, false
}

func (p *Policy) remember(ctx context.Context, domain string, level delivery.TLSLevel) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rememberLocked(ctx, domain, level)
}

// rememberLocked stores level unless a higher one is remembered. p.mu is held.
func (p *Policy) rememberLocked(ctx context.Context, domain string, level delivery.TLSLevel) {
	if prev, ok := p.Remembered(ctx, domain); ok && level < prev {
		return
	}
	p.store.Put(ctx, domain, Entry{Level: level, Seen: p.now()})
}

// MemoryStore is a Store bounded to a number of domains, evicting the least
// recently used.
type MemoryStore struct {
	mu    sync.Mutex
	max   int
	order *list.List
	items map[string]*list.Element
}

type item struct {
	domain string
	e      Entry
}

// NewMemoryStore returns a store holding at most size domains (minimum 1).
func NewMemoryStore(size int) *MemoryStore {
	return &MemoryStore{max: max(size, 1), order: list.New(), items: map[string]*list.Element{}}
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, domain string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.items[domain]
	if !ok {
		return Entry{}, false
	}
	s.order.MoveToFront(el)
	return el.Value.(*item).e, true
}

// Put implements Store.
func (s *MemoryStore) Put(_ context.Context, domain string, e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.items[domain]; ok {
		el.Value.(*item).e = e
		s.order.MoveToFront(el)
		return
	}
	s.items[domain] = s.order.PushFront(&item{domain: domain, e: e})
	for s.order.Len() > s.max {
		old := s.order.Back()
		s.order.Remove(old)
		delete(s.items, old.Value.(*item).domain)
	}
}

// Len returns the number of domains held.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len()
}

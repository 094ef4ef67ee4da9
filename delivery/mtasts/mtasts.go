package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealgate/sealgate/delivery"
)

// minLifetime is the shortest time a fetched policy is cached.
const minLifetime = time.Minute

// Options configure a Policy. Zero values get the defaults documented on
// each field.
type Options struct {
	// Resolver looks up the "_mta-sts.<domain>" TXT record and the
	// addresses of the policy host. Required.
	Resolver delivery.Resolver
	// Dialer opens the HTTPS connections to the policy host (resolved with
	// Resolver). Default: net.Dialer.
	Dialer delivery.Dialer
	// RootCAs verifies the policy host certificate. Default: system roots.
	RootCAs *x509.CertPool
	// FetchTimeout bounds one policy fetch. Default: 10s.
	FetchTimeout time.Duration
	// RetryAfter is how long a failed fetch for a given TXT id is not
	// repeated (a cached policy, if any, keeps applying meanwhile).
	// Default: 5m.
	RetryAfter time.Duration
	// Cache stores fetched policies. Default: NewMemoryCache(CacheSize).
	Cache Cache
	// CacheSize bounds the default cache, in domains. Default: 10000.
	CacheSize int
	// Clock tells the time. Default: time.Now.
	Clock func() time.Time
	// Logger receives one WARN line per policy failure (domain, MX host,
	// mode, reason). Default: discard.
	Logger *slog.Logger
	// Registerer receives the metrics. Default: none registered.
	Registerer prometheus.Registerer
}

// Policy is an MTA-STS (RFC 8461) delivery.Policy. It is safe for
// concurrent use. Floor runs policy discovery for a domain; AllowMX and
// CheckTLS apply the policy Floor found (cached, §5.1).
type Policy struct {
	opts   Options
	client *http.Client
	cache  Cache
	now    func() time.Time
	log    *slog.Logger
	m      *metrics

	mu      sync.Mutex
	flights map[string]*flight  // fetches in progress, by domain
	failed  map[string]failMark // recent failed fetches, by domain
}

type flight struct {
	done chan struct{}
	pol  *STSPolicy
	err  error
}

type failMark struct {
	id    string
	until time.Time
}

var _ delivery.Policy = (*Policy)(nil)

// New checks opts, fills in defaults and registers the metrics.
func New(opts Options) (*Policy, error) {
	if opts.Resolver == nil {
		return nil, errors.New("mtasts: Resolver is required")
	}
	if opts.Dialer == nil {
		opts.Dialer = &net.Dialer{}
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 10 * time.Second
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 5 * time.Minute
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 10000
	}
	if opts.Cache == nil {
		opts.Cache = NewMemoryCache(opts.CacheSize)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	p := &Policy{
		opts:    opts,
		cache:   opts.Cache,
		now:     opts.Clock,
		log:     opts.Logger,
		m:       m,
		flights: map[string]*flight{},
		failed:  map[string]failMark{},
	}
	p.client = p.newHTTPClient()
	return p, nil
}

func normDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// Floor runs policy discovery (see doc.go) and returns PolicyVerified for
// a domain whose policy is in enforce mode, else 0. Discovery failures are
// never errors: without a usable record or policy (and nothing cached) the
// domain simply has no MTA-STS policy (RFC 8461 §5.1).
func (p *Policy) Floor(ctx context.Context, domain string) (delivery.TLSPolicy, error) {
	pol := p.discover(ctx, normDomain(domain))
	if pol != nil && pol.Mode == ModeEnforce {
		return delivery.PolicyVerified, nil
	}
	return 0, nil
}

// AllowMX refuses, under an enforce policy, an MX host that matches none of
// the policy's mx patterns (RFC 8461 §4.1, §5). Under testing it logs and
// counts the mismatch and allows the host.
func (p *Policy) AllowMX(ctx context.Context, domain, host string) error {
	domain = normDomain(domain)
	pol := p.current(ctx, domain)
	if pol == nil || pol.Mode == ModeNone || pol.Matches(host) {
		return nil
	}
	p.failure(pol.Mode, domain, host, "mx_mismatch")
	if pol.Mode == ModeEnforce {
		return fmt.Errorf("MX %s not listed in the MTA-STS policy of %s", normDomain(host), domain)
	}
	return nil
}

// CheckTLS refuses, under an enforce policy, a connection whose
// certificate was not verified (level below LevelVerified; RFC 8461 §4.2).
// Under testing it logs and counts the failure and returns level unchanged.
// It never raises the level. level is what the preceding policies vouched
// for: put DANE before MTA-STS so a DANE-authenticated host counts as
// verified (RFC 8461 §2).
func (p *Policy) CheckTLS(ctx context.Context, domain, host string, _ tls.ConnectionState, level delivery.TLSLevel) (delivery.TLSLevel, error) {
	domain = normDomain(domain)
	pol := p.current(ctx, domain)
	if pol == nil || pol.Mode == ModeNone || level >= delivery.LevelVerified {
		return level, nil
	}
	p.failure(pol.Mode, domain, host, "tls_unverified")
	if pol.Mode == ModeEnforce {
		return delivery.LevelNone, fmt.Errorf("certificate of %s not PKIX-valid, required by the MTA-STS policy of %s", normDomain(host), domain)
	}
	return level, nil
}

func (p *Policy) failure(mode Mode, domain, host, reason string) {
	p.m.failures.WithLabelValues(string(mode), reason).Inc()
	p.log.Warn("mta-sts policy failure", "domain", domain, "mx", normDomain(host), "mode", string(mode), "reason", reason)
}

// current returns the cached, unexpired policy of domain, or nil.
func (p *Policy) current(ctx context.Context, domain string) *STSPolicy {
	if e, ok := p.valid(ctx, domain); ok {
		return &e.Policy
	}
	return nil
}

// valid returns the cache entry of domain if it has not expired.
func (p *Policy) valid(ctx context.Context, domain string) (CacheEntry, bool) {
	e, ok := p.cache.Get(ctx, domain)
	if !ok || !p.now().Before(e.Expires) {
		return CacheEntry{}, false
	}
	return e, true
}

// discover implements steps 1-5 of doc.go.
func (p *Policy) discover(ctx context.Context, domain string) *STSPolicy {
	if !validHostname(domain) {
		return nil
	}
	var cached *STSPolicy
	e, ok := p.valid(ctx, domain)
	if ok {
		cached = &e.Policy
	}
	txts, _, err := p.opts.Resolver.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		// No record found (NXDOMAIN) or DNS trouble: a cached policy keeps
		// applying until it expires (§5.1); that is the anti-downgrade point.
		return cached
	}
	rec, err := pickRecord(txts)
	if err != nil {
		return cached
	}
	if cached != nil && e.ID == rec.ID {
		return cached
	}
	pol, err := p.fetchOnce(ctx, domain, rec.ID)
	if err != nil {
		return cached
	}
	return pol
}

// pickRecord keeps the TXT records starting with "v=STSv1" and parses the
// only one; zero or several mean no policy (RFC 8461 §3.1).
func pickRecord(txts []string) (Record, error) {
	var found []string
	for _, t := range txts {
		if rest, ok := strings.CutPrefix(t, "v=STSv1"); ok && (rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t') {
			found = append(found, t)
		}
	}
	if len(found) != 1 {
		return Record{}, fmt.Errorf("mtasts: %d STSv1 TXT records", len(found))
	}
	return ParseRecord(found[0])
}

// fetchOnce fetches the policy of domain, at most once at a time per domain
// (concurrent callers share the result) and not again within RetryAfter of
// a failure for the same id. A success is cached until fetch time + max_age.
func (p *Policy) fetchOnce(ctx context.Context, domain, id string) (*STSPolicy, error) {
	p.mu.Lock()
	// Another caller may have fetched this id since our cache lookup.
	if e, ok := p.valid(ctx, domain); ok && e.ID == id {
		p.mu.Unlock()
		return &e.Policy, nil
	}
	if f, ok := p.failed[domain]; ok && f.id == id && p.now().Before(f.until) {
		p.mu.Unlock()
		return nil, errors.New("mtasts: recent fetch failed")
	}
	if f := p.flights[domain]; f != nil {
		p.mu.Unlock()
		select {
		case <-f.done:
			return f.pol, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	p.flights[domain] = f
	p.mu.Unlock()

	pol, err := p.fetch(ctx, domain)
	now := p.now()
	result := "ok"
	if err != nil {
		var fe *fetchError
		result = "error"
		if errors.As(err, &fe) {
			result = fe.result
		}
		p.log.Warn("mta-sts policy fetch failed", "domain", domain, "result", result, "reason", err.Error())
	} else {
		// A policy is kept at least minLifetime, even with a smaller
		// max_age, so Floor, AllowMX and CheckTLS of the delivery that
		// fetched it all apply it.
		life := max(time.Duration(pol.MaxAge)*time.Second, minLifetime)
		p.cache.Put(ctx, domain, CacheEntry{ID: id, Policy: *pol, Fetched: now, Expires: now.Add(life)})
	}
	p.m.fetches.WithLabelValues(result).Inc()

	p.mu.Lock()
	delete(p.flights, domain)
	if err != nil && ctx.Err() == nil {
		p.failed[domain] = failMark{id: id, until: now.Add(p.opts.RetryAfter)}
		p.pruneFailed(now)
	} else if err == nil {
		delete(p.failed, domain)
	}
	p.mu.Unlock()
	f.pol, f.err = pol, err
	close(f.done)
	return pol, err
}

// pruneFailed keeps the failure map bounded by CacheSize. p.mu is held.
func (p *Policy) pruneFailed(now time.Time) {
	if len(p.failed) <= p.opts.CacheSize {
		return
	}
	for d, f := range p.failed {
		if !now.Before(f.until) {
			delete(p.failed, d)
		}
	}
	for d := range p.failed {
		if len(p.failed) <= p.opts.CacheSize {
			break
		}
		delete(p.failed, d)
	}
}

type metrics struct {
	fetches  *prometheus.CounterVec
	failures *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_mtasts_policy_fetches_total",
			Help: "MTA-STS policy fetches by result (ok, error, redirect, http_status, content_type, too_large, invalid).",
		}, []string{"result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_mtasts_failures_total",
			Help: "MX hosts or connections failing an MTA-STS policy, by policy mode (enforce, testing) and reason (mx_mismatch, tls_unverified).",
		}, []string{"mode", "reason"}),
	}
	for _, r := range []string{"ok", "error", "redirect", "http_status", "content_type", "too_large", "invalid"} {
		m.fetches.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.fetches, m.failures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("mtasts: registering metrics: %w", err)
		}
	}
	return m, nil
}

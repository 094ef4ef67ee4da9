package dane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealgate/sealgate/delivery"
)

// Options configure a Policy. Zero values get the defaults documented on
// each field.
type Options struct {
	// Resolver answers MX, A/AAAA and TLSA questions and reports whether
	// DNSSEC authenticated each answer. Required. Its AD bit is only as
	// trustworthy as the path to a validating resolver (see
	// delivery.NewDNSResolver).
	Resolver delivery.Resolver
	// Port is the MX port whose TLSA records are asked
	// ("_<port>._tcp.<mx host>"). Default: 25.
	Port int
	// CacheTTL is how long the DNSSEC and TLSA state of a domain is reused,
	// so that Floor, AllowMX and CheckTLS of one delivery see the same
	// records. Default: 1m; negative: look up on every call.
	CacheTTL time.Duration
	// CacheSize bounds the number of domains whose state is kept.
	// Default: 10000.
	CacheSize int
	// MaxHosts bounds the MX hosts examined per domain; further hosts are
	// vetoed when the domain uses DANE. Default: 16.
	MaxHosts int
	// Clock tells the time (DANE-TA chain validity, cache expiry).
	// Default: time.Now.
	Clock func() time.Time
	// Logger receives one WARN line per refused host or connection
	// (domain, MX host, reason). Default: discard.
	Logger *slog.Logger
	// Registerer receives the metrics. Default: none registered.
	Registerer prometheus.Registerer
}

// Policy is a DANE for SMTP (RFC 7672) delivery.Policy. It is safe for
// concurrent use.
type Policy struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	m    *prometheus.CounterVec

	mu    sync.Mutex
	cache map[string]*domainState
}

var _ delivery.Policy = (*Policy)(nil)

type hostStatus int

const (
	hostInsecure hostStatus = iota // DANE does not apply (no secure TLSA, insecure addresses, ...)
	hostUnusable                   // secure TLSA RRset, no usable record: TLS without authentication
	hostUsable                     // secure usable TLSA records: TLS authenticated by them
	hostDNSError                   // a lookup failed: the host must not be used (§2.1.1)
)

type hostState struct {
	status  hostStatus
	records []delivery.TLSA // the usable records
	reason  string          // for hostDNSError
}

// domainState is the DANE view of one domain at one time.
type domainState struct {
	secure  bool // the MX RRset (or the implicit MX) is DNSSEC-authenticated
	hosts   map[string]hostState
	floor   delivery.TLSPolicy
	expires time.Time
}

// New checks opts, fills in defaults and registers the metrics.
func New(opts Options) (*Policy, error) {
	if opts.Resolver == nil {
		return nil, errors.New("dane: Resolver is required")
	}
	if opts.Port == 0 {
		opts.Port = 25
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("dane: invalid port %d", opts.Port)
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = time.Minute
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 10000
	}
	if opts.MaxHosts <= 0 {
		opts.MaxHosts = 16
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sealgate_dane_checks_total",
		Help: "DANE judgements of MX hosts and TLS connections by result (verified, mismatch, unusable, dns_error, not_applicable).",
	}, []string{"result"})
	for _, r := range []string{"verified", "mismatch", "unusable", "dns_error", "not_applicable"} {
		m.WithLabelValues(r)
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(m); err != nil {
			return nil, fmt.Errorf("dane: registering metrics: %w", err)
		}
	}
	return &Policy{opts: opts, log: opts.Logger, now: opts.Clock, m: m, cache: map[string]*domainState{}}, nil
}

func normName(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// Floor returns PolicyVerified when some MX host of domain has usable
// authenticated TLSA records or its TLSA lookup failed on a secure MX
// (RFC 7672 §2.2: TLS is then mandatory and authenticated),
// PolicyRequired when the best it has is a secure TLSA RRset without usable
// records (§2.2, §3.1.3: TLS mandatory, unauthenticated), else 0. A failed
// MX lookup is an error (the delivery is deferred).
func (p *Policy) Floor(ctx context.Context, domain string) (delivery.TLSPolicy, error) {
	st, err := p.state(ctx, normName(domain))
	if err != nil {
		return 0, err
	}
	return st.floor, nil
}

// AllowMX refuses an MX host whose address or TLSA lookup failed on a
// DNSSEC-signed domain (RFC 7672 §2.1.1: a temporary failure, never a
// reason to skip DANE) and, when the domain uses DANE, a host outside the
// authenticated MX set it examined.
func (p *Policy) AllowMX(ctx context.Context, domain, host string) error {
	domain, host = normName(domain), normName(host)
	st, err := p.state(ctx, domain)
	if err != nil {
		return err
	}
	hs, ok := st.hosts[host]
	switch {
	case !ok && st.secure && st.floor > 0:
		p.refuse(domain, host, "dns_error", "MX host not among the DNSSEC-validated MX hosts examined")
		return fmt.Errorf("DANE: MX %s of %s was not validated", host, domain)
	case ok && hs.status == hostDNSError:
		p.refuse(domain, host, "dns_error", hs.reason)
		return fmt.Errorf("DANE: %s for %s", hs.reason, host)
	}
	return nil
}

// CheckTLS authenticates the handshake with host against its usable TLSA
// records: a match vouches LevelVerified (even for a self-signed or
// expired DANE-EE certificate, RFC 7672 §3.1.1); a mismatch is an error
// whatever the PKIX verdict (never a downgrade). Without usable
// authenticated TLSA records the level is returned unchanged.
func (p *Policy) CheckTLS(ctx context.Context, domain, host string, cs tls.ConnectionState, level delivery.TLSLevel) (delivery.TLSLevel, error) {
	domain, host = normName(domain), normName(host)
	st, err := p.state(ctx, domain)
	if err != nil {
		return delivery.LevelNone, err
	}
	hs, ok := st.hosts[host]
	if !ok {
		if st.secure && st.floor > 0 {
			p.refuse(domain, host, "dns_error", "MX host not among the DNSSEC-validated MX hosts examined")
			return delivery.LevelNone, fmt.Errorf("DANE: MX %s of %s was not validated", host, domain)
		}
		p.m.WithLabelValues("not_applicable").Inc()
		return level, nil
	}
	switch hs.status {
	case hostDNSError:
		p.refuse(domain, host, "dns_error", hs.reason)
		return delivery.LevelNone, fmt.Errorf("DANE: %s for %s", hs.reason, host)
	case hostUnusable:
		p.m.WithLabelValues("unusable").Inc()
		return level, nil
	case hostUsable:
		if err := Verify(cs.PeerCertificates, hs.records, host, p.now()); err != nil {
			p.refuse(domain, host, "mismatch", err.Error())
			return delivery.LevelNone, fmt.Errorf("DANE: %v (%s)", err, host)
		}
		p.m.WithLabelValues("verified").Inc()
		return delivery.LevelVerified, nil
	}
	p.m.WithLabelValues("not_applicable").Inc()
	return level, nil
}

func (p *Policy) refuse(domain, host, result, reason string) {
	p.m.WithLabelValues(result).Inc()
	p.log.Warn("dane refused", "domain", domain, "mx", host, "result", result, "reason", reason)
}

// state returns the cached state of domain or looks it up.
func (p *Policy) state(ctx context.Context, domain string) (*domainState, error) {
	now := p.now()
	p.mu.Lock()
	if st := p.cache[domain]; st != nil && now.Before(st.expires) {
		p.mu.Unlock()
		return st, nil
	}
	p.mu.Unlock()
	st, err := p.evaluate(ctx, domain)
	if err != nil {
		return nil, err
	}
	if p.opts.CacheTTL > 0 {
		st.expires = now.Add(p.opts.CacheTTL)
		p.mu.Lock()
		if len(p.cache) >= p.opts.CacheSize {
			for d, old := range p.cache {
				if !now.Before(old.expires) || len(p.cache) >= p.opts.CacheSize {
					delete(p.cache, d)
				}
			}
		}
		p.cache[domain] = st
		p.mu.Unlock()
	}
	return st, nil
}

// evaluate implements steps 1-4 of doc.go.
func (p *Policy) evaluate(ctx context.Context, domain string) (*domainState, error) {
	st := &domainState{hosts: map[string]hostState{}}
	if domain == "" {
		return st, nil
	}
	mxs, auth, err := p.opts.Resolver.LookupMX(ctx, domain)
	if err != nil {
		if delivery.IsNotFound(err) {
			return st, nil
		}
		return nil, fmt.Errorf("DANE: MX lookup for %s failed", domain)
	}
	if !auth {
		return st, nil // §2.2.1: insecure MX RRset, DANE does not apply
	}
	st.secure = true
	var hosts []string
	switch {
	case len(mxs) == 0:
		hosts = []string{domain} // implicit MX (RFC 5321 §5.1)
	case len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == ""):
		return st, nil // null MX
	default:
		sorted := slices.Clone(mxs)
		slices.SortStableFunc(sorted, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
		for _, mx := range sorted {
			if h := normName(mx.Host); h != "" && !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
	}
	if len(hosts) > p.opts.MaxHosts {
		hosts = hosts[:p.opts.MaxHosts]
	}
	for _, h := range hosts {
		hs := p.evaluateHost(ctx, h)
		st.hosts[h] = hs
		switch hs.status {
		case hostUsable, hostDNSError:
			// A failed lookup may hide usable records: assume it does, so
			// no other host can be used below what DANE would demand.
			st.floor = max(st.floor, delivery.PolicyVerified)
		case hostUnusable:
			st.floor = max(st.floor, delivery.PolicyRequired)
		}
	}
	return st, nil
}

// evaluateHost looks up the addresses and the TLSA RRset of one MX host
// (RFC 7672 §2.2.2, §2.2.3).
func (p *Policy) evaluateHost(ctx context.Context, host string) hostState {
	_, auth, err := p.opts.Resolver.LookupIP(ctx, host)
	switch {
	case err != nil && delivery.IsNotFound(err):
		return hostState{status: hostInsecure}
	case err != nil:
		return hostState{status: hostDNSError, reason: "address lookup failed: " + rcode(err)}
	case !auth:
		return hostState{status: hostInsecure} // §2.2.2: insecure addresses, no DANE
	}
	name := "_" + strconv.Itoa(p.opts.Port) + "._tcp." + host
	recs, auth, err := p.opts.Resolver.LookupTLSA(ctx, name)
	switch {
	case err != nil && delivery.IsNotFound(err):
		return hostState{status: hostInsecure}
	case err != nil:
		return hostState{status: hostDNSError, reason: "TLSA lookup failed: " + rcode(err)}
	case !auth || len(recs) == 0:
		return hostState{status: hostInsecure}
	}
	var usable []delivery.TLSA
	for _, r := range recs {
		if Usable(r) {
			usable = append(usable, r)
		}
	}
	if len(usable) == 0 {
		return hostState{status: hostUnusable}
	}
	return hostState{status: hostUsable, records: usable}
}

func rcode(err error) string {
	var de *delivery.DNSError
	if errors.As(err, &de) && de.Rcode != "" {
		return de.Rcode
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "timeout"
	}
	return "error"
}

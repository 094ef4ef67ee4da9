package delivery

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Dialer opens connections; tests substitute one that maps addresses to
// in-process servers.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Signer signs exactly the bytes that will be sent (DKIM). Sign reads the
// whole message and returns complete header fields, each ending in CRLF,
// to prepend. It must stream: messages can be tens of megabytes.
type Signer interface {
	Sign(r io.Reader) ([]byte, error)
}

// Options configures a Client. Zero values get the defaults documented on
// each field.
type Options struct {
	// Hostname is sent in EHLO, before and after STARTTLS. Required.
	Hostname string
	// Resolver answers DNS questions. Default: NewDNSResolver with the
	// servers of /etc/resolv.conf.
	Resolver Resolver
	// Dialer opens TCP connections. Default: net.Dialer.
	Dialer Dialer

	// Smarthost ("host:port"), when set, receives all mail that no Route
	// matches, instead of MX delivery.
	Smarthost string
	// SmarthostUser and SmarthostPassword enable AUTH PLAIN (or LOGIN) to
	// the smarthost; credentials are only ever sent over TLS.
	SmarthostUser, SmarthostPassword string
	// SmarthostTLS is the floor for the smarthost hop. Default: PolicyRequired.
	SmarthostTLS TLSPolicy

	// Routes maps a recipient domain to a fixed next hop "host:port", like
	// Postfix transport maps. Routes win over the smarthost and MX lookup.
	Routes map[string]string
	// DefaultTLS is the floor for every destination. Default: PolicyOpportunistic.
	DefaultTLS TLSPolicy
	// DomainTLS raises (never lowers) the floor for a recipient domain.
	DomainTLS map[string]TLSPolicy
	// RootCAs verifies peer certificates for LevelVerified. Default: system roots.
	RootCAs *x509.CertPool
	// Port is the TCP port of MX hosts. Default: 25.
	Port int

	// ConnectTimeout bounds each TCP connect. Default: 30s.
	ConnectTimeout time.Duration
	// CommandTimeout bounds the greeting, each command's reply, the TLS
	// handshake and each write of the message body. Default: 5m (RFC 5321 §4.5.3.2).
	CommandTimeout time.Duration
	// DataTimeout bounds the wait for the reply after the final dot.
	// Default: 10m (RFC 5321 §4.5.3.2.6).
	DataTimeout time.Duration
	// MaxPerDestination caps concurrent connections per next hop (recipient
	// domain for MX delivery, host:port for routes and the smarthost).
	// Default: 10.
	MaxPerDestination int

	// Policies (MTA-STS, DANE, ...) are consulted for MX delivery; see Policy.
	Policies []Policy

	// Signer, when set, DKIM-signs each message once per Deliver call.
	Signer Signer
	// Logger receives one line per attempt. Default: discard.
	Logger *slog.Logger
	// Registerer receives the metrics. Default: none registered.
	Registerer prometheus.Registerer
}

// Request is one message for one destination domain.
type Request struct {
	ID     string   // queue ID, for logs only
	From   string   // envelope sender; "" for bounces
	Rcpts  []string // envelope recipients, all in Domain
	Domain string   // recipient domain (routing key); "" = domain of the first recipient

	RequireTLS bool      // RFC 8689 REQUIRETLS: verified TLS and REQUIRETLS on MAIL FROM
	SMTPUTF8   bool      // message or envelope needs SMTPUTF8 (RFC 6531)
	MinTLS     TLSPolicy // request-specific floor, max()'d with the configured ones

	// IgnoreTLSPolicies: RFC 8689 §5 ("TLS-Required: No"). The sender asked
	// that the recipient's TLS policies be ignored for this message, so
	// Options.Policies (MTA-STS, DANE, the downgrade memory) are not
	// consulted at all: no floor, no MX veto, no judgement of the
	// handshake. The configured floors (DefaultTLS, DomainTLS,
	// SmarthostTLS) and MinTLS still apply. Callers set it only for
	// messages that need no protection.
	IgnoreTLSPolicies bool

	Size int64                         // message size in bytes, for SIZE (RFC 1870); 0 = unknown
	Open func() (io.ReadCloser, error) // opens the message; may be called twice
}

// Result is the fate of one recipient.
type Result struct {
	Rcpt     string
	Outcome  Outcome
	Code     int    // SMTP reply code (remote or synthesised)
	Enhanced string // enhanced status code
	Text     string // reply text or local reason; bounded, no content

	MX         string   // next-hop host name that gave the final answer, if any
	TLSVersion string   // "TLS1.2", "TLS1.3" or "" for plaintext
	TLSCipher  string   // cipher suite name, "" for plaintext
	TLSLevel   TLSLevel // level achieved on that connection

	// TLSShortfall is set on a TempFail whose only cause is that the
	// required TLS level was not reached: every host tried failed the TLS
	// floor or was vetoed by a security policy (MTA-STS, DANE), and no
	// network, DNS or remote reply problem was seen. The message was not
	// sent. Callers use it to choose an end-to-end fallback instead of
	// waiting.
	TLSShortfall bool
}

// Client delivers messages. It is safe for concurrent use.
type Client struct {
	opts    Options
	log     *slog.Logger
	routes  map[string]string
	domTLS  map[string]TLSPolicy
	limit   *limiter
	metrics *metrics
}

// New checks opts, fills in defaults and registers metrics.
func New(opts Options) (*Client, error) {
	if err := validHostname(opts.Hostname); err != nil {
		return nil, err
	}
	if opts.Port == 0 {
		opts.Port = 25
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("delivery: invalid port %d", opts.Port)
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 30 * time.Second
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 5 * time.Minute
	}
	if opts.DataTimeout <= 0 {
		opts.DataTimeout = 10 * time.Minute
	}
	if opts.MaxPerDestination <= 0 {
		opts.MaxPerDestination = 10
	}
	if opts.DefaultTLS == 0 {
		opts.DefaultTLS = PolicyOpportunistic
	}
	if opts.SmarthostTLS == 0 {
		opts.SmarthostTLS = PolicyRequired
	}
	for _, p := range []TLSPolicy{opts.DefaultTLS, opts.SmarthostTLS} {
		if p < PolicyNone || p > PolicyVerified {
			return nil, fmt.Errorf("delivery: invalid TLS policy %v", p)
		}
	}
	if opts.Smarthost != "" {
		if err := validHostPort(opts.Smarthost); err != nil {
			return nil, fmt.Errorf("delivery: smarthost: %w", err)
		}
	}
	if opts.SmarthostUser != "" {
		if opts.Smarthost == "" {
			return nil, errors.New("delivery: smarthost credentials without a smarthost")
		}
		if opts.SmarthostTLS < PolicyRequired {
			return nil, errors.New("delivery: smarthost AUTH needs smarthost TLS policy required or verified")
		}
	}
	c := &Client{
		routes: make(map[string]string, len(opts.Routes)),
		domTLS: make(map[string]TLSPolicy, len(opts.DomainTLS)),
	}
	for d, hp := range opts.Routes {
		if err := validHostPort(hp); err != nil {
			return nil, fmt.Errorf("delivery: route for %q: %w", d, err)
		}
		c.routes[normDomain(d)] = hp
	}
	for d, p := range opts.DomainTLS {
		if p < 0 || p > PolicyVerified {
			return nil, fmt.Errorf("delivery: invalid TLS policy for %q", d)
		}
		c.domTLS[normDomain(d)] = p
	}
	if opts.Resolver == nil {
		cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("delivery: no Resolver and no /etc/resolv.conf: %w", err)
		}
		var servers []string
		for _, s := range cfg.Servers {
			servers = append(servers, net.JoinHostPort(s, cfg.Port))
		}
		opts.Resolver = NewDNSResolver(servers, time.Duration(cfg.Timeout)*time.Second)
	}
	if opts.Dialer == nil {
		opts.Dialer = &net.Dialer{}
	}
	c.log = opts.Logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	c.limit = &limiter{max: opts.MaxPerDestination, m: map[string]*slot{}}
	c.opts = opts
	return c, nil
}

func validHostname(h string) error {
	if h == "" {
		return errors.New("delivery: Hostname is required")
	}
	if _, ok := dns.IsDomainName(h); !ok || strings.ContainsAny(h, " \t\r\n<>") {
		return fmt.Errorf("delivery: invalid Hostname %q", h)
	}
	return nil
}

func validHostPort(hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("%q: empty host", hp)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("%q: invalid port", hp)
	}
	return nil
}

func normDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// hop is one next-hop host: a name (for TLS verification and results) and
// either fixed addresses or a name to resolve when the hop is reached.
type hop struct {
	name    string // host name, lower-case, no trailing dot
	port    string
	resolve bool // look up A/AAAA for name when reached
}

// plan is the routing decision for a request.
type plan struct {
	kind      string // "route", "smarthost" or "mx"
	key       string // concurrency key
	hops      []hop
	smarthost bool
}

// route implements steps 1-3 of the algorithm in doc.go.
func (c *Client) route(ctx context.Context, domain string) (plan, *Error) {
	if hp, ok := c.routes[domain]; ok {
		return c.fixed("route", hp), nil
	}
	if c.opts.Smarthost != "" {
		p := c.fixed("smarthost", c.opts.Smarthost)
		p.smarthost = true
		return p, nil
	}
	port := strconv.Itoa(c.opts.Port)
	mxs, _, err := c.opts.Resolver.LookupMX(ctx, domain)
	if err != nil {
		if IsNotFound(err) {
			return plan{}, permErr(550, "5.1.2", "recipient domain %s does not exist (NXDOMAIN)", domain)
		}
		return plan{}, tempErr(451, "4.4.3", "MX lookup for %s failed temporarily: %s", domain, dnsReason(err))
	}
	p := plan{kind: "mx", key: "mx:" + domain}
	if len(mxs) == 0 {
		// RFC 5321 §5.1: no MX, the domain itself is an implicit MX.
		p.hops = []hop{{name: domain, port: port, resolve: true}}
		return p, nil
	}
	if len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "") {
		// RFC 7505 §3 and §4.2.
		return plan{}, permErr(556, "5.1.10", "recipient domain %s does not accept mail (null MX)", domain)
	}
	sorted := make([]*net.MX, 0, len(mxs))
	for _, mx := range mxs {
		if h := normDomain(mx.Host); h != "" {
			sorted = append(sorted, &net.MX{Host: h, Pref: mx.Pref})
		}
	}
	// RFC 5321 §5.1: lowest preference first, equal preferences in random order.
	rand.Shuffle(len(sorted), func(i, j int) { sorted[i], sorted[j] = sorted[j], sorted[i] })
	slices.SortStableFunc(sorted, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	// RFC 5321 §5.1: if we are one of the MXes, only try more preferred ones.
	me := normDomain(c.opts.Hostname)
	if i := slices.IndexFunc(sorted, func(m *net.MX) bool { return m.Host == me }); i >= 0 {
		pref := sorted[i].Pref
		sorted = slices.DeleteFunc(sorted, func(m *net.MX) bool { return m.Pref >= pref })
		if len(sorted) == 0 {
			return plan{}, permErr(554, "5.4.6", "mail for %s loops back to myself", domain)
		}
	}
	seen := map[string]bool{}
	for _, mx := range sorted {
		if seen[mx.Host] {
			continue
		}
		seen[mx.Host] = true
		p.hops = append(p.hops, hop{name: mx.Host, port: port, resolve: true})
	}
	return p, nil
}

func (c *Client) fixed(kind, hp string) plan {
	host, port, _ := net.SplitHostPort(hp) // validated in New
	h := hop{name: strings.ToLower(host), port: port, resolve: net.ParseIP(host) == nil}
	return plan{kind: kind, key: kind + ":" + hp, hops: []hop{h}}
}

// addrs resolves a hop to dialable addresses.
func (c *Client) addrs(ctx context.Context, h hop) ([]string, *Error) {
	if !h.resolve {
		return []string{net.JoinHostPort(h.name, h.port)}, nil
	}
	ips, _, err := c.opts.Resolver.LookupIP(ctx, h.name)
	if err != nil {
		if IsNotFound(err) {
			return nil, tempErr(451, "4.4.4", "host %s does not exist (NXDOMAIN)", h.name)
		}
		return nil, tempErr(451, "4.4.3", "address lookup for %s failed temporarily: %s", h.name, dnsReason(err))
	}
	if len(ips) == 0 {
		return nil, tempErr(451, "4.4.4", "host %s has no address", h.name)
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, net.JoinHostPort(ip.String(), h.port))
	}
	return out, nil
}

func dnsReason(err error) string {
	var de *DNSError
	if errors.As(err, &de) {
		if de.Rcode != "" {
			return de.Rcode
		}
		var ne net.Error
		if errors.As(de.Err, &ne) && ne.Timeout() {
			return "timeout"
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "lookup error"
}

// required computes the TLS floor of a request: the max of every policy
// that applies (step 4 of doc.go).
func (c *Client) required(r *Request, p plan) TLSPolicy {
	req := max(c.opts.DefaultTLS, c.domTLS[normDomain(r.Domain)], r.MinTLS)
	if p.smarthost {
		req = max(req, c.opts.SmarthostTLS)
	}
	if r.RequireTLS {
		req = PolicyVerified // RFC 8689 §4.1
	}
	return min(req, PolicyVerified)
}

// limiter is a counting semaphore per destination key; entries are removed
// when unused so the map stays bounded by the number of active destinations.
type limiter struct {
	mu  sync.Mutex
	max int
	m   map[string]*slot
}

type slot struct {
	ch   chan struct{}
	refs int
}

func (l *limiter) acquire(ctx context.Context, key string) (func(), error) {
	l.mu.Lock()
	s := l.m[key]
	if s == nil {
		s = &slot{ch: make(chan struct{}, l.max)}
		l.m[key] = s
	}
	s.refs++
	l.mu.Unlock()
	drop := func() {
		l.mu.Lock()
		s.refs--
		if s.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}

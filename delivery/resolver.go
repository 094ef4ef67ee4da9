package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Authentic reports whether every record in a DNS answer was validated by
// DNSSEC, as signalled by the AD bit of the (trusted) recursive resolver.
// It is an alias so it mixes freely with bool expressions.
type Authentic = bool

// TLSA is one DANE TLSA record (RFC 6698 §2.1).
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte
}

// Resolver is the DNS seam of delivery. Implementations must return a
// *DNSError for failures so callers can tell a permanent NXDOMAIN
// (DNSError.NotFound) from a temporary failure. A name that exists without
// records of the asked type (NODATA) is an empty answer with a nil error.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, Authentic, error)
	LookupIP(ctx context.Context, name string) ([]net.IP, Authentic, error)
	LookupTXT(ctx context.Context, name string) ([]string, Authentic, error)
	LookupTLSA(ctx context.Context, name string) ([]TLSA, Authentic, error)
}

// DNSError is a failed lookup.
type DNSError struct {
	Name     string // the name asked
	Type     string // "MX", "A", ...
	NotFound bool   // NXDOMAIN: permanent
	Rcode    string // DNS response code when the server answered, e.g. "SERVFAIL"
	Err      error  // underlying network error, if any
}

func (e *DNSError) Error() string {
	switch {
	case e.NotFound:
		return fmt.Sprintf("dns: %s %s: no such domain (NXDOMAIN)", e.Type, e.Name)
	case e.Rcode != "":
		return fmt.Sprintf("dns: %s %s: %s", e.Type, e.Name, e.Rcode)
	case e.Err != nil:
		return fmt.Sprintf("dns: %s %s: %v", e.Type, e.Name, e.Err)
	}
	return fmt.Sprintf("dns: %s %s: lookup failed", e.Type, e.Name)
}

func (e *DNSError) Unwrap() error { return e.Err }

// Temporary reports whether retrying later may succeed: everything except
// NXDOMAIN.
func (e *DNSError) Temporary() bool { return !e.NotFound }

// IsNotFound reports whether err is (or wraps) an NXDOMAIN DNSError.
func IsNotFound(err error) bool {
	var de *DNSError
	return errors.As(err, &de) && de.NotFound
}

// dnsResolver asks recursive servers over UDP, retrying over TCP when the
// answer is truncated. It sets the DO and AD bits (RFC 6840 §5.7) and reports
// the AD bit of the answer: trust it only when the path to the server is
// trusted (loopback or a validating resolver on a protected network).
type dnsResolver struct {
	servers []string
	timeout time.Duration
}

// NewDNSResolver returns a Resolver asking servers ("host:port"; a bare host
// gets port 53) in order. timeout bounds each exchange (default 5s).
func NewDNSResolver(servers []string, timeout time.Duration) Resolver {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	s := make([]string, 0, len(servers))
	for _, srv := range servers {
		if _, _, err := net.SplitHostPort(srv); err != nil {
			srv = net.JoinHostPort(strings.Trim(srv, "[]"), "53")
		}
		s = append(s, srv)
	}
	return &dnsResolver{servers: s, timeout: timeout}
}

// exchange asks each server in turn. NXDOMAIN is final; SERVFAIL, REFUSED
// and network errors move on to the next server and end as a temporary
// DNSError.
func (r *dnsResolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	tname := dns.TypeToString[qtype]
	if len(r.servers) == 0 {
		return nil, &DNSError{Name: name, Type: tname, Err: errors.New("no DNS servers configured")}
	}
	if _, ok := dns.IsDomainName(name); !ok || name == "" {
		return nil, &DNSError{Name: name, Type: tname, NotFound: true}
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = true
	q.AuthenticatedData = true
	q.SetEdns0(4096, true)

	var last error = &DNSError{Name: name, Type: tname, Err: errors.New("no answer")}
	for _, srv := range r.servers {
		if err := ctx.Err(); err != nil {
			return nil, &DNSError{Name: name, Type: tname, Err: err}
		}
		resp, err := r.one(ctx, q, srv, "udp")
		if err == nil && resp.Truncated {
			resp, err = r.one(ctx, q, srv, "tcp")
		}
		if err != nil {
			last = &DNSError{Name: name, Type: tname, Err: err}
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess:
			return resp, nil
		case dns.RcodeNameError:
			return nil, &DNSError{Name: name, Type: tname, NotFound: true, Rcode: "NXDOMAIN"}
		default:
			last = &DNSError{Name: name, Type: tname, Rcode: dns.RcodeToString[resp.Rcode]}
		}
	}
	return nil, last
}

func (r *dnsResolver) one(ctx context.Context, q *dns.Msg, srv, network string) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: r.timeout, UDPSize: 4096}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, _, err := c.ExchangeContext(ctx, q, srv)
	return resp, err
}

func (r *dnsResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, Authentic, error) {
	resp, err := r.exchange(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, false, err
	}
	var mx []*net.MX
	for _, rr := range resp.Answer {
		if m, ok := rr.(*dns.MX); ok {
			mx = append(mx, &net.MX{Host: m.Mx, Pref: m.Preference})
		}
	}
	return mx, resp.AuthenticatedData, nil
}

// LookupIP returns the IPv4 addresses followed by the IPv6 addresses. One
// family failing temporarily is tolerated when the other answered; NXDOMAIN
// is reported only when both say so.
func (r *dnsResolver) LookupIP(ctx context.Context, name string) ([]net.IP, Authentic, error) {
	var ips []net.IP
	auth := true
	var errs []error
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		resp, err := r.exchange(ctx, name, qt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		auth = auth && resp.AuthenticatedData
		for _, rr := range resp.Answer {
			switch a := rr.(type) {
			case *dns.A:
				ips = append(ips, a.A)
			case *dns.AAAA:
				ips = append(ips, a.AAAA)
			}
		}
	}
	if len(ips) > 0 || len(errs) == 0 {
		return ips, auth && len(errs) == 0, nil
	}
	if len(errs) == 2 && IsNotFound(errs[0]) && IsNotFound(errs[1]) {
		return nil, false, errs[0]
	}
	for _, e := range errs {
		if !IsNotFound(e) {
			return nil, false, e
		}
	}
	return nil, false, errs[0]
}

func (r *dnsResolver) LookupTXT(ctx context.Context, name string) ([]string, Authentic, error) {
	resp, err := r.exchange(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, false, err
	}
	var txt []string
	for _, rr := range resp.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			// RFC 7208 §3.3 / RFC 8461 §3.1: strings of one record concatenate.
			txt = append(txt, strings.Join(t.Txt, ""))
		}
	}
	return txt, resp.AuthenticatedData, nil
}

func (r *dnsResolver) LookupTLSA(ctx context.Context, name string) ([]TLSA, Authentic, error) {
	resp, err := r.exchange(ctx, name, dns.TypeTLSA)
	if err != nil {
		return nil, false, err
	}
	var out []TLSA
	for _, rr := range resp.Answer {
		t, ok := rr.(*dns.TLSA)
		if !ok {
			continue
		}
		data, err := hexDecode(t.Certificate)
		if err != nil {
			continue
		}
		out = append(out, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
	}
	return out, resp.AuthenticatedData, nil
}

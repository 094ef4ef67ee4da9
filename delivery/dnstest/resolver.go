package dnstest

import (
	"context"
	"net"
	"sync"

	"github.com/sealgate/sealgate/delivery"
)

// Resolver is a map-based delivery.Resolver with the same semantics as the
// Server (NXDOMAIN, NODATA, SERVFAIL, CNAME, Authentic), without sockets.
// Delay and Truncate are ignored.
type Resolver struct {
	mu    sync.Mutex
	zone  Zone
	calls []string
}

// NewResolver returns a Resolver answering from zone.
func NewResolver(zone Zone) *Resolver {
	return &Resolver{zone: zone.normalize()}
}

var _ delivery.Resolver = (*Resolver)(nil)

// Calls returns the questions asked so far, as "TYPE name".
func (r *Resolver) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *Resolver) look(ctx context.Context, name, typ string) (Records, delivery.Authentic, error) {
	r.mu.Lock()
	r.calls = append(r.calls, typ+" "+canon(name))
	_, recs, auth, exists := r.zone.chase(name)
	first := r.zone[canon(name)]
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return Records{}, false, &delivery.DNSError{Name: name, Type: typ, Err: err}
	}
	if first.ServFail || (exists && recs.ServFail) {
		return Records{}, false, &delivery.DNSError{Name: name, Type: typ, Rcode: "SERVFAIL"}
	}
	if !exists {
		return Records{}, false, &delivery.DNSError{Name: name, Type: typ, NotFound: true, Rcode: "NXDOMAIN"}
	}
	return recs, delivery.Authentic(auth), nil
}

func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, delivery.Authentic, error) {
	recs, auth, err := r.look(ctx, name, "MX")
	if err != nil {
		return nil, false, err
	}
	var out []*net.MX
	for _, mx := range recs.MX {
		h := mx.Host
		if h != "." {
			h = canon(h)
		}
		out = append(out, &net.MX{Host: h, Pref: mx.Pref})
	}
	return out, auth, nil
}

func (r *Resolver) LookupIP(ctx context.Context, name string) ([]net.IP, delivery.Authentic, error) {
	recs, auth, err := r.look(ctx, name, "A")
	if err != nil {
		return nil, false, err
	}
	var out []net.IP
	for _, s := range append(append([]string(nil), recs.A...), recs.AAAA...) {
		if ip := net.ParseIP(s); ip != nil {
			out = append(out, ip)
		}
	}
	return out, auth, nil
}

func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, delivery.Authentic, error) {
	recs, auth, err := r.look(ctx, name, "TXT")
	if err != nil {
		return nil, false, err
	}
	return append([]string(nil), recs.TXT...), auth, nil
}

func (r *Resolver) LookupTLSA(ctx context.Context, name string) ([]delivery.TLSA, delivery.Authentic, error) {
	recs, auth, err := r.look(ctx, name, "TLSA")
	if err != nil {
		return nil, false, err
	}
	return append([]delivery.TLSA(nil), recs.TLSA...), auth, nil
}

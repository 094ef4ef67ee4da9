package tracking

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP finds the client's address. The direct peer is the client
// unless it is a trusted proxy; then the forwarding chain (RFC 7239
// Forwarded if present, else X-Forwarded-For) is walked from the right,
// skipping trusted proxies, and the first untrusted address is the client.
// Headers from an untrusted peer are ignored entirely, so they cannot be
// spoofed. If the chain is all trusted, its left-most address is used; an
// unparsable entry stops the walk at the last good hop.
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseHostAddr(r.RemoteAddr)
	if !peer.IsValid() || !inAny(peer, trusted) {
		return peer
	}
	chain := forwardedChain(r.Header)
	client := peer
	for i := len(chain) - 1; i >= 0; i-- {
		a := chain[i]
		if !a.IsValid() {
			break
		}
		client = a
		if !inAny(a, trusted) {
			break
		}
	}
	return client
}

func parseHostAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i]
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// forwardedChain lists the client addresses in Forwarded (for=) or, if
// there is none, X-Forwarded-For, in order; unparsable entries are
// invalid Addrs.
func forwardedChain(h http.Header) []netip.Addr {
	var out []netip.Addr
	if fw := h.Values("Forwarded"); len(fw) > 0 {
		for _, line := range fw {
			for _, elem := range strings.Split(line, ",") {
				var a netip.Addr
				for _, pair := range strings.Split(elem, ";") {
					k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
					if ok && strings.EqualFold(k, "for") {
						a = parseHostAddr(strings.Trim(v, `"`))
					}
				}
				out = append(out, a)
			}
		}
		return out
	}
	for _, line := range h.Values("X-Forwarded-For") {
		for _, part := range strings.Split(line, ",") {
			out = append(out, parseHostAddr(strings.TrimSpace(part)))
		}
	}
	return out
}

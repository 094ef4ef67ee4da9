package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"
)

// Bounds of a probe: it answers a person waiting at a terminal, so it
// looks at fewer hosts and waits less than a delivery attempt does.
const (
	probeMaxHosts       = 3
	probeMaxAddrs       = 2
	probeConnectTimeout = 10 * time.Second
	probeCommandTimeout = 15 * time.Second
)

// ProbeResult is what one next-hop address offered to Client.Probe. It
// holds host names, addresses, protocol facts and reasons, never message
// content (a probe sends none).
type ProbeResult struct {
	Route string // "mx", "route" or "smarthost", as delivery would route
	Host  string // next-hop host name: the name certificates are checked against
	Addr  string // "ip:port" dialled; "" when the host's address lookup failed

	// Floor is the configured floor of the destination (DefaultTLS,
	// DomainTLS, and SmarthostTLS for the smarthost), as delivery computes
	// it for a request without MinTLS.
	Floor TLSPolicy
	// PolicyFloor is the max() of the Floor of every Options.Policies entry
	// (MTA-STS, DANE, the downgrade memory); MX delivery only, else 0.
	PolicyFloor TLSPolicy
	// Vetoed is why a Policy refuses this MX host (AllowMX). Delivery
	// skips such a host unless the request ignores the policies
	// (Request.IgnoreTLSPolicies), so it is probed all the same.
	Vetoed string

	Connected bool // greeting 2xx and EHLO (or HELO) accepted
	STARTTLS  bool // STARTTLS advertised in the EHLO reply
	// Handshake: a TLS 1.2+ handshake got as far as the certificate, and
	// was refused by nothing but a Policy (PolicyError) if at all.
	Handshake  bool
	TLSVersion string // "TLS1.2", "TLS1.3"; "" without a handshake
	TLSCipher  string
	// PKIX: the certificate chain is valid for Host against Options.RootCAs
	// (RFC 6125, RFC 7817 §3); PKIXError says why not.
	PKIX      bool
	PKIXError string
	// PolicyError is set when a Policy's CheckTLS refused the connection.
	PolicyError string
	// Level is the level the connection reached after every Policy's
	// CheckTLS (a DANE match raises it); LevelNone without TLS or when a
	// Policy refused.
	Level TLSLevel
	// RequireTLS: REQUIRETLS (RFC 8689) advertised after STARTTLS.
	RequireTLS bool

	// Error is where the probe of this address stopped early (connect,
	// greeting, STARTTLS, handshake, EHLO after STARTTLS); "" when it
	// completed.
	Error string
}

// Probe asks what the next hops of domain offer today, without sending
// anything: it routes as Deliver does (static route, smarthost, else MX
// through Options.Resolver), then for at most 3 hosts and 2 addresses each,
// in delivery order, it connects (Options.Dialer), reads the greeting,
// sends EHLO with Options.Hostname, and when STARTTLS is offered does the
// TLS 1.2+ handshake of delivery (PKIX against Options.RootCAs, then each
// Policy's CheckTLS), sends EHLO again and QUITs. It never sends MAIL FROM.
// Timeouts are those of Options, capped at 10s to connect and 15s per step.
//
// A routing failure (NXDOMAIN, null MX, DNS trouble) or an unavailable
// security policy is returned as an *Error, exactly as Deliver would fail
// every recipient; otherwise there is one ProbeResult per address tried,
// or per host when its address could not be found.
func (c *Client) Probe(ctx context.Context, domain string) ([]ProbeResult, error) {
	domain = normDomain(domain)
	if domain == "" {
		return nil, errors.New("delivery: probe: empty domain")
	}
	pc := *c
	pc.opts.ConnectTimeout = min(c.opts.ConnectTimeout, probeConnectTimeout)
	pc.opts.CommandTimeout = min(c.opts.CommandTimeout, probeCommandTimeout)

	p, rerr := pc.route(ctx, domain)
	if rerr != nil {
		return nil, rerr
	}
	floor := pc.required(&Request{Domain: domain}, p)
	var pfloor TLSPolicy
	if p.kind == "mx" {
		f, perr := pc.policyFloor(ctx, domain)
		if perr != nil {
			return nil, perr
		}
		pfloor = f
	}
	var out []ProbeResult
	for _, h := range p.hops[:min(len(p.hops), probeMaxHosts)] {
		base := ProbeResult{Route: p.kind, Host: h.name, Floor: floor, PolicyFloor: pfloor}
		if p.kind == "mx" {
			if perr := pc.allowMX(ctx, domain, h.name); perr != nil {
				base.Vetoed = perr.Msg
			}
		}
		addrs, aerr := pc.addrs(ctx, h)
		if aerr != nil {
			base.Error = aerr.Msg
			out = append(out, base)
			continue
		}
		for _, addr := range addrs[:min(len(addrs), probeMaxAddrs)] {
			if err := ctx.Err(); err != nil {
				return out, fmt.Errorf("delivery: probe of %s: %w", domain, err)
			}
			out = append(out, pc.probeAddr(ctx, domain, h, addr, base))
		}
	}
	return out, nil
}

// probeAddr runs steps 5a-5c of doc.go against one address and QUITs.
func (c *Client) probeAddr(ctx context.Context, domain string, h hop, addr string, r ProbeResult) ProbeResult {
	r.Addr = addr
	raw, derr := c.dial(ctx, h, addr)
	if derr != nil {
		r.Error = derr.Msg
		return r
	}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()

	sc, err := c.hello(raw)
	if err != nil {
		r.Error = sessionErr(err, h.name, "greeting").Msg
		return r
	}
	r.Connected = true
	if r.STARTTLS, _ = sc.Extension("STARTTLS"); !r.STARTTLS {
		sc.Quit()
		return r
	}
	// LevelNone: never abort for want of verification, so that the level
	// reached is learnt whatever the floor; a Policy may still refuse.
	hs, terr := c.startTLS(ctx, raw, domain, h.name, LevelNone)
	if hs.seen {
		r.TLSVersion = tlsVersionName(hs.state.Version)
		r.TLSCipher = tls.CipherSuiteName(hs.state.CipherSuite)
		r.PKIX = hs.pkixErr == nil
		if hs.pkixErr != nil {
			r.PKIXError = cleanReply(hs.pkixErr.Error())
		}
		if hs.policyErr != nil {
			r.PolicyError = cleanReply(hs.policyErr.Error())
		}
	}
	r.Handshake = terr == nil || (hs.seen && hs.policyErr != nil)
	if terr != nil {
		r.Error = terr.Msg
		return r
	}
	r.Level = hs.level
	sc, err = c.helloTLS(hs.conn)
	if err != nil {
		r.Error = sessionErr(err, h.name, "EHLO after STARTTLS").Msg
		return r
	}
	r.RequireTLS, _ = sc.Extension("REQUIRETLS")
	sc.Quit()
	return r
}

// ProbeVerdict is what Deliver would do with a message, judged from a
// probe: see JudgeProbe.
type ProbeVerdict struct {
	// Need is the floor the message would get: MinTLS max Floor, max
	// PolicyFloor unless the policies are ignored; verified for REQUIRETLS.
	Need TLSPolicy
	// Met: a host would take the message at Need; Host, Addr and Level
	// describe that connection.
	Met   bool
	Host  string
	Addr  string
	Level TLSLevel
	// TLSShortfall: not met, and every host failed for TLS alone (as
	// Result.TLSShortfall): protect would use the fallback chain. Not met
	// without it means delivery would defer for another reason (a host
	// unreachable) and retry.
	TLSShortfall bool
	// Reason says why, in delivery's words: hosts, levels and codes only.
	Reason string
}

// JudgeProbe applies the connection rules of Deliver (steps 4-5 of doc.go)
// to a probe of the message's destination: the first host, in order, that
// reaches the floor takes the message. minTLS is Request.MinTLS,
// requireTLS Request.RequireTLS and ignorePolicies
// Request.IgnoreTLSPolicies. It cannot foresee replies to MAIL, RCPT or
// DATA, nor a host that behaves differently next time.
func JudgeProbe(results []ProbeResult, minTLS TLSPolicy, requireTLS, ignorePolicies bool) ProbeVerdict {
	var v ProbeVerdict
	if len(results) == 0 {
		v.Reason = "no next hop could be tried"
		return v
	}
	v.Need = max(minTLS, results[0].Floor)
	if results[0].Route == "mx" && !ignorePolicies {
		v.Need = max(v.Need, results[0].PolicyFloor)
	}
	if requireTLS {
		v.Need = PolicyVerified
	}
	v.Need = min(v.Need, PolicyVerified)
	need := v.Need.Level()
	onlyTLS := true
	var tlsWhy, otherWhy string
	tlsFail := func(why string) { tlsWhy = why } // the last, as delivery's summary
	met := func(r ProbeResult, l TLSLevel) ProbeVerdict {
		v.Met, v.Host, v.Addr, v.Level = true, r.Host, r.Addr, l
		v.Reason = fmt.Sprintf("%s reached on %s", l, r.Host)
		return v
	}
	for _, r := range results {
		switch {
		case r.Vetoed != "" && !ignorePolicies:
			tlsFail(r.Vetoed)
			continue
		case !r.Connected:
			onlyTLS = false
			if otherWhy == "" {
				otherWhy = r.Error
			}
			continue
		case v.Need <= PolicyNone:
			return met(r, LevelNone)
		case !r.STARTTLS:
			if need == LevelNone {
				return met(r, LevelNone)
			}
			tlsFail("STARTTLS not offered by " + r.Host)
			continue
		}
		level, refused := r.Level, r.PolicyError != ""
		if ignorePolicies {
			level, refused = LevelTLS, false
			if r.PKIX {
				level = LevelVerified
			}
		}
		switch {
		case !r.Handshake || refused:
			// Opportunistic retries the same address in plaintext (doc.go
			// step 5d); stricter floors move on.
			if need == LevelNone {
				return met(r, LevelNone)
			}
			why := r.Error
			if refused {
				why = "refused by security policy at " + r.Host + ": " + r.PolicyError
			}
			tlsFail(why)
			continue
		case level < need:
			why := fmt.Sprintf("%s reached on %s, %s needed", level, r.Host, need)
			if r.PKIXError != "" {
				why += " (" + r.PKIXError + ")"
			}
			tlsFail(why)
			continue
		case r.Error != "":
			// Lost after the handshake: a network problem, not TLS.
			onlyTLS = false
			if otherWhy == "" {
				otherWhy = r.Error
			}
			continue
		case requireTLS && !r.RequireTLS:
			tlsFail("REQUIRETLS not supported by " + r.Host)
			continue
		}
		return met(r, level)
	}
	switch {
	case tlsWhy != "":
		v.TLSShortfall = onlyTLS
		v.Reason = fmt.Sprintf("TLS %s required but not reached on any MX (%s)", v.Need, tlsWhy)
	default:
		v.Reason = otherWhy
	}
	return v
}

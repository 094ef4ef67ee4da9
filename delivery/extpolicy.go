package delivery

import (
	"context"
	"crypto/tls"
)

// Policy is a pluggable security policy for MX delivery, in the manner of
// maddy's MX/TLS policies: each can raise the TLS floor of a destination,
// veto MX hosts and judge the TLS connection actually made. MTA-STS
// (RFC 8461) and DANE (RFC 7672) are meant to be implemented as Policies.
// Policies are consulted in Options.Policies order, only for MX delivery
// (static routes and the smarthost are the administrator's own choice).
//
// Implementations must be safe for concurrent use and bounded in time by
// ctx. Errors are temporary failures and must not contain message content.
type Policy interface {
	// Floor returns the minimum policy demanded for domain (0 for none).
	Floor(ctx context.Context, domain string) (TLSPolicy, error)
	// AllowMX returns an error if host, an MX of domain, must not be used
	// (e.g. it does not match an enforced MTA-STS policy).
	AllowMX(ctx context.Context, domain, host string) error
	// CheckTLS judges a completed handshake with host. level is the level
	// reached so far (LevelVerified when the PKIX check passed, else
	// LevelTLS); the policy returns the level it vouches for, which may be
	// higher (a DANE-EE match makes a self-signed certificate verified) or
	// lower, or an error to refuse the connection. A refusal is a failed
	// handshake: under PolicyOpportunistic the address is then retried in
	// plaintext, so a policy that forbids plaintext must also raise Floor.
	CheckTLS(ctx context.Context, domain, host string, cs tls.ConnectionState, level TLSLevel) (TLSLevel, error)
}

// policyFloor is the max() of the floors of all policies.
func (c *Client) policyFloor(ctx context.Context, domain string) (TLSPolicy, *Error) {
	var floor TLSPolicy
	for _, p := range c.opts.Policies {
		f, err := p.Floor(ctx, domain)
		if err != nil {
			return 0, tlsErr("4.7.5", "security policy for %s unavailable: %s", domain, cleanReply(err.Error()))
		}
		floor = max(floor, f)
	}
	return floor, nil
}

func (c *Client) allowMX(ctx context.Context, domain, host string) *Error {
	for _, p := range c.opts.Policies {
		if err := p.AllowMX(ctx, domain, host); err != nil {
			return tlsErr("4.7.5", "MX %s refused by security policy: %s", host, cleanReply(err.Error()))
		}
	}
	return nil
}

func (c *Client) checkTLS(ctx context.Context, domain, host string, cs tls.ConnectionState, level TLSLevel) (TLSLevel, error) {
	for _, p := range c.opts.Policies {
		l, err := p.CheckTLS(ctx, domain, host, cs, level)
		if err != nil {
			return LevelNone, err
		}
		level = l
	}
	return level, nil
}

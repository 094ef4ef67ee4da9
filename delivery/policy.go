package delivery

import (
	"fmt"
	"strings"
)

// TLSPolicy is the minimum protection a destination demands. Values are
// ordered: a larger value is stricter, so combining policies is max().
//
// The zero value means "not set" and is smaller than every real policy, so it
// never lowers a floor when combined with max(); each Options field documents
// what its zero value defaults to.
type TLSPolicy int

const (
	// PolicyNone never starts TLS, even when STARTTLS is offered.
	PolicyNone TLSPolicy = iota + 1
	// PolicyOpportunistic uses STARTTLS when offered and falls back to
	// plaintext when it is not offered or the handshake fails (see doc.go).
	PolicyOpportunistic
	// PolicyRequired needs TLS 1.2 or later; the certificate is not checked.
	PolicyRequired
	// PolicyVerified needs TLS 1.2 or later and a PKIX-valid certificate for
	// the next-hop host name.
	PolicyVerified
)

// String returns the configuration spelling of p.
func (p TLSPolicy) String() string {
	switch p {
	case 0:
		return "default"
	case PolicyNone:
		return "none"
	case PolicyOpportunistic:
		return "opportunistic"
	case PolicyRequired:
		return "required"
	case PolicyVerified:
		return "verified"
	}
	return fmt.Sprintf("TLSPolicy(%d)", int(p))
}

// ParseTLSPolicy parses "none", "opportunistic", "required" or "verified"
// (case-insensitive). The empty string is an error: callers decide defaults.
func ParseTLSPolicy(s string) (TLSPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "none":
		return PolicyNone, nil
	case "opportunistic":
		return PolicyOpportunistic, nil
	case "required":
		return PolicyRequired, nil
	case "verified":
		return PolicyVerified, nil
	}
	return 0, fmt.Errorf("delivery: unknown TLS policy %q (want none, opportunistic, required or verified)", s)
}

// Level is the TLS level a connection must reach to satisfy p.
func (p TLSPolicy) Level() TLSLevel {
	switch {
	case p >= PolicyVerified:
		return LevelVerified
	case p >= PolicyRequired:
		return LevelTLS
	}
	return LevelNone
}

// TLSLevel is the protection a connection actually achieved. Values are
// ordered: LevelNone < LevelTLS < LevelVerified.
type TLSLevel int

const (
	// LevelNone: plaintext.
	LevelNone TLSLevel = iota
	// LevelTLS: TLS 1.2 or later, certificate not (successfully) verified.
	LevelTLS
	// LevelVerified: TLS 1.2 or later with a PKIX-valid certificate for the
	// next-hop host name.
	LevelVerified
)

// String returns "none", "tls" or "tls-verified".
func (l TLSLevel) String() string {
	switch l {
	case LevelNone:
		return "none"
	case LevelTLS:
		return "tls"
	case LevelVerified:
		return "tls-verified"
	}
	return fmt.Sprintf("TLSLevel(%d)", int(l))
}

// Outcome is the fate of one recipient after a delivery attempt.
type Outcome int

const (
	// Delivered: the next hop accepted the message for this recipient.
	Delivered Outcome = iota
	// TempFail: try again later (4xx, network, DNS or TLS trouble).
	TempFail
	// PermFail: bounce (5xx, NXDOMAIN, null MX).
	PermFail
)

// String returns "delivered", "deferred" or "bounced".
func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case TempFail:
		return "deferred"
	case PermFail:
		return "bounced"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

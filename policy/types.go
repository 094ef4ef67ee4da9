package policy

import (
	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/policy/phi"
)

// Requirement is how a recipient's copy must be protected.
type Requirement string

// Requirements, from the weakest. Only RequireNone allows plaintext, and
// never for a protected message (see doc.go).
const (
	// RequireNone: opportunistic TLS; plaintext when the MX offers no TLS.
	RequireNone Requirement = "none"
	// RequireTLS: TLS 1.2 or later to the MX; the certificate is not checked.
	RequireTLS Requirement = "tls"
	// RequireTLSVerified: TLS 1.2 or later with an authenticated certificate
	// (PKIX for the MX name, MTA-STS or DANE).
	RequireTLSVerified Requirement = "tls-verified"
	// RequireE2E: only end-to-end encryption (S/MIME or OpenPGP), never the
	// cleartext message, whatever TLS the MX offers.
	RequireE2E Requirement = "e2e"
	// RequirePortal: the message goes to the secure portal; the recipient
	// gets a notification without content.
	RequirePortal Requirement = "portal"
)

// Requirements lists the valid requirements, weakest first.
func Requirements() []Requirement {
	return []Requirement{RequireNone, RequireTLS, RequireTLSVerified, RequireE2E, RequirePortal}
}

// rank orders requirements: none < tls < tls-verified < e2e = portal.
// Unknown values rank below none so that the floor always raises them.
func (r Requirement) rank() int {
	switch r {
	case RequireNone:
		return 0
	case RequireTLS:
		return 1
	case RequireTLSVerified:
		return 2
	case RequireE2E, RequirePortal:
		return 3
	}
	return -1
}

// Valid reports whether r is one of the requirements.
func (r Requirement) Valid() bool { return r.rank() >= 0 }

// Cleartext reports whether r sends the message itself over SMTP (with the
// TLS level MinTLS says), rather than only its encrypted form or a portal
// notification.
func (r Requirement) Cleartext() bool { return r.rank() >= 0 && r.rank() <= 2 }

// MinTLS is the TLS floor that sending under r needs. e2e and portal send
// ciphertext or a notification without content, so they ride on
// opportunistic TLS like any other mail.
func (r Requirement) MinTLS() delivery.TLSPolicy {
	switch r {
	case RequireTLS:
		return delivery.PolicyRequired
	case RequireTLSVerified:
		return delivery.PolicyVerified
	}
	return delivery.PolicyOpportunistic
}

// Method is a way to deliver when the required TLS level is not reached.
type Method string

// Fallback methods.
const (
	MethodSMIME  Method = "smime"
	MethodPGP    Method = "pgp"
	MethodPortal Method = "portal"
)

// Methods lists the valid methods in their default order.
func Methods() []Method { return []Method{MethodSMIME, MethodPGP, MethodPortal} }

// Valid reports whether m is one of the methods.
func (m Method) Valid() bool {
	return m == MethodSMIME || m == MethodPGP || m == MethodPortal
}

// DefaultFallback is the fallback of a requirement whose action names none:
// every method for tls and tls-verified, S/MIME then OpenPGP for e2e, the
// portal for portal, nothing for none (opportunistic TLS never fails over).
func DefaultFallback(r Requirement) []Method {
	switch r {
	case RequireTLS, RequireTLSVerified:
		return []Method{MethodSMIME, MethodPGP, MethodPortal}
	case RequireE2E:
		return []Method{MethodSMIME, MethodPGP}
	case RequirePortal:
		return []Method{MethodPortal}
	}
	return nil
}

// Options configures an Engine. config.PolicyConfig builds it from YAML.
type Options struct {
	// SubjectTags are markers such as "[secure]" or "+encrypt+" with which a
	// sender asks for encryption. They match anywhere in the subject, ASCII
	// case-insensitively; a tagged message counts as protected.
	SubjectTags []string
	// EncryptHeaders are header field names (e.g. "X-Sealgate-Encrypt")
	// with which a sending system asks for encryption. A present field whose
	// value is not a negative ("no", "false", "off", "0", "never", "none",
	// empty) makes the message protected. They are always stripped.
	EncryptHeaders []string
	// DefaultPHI applies to protected messages no rule matches. The zero
	// value is {Require: tls-verified, Fallback: [smime, pgp, portal]}.
	DefaultPHI Action
	// DefaultOther applies to other messages no rule matches. The zero value
	// is {Require: none}.
	DefaultOther Action
	// Domains override Require and Fallback for recipient domains when the
	// decision needs protection. Keys are domains ("gmail.com") or globs
	// ("*.va.gov"); an exact key beats a glob, a longer glob a shorter one.
	Domains map[string]Action
	// Rules are evaluated in order; the first whose match holds wins.
	Rules []Rule
}

// Rule is one named rule.
type Rule struct {
	Name   string
	Match  Match
	Action Action
}

// Match is a conjunction: every condition that is set must hold. The zero
// Match matches every message.
type Match struct {
	// From and To are sender and recipient patterns: an address
	// ("bob@x.example"), a domain ("x.example") or a glob with * and ?
	// ("*@x.example", "*.va.gov"). A pattern with "@" matches the whole
	// address, one without matches the domain. Any of the list matches.
	From, To []string
	// FromDomain and ToDomain are domain patterns only.
	FromDomain, ToDomain []string
	// PHI: true matches protected-by-content messages (PHI verdict or
	// unscannable, including not scanned); false matches the others.
	PHI *bool
	// Unscannable: true matches messages with unscannable content or no
	// scan at all; false matches fully scanned ones.
	Unscannable *bool
	// Kinds matches when any of these kinds was found.
	Kinds []string
	// MinScore matches when the scan score is at least this (a message
	// that was not scanned matches).
	MinScore *float64
	// SubjectTag and EncryptHeader match on a configured tag or header.
	SubjectTag, EncryptHeader *bool
	// Headers maps a header field name to a glob its value must match
	// (case-insensitive; "*" = present).
	Headers map[string]string
}

// Action is what a rule, a default or a domain override prescribes.
type Action struct {
	// Require is the protection; "" inherits the default for the message's
	// verdict (DefaultPHI or DefaultOther).
	Require Requirement
	// Fallback lists the methods allowed, in order, when the required TLS
	// level is not reached. nil means the inherited fallback (when Require
	// is "") or DefaultFallback(Require); an empty, non-nil slice means no
	// fallback: the message waits in the queue.
	Fallback []Method
	// Hold keeps the message in the queue until an operator releases it.
	Hold bool
	// Reject refuses the message; the caller answers a generic 5xx.
	Reject bool
	// AllowTLSRequiredNo honours "TLS-Required: No" (RFC 8689 §5). Only
	// valid on rules that match phi: false and on DefaultOther, and never
	// honoured for protected messages.
	AllowTLSRequiredNo bool
}

// Message is what Decide looks at. Subject is only matched against the
// subject tags; it is never stored, logged or returned.
type Message struct {
	From    string
	Subject string
	// Headers are the message's header fields (names case-insensitive).
	// net/mail.Header and net/textproto.MIMEHeader can be assigned.
	Headers map[string][]string
	// Scan is the PHI verdict; nil means not scanned, treated as
	// unscannable (and so protected).
	Scan *phi.Result
	// RequireTLS is the REQUIRETLS MAIL FROM parameter (RFC 8689 §4).
	RequireTLS bool
	// TLSRequiredNo is "TLS-Required: No" in the header (RFC 8689 §5).
	TLSRequiredNo bool
}

package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/policy/phi"
)

// MetaKey is the queue Meta key under which smtpd stores EncodeDecisions'
// output for delivery to read back.
const MetaKey = "policy.decisions"

// Decision is how one recipient's copy must be protected, and why. It
// carries kinds, counts and rule names, never message content: it is safe
// to store, log and show.
type Decision struct {
	// Rule is the name of the rule that fired, or "default".
	Rule string `json:"rule"`
	// Override is the domain override key applied ("gmail.com",
	// "*.va.gov"), if any.
	Override string `json:"override,omitempty"`
	// Require is the protection required.
	Require Requirement `json:"require"`
	// Fallback lists, in order, the methods allowed when the required TLS
	// level is not reached; empty: wait in the queue (then bounce). For
	// e2e and portal it is the list of methods to use.
	Fallback []Method `json:"fallback"`
	// Hold: keep in the queue until released. Reject: answer a generic 5xx.
	Hold   bool `json:"hold,omitempty"`
	Reject bool `json:"reject,omitempty"`
	// Reasons explain the decision: verdict, findings as kinds and counts
	// ("phi: ssn×2 in body"), the rule, adjustments.
	Reasons []string `json:"reasons"`
	// StripSubjectTags are the configured subject tags found; the caller
	// removes them (StripSubject) before sending.
	StripSubjectTags []string `json:"strip_subject_tags,omitempty"`
	// StripHeaders are header fields the caller removes before sending
	// (the encrypt headers present; TLS-Required when it was not honoured
	// for a protected message).
	StripHeaders []string `json:"strip_headers,omitempty"`
	// RequireTLSFlag: pass REQUIRETLS on MAIL FROM (RFC 8689 §4.1).
	RequireTLSFlag bool `json:"requiretls,omitempty"`
	// TLSRequiredNo: "TLS-Required: No" was honoured (RFC 8689 §5):
	// delivery does not enforce MTA-STS or DANE for this recipient.
	TLSRequiredNo bool `json:"tls_required_no,omitempty"`
	// MinTLS is the TLS floor for sending the message itself (cleartext
	// requirements); encoded as its configuration spelling ("verified").
	MinTLS delivery.TLSPolicy `json:"min_tls"`
}

type plainDecision Decision

// MarshalJSON writes MinTLS by name, so stored decisions survive a
// renumbering of delivery.TLSPolicy.
func (d Decision) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		plainDecision
		MinTLS string `json:"min_tls"`
	}{plainDecision(d), d.MinTLS.String()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (d *Decision) UnmarshalJSON(b []byte) error {
	var v struct {
		*plainDecision
		MinTLS string `json:"min_tls"`
	}
	v.plainDecision = (*plainDecision)(d)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	p, err := delivery.ParseTLSPolicy(v.MinTLS)
	if err != nil {
		return err
	}
	d.MinTLS = p
	return nil
}

// check refuses a decoded decision that Decide could not have produced in
// a way that weakens it: an unknown requirement or method, or a TLS floor
// below what the requirement needs.
func (d *Decision) check() error {
	if d.Rule == "" {
		return errors.New("no rule")
	}
	if !d.Require.Valid() {
		return fmt.Errorf("unknown requirement %q", d.Require)
	}
	for _, m := range d.Fallback {
		if !m.Valid() {
			return fmt.Errorf("unknown method %q", m)
		}
	}
	if d.MinTLS < d.Require.MinTLS() {
		return fmt.Errorf("TLS floor %s is below what %s needs", d.MinTLS, d.Require)
	}
	if d.RequireTLSFlag && d.MinTLS < delivery.PolicyVerified {
		return errors.New("REQUIRETLS without a verified TLS floor")
	}
	return nil
}

type envelope struct {
	V         int                 `json:"v"`
	Decisions map[string]Decision `json:"decisions"`
}

// EncodeDecisions serialises every recipient's decision for the queue's
// per-message Meta (under MetaKey).
func EncodeDecisions(ds map[string]Decision) (string, error) {
	if ds == nil {
		ds = map[string]Decision{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(envelope{V: 1, Decisions: ds}); err != nil {
		return "", fmt.Errorf("policy: encode decisions: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// DecodeDecisions reads EncodeDecisions' output. It fails closed: unknown
// fields, versions, requirements or methods, and inconsistent TLS floors
// are errors, so a message is never delivered on a decision this version
// does not fully understand.
func DecodeDecisions(s string) (map[string]Decision, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var env envelope
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("policy: decode decisions: %w", err)
	}
	if dec.More() {
		return nil, errors.New("policy: decode decisions: trailing data")
	}
	if env.V != 1 {
		return nil, fmt.Errorf("policy: decode decisions: unsupported version %d", env.V)
	}
	if env.Decisions == nil {
		return nil, errors.New("policy: decode decisions: no decisions")
	}
	for rcpt, d := range env.Decisions {
		if err := d.check(); err != nil {
			return nil, fmt.Errorf("policy: decode decisions: recipient %q: %w", rcpt, err)
		}
	}
	return env.Decisions, nil
}

// NewMessage builds a Message from a header: it decodes the Subject
// (RFC 2047) for tag matching and reads "TLS-Required: No" (RFC 8689 §5).
func NewMessage(from string, header map[string][]string, scan *phi.Result, requireTLS bool) Message {
	m := Message{From: from, Headers: header, Scan: scan, RequireTLS: requireTLS}
	if subj, ok := headerValues(header, "Subject"); ok && len(subj) > 0 {
		m.Subject = subj[0]
		if dec, err := (&mime.WordDecoder{}).DecodeHeader(subj[0]); err == nil {
			m.Subject = dec
		}
	}
	if v, ok := headerValues(header, "TLS-Required"); ok {
		for _, s := range v {
			if strings.EqualFold(strings.TrimSpace(s), "no") {
				m.TLSRequiredNo = true
			}
		}
	}
	return m
}

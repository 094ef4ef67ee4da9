package tracking

import "time"

// EventKind names what happened to one recipient's copy of a message.
type EventKind string

const (
	EventOpen      EventKind = "open"
	EventClick     EventKind = "click"
	EventHoneypot  EventKind = "honeypot"
	EventDelivered EventKind = "delivered"
	EventDeferred  EventKind = "deferred"
	EventBounced   EventKind = "bounced"
)

// Verdict is the classifier's judgement of who caused an open or click.
type Verdict string

const (
	VerdictHuman     Verdict = "human"
	VerdictAutomated Verdict = "automated"
)

// Event is one engagement or delivery event. It never carries message
// content: only identifiers chosen by sealgate, the campaign ID and the
// sender/recipient addresses needed for per-sender reports.
type Event struct {
	Time      time.Time `json:"time"`
	Kind      EventKind `json:"kind"`
	MessageID string    `json:"message_id"` // sealgate queue ID, not the Message-ID header
	Recipient string    `json:"recipient"`
	Sender    string    `json:"sender"`
	Campaign  string    `json:"campaign,omitempty"`
	LinkIndex int       `json:"link_index,omitempty"` // clicks: which rewritten link (1-based)
	Verdict   Verdict   `json:"verdict,omitempty"`    // opens and clicks
	Reason    string    `json:"reason,omitempty"`     // why the classifier said so
	Method    string    `json:"method,omitempty"`     // delivery events: tls, tls_verified, smime, pgp, portal
	IP        string    `json:"ip,omitempty"`         // only when storing client details is enabled
	UserAgent string    `json:"user_agent,omitempty"` // only when storing client details is enabled
}

// EventSink stores events. The HTTP handlers and the delivery path record
// through it; tracking/events implements it on bbolt.
type EventSink interface {
	Record(e Event) error
}

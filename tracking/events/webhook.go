package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sealgate/sealgate/tracking"
)

// Header names of a webhook POST.
const (
	HeaderSignature = "Sealgate-Signature"
	HeaderEventID   = "Sealgate-Event-Id"
	HeaderAttempt   = "Sealgate-Attempt"
)

// Payload is the JSON body of a webhook, and its complete schema: no other
// key is ever sent. It carries identifiers only: never the subject, body,
// link URLs, client IP or User-Agent.
type Payload struct {
	ID        string             `json:"id"`   // evt_<hex>, equal to the Sealgate-Event-Id header
	Type      tracking.EventKind `json:"type"` // open, click, honeypot, delivered, deferred, bounced
	Time      time.Time          `json:"time"` // when the event happened (RFC 3339, UTC)
	MessageID string             `json:"message_id"`
	Recipient string             `json:"recipient"`
	Sender    string             `json:"sender,omitempty"`
	Campaign  string             `json:"campaign,omitempty"`
	LinkIndex int                `json:"link_index,omitempty"` // clicks: 1-based index of the rewritten link
	Verdict   tracking.Verdict   `json:"verdict,omitempty"`    // opens, clicks: human | automated
	Reason    string             `json:"reason,omitempty"`     // classifier reason token
	Method    string             `json:"method,omitempty"`     // delivery events: tls, tls_verified, smime, pgp, portal
}

// PayloadKeys are the only keys a Payload can carry.
func PayloadKeys() []string {
	return []string{"id", "type", "time", "message_id", "recipient", "sender", "campaign",
		"link_index", "verdict", "reason", "method"}
}

func newPayload(e *tracking.Event, key []byte) Payload {
	return Payload{
		ID:        eventID(key),
		Type:      e.Kind,
		Time:      e.Time.UTC(),
		MessageID: e.MessageID,
		Recipient: e.Recipient,
		Sender:    e.Sender,
		Campaign:  e.Campaign,
		LinkIndex: e.LinkIndex,
		Verdict:   e.Verdict,
		Reason:    e.Reason,
		Method:    e.Method,
	}
}

// Sign returns the Sealgate-Signature header value for body sent at t:
// "t=<unix>,v1=<hex HMAC-SHA256(secret, "<unix>." + body)>".
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Signature verification errors.
var (
	ErrSignatureFormat    = errors.New("events: malformed signature header")
	ErrSignatureMismatch  = errors.New("events: signature does not match")
	ErrSignatureTimestamp = errors.New("events: signature timestamp outside tolerance")
)

// VerifySignature checks a Sealgate-Signature header the way a receiver
// should: any v1 value matching the HMAC of "t.body" (constant-time), and t
// within tolerance of now.
func VerifySignature(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrSignatureFormat
		}
		switch k {
		case "t":
			if ts != "" {
				return ErrSignatureFormat
			}
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return ErrSignatureFormat
			}
			sigs = append(sigs, b)
		}
	}
	if ts == "" || len(sigs) == 0 || len(sigs) > 8 {
		return ErrSignatureFormat
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || unix <= 0 {
		return ErrSignatureFormat
	}
	d := now.Sub(time.Unix(unix, 0))
	if d < -tolerance || d > tolerance {
		return ErrSignatureTimestamp
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}

// delivery is one (event, subscriber) outbox record.
type delivery struct {
	ID         uint64             `json:"id"`
	EventID    string             `json:"event_id"`
	Subscriber string             `json:"subscriber"`
	Kind       tracking.EventKind `json:"kind"`
	EventTime  time.Time          `json:"event_time"`
	Created    time.Time          `json:"created"`
	Attempts   int                `json:"attempts"`
	NextTry    time.Time          `json:"next_try"`
	LastError  string             `json:"last_error,omitempty"` // a category, never a response body
	DeadAt     time.Time          `json:"dead_at,omitzero"`
	Body       []byte             `json:"body"` // the exact bytes signed and sent
}

func pendingKey(next time.Time, id uint64) []byte {
	return append(u64(tsOf(next)), u64(id)...)
}

func enqueue(tx *bolt.Tx, e *tracking.Event, key []byte, sub string, now time.Time) error {
	body, err := json.Marshal(newPayload(e, key))
	if err != nil {
		return err
	}
	b := tx.Bucket(bPending)
	id, err := b.NextSequence()
	if err != nil {
		return err
	}
	d := delivery{
		ID: id, EventID: eventID(key), Subscriber: sub, Kind: e.Kind,
		EventTime: e.Time.UTC(), Created: now, NextTry: now, Body: body,
	}
	v, err := json.Marshal(&d)
	if err != nil {
		return err
	}
	return b.Put(pendingKey(d.NextTry, id), v)
}

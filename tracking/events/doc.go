// Package events stores engagement and delivery events, turns them into
// reports people can trust, and forwards them to webhook subscribers.
//
// It owns:
//
//   - the event store: its own bbolt file (Options.Path, normally
//     data_dir/events.db) implementing tracking.EventSink;
//   - reports per campaign and per sender (headline numbers "all" and
//     "human only", automated reasons, time series), served as JSON by
//     ReportHandler and as a server-rendered HTML page with inline SVG charts;
//   - the webhook outbox (same bbolt file), its dispatcher, dead letters and
//     replay.
//
// # Invariants
//
//  1. No message content is ever stored or sent: an event holds identifiers
//     (sealgate queue ID, campaign, sender and recipient addresses), its kind,
//     time, the classifier's verdict and reason, the delivery method, and the
//     client IP and User-Agent only when the caller filled them (storing client
//     details is the caller's choice). Reasons are normalised to a short token
//     ([a-z0-9_.:-], at most 64 bytes) so that a classifier cannot smuggle free
//     text into reports, metrics or webhooks.
//  2. Webhook payloads carry exactly the keys of Payload: id, type, time,
//     message_id, recipient, sender, campaign, link_index, verdict, reason,
//     method. Never IP, User-Agent, subject, body or URLs. The recipient is
//     included because subscribers (marketing platforms, CRMs) need it to
//     attribute the event; it is an identifier, not content.
//  3. Raw events are never rewritten by a report setting: SuppressAutomated only
//     changes which numbers are the headline.
//  4. Every (event, subscriber) pair that Record accepts is in the outbox in the
//     same bbolt transaction as the event, so a webhook is never lost; delivery
//     is at-least-once and Sealgate-Event-Id lets receivers drop duplicates.
//  5. No package-level mutable state: clock, registerer and logger come in
//     through Options.
//
// # bbolt layout
//
// All integers are big-endian uint64; times are Unix nanoseconds (UTC).
//
//	events          ts|seq                         → JSON tracking.Event
//	idx_campaign    campaign 0x00 ts|seq           → empty
//	idx_sender      lower(sender) 0x00 ts|seq      → empty
//	idx_message     message_id 0x00 lower(rcpt) 0x00 ts|seq → empty
//	outbox_pending  next_try|delivery_id           → JSON delivery
//	outbox_dead     delivery_id                    → JSON delivery
//
// The event ID is "evt_" followed by the hex of ts|seq. Reports for a campaign
// or sender are cursor scans of one index prefix between ts(from) and ts(to);
// the events of one message (and recipient) are a prefix scan of idx_message;
// pruning walks events from the oldest key; the dispatcher walks
// outbox_pending from the oldest next_try and stops at the first one not yet
// due.
//
// # Counting
//
// Unique opens and clicks are counted once per (message ID, recipient). A
// click implies an open (images are often blocked, and Apple Mail Privacy
// Protection hides the human open behind its proxy), so unique opens count
// every recipient who opened or clicked, and click-to-open never exceeds
// 100%. "Human" numbers count only events with verdict human; an open or click
// with any other verdict counts in "all" only. Rates divide by the recipients
// with a delivered event in the range, so choose a range that covers the send.
// Time-series buckets are UTC hours or days.
//
// # Webhook signature
//
// Each POST carries
//
//	Content-Type: application/json
//	Sealgate-Event-Id: evt_<hex>          (same for every attempt and replay)
//	Sealgate-Attempt: <n>                 (1 for the first attempt, again 1 after a replay)
//	Sealgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>
//
// where t is the time of the attempt. A receiver recomputes the HMAC over the
// raw body bytes, compares in constant time and rejects timestamps too far from
// its clock (VerifySignature does exactly that).
//
// # Admin API and report page
//
// ReportHandler serves JSON reports and the HTML page behind the admin
// bearer token (compared in constant time). The HTML page is rendered with
// html/template, its charts are inline SVG built in Go, and it is sent with
// Content-Security-Policy "default-src 'none'; style-src 'unsafe-inline';
// img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
// so no script, font or stylesheet can load. HandlerOptions.AllowQueryToken
// (off by default) also accepts ?token= on that page only, for browsers that
// cannot send a header.
//
// # Retries
//
// A delivery that fails (transport error, timeout, or any non-2xx status,
// redirects included) is retried after RetryBase·2^(attempts-1), capped at
// RetryCap, with no jitter; after MaxAttempts attempts it moves to
// outbox_dead. Replay moves dead letters back, or re-enqueues every stored
// event of a time range. bbolt locks its file, so the `sealgate webhooks` CLI
// cannot open events.db while `sealgate serve` runs; the admin API offers the
// same operations (GET /api/webhooks, POST /api/webhooks/replay) on a
// running server.
package events

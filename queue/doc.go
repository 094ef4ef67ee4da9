// Package queue is sealgate's durable outbound queue: it stores accepted
// messages (envelope and per-recipient state in bbolt, bodies encrypted in
// spool files), schedules delivery attempts with exponential backoff,
// bounces what cannot be delivered with RFC 3464 DSNs, and offers the
// administrative operations (list, show, hold, release, retry, delete,
// stats).
//
// # What it owns
//
//   - Dir/queue.db (bbolt): buckets "msgs" (id → JSON record: envelope,
//     meta, per-recipient state), "due" (big-endian next-attempt unix
//     nanos + id → "", one entry per message with work to do), "recv"
//     (big-endian queued-at nanos + id → "", first key = oldest message)
//     and "meta" (schema version).
//   - Dir/spool/<id>: the body, encrypted with AES-256-GCM in 64 KiB
//     segments (the STREAM construction: counter nonces, final-segment
//     flag, per-file key from HKDF-SHA256 of Options.Key, a random salt and
//     the id). See spool.go for the byte layout. Dir/spool/tmp-<id> are
//     bodies being written.
//
// # Invariants
//
//   - Enqueue returns nil only after the body file is fsynced and renamed,
//     the spool directory fsynced, and the record committed (RFC 5321
//     §6.1: an accepted message must not be lost). The body is always
//     durable before the record that names it, so a record without a body
//     is never produced; a body without a record (crash between the two)
//     is removed at Open.
//   - Every state change is one bbolt transaction; counters and metrics
//     change only after it commits. A single committer goroutine groups
//     concurrent changes into one transaction and one directory fsync
//     (group commit), without waiting when there is no concurrency.
//   - An attempt is committed (state delivering, attempts+1, next attempt
//     time) before the Deliverer sees it, as in mox: a crash can repeat a
//     delivery (at-least-once) but cannot lose one.
//   - A body that fails authentication is never handed to a Deliverer: its
//     recipients are held with a clear reason. Plaintext is released one
//     authenticated segment at a time; memory does not grow with size.
//   - Memory is bounded by Workers and page sizes, not by the number of
//     queued messages: the scheduler scans the due index with a cursor and
//     loads only the records it picks; counts are kept in memory.
//   - No message content in logs, metrics, errors or DSNs (see DSNs). A
//     deliverer's panic value is not logged, only its type.
//
// Costs: each delivery attempt decrypts the body twice (integrity check,
// then the deliverer's read); AES-GCM runs at GB/s, so this is small next
// to the network. Each Enqueue costs one fsync of its body file; the
// directory fsync and the bbolt commit are shared by all enqueues waiting
// at the same moment. List with a State filter may walk many records to
// fill a page (memory stays bounded by Limit).
//
// # Algorithm
//
// Enqueue:
//
//  1. Validate the envelope (at least one recipient with a domain; no
//     CR/LF). Remove duplicate recipients.
//  2. Draw a 16-character id (80 random bits, base32).
//  3. Stream the body through the sealing writer into spool/tmp-<id>;
//     fsync; rename to spool/<id> (chasquid's safe write).
//  4. Hand the insert to the committer, which fsyncs the spool directory
//     once for its whole group, then commits the records of the group in
//     one bbolt transaction (one fsync of the db for the group).
//  5. Wake the scheduler; return the id.
//
// Open (recovery):
//
//  1. Create the buckets; check the schema version.
//  2. Scan "msgs" once, one record at a time and decoding only recipient
//     states, to initialise the per-state counts (so Stats and scrapes
//     never scan). An undecodable record is logged and skipped, not fatal:
//     the scheduler drops it from the schedule and Delete removes it.
//  3. Recipients left "delivering" by a crash become "queued", due now;
//     their interrupted attempt stays counted.
//  4. Remove spool files that no record names and tmp- files.
//
// Scheduler (Run), repeated until its context is done:
//
//  1. With f free worker slots, walk the "due" index from its first key
//     while the key time is ≤ now, skipping messages in flight, and take
//     up to f message ids.
//  2. In one transaction, for each message: if a DSN about it is pending,
//     make a DSN job; otherwise take its due recipients (queued, deferred,
//     or stale delivering with next attempt ≤ now), group them by
//     lowercase domain (RFC 5321 §4.5.3.1: one transaction per
//     destination), and for each group set delivering, attempts+1, last
//     attempt = now, next attempt = now + backoff. Commit, then start the
//     jobs.
//  3. Each delivery job first decrypts the whole body once to check its
//     integrity; a missing or corrupt body holds the recipients (state
//     held, with the reason in the recipient's text). Then it
//     calls Deliverer.Deliver with an AttemptTimeout deadline, recovering
//     a panic and abandoning a deliverer that ignores its deadline. A
//     missing result counts as a temporary failure.
//  4. Results are committed: 2xx → delivered; permanent → bounced;
//     temporary → deferred until now + backoff, or bounced with status
//     5.4.7 (RFC 3463 "delivery time expired") once MaxLifetime since
//     queueing has passed (RFC 5321 §4.5.4.1 recommends giving up after
//     4-5 days). Backoff after n attempts is MinRetry·2^(n-1), capped at
//     MaxRetry, minus up to 20% random jitter, and never later than the
//     expiry, so the last try happens when the lifetime ends. A held
//     recipient whose attempt was in flight keeps a delivered or bounced
//     outcome and otherwise stays held. Held recipients do not expire.
//  5. A bounce of a message with a non-null sender marks a failure DSN
//     pending; the first temporary failure after DelayWarning marks a
//     delay DSN pending (once per message). Never for a null sender
//     (RFC 5321 §4.5.5, RFC 3464 §2): a bounce is never bounced.
//  6. Pending DSNs are built (see below), written to the spool like any
//     body, and inserted as new messages (null sender, to the original
//     sender) in the same transaction that clears the pending marks: each
//     DSN is sent once, even across a crash.
//  7. When every recipient is delivered or bounced and no DSN is pending,
//     the record is deleted and the body removed: finished messages are
//     not kept (logs and metrics record the outcome).
//  8. Sleep until woken (Enqueue, admin change, a worker finishing) or
//     until the first not-yet-due key, at most PollInterval.
//
// On shutdown Run stops picking, waits up to ShutdownTimeout for attempts,
// then cancels them; what is still "delivering" is due at the next Open.
//
// # DSNs
//
// DSNs are multipart/report; report-type=delivery-status (RFC 6522) with
// three parts: a short human text, message/delivery-status (RFC 3464 §2.2
// per-message fields Reporting-MTA and Arrival-Date; §2.3 per-recipient
// Final-Recipient, Action failed|delayed, Status (RFC 3463), Remote-MTA,
// Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until), and
// text/rfc822-headers. The original body is never included. Of the
// original header only Date, From, Sender, Reply-To, To, Cc, Message-ID,
// In-Reply-To, References and MIME-Version are returned: the Subject and
// any other field (X-Patient-ID, ...) are left out because they can carry
// PHI and a DSN is not scanned by policy. The DSN's Message-ID is
// <dsn-id@Hostname>, its From MAILER-DAEMON@Hostname, and it carries
// Auto-Submitted: auto-replied (RFC 3834). It is sent with REQUIRETLS when
// the original was (RFC 8689 §5), and uses the RFC 6533 global types with
// SMTPUTF8 when an address or header needs UTF-8. DSN messages carry
// Meta "queue.dsn" (delay|failure) and "queue.dsn_for" (the original id).
package queue

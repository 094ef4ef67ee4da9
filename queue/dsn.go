package queue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Kinds of DSN, also the label values of sealgate_queue_dsn_sent_total.
const (
	dsnKindDelay   = "delay"
	dsnKindFailure = "failure"
)

// Meta keys the queue sets on the DSNs it enqueues.
const (
	MetaDSN    = "queue.dsn"     // "delay" or "failure"
	MetaDSNFor = "queue.dsn_for" // queue ID of the message reported on
)

// dsnHeaderAllow is the set of original header fields returned in a DSN's
// text/rfc822-headers part. Everything else, the Subject included, is left
// out: a subject line or a custom header (X-Patient-ID, ...) can carry PHI,
// and a DSN travels back over whatever path reaches the sender. These
// fields are enough for the sender to identify and thread the message.
var dsnHeaderAllow = map[string]bool{
	"date": true, "from": true, "sender": true, "reply-to": true,
	"to": true, "cc": true, "message-id": true, "in-reply-to": true,
	"references": true, "mime-version": true,
}

const maxHeaderBytes = 64 << 10

var errStale = errors.New("queue: DSN state changed concurrently")

// sendDSNs enqueues the pending DSNs of message id (failure DSN for
// bounced recipients, delay DSN when decided) and clears the pending
// marks in the same transaction as the DSN records are inserted, so a DSN
// is sent once even across crashes.
func (q *Queue) sendDSNs(id string) {
	for try := 0; try < 5; try++ {
		err := q.sendDSNsOnce(id)
		if err == nil {
			return
		}
		if !errors.Is(err, errStale) {
			q.log.Error("queue: enqueueing DSN failed; will retry", "id", id, "err", err)
			return
		}
	}
}

func (q *Queue) sendDSNsOnce(id string) error {
	var rec *record
	err := q.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = getRecord(tx, id)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !rec.dsnPending() {
		return nil
	}
	now := q.clock.Now().UTC().Round(0)
	var failIdx, delayIdx []int
	for i := range rec.Rcpts {
		r := &rec.Rcpts[i]
		if r.DSNPending {
			failIdx = append(failIdx, i)
		}
		if rec.DelayDSN == dsnPending && r.State == StateDeferred {
			delayIdx = append(delayIdx, i)
		}
	}
	wantDelay := rec.DelayDSN == dsnPending
	var created []*record
	cleanup := func() {
		for _, c := range created {
			os.Remove(q.spoolPath(c.ID))
		}
	}
	var headers []byte
	if len(failIdx) > 0 || len(delayIdx) > 0 {
		headers = q.originalHeaders(rec.ID)
	}
	for _, kind := range []string{dsnKindFailure, dsnKindDelay} {
		idx := failIdx
		if kind == dsnKindDelay {
			idx = delayIdx
		}
		if len(idx) == 0 || rec.From == "" {
			continue
		}
		dsnID := newID()
		body, utf8 := q.buildDSN(kind, dsnID, rec, idx, headers, now)
		size, err := q.writeSpool(context.Background(), dsnID, bytes.NewReader(body), 0)
		if err != nil {
			cleanup()
			return err
		}
		env := Envelope{
			From:       "",
			To:         []string{rec.From},
			RequireTLS: rec.RequireTLS, // RFC 8689 §5: a DSN of a REQUIRETLS message is sent with REQUIRETLS
			SMTPUTF8:   utf8,
			ReceivedAt: now,
			Meta:       map[string]string{MetaDSN: kind, MetaDSNFor: rec.ID},
		}
		d := newRecord(dsnID, env, []string{rec.From}, size, now)
		d.DSNType = kind
		created = append(created, d)
	}
	err = q.commit(len(created) > 0, func(tx *bolt.Tx, d *delta) error {
		old, err := getRecord(tx, id)
		if errors.Is(err, ErrNotFound) {
			return errStale
		}
		if err != nil {
			return err
		}
		cur, _ := getRecord(tx, id)
		for _, i := range failIdx {
			if !cur.Rcpts[i].DSNPending {
				return errStale
			}
			cur.Rcpts[i].DSNPending = false
		}
		if wantDelay {
			if cur.DelayDSN != dsnPending {
				return errStale
			}
			cur.DelayDSN = dsnSent
		}
		for _, c := range created {
			if err := putRecord(tx, d, nil, c); err != nil {
				return err
			}
			if c.DSNType == dsnKindDelay {
				d.dsnDelay++
			} else {
				d.dsnFailure++
			}
		}
		if cur.finished() {
			d.removeBodies = append(d.removeBodies, cur.ID)
			return deleteRecord(tx, d, old)
		}
		return putRecord(tx, d, old, cur)
	})
	if err != nil {
		cleanup()
		return err
	}
	for _, c := range created {
		q.log.Info("queue: DSN enqueued", "id", c.ID, "type", c.DSNType, "for", id)
	}
	q.kick()
	return nil
}

// originalHeaders returns the allowed header fields of the original
// message, or nil when its body cannot be read.
func (q *Queue) originalHeaders(id string) []byte {
	rc, err := q.openSpool(id)
	if err != nil {
		return nil
	}
	defer rc.Close()
	return filterHeaders(rc)
}

// filterHeaders returns the header fields of a message that
// dsnHeaderAllow permits (raw, CRLF-terminated, continuation lines kept).
// It reads at most maxHeaderBytes and never past the blank line that ends
// the header section, so no body byte can reach a DSN.
func filterHeaders(r io.Reader) []byte {
	br := bufio.NewReader(io.LimitReader(r, maxHeaderBytes))
	var out bytes.Buffer
	keep := false
	for {
		line, err := br.ReadString('\n')
		if len(line) == 0 && err != nil {
			break
		}
		content := strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(content) == "" {
			break // end of the header section: the body is never read
		}
		content = strings.ReplaceAll(content, "\r", " ") // no bare CR: it could start a line in the DSN
		if content[0] == ' ' || content[0] == '\t' {
			if keep {
				out.WriteString(content + "\r\n")
			}
		} else {
			name, _, ok := strings.Cut(content, ":")
			keep = ok && dsnHeaderAllow[strings.ToLower(strings.TrimSpace(name))]
			if keep {
				out.WriteString(content + "\r\n")
			}
		}
		if err != nil {
			break
		}
	}
	return out.Bytes()
}

var enhancedRE = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)

// dsnStatus returns the RFC 3463 status for a recipient: its enhanced code
// when it has the class the action needs, else a generic one.
func dsnStatus(action string, r *rcptRecord) string {
	class := "5"
	if action == "delayed" {
		class = "4"
	}
	if enhancedRE.MatchString(r.Enhanced) && r.Enhanced[:1] == class {
		return r.Enhanced
	}
	return class + ".0.0"
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// buildDSN writes an RFC 3464 delivery status notification: a
// multipart/report (RFC 6522) with a human-readable part, a
// message/delivery-status part with per-recipient fields, and the allowed
// original header fields as text/rfc822-headers. The original body is
// never included. When an address or header needs UTF-8, the RFC 6533
// types message/global-delivery-status and message/global-headers are used
// and the DSN must be sent with SMTPUTF8 (reported by the second result).
func (q *Queue) buildDSN(kind, dsnID string, rec *record, idx []int, headers []byte, now time.Time) ([]byte, bool) {
	host := q.opts.Hostname
	utf8 := !isASCII(headers) || !isASCII([]byte(rec.From))
	for _, i := range idx {
		if !isASCII([]byte(rec.Rcpts[i].Addr)) {
			utf8 = true
		}
	}
	date := func(t time.Time) string { return t.Format(time.RFC1123Z) }
	action := "failed"
	subject := "Undelivered Mail Returned to Sender"
	if kind == dsnKindDelay {
		action = "delayed"
		subject = "Delayed Mail (still being retried)"
	}
	boundary := "=_sealgate_dsn_" + dsnID
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }

	w("From: Mail Delivery System <MAILER-DAEMON@%s>", host)
	w("To: <%s>", rec.From)
	w("Subject: %s", subject)
	w("Date: %s", date(now))
	w("Message-ID: <%s@%s>", dsnID, host)
	w("Auto-Submitted: auto-replied") // RFC 3834 §5
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status;")
	w("\tboundary=\"%s\"", boundary)
	w("")
	w("This is a MIME-encapsulated message.")
	w("")

	// Part 1: for people. No content of the original message.
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("Content-Transfer-Encoding: 8bit")
	w("")
	w("This is the mail system at host %s.", host)
	w("")
	if kind == dsnKindDelay {
		w("Your message (queue ID %s, received %s) has not yet been", rec.ID, date(rec.QueuedAt))
		w("delivered to the recipients below. Delivery will be retried until")
		w("%s; you do not need to send it again.", date(q.expiry(rec)))
	} else {
		w("Your message (queue ID %s, received %s) could not be", rec.ID, date(rec.QueuedAt))
		w("delivered to the recipients below. Its content is not returned;")
		w("only a few of its header fields are attached to identify it.")
	}
	w("")
	for _, i := range idx {
		r := &rec.Rcpts[i]
		w("<%s>: %s", r.Addr, reasonText(r))
	}
	w("")

	// Part 2: for machines (RFC 3464 §2.2, §2.3).
	w("--%s", boundary)
	if utf8 {
		w("Content-Type: message/global-delivery-status")
	} else {
		w("Content-Type: message/delivery-status")
	}
	w("")
	w("Reporting-MTA: dns; %s", host)
	w("X-Sealgate-Queue-ID: %s", rec.ID)
	w("Arrival-Date: %s", date(rec.ReceivedAt))
	for _, i := range idx {
		r := &rec.Rcpts[i]
		w("")
		addrType := "rfc822"
		if !isASCII([]byte(r.Addr)) {
			addrType = "utf-8" // RFC 6533 §3
		}
		w("Final-Recipient: %s; %s", addrType, r.Addr)
		w("Action: %s", action)
		w("Status: %s", dsnStatus(action, r))
		if r.MX != "" {
			w("Remote-MTA: dns; %s", oneLine(r.MX))
		}
		if r.Code > 0 {
			w("Diagnostic-Code: smtp; %d %s", r.Code, strings.TrimSpace(r.Enhanced+" "+r.Text))
		} else if r.Text != "" {
			w("Diagnostic-Code: X-Sealgate; %s", r.Text)
		}
		if !r.LastAttempt.IsZero() {
			w("Last-Attempt-Date: %s", date(r.LastAttempt))
		}
		if kind == dsnKindDelay {
			w("Will-Retry-Until: %s", date(q.expiry(rec)))
		}
	}
	w("")

	// Part 3: identifying header fields only (RFC 6522 §4 allows
	// text/rfc822-headers in place of the whole message).
	w("--%s", boundary)
	if utf8 {
		w("Content-Type: message/global-headers")
	} else {
		w("Content-Type: text/rfc822-headers")
	}
	w("")
	if len(headers) == 0 {
		w("X-Sealgate-Note: original header fields unavailable")
	} else {
		b.Write(headers)
	}
	w("")
	w("--%s--", boundary)
	return b.Bytes(), utf8
}

func reasonText(r *rcptRecord) string {
	var parts []string
	if r.Code > 0 {
		parts = append(parts, fmt.Sprint(r.Code))
	}
	if r.Enhanced != "" {
		parts = append(parts, r.Enhanced)
	}
	if r.Text != "" {
		parts = append(parts, r.Text)
	}
	if r.MX != "" {
		parts = append(parts, "(from "+oneLine(r.MX)+")")
	}
	if len(parts) == 0 {
		return "delivery failed"
	}
	return strings.Join(parts, " ")
}

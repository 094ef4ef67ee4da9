package queue

import (
	"bufio"
	"bytes"
	"io"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
)

// parsedDSN is a DSN as an independent MIME parser (emersion/go-message)
// sees it.
type parsedDSN struct {
	header     message.Header
	partTypes  []string
	human      string
	perMessage textproto.MIMEHeader
	perRcpt    []textproto.MIMEHeader
	headers    string // text/rfc822-headers part
}

func parseDSN(t *testing.T, raw []byte) parsedDSN {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("DSN is not a MIME message: %v", err)
	}
	var p parsedDSN
	p.header = e.Header
	mt, params, err := e.Header.ContentType()
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("DSN Content-Type %q %v (%v), want multipart/report; report-type=delivery-status", mt, params, err)
	}
	mr := e.MultipartReader()
	if mr == nil {
		t.Fatal("DSN is not multipart")
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading DSN part: %v", err)
		}
		pt, _, _ := part.Header.ContentType()
		p.partTypes = append(p.partTypes, pt)
		body, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatalf("reading %s: %v", pt, err)
		}
		switch pt {
		case "text/plain":
			p.human = string(body)
		case "message/delivery-status":
			tr := textproto.NewReader(bufio.NewReader(bytes.NewReader(body)))
			for i := 0; ; i++ {
				h, err := tr.ReadMIMEHeader()
				if len(h) > 0 {
					if i == 0 {
						p.perMessage = h
					} else {
						p.perRcpt = append(p.perRcpt, h)
					}
				}
				if err != nil {
					break
				}
			}
		case "text/rfc822-headers":
			p.headers = string(body)
		}
	}
	want := []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}
	if strings.Join(p.partTypes, ",") != strings.Join(want, ",") {
		t.Fatalf("DSN parts %v, want %v", p.partTypes, want)
	}
	return p
}

// dsnSink answers DSNs (null sender) with delivered and everything else
// with orig.
func dsnSink(orig func(a Attempt) []Result) *recorder {
	return newRecorder(func(a Attempt, body []byte) []Result {
		if a.From == "" && a.Meta[MetaDSN] != "" {
			return allStatus(a, StatusDelivered, 250, "2.0.0", "ok")
		}
		return orig(a)
	})
}

func dsnAttempts(r *recorder, kind string) []recorded {
	var out []recorded
	for _, a := range r.all() {
		if a.a.Meta[MetaDSN] == kind {
			out = append(out, a)
		}
	}
	return out
}

func TestPermFailureDSN(t *testing.T) {
	rec := dsnSink(func(a Attempt) []Result {
		if a.Domain == "dest.example" {
			return allStatus(a, StatusPermFail, 550, "5.1.1", "mailbox unavailable")
		}
		return allStatus(a, StatusDelivered, 250, "2.0.0", "ok")
	})
	q := mustOpen(t, testOptions(t, rec))
	id, err := q.Enqueue(t.Context(), Envelope{
		From: "sender@clinic.example", To: []string{"r1@dest.example", "r2@other.example"}, RequireTLS: true,
	}, strings.NewReader(testMessage("Lab results for Jane: HIV positive")))
	if err != nil {
		t.Fatal(err)
	}
	start(t, q)
	waitFor(t, "original finished and a DSN delivered", func() bool {
		return gone(q, id) && len(dsnAttempts(rec, "failure")) == 1
	})
	d := dsnAttempts(rec, "failure")[0]
	if d.a.From != "" || len(d.a.Rcpts) != 1 || d.a.Rcpts[0] != "sender@clinic.example" {
		t.Fatalf("DSN envelope from %q to %v, want null sender to the original sender", d.a.From, d.a.Rcpts)
	}
	if d.a.Meta[MetaDSNFor] != id || !d.a.RequireTLS {
		t.Fatalf("DSN meta %v requiretls %v", d.a.Meta, d.a.RequireTLS)
	}
	raw := d.body
	for _, secret := range []string{"CANARY", "078-05-1120", "HIV", "Jane", "X-Patient-ID", "not-a-header"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("DSN contains %q from the original message:\n%s", secret, raw)
		}
	}
	p := parseDSN(t, raw)
	if got := p.header.Get("Message-Id"); got != "<"+d.a.ID+"@gw.test.example>" {
		t.Fatalf("DSN Message-ID %q, want <%s@gw.test.example>", got, d.a.ID)
	}
	if !strings.Contains(p.header.Get("From"), "MAILER-DAEMON@gw.test.example") || p.header.Get("Auto-Submitted") != "auto-replied" {
		t.Fatalf("DSN header From %q Auto-Submitted %q", p.header.Get("From"), p.header.Get("Auto-Submitted"))
	}
	if p.perMessage.Get("Reporting-MTA") != "dns; gw.test.example" {
		t.Fatalf("Reporting-MTA %q", p.perMessage.Get("Reporting-MTA"))
	}
	if len(p.perRcpt) != 1 {
		t.Fatalf("%d recipient blocks, want 1 (only the failed recipient)", len(p.perRcpt))
	}
	r := p.perRcpt[0]
	if r.Get("Final-Recipient") != "rfc822; r1@dest.example" || r.Get("Action") != "failed" || r.Get("Status") != "5.1.1" {
		t.Fatalf("recipient block %v", r)
	}
	if !strings.Contains(r.Get("Diagnostic-Code"), "smtp; 550 5.1.1 mailbox unavailable") || r.Get("Remote-Mta") != "dns; mx.dest.example" {
		t.Fatalf("recipient block %v", r)
	}
	if !strings.Contains(p.headers, "Message-ID: <orig-123@clinic.example>") || strings.Contains(p.headers, "Subject") {
		t.Fatalf("rfc822-headers part:\n%s", p.headers)
	}
	if !strings.Contains(p.human, "r1@dest.example") || strings.Contains(p.human, "r2@other.example") {
		t.Fatalf("human part:\n%s", p.human)
	}
	if n := len(rec.dsns()); n != 1 {
		t.Fatalf("%d null-sender attempts, want exactly 1 DSN", n)
	}
}

func TestExpiryAfterMaxLifetime(t *testing.T) {
	clock := newFakeClock()
	rec := dsnSink(func(a Attempt) []Result {
		return allStatus(a, StatusTempFail, 451, "4.4.1", "connection timed out")
	})
	opts := testOptions(t, rec)
	opts.Clock = clock
	opts.MinRetry = 10 * time.Minute
	opts.MaxRetry = 30 * time.Minute
	opts.MaxLifetime = time.Hour
	opts.DelayWarning = -1
	q := mustOpen(t, opts)
	t0 := clock.Now()
	id := enqueue(t, q, "sender@clinic.example", []string{"r@dest.example"}, testMessage("x"))
	start(t, q)
	expiry := t0.Add(time.Hour)
	for n := 1; ; n++ {
		waitFor(t, "attempt applied", func() bool {
			if gone(q, id) {
				return true
			}
			r := rcptState(t, q, id, "r@dest.example")
			return r.State == StateDeferred && r.Attempts == n
		})
		if gone(q, id) {
			if clock.Now().Before(expiry) {
				t.Fatalf("bounced at %v, before the lifetime ended at %v", clock.Now(), expiry)
			}
			break
		}
		r := rcptState(t, q, id, "r@dest.example")
		if r.NextAttempt.After(expiry) {
			t.Fatalf("retry %d scheduled at %v, after the expiry %v", n, r.NextAttempt, expiry)
		}
		if n > 10 {
			t.Fatal("never expired")
		}
		clock.Set(r.NextAttempt)
	}
	waitFor(t, "failure DSN delivered", func() bool { return len(dsnAttempts(rec, "failure")) == 1 })
	if n := len(rec.forID(id)); n < 3 || n > 5 {
		t.Fatalf("%d attempts within one hour at 10m..30m backoff", n)
	}
	p := parseDSN(t, dsnAttempts(rec, "failure")[0].body)
	r := p.perRcpt[0]
	if r.Get("Action") != "failed" || r.Get("Status") != "5.4.7" || !strings.Contains(r.Get("Diagnostic-Code"), "451") {
		t.Fatalf("expiry DSN recipient block %v", r)
	}
	if len(dsnAttempts(rec, "delay")) != 0 {
		t.Fatal("delay DSN sent although disabled")
	}
}

func TestDelayWarningSentOnce(t *testing.T) {
	clock := newFakeClock()
	deliverAt := 8
	rec := dsnSink(func(a Attempt) []Result {
		if a.Attempts >= deliverAt {
			return allStatus(a, StatusDelivered, 250, "2.0.0", "ok")
		}
		return allStatus(a, StatusTempFail, 421, "4.7.0", "TLS required but not offered")
	})
	opts := testOptions(t, rec)
	opts.Clock = clock
	opts.MinRetry = 10 * time.Minute
	opts.MaxRetry = 20 * time.Minute
	opts.DelayWarning = 30 * time.Minute
	q := mustOpen(t, opts)
	id := enqueue(t, q, "sender@clinic.example", []string{"r@dest.example"}, testMessage("x"))
	start(t, q)
	for n := 1; n < deliverAt; n++ {
		waitFor(t, "deferred", func() bool {
			r := rcptState(t, q, id, "r@dest.example")
			return r.State == StateDeferred && r.Attempts == n
		})
		delays := len(dsnAttempts(rec, "delay"))
		queuedFor := clock.Now().Sub(q.mustInfo(t, id).QueuedAt)
		if queuedFor < 30*time.Minute && delays != 0 {
			t.Fatalf("delay DSN after %v, before the warning time", queuedFor)
		}
		clock.Set(rcptState(t, q, id, "r@dest.example").NextAttempt)
	}
	waitFor(t, "delivered", func() bool { return gone(q, id) })
	waitFor(t, "delay DSN delivered", func() bool { return len(dsnAttempts(rec, "delay")) >= 1 })
	q.kick()
	time.Sleep(50 * time.Millisecond)
	if n := len(dsnAttempts(rec, "delay")); n != 1 {
		t.Fatalf("%d delay DSNs, want exactly 1", n)
	}
	if n := len(dsnAttempts(rec, "failure")); n != 0 {
		t.Fatalf("%d failure DSNs for a message that was delivered", n)
	}
	p := parseDSN(t, dsnAttempts(rec, "delay")[0].body)
	r := p.perRcpt[0]
	if r.Get("Action") != "delayed" || r.Get("Status") != "4.7.0" || r.Get("Will-Retry-Until") == "" {
		t.Fatalf("delay DSN recipient block %v", r)
	}
	if bytes.Contains(dsnAttempts(rec, "delay")[0].body, []byte("CANARY")) {
		t.Fatal("delay DSN contains the body")
	}
}

func (q *Queue) mustInfo(t *testing.T, id string) MessageInfo {
	t.Helper()
	mi, err := q.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return mi
}

func TestNeverBounceABounce(t *testing.T) {
	clock := newFakeClock()
	rec := newRecorder(func(a Attempt, body []byte) []Result {
		if strings.Contains(string(body), "EXPIRE") {
			return allStatus(a, StatusTempFail, 451, "4.0.0", "later")
		}
		return allStatus(a, StatusPermFail, 550, "5.1.1", "no such user")
	})
	opts := testOptions(t, rec)
	opts.Clock = clock
	opts.MaxLifetime = time.Hour
	opts.MinRetry = 40 * time.Minute
	opts.DelayWarning = time.Minute
	q := mustOpen(t, opts)
	start(t, q)

	// A null-sender message that fails permanently: no DSN.
	perm := enqueue(t, q, "", []string{"r@dest.example"}, "bounce body")
	// A null-sender message that expires: no delay DSN, no failure DSN.
	exp := enqueue(t, q, "", []string{"r@dest.example"}, "EXPIRE")
	// A normal message whose failure DSN itself bounces: exactly one DSN.
	norm := enqueue(t, q, "sender@clinic.example", []string{"r@dest.example"}, "normal")
	waitFor(t, "perm and normal finished", func() bool { return gone(q, perm) && gone(q, norm) })
	waitFor(t, "exp deferred", func() bool { return rcptState(t, q, exp, "r@dest.example").State == StateDeferred })
	clock.Advance(2 * time.Hour)
	q.kick()
	waitFor(t, "expired", func() bool { return gone(q, exp) })
	waitFor(t, "queue empty", func() bool { return q.Stats().Messages == 0 })
	time.Sleep(30 * time.Millisecond)
	var dsns []recorded
	for _, a := range rec.all() {
		if a.a.Meta[MetaDSN] != "" {
			dsns = append(dsns, a)
		}
	}
	if len(dsns) != 1 || dsns[0].a.Meta[MetaDSNFor] != norm || dsns[0].a.Meta[MetaDSN] != "failure" {
		t.Fatalf("DSNs sent: %d (%v); want one failure DSN for the normal message", len(dsns), dsns)
	}
	if st := q.Stats(); st.Messages != 0 {
		t.Fatalf("queue not empty: %+v", st)
	}
}

func TestFilterHeadersStopsAtBody(t *testing.T) {
	in := "Subject: secret\r\nFrom: a@b.example\r\nTo: x@y.example,\r\n  z@y.example\r\nX-Patient: 1\r\n  folded-phi\r\n" +
		"Date: d\rSubject: smuggled\r\n\r\nMessage-ID: <in-body@x>\r\n"
	got := string(filterHeaders(strings.NewReader(in)))
	want := "From: a@b.example\r\nTo: x@y.example,\r\n  z@y.example\r\nDate: d Subject: smuggled\r\n"
	if got != want {
		t.Fatalf("filterHeaders = %q, want %q", got, want)
	}
	// LF-only input, no body.
	if got := string(filterHeaders(strings.NewReader("message-id: <a@b>\nsubject: s\n"))); got != "message-id: <a@b>\r\n" {
		t.Fatalf("LF input: %q", got)
	}
	// An endless header is cut at maxHeaderBytes.
	long := strings.NewReader("From: a@b\r\n" + strings.Repeat("To: x@y\r\n", maxHeaderBytes))
	if got := filterHeaders(long); len(got) > maxHeaderBytes+2 {
		t.Fatalf("read %d bytes of headers", len(got))
	}
}

func TestUTF8SenderGetsGlobalDSN(t *testing.T) {
	rec := dsnSink(func(a Attempt) []Result {
		return allStatus(a, StatusPermFail, 550, "5.1.1", "unknown")
	})
	q := mustOpen(t, testOptions(t, rec))
	id, err := q.Enqueue(t.Context(), Envelope{From: "médecin@clinique.example", To: []string{"r@dest.example"}, SMTPUTF8: true},
		strings.NewReader("From: médecin@clinique.example\r\nSubject: x\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	start(t, q)
	waitFor(t, "DSN delivered", func() bool { return gone(q, id) && len(dsnAttempts(rec, "failure")) == 1 })
	d := dsnAttempts(rec, "failure")[0]
	if !d.a.SMTPUTF8 || d.a.Rcpts[0] != "médecin@clinique.example" {
		t.Fatalf("DSN to a UTF-8 sender: SMTPUTF8=%v rcpts %v", d.a.SMTPUTF8, d.a.Rcpts)
	}
	e, err := message.Read(bytes.NewReader(d.body))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	mr := e.MultipartReader()
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		ct, _, _ := p.Header.ContentType()
		types = append(types, ct)
	}
	if strings.Join(types, ",") != "text/plain,message/global-delivery-status,message/global-headers" {
		t.Fatalf("parts %v, want the RFC 6533 types", types)
	}
}

package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// job is one unit of scheduler work: a delivery attempt for the due
// recipients of one message in one domain, or the sending of pending DSNs.
type job struct {
	id    string
	dsn   bool
	rcpts []int // indices into record.Rcpts
	a     Attempt
}

// Run is the scheduler. It scans the due index, commits each attempt
// (state delivering, attempts+1, next attempt time) before handing it to
// the Deliverer, applies the results, and sends DSNs. It returns nil when
// ctx is done, after in-flight attempts have finished or, past
// Options.ShutdownTimeout, have been cancelled.
func (q *Queue) Run(ctx context.Context) error {
	if q.opts.Deliverer == nil {
		return errors.New("queue: Options.Deliverer is required by Run")
	}
	if q.closed.Load() {
		return ErrClosed
	}
	q.mu.Lock()
	if q.running {
		q.mu.Unlock()
		return ErrRunning
	}
	q.running = true
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.running = false
		q.mu.Unlock()
	}()

	attemptCtx, cancelAttempts := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAttempts()
	var wg sync.WaitGroup
	var active atomic.Int64
	freed := make(chan struct{}, 1)
	timer := time.NewTimer(0)
	defer timer.Stop()

	for ctx.Err() == nil {
		wait := q.opts.PollInterval
		free := q.opts.Workers - int(active.Load())
		if free > 0 {
			jobs, picked, next, err := q.pick(free)
			if errors.Is(err, ErrClosed) {
				break
			}
			if err != nil {
				q.log.Error("queue: scheduler pass failed", "err", err)
			}
			for _, j := range jobs {
				active.Add(1)
				wg.Add(1)
				go func(j job) {
					defer wg.Done()
					q.runJob(attemptCtx, j)
					q.doneInflight(j.id)
					active.Add(-1)
					select {
					case freed <- struct{}{}:
					default:
					}
				}(j)
			}
			if picked == free && len(jobs) > 0 {
				continue // the index may hold more due work
			}
			if next > 0 && next < wait {
				wait = next
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
		case <-q.wake:
		case <-freed:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(q.opts.ShutdownTimeout):
		q.log.Warn("queue: shutdown timeout; cancelling in-flight attempts")
		cancelAttempts()
		<-done
	}
	return nil
}

func (q *Queue) isInflight(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.inflight[id] > 0
}

func (q *Queue) doneInflight(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.inflight[id]--; q.inflight[id] <= 0 {
		delete(q.inflight, id)
	}
}

// pick scans the due index for at most limit messages that are due and not
// in flight, commits their attempts in one transaction and returns the
// jobs. picked is how many messages were taken; next is how long until
// the first entry that is not yet due (0 when unknown).
func (q *Queue) pick(limit int) (jobs []job, picked int, next time.Duration, err error) {
	if q.closed.Load() {
		return nil, 0, 0, ErrClosed
	}
	now := q.clock.Now().UTC().Round(0)
	nowN := now.UnixNano()
	var ids []string
	keys := map[string][]byte{}
	err = q.db.View(func(tx *bolt.Tx) error {
		c := due(tx).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) < 8 {
				continue
			}
			t := int64(binary.BigEndian.Uint64(k))
			if t > nowN {
				next = time.Duration(t - nowN)
				break
			}
			id := string(k[8:])
			if q.isInflight(id) {
				continue
			}
			ids = append(ids, id)
			keys[id] = append([]byte(nil), k...)
			if len(ids) >= limit {
				break
			}
		}
		return nil
	})
	if err != nil || len(ids) == 0 {
		return nil, 0, next, err
	}
	err = q.commit(false, func(tx *bolt.Tx, d *delta) error {
		jobs = jobs[:0]
		for _, id := range ids {
			old, err := getRecord(tx, id)
			if err != nil {
				// A vanished or undecodable record must not wedge the
				// scheduler: drop its index entry (an undecodable record
				// stays for an administrator to inspect and delete).
				if !errors.Is(err, ErrNotFound) {
					q.log.Error("queue: unreadable record removed from the schedule", "id", id, "err", err)
				}
				if err := due(tx).Delete(keys[id]); err != nil {
					return err
				}
				continue
			}
			if old.dsnPending() {
				jobs = append(jobs, job{id: id, dsn: true})
				continue
			}
			rec, _ := getRecord(tx, id)
			var order []string
			groups := map[string][]int{}
			for i := range rec.Rcpts {
				r := &rec.Rcpts[i]
				// A "delivering" recipient of a message that is not in
				// flight is left over from an abandoned attempt: due.
				dueNow := (r.State == StateQueued || r.State == StateDeferred || r.State == StateDelivering) &&
					!r.NextAttempt.After(now)
				if !dueNow {
					continue
				}
				dom := domainOf(r.Addr)
				if _, ok := groups[dom]; !ok {
					order = append(order, dom)
				}
				groups[dom] = append(groups[dom], i)
			}
			for _, dom := range order {
				idx := groups[dom]
				var addrs []string
				attempts := 0
				for _, i := range idx {
					r := &rec.Rcpts[i]
					r.State = StateDelivering
					r.Attempts++
					r.LastAttempt = now
					r.NextAttempt = q.nextRetry(now, r.Attempts, q.expiry(rec))
					addrs = append(addrs, r.Addr)
					attempts = max(attempts, r.Attempts)
				}
				j := job{id: id, rcpts: idx}
				j.a = Attempt{
					ID: id, From: rec.From, Rcpts: addrs, Domain: dom,
					RequireTLS: rec.RequireTLS, SMTPUTF8: rec.SMTPUTF8,
					Meta: cloneMeta(rec.Meta), Size: rec.Size,
					ReceivedAt: rec.ReceivedAt, Attempts: attempts,
				}
				jobs = append(jobs, j)
			}
			if err := putRecord(tx, d, old, rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, 0, err
	}
	q.mu.Lock()
	for _, j := range jobs {
		q.inflight[j.id]++
	}
	q.mu.Unlock()
	return jobs, len(ids), next, nil
}

// backoff is the delay before retry number n (n >= 1 attempts made):
// MinRetry doubled n-1 times, capped at MaxRetry, minus up to 20% jitter
// so that messages that failed together do not retry together. The result
// is in (0.8*base, base].
func (q *Queue) backoff(n int) time.Duration {
	base := q.opts.MinRetry
	for i := 1; i < n && base < q.opts.MaxRetry; i++ {
		base *= 2
	}
	if base > q.opts.MaxRetry {
		base = q.opts.MaxRetry
	}
	return base - rand.N(base/5+1)
}

func (q *Queue) nextRetry(now time.Time, attempts int, expiry time.Time) time.Time {
	t := now.Add(q.backoff(attempts))
	if t.After(expiry) && now.Before(expiry) {
		t = expiry // the last try happens at the end of the lifetime
	}
	return t
}

func (q *Queue) runJob(ctx context.Context, j job) {
	if j.dsn {
		q.sendDSNs(j.id)
		return
	}
	if err := q.verifySpool(j.id, j.a.Size); err != nil {
		reason := "local error: queued body failed integrity check; held, not delivered"
		if errors.Is(err, os.ErrNotExist) {
			reason = "local error: queued body missing (spool body missing); held"
		}
		q.holdUnreadable(j, err, reason)
		return
	}
	j.a.Open = func() (io.ReadCloser, error) { return q.openSpool(j.id) }
	results, reason := q.callDeliverer(ctx, j.a)
	if q.applyResults(j, results, reason) {
		q.sendDSNs(j.id)
	}
}

// callDeliverer runs one attempt with a deadline, survives a panic, and
// abandons a deliverer that ignores its context.
func (q *Queue) callDeliverer(ctx context.Context, a Attempt) ([]Result, string) {
	actx, cancel := context.WithTimeout(ctx, q.opts.AttemptTimeout)
	defer cancel()
	type outcome struct {
		res    []Result
		reason string
	}
	ch := make(chan outcome, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				// The panic value is not logged: it could quote content.
				q.log.Error("queue: deliverer panicked", "id", a.ID, "type", fmt.Sprintf("%T", r))
				ch <- outcome{reason: "local error: delivery attempt failed (internal error)"}
			}
		}()
		ch <- outcome{res: q.opts.Deliverer.Deliver(actx, a)}
	}()
	select {
	case o := <-ch:
		return o.res, o.reason
	case <-actx.Done():
	}
	grace := time.NewTimer(time.Second)
	defer grace.Stop()
	select {
	case o := <-ch:
		return o.res, o.reason
	case <-grace.C:
		q.log.Error("queue: deliverer ignored its deadline; attempt abandoned", "id", a.ID)
		return nil, "local error: delivery attempt timed out"
	}
}

// applyResults records the outcome of an attempt. It reports whether a DSN
// is now pending for the message.
func (q *Queue) applyResults(j job, results []Result, reason string) (pending bool) {
	byRcpt := make(map[string]Result, len(results))
	for _, r := range results {
		k := strings.ToLower(r.Rcpt)
		if _, dup := byRcpt[k]; !dup {
			byRcpt[k] = r
		}
	}
	if reason == "" {
		reason = "local error: no result from deliverer"
	}
	now := q.clock.Now().UTC().Round(0)
	err := q.commit(false, func(tx *bolt.Tx, d *delta) error {
		pending = false
		old, err := getRecord(tx, j.id)
		if errors.Is(err, ErrNotFound) {
			return nil // deleted while in flight
		}
		if err != nil {
			return err
		}
		rec, _ := getRecord(tx, j.id)
		expiry := q.expiry(rec)
		for _, i := range j.rcpts {
			if i >= len(rec.Rcpts) {
				continue
			}
			r := &rec.Rcpts[i]
			if r.State != StateDelivering && r.State != StateHeld {
				continue // changed by an admin while in flight
			}
			res, ok := byRcpt[strings.ToLower(r.Addr)]
			if !ok {
				res = Result{Status: StatusTempFail, Text: reason}
			}
			r.Code, r.Enhanced, r.Text, r.MX = res.Code, res.Enhanced, oneLine(res.Text), res.MX
			switch res.Status {
			case StatusDelivered:
				r.State = StateDelivered
				d.delivered++
			case StatusPermFail:
				r.State = StateBounced
				r.DSNPending = rec.From != ""
				d.bounced++
			case StatusHeld:
				r.State = StateHeld
			default:
				if r.State == StateHeld {
					break // held while in flight: stays held
				}
				if !now.Before(expiry) {
					r.State = StateBounced
					r.Text = "delivery time expired; last error: " + r.Text
					r.Enhanced = "5.4.7" // RFC 3463: delivery time expired
					r.DSNPending = rec.From != ""
					d.bounced++
					break
				}
				r.State = StateDeferred
				r.NextAttempt = q.nextRetry(now, r.Attempts, expiry)
				d.deferred++
				if q.opts.DelayWarning > 0 && rec.From != "" && rec.DelayDSN == dsnNone &&
					now.Sub(rec.QueuedAt) >= q.opts.DelayWarning {
					rec.DelayDSN = dsnPending
				}
			}
		}
		if rec.finished() {
			d.removeBodies = append(d.removeBodies, rec.ID)
			return deleteRecord(tx, d, old)
		}
		pending = rec.dsnPending()
		return putRecord(tx, d, old, rec)
	})
	if err != nil {
		// The attempt stays "delivering" in the db; it is retried when the
		// message is next picked (or at the next Open).
		q.log.Error("queue: recording attempt results failed", "id", j.id, "err", err)
		return false
	}
	return pending
}

// holdUnreadable holds the recipients of an attempt whose body failed
// authentication: a corrupted body is never delivered, and is kept for an
// administrator to inspect or delete.
func (q *Queue) holdUnreadable(j job, cause error, reason string) {
	q.log.Error("queue: spool body unreadable; recipients held", "id", j.id, "err", cause)
	err := q.commit(false, func(tx *bolt.Tx, d *delta) error {
		old, err := getRecord(tx, j.id)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		rec, _ := getRecord(tx, j.id)
		for _, i := range j.rcpts {
			if i < len(rec.Rcpts) && rec.Rcpts[i].State == StateDelivering {
				r := &rec.Rcpts[i]
				r.State = StateHeld
				r.Code, r.Enhanced = 0, ""
				r.Text = reason
			}
		}
		return putRecord(tx, d, old, rec)
	})
	if err != nil {
		q.log.Error("queue: holding unreadable message failed", "id", j.id, "err", err)
	}
}

// oneLine flattens a reply text for storage and DSNs: no CR/LF, no
// control characters, bounded length.
func oneLine(s string) string {
	const maxLen = 512
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			r = ' '
		}
		b.WriteRune(r)
		if b.Len() >= maxLen {
			break
		}
	}
	return strings.TrimSpace(b.String())
}

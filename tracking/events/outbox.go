package events

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sealgate/sealgate/tracking"
)

// ErrNoSubscribers is returned by a time-range Replay when the store was
// opened without subscribers, so it cannot tell who wants which events.
var ErrNoSubscribers = errors.New("events: no webhook subscribers configured")

func (s *Store) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Store) addPending(n int) {
	s.mu.Lock()
	s.pending += n
	s.m.pending.Set(float64(s.pending))
	s.mu.Unlock()
}

// backoff is the wait after the given number of failed attempts.
func (s *Store) backoff(attempts int) time.Duration {
	d := s.opts.RetryBase
	for i := 1; i < attempts && d < s.opts.RetryCap; i++ {
		d *= 2
	}
	return min(d, s.opts.RetryCap)
}

func (s *Store) dispatchLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for {
		n, err := s.dispatchOnce(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("webhook dispatch failed", "err", err)
		}
		if n == DefaultBatchSize && err == nil {
			continue // more may be due right now
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

type attempt struct {
	key []byte
	d   delivery
	err error
}

// dispatchOnce posts up to DefaultBatchSize due deliveries, Concurrency at a
// time, then records the outcomes in one transaction. It returns how many
// deliveries it attempted.
func (s *Store) dispatchOnce(ctx context.Context) (int, error) {
	now := s.clock.Now()
	var due []*attempt
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bPending).Cursor()
		for k, v := c.First(); k != nil && len(due) < DefaultBatchSize; k, v = c.Next() {
			if binary.BigEndian.Uint64(k[:8]) > tsOf(now) {
				break
			}
			a := &attempt{key: append([]byte(nil), k...)}
			if err := json.Unmarshal(v, &a.d); err != nil {
				return fmt.Errorf("corrupt outbox record %x: %w", k, err)
			}
			due = append(due, a)
		}
		return nil
	})
	if err != nil || len(due) == 0 {
		return 0, err
	}
	sem := make(chan struct{}, s.opts.Concurrency)
	var wg sync.WaitGroup
	for _, a := range due {
		sub := s.subs[a.d.Subscriber]
		if sub == nil {
			a.err = errUnknownSubscriber
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			a.err = s.send(ctx, sub, &a.d)
		})
	}
	wg.Wait()
	// Outcomes are recorded even when shutting down, so that a delivery
	// that succeeded is not sent again; attempts cut short by the shutdown
	// stay pending as they were (settle skips errShutdown).
	return len(due), s.settle(due)
}

var (
	errUnknownSubscriber = errors.New("subscriber not configured")
	errShutdown          = errors.New("shutting down")
)

// settle writes the outcome of each attempt.
func (s *Store) settle(done []*attempt) error {
	now := s.clock.Now().UTC()
	var ok, retry, dead int
	err := s.db.Update(func(tx *bolt.Tx) error {
		ok, retry, dead = 0, 0, 0
		pending, deadB := tx.Bucket(bPending), tx.Bucket(bDead)
		for _, a := range done {
			if errors.Is(a.err, errShutdown) {
				continue
			}
			if err := pending.Delete(a.key); err != nil {
				return err
			}
			d := a.d
			if a.err == nil {
				ok++
				continue
			}
			d.Attempts++
			d.LastError = a.err.Error()
			if d.Attempts >= s.opts.MaxAttempts || errors.Is(a.err, errUnknownSubscriber) {
				d.DeadAt = now
				v, err := json.Marshal(&d)
				if err != nil {
					return err
				}
				if err := deadB.Put(u64(d.ID), v); err != nil {
					return err
				}
				dead++
				continue
			}
			d.NextTry = now.Add(s.backoff(d.Attempts))
			v, err := json.Marshal(&d)
			if err != nil {
				return err
			}
			if err := pending.Put(pendingKey(d.NextTry, d.ID), v); err != nil {
				return err
			}
			retry++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("events: settle deliveries: %w", err)
	}
	s.m.deliveries.WithLabelValues(resultOK).Add(float64(ok))
	s.m.deliveries.WithLabelValues(resultRetry).Add(float64(retry))
	s.m.deliveries.WithLabelValues(resultDead).Add(float64(dead))
	s.addPending(-(ok + dead))
	for _, a := range done {
		if a.err != nil && !errors.Is(a.err, errShutdown) {
			s.log.Warn("webhook delivery failed", "subscriber", a.d.Subscriber,
				"delivery", a.d.ID, "attempt", a.d.Attempts+1, "err", a.err)
		}
	}
	return nil
}

// send POSTs one delivery. Errors are categories ("timeout", "status 500"),
// never receiver-supplied text.
func (s *Store) send(parent context.Context, sub *Subscriber, d *delivery) error {
	if parent.Err() != nil {
		return errShutdown
	}
	ctx, cancel := context.WithTimeout(parent, s.opts.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.URL, bytes.NewReader(d.Body))
	if err != nil {
		return errors.New("bad request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sealgate-webhooks/1")
	req.Header.Set(HeaderEventID, d.EventID)
	req.Header.Set(HeaderAttempt, strconv.Itoa(d.Attempts+1))
	req.Header.Set(HeaderSignature, Sign([]byte(sub.Secret), s.clock.Now(), d.Body))
	resp, err := s.client.Do(req)
	if err != nil {
		if parent.Err() != nil {
			return errShutdown
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return errors.New("timeout")
		}
		return errors.New("transport error")
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// ReplayFilter selects what Replay puts back in the outbox.
type ReplayFilter struct {
	// Dead moves dead letters back to pending. Without it, every stored
	// event in [Since, Until) is enqueued again for each subscriber that
	// wants it (same Sealgate-Event-Id), and dead letters it supersedes
	// are dropped.
	Dead bool
	// Since and Until bound the event time; zero is unbounded.
	Since, Until time.Time
	// Subscriber restricts the replay to one subscriber name.
	Subscriber string
}

func (f *ReplayFilter) match(sub string, t time.Time) bool {
	if f.Subscriber != "" && sub != f.Subscriber {
		return false
	}
	if !f.Since.IsZero() && t.Before(f.Since) {
		return false
	}
	return f.Until.IsZero() || t.Before(f.Until)
}

// Replay puts deliveries back in the outbox, due now, and returns how many.
func (s *Store) Replay(ctx context.Context, f ReplayFilter) (int, error) {
	if f.Subscriber != "" && !validName(f.Subscriber) {
		return 0, fmt.Errorf("events: bad subscriber name %q", f.Subscriber)
	}
	if f.Dead {
		n, err := s.replayDead(f, nil)
		if n > 0 {
			s.addPending(n)
			s.poke()
		}
		return n, err
	}
	subs := s.subList
	if f.Subscriber != "" {
		subs = nil
		if sub := s.subs[f.Subscriber]; sub != nil {
			subs = []*Subscriber{sub}
		}
	}
	if len(subs) == 0 {
		return 0, ErrNoSubscribers
	}
	total := 0
	from := u64(tsOf(f.Since))
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var added int
		var last []byte
		err := s.db.Update(func(tx *bolt.Tx) error {
			added, last = 0, nil
			now := s.clock.Now().UTC()
			c := tx.Bucket(bEvents).Cursor()
			seen := 0
			for k, v := c.Seek(from); k != nil && seen < pruneChunk; k, v = c.Next() {
				if !f.Until.IsZero() && binary.BigEndian.Uint64(k[:8]) >= tsOf(f.Until) {
					break
				}
				seen++
				last = append([]byte(nil), k...)
				var e tracking.Event
				if err := json.Unmarshal(v, &e); err != nil {
					return fmt.Errorf("corrupt event %x: %w", k, err)
				}
				for _, sub := range subs {
					if sub.wants(&e) {
						if err := enqueue(tx, &e, last, sub.Name, now); err != nil {
							return err
						}
						added++
					}
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("events: replay: %w", err)
		}
		total += added
		if added > 0 {
			s.addPending(added)
			s.poke()
		}
		if last == nil {
			break
		}
		from = append(last, 0) // the next key after last
	}
	// The events were enqueued afresh, so the matching dead letters are
	// superseded. Dropping them only now means a crash in between leaves a
	// duplicate, never a loss.
	_, err := s.replayDead(f, subs)
	return total, err
}

// replayDead handles the dead letters matching f. With f.Dead they move
// back to pending; otherwise (after a time-range replay) those of the
// subscribers in only are deleted, since their events were enqueued afresh.
func (s *Store) replayDead(f ReplayFilter, only []*Subscriber) (int, error) {
	moved := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		moved = 0
		now := s.clock.Now().UTC()
		deadB, pending := tx.Bucket(bDead), tx.Bucket(bPending)
		type item struct {
			k []byte
			d delivery
		}
		var items []item
		err := deadB.ForEach(func(k, v []byte) error {
			var d delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("corrupt dead letter %x: %w", k, err)
			}
			if f.match(d.Subscriber, d.EventTime) && (f.Dead || slices.ContainsFunc(only, func(s *Subscriber) bool { return s.Name == d.Subscriber })) {
				items = append(items, item{append([]byte(nil), k...), d})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := deadB.Delete(it.k); err != nil {
				return err
			}
			if !f.Dead {
				continue
			}
			d := it.d
			d.Attempts, d.LastError, d.DeadAt, d.NextTry = 0, "", time.Time{}, now
			v, err := json.Marshal(&d)
			if err != nil {
				return err
			}
			if err := pending.Put(pendingKey(now, d.ID), v); err != nil {
				return err
			}
			moved++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("events: replay dead letters: %w", err)
	}
	return moved, nil
}

// OutboxStat counts one subscriber's outbox.
type OutboxStat struct {
	Subscriber    string    `json:"subscriber"`
	Configured    bool      `json:"configured"`
	Pending       int       `json:"pending"`
	Dead          int       `json:"dead"`
	OldestPending time.Time `json:"oldest_pending,omitzero"` // creation time of the oldest pending delivery
	LastError     string    `json:"last_error,omitempty"`    // of the most recent dead letter
}

// OutboxStats returns per-subscriber counts, sorted by name. Configured
// subscribers appear even when their outbox is empty.
func (s *Store) OutboxStats() ([]OutboxStat, error) {
	by := map[string]*OutboxStat{}
	get := func(name string) *OutboxStat {
		st := by[name]
		if st == nil {
			st = &OutboxStat{Subscriber: name, Configured: s.subs[name] != nil}
			by[name] = st
		}
		return st
	}
	for _, sub := range s.subList {
		get(sub.Name)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bPending).ForEach(func(k, v []byte) error {
			var d delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			st := get(d.Subscriber)
			st.Pending++
			if st.OldestPending.IsZero() || d.Created.Before(st.OldestPending) {
				st.OldestPending = d.Created
			}
			return nil
		})
		if err != nil {
			return err
		}
		var lastDead = map[string]time.Time{}
		return tx.Bucket(bDead).ForEach(func(k, v []byte) error {
			var d delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			st := get(d.Subscriber)
			st.Dead++
			if !d.DeadAt.Before(lastDead[d.Subscriber]) {
				lastDead[d.Subscriber] = d.DeadAt
				st.LastError = d.LastError
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("events: outbox stats: %w", err)
	}
	out := make([]OutboxStat, 0, len(by))
	for _, st := range by {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Subscriber < out[j].Subscriber })
	return out, nil
}

package queue

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

// RcptInfo is the state of one recipient, as shown to administrators.
type RcptInfo struct {
	Addr        string
	State       State
	Attempts    int
	NextAttempt time.Time // meaningful for queued/deferred
	LastAttempt time.Time
	Code        int
	Enhanced    string
	Text        string
	MX          string
}

// MessageInfo describes one queued message. It never includes the body.
type MessageInfo struct {
	ID         string
	From       string
	Rcpts      []RcptInfo
	Size       int64
	ReceivedAt time.Time
	QueuedAt   time.Time
	RequireTLS bool
	SMTPUTF8   bool
	ClientAddr string
	Helo       string
	AuthUser   string
	Meta       map[string]string
	DSN        string // "", "delay" or "failure": this message is a DSN of that kind
}

// ListOptions page through the queue in queue-ID order.
type ListOptions struct {
	After string // return messages with an ID greater than this (the last ID of the previous page)
	Limit int    // default 100, at most 1000
	State State  // when set, only messages with at least one recipient in this state
}

func (rec *record) info() MessageInfo {
	mi := MessageInfo{
		ID: rec.ID, From: rec.From, Size: rec.Size,
		ReceivedAt: rec.ReceivedAt, QueuedAt: rec.QueuedAt,
		RequireTLS: rec.RequireTLS, SMTPUTF8: rec.SMTPUTF8,
		ClientAddr: rec.ClientAddr, Helo: rec.Helo, AuthUser: rec.AuthUser,
		Meta: cloneMeta(rec.Meta), DSN: rec.DSNType,
	}
	for _, r := range rec.Rcpts {
		mi.Rcpts = append(mi.Rcpts, RcptInfo{
			Addr: r.Addr, State: r.State, Attempts: r.Attempts,
			NextAttempt: r.NextAttempt, LastAttempt: r.LastAttempt,
			Code: r.Code, Enhanced: r.Enhanced, Text: r.Text, MX: r.MX,
		})
	}
	return mi
}

// List returns one page of messages. Memory is bounded by Limit.
func (q *Queue) List(ctx context.Context, opts ListOptions) ([]MessageInfo, error) {
	if q.closed.Load() {
		return nil, ErrClosed
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var out []MessageInfo
	q.visible.RLock()
	defer q.visible.RUnlock()
	err := q.db.View(func(tx *bolt.Tx) error {
		c := msgs(tx).Cursor()
		var k, v []byte
		if opts.After == "" {
			k, v = c.First()
		} else {
			k, v = c.Seek([]byte(opts.After))
			if k != nil && string(k) == opts.After {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var rec record
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			if opts.State != "" && !rec.hasState(opts.State) {
				continue
			}
			out = append(out, rec.info())
		}
		return nil
	})
	return out, err
}

func (rec *record) hasState(s State) bool {
	for i := range rec.Rcpts {
		if rec.Rcpts[i].State == s {
			return true
		}
	}
	return false
}

// Get returns one message, or ErrNotFound.
func (q *Queue) Get(id string) (MessageInfo, error) {
	if q.closed.Load() {
		return MessageInfo{}, ErrClosed
	}
	var rec *record
	q.visible.RLock()
	err := q.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = getRecord(tx, id)
		return err
	})
	q.visible.RUnlock()
	if err != nil {
		return MessageInfo{}, err
	}
	return rec.info(), nil
}

// update applies change to message id in one committed transaction.
func (q *Queue) update(id string, change func(rec *record, now time.Time)) error {
	if q.closed.Load() {
		return ErrClosed
	}
	now := q.clock.Now().UTC().Round(0)
	err := q.commit(false, func(tx *bolt.Tx, d *delta) error {
		old, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		rec, _ := getRecord(tx, id)
		change(rec, now)
		return putRecord(tx, d, old, rec)
	})
	if err == nil {
		q.kick()
	}
	return err
}

// Hold stops delivery of every recipient that is not final. A recipient in
// flight is recorded as delivered or bounced if the attempt says so, and
// otherwise stays held. Held recipients do not expire.
func (q *Queue) Hold(id string) error {
	return q.update(id, func(rec *record, now time.Time) {
		for i := range rec.Rcpts {
			switch rec.Rcpts[i].State {
			case StateQueued, StateDeferred, StateDelivering:
				rec.Rcpts[i].State = StateHeld
			}
		}
	})
}

// Release makes held recipients due now.
func (q *Queue) Release(id string) error {
	return q.update(id, func(rec *record, now time.Time) {
		for i := range rec.Rcpts {
			if rec.Rcpts[i].State == StateHeld {
				rec.Rcpts[i].State = StateQueued
				rec.Rcpts[i].NextAttempt = now
			}
		}
	})
}

// RetryNow makes queued and deferred recipients due now (held ones stay
// held: use Release).
func (q *Queue) RetryNow(id string) error {
	return q.update(id, func(rec *record, now time.Time) {
		for i := range rec.Rcpts {
			switch rec.Rcpts[i].State {
			case StateQueued, StateDeferred:
				rec.Rcpts[i].NextAttempt = now
			}
		}
	})
}

// Delete removes a message and its body without any DSN. An attempt in
// flight finishes, but its results are discarded.
func (q *Queue) Delete(id string) error {
	if q.closed.Load() {
		return ErrClosed
	}
	err := q.commit(false, func(tx *bolt.Tx, d *delta) error {
		rec, err := getRecord(tx, id)
		if errors.Is(err, ErrNotFound) {
			return err
		}
		d.removeBodies = append(d.removeBodies, id)
		if err != nil {
			return purgeUndecodable(tx, id)
		}
		return deleteRecord(tx, d, rec)
	})
	if err == nil {
		q.log.Info("queue: message deleted by administrator", "id", id)
	}
	return err
}

// Stats is a cheap summary of the queue.
type Stats struct {
	Recipients     map[State]int64 // recipients per state (every state present)
	Messages       int64           // messages in the queue
	OldestQueuedAt time.Time       // zero when empty
	OldestAge      time.Duration   // age of the oldest message in the queue; 0 when empty
}

// Stats returns recipient counts kept in memory (initialised at Open) and
// the oldest message from the first key of the received-time index: no
// scan, whatever the queue size.
func (q *Queue) Stats() Stats {
	st := Stats{Recipients: make(map[State]int64, 6)}
	q.mu.Lock()
	for _, s := range States() {
		st.Recipients[s] = q.counts[s]
	}
	st.Messages = q.messages
	q.mu.Unlock()
	if q.closed.Load() {
		return st
	}
	oldest, err := q.oldest()
	if err == nil && !oldest.IsZero() {
		st.OldestQueuedAt = oldest
		st.OldestAge = max(q.clock.Now().Sub(oldest), 0)
	}
	return st
}

// oldest returns the queued-at time of the oldest message (zero when the
// queue is empty): the first key of the recv index, O(log n).
func (q *Queue) oldest() (time.Time, error) {
	var t time.Time
	err := q.db.View(func(tx *bolt.Tx) error {
		k, _ := recv(tx).Cursor().First()
		if k == nil {
			return nil
		}
		if len(k) < 8 {
			return errors.New("queue: bad recv key")
		}
		t = time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC()
		return nil
	})
	return t, err
}

// purgeUndecodable removes a record that cannot be decoded, and its index
// entries, found by scanning the index keys (a rare repair path).
func purgeUndecodable(tx *bolt.Tx, id string) error {
	for _, b := range []*bolt.Bucket{due(tx), recv(tx)} {
		var stale [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) > 8 && string(k[8:]) == id {
				stale = append(stale, append([]byte(nil), k...))
			}
		}
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	return msgs(tx).Delete([]byte(id))
}

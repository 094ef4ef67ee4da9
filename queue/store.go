package queue

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bbolt layout (schema version 1):
//
//	meta  "version" -> "1"
//	msgs  <id>                                   -> JSON record (envelope + recipients)
//	due   <unix nanos uint64 BE><id>             -> "" (one entry per message with work to do)
//	recv  <received-at unix nanos uint64 BE><id> -> "" (one entry per message; first key = oldest)
//
// A message's due key is the earliest next-attempt time of its schedulable
// recipients (queued, deferred, delivering), or 0 when a DSN about it is
// pending. Messages with only held recipients have no due key. The key a
// record is indexed under is kept in the record (Due) so that an update can
// delete the old key without a scan.
const (
	bucketMeta    = "meta"
	bucketMsgs    = "msgs"
	bucketDue     = "due"
	bucketRecv    = "recv"
	schemaVersion = "1"
)

func msgs(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket([]byte(bucketMsgs)) }
func due(tx *bolt.Tx) *bolt.Bucket  { return tx.Bucket([]byte(bucketDue)) }
func recv(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket([]byte(bucketRecv)) }

// dsnMark records the delay DSN of a message.
type dsnMark int

const (
	dsnNone    dsnMark = iota
	dsnPending         // decided in a result commit, not yet enqueued
	dsnSent            // enqueued (or no longer needed): never again
)

type record struct {
	ID         string            `json:"id"`
	From       string            `json:"from"`
	RequireTLS bool              `json:"require_tls,omitempty"`
	SMTPUTF8   bool              `json:"smtputf8,omitempty"`
	ClientAddr string            `json:"client_addr,omitempty"`
	Helo       string            `json:"helo,omitempty"`
	AuthUser   string            `json:"auth_user,omitempty"`
	ReceivedAt time.Time         `json:"received_at"`
	QueuedAt   time.Time         `json:"queued_at"`
	Meta       map[string]string `json:"meta,omitempty"`
	Size       int64             `json:"size"`
	DSNType    string            `json:"dsn_type,omitempty"` // this message is a DSN: "delay" or "failure"
	DelayDSN   dsnMark           `json:"delay_dsn,omitempty"`
	Due        int64             `json:"due"` // unix nanos of the due key; -1 = not indexed
	Rcpts      []rcptRecord      `json:"rcpts"`
}

type rcptRecord struct {
	Addr        string    `json:"addr"`
	State       State     `json:"state"`
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next"`
	LastAttempt time.Time `json:"last"`
	Code        int       `json:"code,omitempty"`
	Enhanced    string    `json:"enhanced,omitempty"`
	Text        string    `json:"text,omitempty"`
	MX          string    `json:"mx,omitempty"`
	DSNPending  bool      `json:"dsn_pending,omitempty"` // bounced, failure DSN not yet enqueued
}

func newRecord(id string, env Envelope, rcpts []string, size int64, now time.Time) *record {
	rec := &record{
		ID:         id,
		From:       env.From,
		RequireTLS: env.RequireTLS,
		SMTPUTF8:   env.SMTPUTF8,
		ClientAddr: env.ClientAddr,
		Helo:       env.Helo,
		AuthUser:   env.AuthUser,
		ReceivedAt: env.ReceivedAt.UTC().Round(0),
		QueuedAt:   now.UTC().Round(0),
		Meta:       cloneMeta(env.Meta),
		Size:       size,
		Due:        -1,
	}
	if rec.ReceivedAt.IsZero() {
		rec.ReceivedAt = rec.QueuedAt
	}
	for _, r := range rcpts {
		rec.Rcpts = append(rec.Rcpts, rcptRecord{Addr: r, State: StateQueued, NextAttempt: rec.QueuedAt})
	}
	return rec
}

func cloneMeta(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// expiry is when deferred recipients stop being retried and bounce.
func (q *Queue) expiry(rec *record) time.Time { return rec.QueuedAt.Add(q.opts.MaxLifetime) }

func (rec *record) dsnPending() bool {
	if rec.DelayDSN == dsnPending {
		return true
	}
	for i := range rec.Rcpts {
		if rec.Rcpts[i].DSNPending {
			return true
		}
	}
	return false
}

// finished reports whether nothing is left to do: every recipient is final
// and no DSN is pending.
func (rec *record) finished() bool {
	for i := range rec.Rcpts {
		if !rec.Rcpts[i].State.final() || rec.Rcpts[i].DSNPending {
			return false
		}
	}
	return rec.DelayDSN != dsnPending
}

// dueAt computes the due-index time of a record (-1: no index entry).
func (rec *record) dueAt() int64 {
	if rec.dsnPending() {
		return 0
	}
	best := int64(-1)
	for i := range rec.Rcpts {
		r := &rec.Rcpts[i]
		switch r.State {
		case StateQueued, StateDeferred, StateDelivering:
			t := r.NextAttempt.UnixNano()
			if t < 0 {
				t = 0
			}
			if best < 0 || t < best {
				best = t
			}
		}
	}
	return best
}

func timeKey(nanos int64, id string) []byte {
	k := make([]byte, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(nanos))
	copy(k[8:], id)
	return k
}

func getRecord(tx *bolt.Tx, id string) (*record, error) {
	v := msgs(tx).Get([]byte(id))
	if v == nil {
		return nil, ErrNotFound
	}
	rec := new(record)
	if err := json.Unmarshal(v, rec); err != nil {
		return nil, fmt.Errorf("queue: decode %s: %w", id, err)
	}
	return rec, nil
}

// putRecord writes rec, moves its due-index entry and accounts the
// recipient state changes from old (nil for a new record) in d.
func putRecord(tx *bolt.Tx, d *delta, old, rec *record) error {
	if old != nil {
		d.sub(old)
		if old.Due >= 0 {
			if err := due(tx).Delete(timeKey(old.Due, old.ID)); err != nil {
				return err
			}
		}
	} else {
		d.msgs++
		if err := recv(tx).Put(timeKey(rec.QueuedAt.UnixNano(), rec.ID), nil); err != nil {
			return err
		}
	}
	d.add(rec)
	rec.Due = rec.dueAt()
	if rec.Due >= 0 {
		if err := due(tx).Put(timeKey(rec.Due, rec.ID), nil); err != nil {
			return err
		}
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return msgs(tx).Put([]byte(rec.ID), v)
}

// deleteRecord removes rec and its index entries. The caller removes the
// spool file after the commit (an orphan left by a crash is removed at Open).
func deleteRecord(tx *bolt.Tx, d *delta, rec *record) error {
	d.sub(rec)
	d.msgs--
	if rec.Due >= 0 {
		if err := due(tx).Delete(timeKey(rec.Due, rec.ID)); err != nil {
			return err
		}
	}
	if err := recv(tx).Delete(timeKey(rec.QueuedAt.UnixNano(), rec.ID)); err != nil {
		return err
	}
	return msgs(tx).Delete([]byte(rec.ID))
}

// delta is what one operation changed, applied to the in-memory counters
// and metrics only after its transaction committed.
type delta struct {
	rcpts                         map[State]int64
	received, delivered, deferred int64
	bounced, dsnDelay, dsnFailure int64
	msgs                          int64
	removeBodies                  []string // spool files to delete once committed
}

func (d *delta) reset() { *d = delta{} }

func (d *delta) add(rec *record) {
	if d.rcpts == nil {
		d.rcpts = map[State]int64{}
	}
	for i := range rec.Rcpts {
		d.rcpts[rec.Rcpts[i].State]++
	}
}

func (d *delta) sub(rec *record) {
	if d.rcpts == nil {
		d.rcpts = map[State]int64{}
	}
	for i := range rec.Rcpts {
		d.rcpts[rec.Rcpts[i].State]--
	}
}

// op is one unit of work for the group committer.
type op struct {
	fn   func(tx *bolt.Tx, d *delta) error
	sync bool // fsync the spool directory before the commit
	d    delta
	done chan error
}

// commit runs fn in a write transaction shared with other concurrent
// callers and waits until it is durable. With sync set, the spool directory
// is fsynced first, so a body renamed before the call is on disk before
// the envelope that names it. fn may run more than once (when another fn in
// its group fails) and must only touch the transaction and d.
func (q *Queue) commit(sync bool, fn func(tx *bolt.Tx, d *delta) error) error {
	o := &op{fn: fn, sync: sync, done: make(chan error, 1)}
	select {
	case q.ops <- o:
	case <-q.stopCommitter:
		return ErrClosed
	}
	select {
	case err := <-o.done:
		return err
	case <-q.committerDone:
		// The committer answers everything it took before it exits; an op
		// that slipped into the channel after its last drain was never run.
		select {
		case err := <-o.done:
			return err
		default:
			return ErrClosed
		}
	}
}

const maxGroup = 512

// committer is the single writer. It takes whatever operations are waiting
// (up to maxGroup), fsyncs the spool directory once if any of them needs
// it, and commits them in one bbolt transaction (one fsync of the db). A
// lone operation is committed at once: no timer, so serial latency is one
// commit while parallel load shares commits.
func (q *Queue) committer() {
	defer close(q.committerDone)
	batch := make([]*op, 0, maxGroup)
	for {
		select {
		case o := <-q.ops:
			batch = append(batch[:0], o)
		drain:
			for len(batch) < maxGroup {
				select {
				case o := <-q.ops:
					batch = append(batch, o)
				default:
					break drain
				}
			}
			q.runGroup(batch)
		case <-q.stopCommitter:
			for {
				select {
				case o := <-q.ops:
					o.done <- ErrClosed
				default:
					return
				}
			}
		}
	}
}

type groupError struct {
	index int
	err   error
}

func (g *groupError) Error() string { return g.err.Error() }

func (q *Queue) runGroup(batch []*op) {
	for _, o := range batch {
		if o.sync {
			if err := q.syncSpoolDir(); err != nil {
				for _, o := range batch {
					o.done <- fmt.Errorf("queue: fsync spool dir: %w", err)
				}
				return
			}
			break
		}
	}
	for len(batch) > 0 {
		q.visible.Lock()
		err := q.db.Update(func(tx *bolt.Tx) error {
			for i, o := range batch {
				o.d.reset()
				if err := o.fn(tx, &o.d); err != nil {
					return &groupError{index: i, err: err}
				}
			}
			return nil
		})
		if err == nil {
			q.commits.Add(1)
			for _, o := range batch {
				q.apply(&o.d)
			}
			q.visible.Unlock()
			for _, o := range batch {
				o.done <- nil
			}
			return
		}
		q.visible.Unlock()
		var ge *groupError
		if errors.As(err, &ge) {
			batch[ge.index].done <- ge.err
			batch = append(batch[:ge.index], batch[ge.index+1:]...)
			continue
		}
		for _, o := range batch {
			o.done <- err
		}
		return
	}
}

// apply adds a committed delta to the in-memory counts and metrics.
func (q *Queue) apply(d *delta) {
	q.mu.Lock()
	for s, n := range d.rcpts {
		q.counts[s] += n
	}
	q.messages += d.msgs
	q.mu.Unlock()
	for _, id := range d.removeBodies {
		if err := os.Remove(q.spoolPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			q.log.Warn("queue: removing spool file failed", "id", id, "err", err)
		}
	}
	if q.m != nil {
		q.m.add(d)
	}
}

// recover runs at Open: it creates the buckets, counts recipients by state,
// makes recipients left "delivering" by a crash due now, and removes spool
// files no record names. (A record whose body is missing is found when it
// is next attempted, and held.)
func (q *Queue) recover() error {
	err := q.db.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{bucketMeta, bucketMsgs, bucketDue, bucketRecv} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		meta := tx.Bucket([]byte(bucketMeta))
		if v := meta.Get([]byte("version")); v == nil {
			return meta.Put([]byte("version"), []byte(schemaVersion))
		} else if string(v) != schemaVersion {
			return fmt.Errorf("queue: unsupported schema version %q", v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Pass 1 (read-only, one record in memory at a time, decoding only the
	// recipient states): counts, plus the ids left "delivering".
	var fix []string
	err = q.db.View(func(tx *bolt.Tx) error {
		return msgs(tx).ForEach(func(k, v []byte) error {
			var rec struct {
				Rcpts []struct {
					State State `json:"state"`
				} `json:"rcpts"`
			}
			if err := json.Unmarshal(v, &rec); err != nil {
				// Do not refuse to start over one bad record: it is not
				// counted or scheduled, and Delete can remove it.
				q.log.Error("queue: undecodable record skipped", "id", string(k), "err", err)
				return nil
			}
			q.messages++
			needs := false
			for _, r := range rec.Rcpts {
				q.counts[r.State]++
				needs = needs || r.State == StateDelivering
			}
			if needs {
				fix = append(fix, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	// Pass 2: what was being delivered when the process stopped is due now
	// (its attempt was counted when it was committed).
	now := q.clock.Now().UTC().Round(0)
	for start := 0; start < len(fix); start += 1000 {
		end := min(start+1000, len(fix))
		var d delta
		err := q.db.Update(func(tx *bolt.Tx) error {
			d.reset()
			for _, id := range fix[start:end] {
				old, err := getRecord(tx, id)
				if err != nil {
					return err
				}
				rec, _ := getRecord(tx, id)
				for i := range rec.Rcpts {
					if r := &rec.Rcpts[i]; r.State == StateDelivering {
						r.State = StateQueued
						r.NextAttempt = now
					}
				}
				if err := putRecord(tx, &d, old, rec); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		q.apply(&d)
	}
	if len(fix) > 0 {
		q.log.Info("queue: recipients interrupted by a stop are due again", "messages", len(fix))
	}
	return q.removeOrphans()
}

// removeOrphans deletes temporary files and bodies no record names: what a
// crash between the body's rename and the envelope's commit (or between a
// record's deletion and its body's removal) leaves behind.
func (q *Queue) removeOrphans() error {
	dir, err := os.Open(q.spoolDir)
	if err != nil {
		return err
	}
	defer dir.Close()
	removed := 0
	for {
		ents, err := dir.ReadDir(1024)
		var orphans []string
		q.db.View(func(tx *bolt.Tx) error {
			b := msgs(tx)
			for _, e := range ents {
				name := e.Name()
				if isTmpName(name) || (validID(name) && b.Get([]byte(name)) == nil) {
					orphans = append(orphans, name)
				}
			}
			return nil
		})
		for _, name := range orphans {
			if os.Remove(filepath.Join(q.spoolDir, name)) == nil {
				removed++
			}
		}
		if err != nil {
			break
		}
	}
	if removed > 0 {
		q.log.Info("queue: removed orphan spool files", "count", removed)
		return q.syncSpoolDir()
	}
	return nil
}

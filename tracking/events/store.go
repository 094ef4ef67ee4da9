package events

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/sealgate/sealgate/tracking"
)

var (
	bEvents   = []byte("events")
	bCampaign = []byte("idx_campaign")
	bSender   = []byte("idx_sender")
	bMessage  = []byte("idx_message")
	bPending  = []byte("outbox_pending")
	bDead     = []byte("outbox_dead")
)

// Field limits. Identifiers beyond them are refused; free-form client
// details are truncated.
const (
	maxIDLen     = 256
	maxAddrLen   = 320
	maxMethodLen = 32
	maxReasonLen = 64
	maxIPLen     = 64
	maxUALen     = 512
	pruneChunk   = 1000
)

// Store is the tracking.EventSink the HTTP handlers and delivery record to.
var _ tracking.EventSink = (*Store)(nil)

// ErrInvalidEvent wraps every reason Record refuses an event.
var ErrInvalidEvent = errors.New("events: invalid event")

// Store is the bbolt-backed event store, report source and webhook outbox.
// It is safe for concurrent use. Stop Run (cancel its context and wait for
// it to return) before Close.
type Store struct {
	db      *bolt.DB
	opts    Options
	clock   Clock
	log     *slog.Logger
	m       *metrics
	subs    map[string]*Subscriber
	subList []*Subscriber
	client  *http.Client
	wake    chan struct{}

	mu      sync.Mutex // guards pending counter updates vs. gauge
	pending int
}

// Open opens (creating if needed) the bbolt file at opts.Path.
func Open(opts Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(o.Path, 0o600, &bolt.Options{Timeout: o.OpenTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("events: %s is locked by another process (is sealgate serve running?)", o.Path)
		}
		return nil, fmt.Errorf("events: open %s: %w", o.Path, err)
	}
	s := &Store{
		db:    db,
		opts:  o,
		clock: o.Clock,
		log:   o.Logger,
		subs:  map[string]*Subscriber{},
		wake:  make(chan struct{}, 1),
		client: &http.Client{
			// Redirects are failures: a receiver must answer at its URL.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	for i := range o.Subscribers {
		sub := o.Subscribers[i]
		sub.Kinds = append([]tracking.EventKind(nil), sub.Kinds...)
		s.subs[sub.Name] = &sub
		s.subList = append(s.subList, &sub)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bEvents, bCampaign, bSender, bMessage, bPending, bDead} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		s.pending = tx.Bucket(bPending).Stats().KeyN
		return nil
	})
	if err == nil {
		s.m, err = newMetrics(o.Registerer)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("events: init %s: %w", o.Path, err)
	}
	s.m.pending.Set(float64(s.pending))
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Record stores e and enqueues it for every subscriber that wants it, in one
// bbolt transaction (group-committed with other concurrent Records through
// DB.Batch). It implements tracking.EventSink.
func (s *Store) Record(e tracking.Event) error {
	ev, err := s.normalize(e)
	if err != nil {
		return err
	}
	body, err := json.Marshal(&ev)
	if err != nil {
		return err
	}
	var enqueued int
	err = s.db.Batch(func(tx *bolt.Tx) error {
		enqueued = 0 // Batch may run this function more than once.
		seq, err := tx.Bucket(bEvents).NextSequence()
		if err != nil {
			return err
		}
		key := eventKey(ev.Time, seq)
		if err := tx.Bucket(bEvents).Put(key, body); err != nil {
			return err
		}
		if err := putIndexes(tx, &ev, key); err != nil {
			return err
		}
		now := s.clock.Now().UTC()
		for _, sub := range s.subList {
			if !sub.wants(&ev) {
				continue
			}
			if err := enqueue(tx, &ev, key, sub.Name, now); err != nil {
				return err
			}
			enqueued++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("events: record: %w", err)
	}
	s.m.events.WithLabelValues(string(ev.Kind), verdictLabel(ev.Verdict)).Inc()
	if enqueued > 0 {
		s.addPending(enqueued)
		s.poke()
	}
	return nil
}

// normalize validates e and returns the copy that is stored.
func (s *Store) normalize(e tracking.Event) (tracking.Event, error) {
	bad := func(format string, args ...any) (tracking.Event, error) {
		return e, fmt.Errorf("%w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))
	}
	if !knownKind(e.Kind) {
		return bad("unknown kind %q", e.Kind)
	}
	if e.Time.IsZero() {
		e.Time = s.clock.Now()
	}
	e.Time = e.Time.UTC()
	if e.Time.Year() < 1970 || e.Time.Year() > 2200 {
		return bad("time out of range")
	}
	if e.MessageID == "" {
		return bad("message_id is required")
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"message_id", e.MessageID, maxIDLen},
		{"campaign", e.Campaign, maxIDLen},
		{"recipient", e.Recipient, maxAddrLen},
		{"sender", e.Sender, maxAddrLen},
		{"method", e.Method, maxMethodLen},
	} {
		if len(f.v) > f.max || !utf8.ValidString(f.v) || strings.ContainsAny(f.v, "\x00\r\n") {
			return bad("%s too long or not clean UTF-8", f.name)
		}
	}
	switch e.Verdict {
	case "", tracking.VerdictHuman, tracking.VerdictAutomated:
	default:
		return bad("unknown verdict")
	}
	if e.LinkIndex < 0 {
		return bad("negative link_index")
	}
	e.Reason = reasonToken(e.Reason)
	e.IP = truncate(e.IP, maxIPLen)
	e.UserAgent = truncate(e.UserAgent, maxUALen)
	return e, nil
}

// reasonToken maps a classifier reason onto [a-z0-9_.:-]{0,64}.
func reasonToken(r string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(r) {
		if b.Len() >= maxReasonLen {
			break
		}
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '.', c == ':', c == '-':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// eventKey is ts|seq, 16 bytes.
func eventKey(t time.Time, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, tsOf(t))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

func tsOf(t time.Time) uint64 {
	n := t.UnixNano()
	if n < 0 {
		return 0
	}
	return uint64(n)
}

func eventID(key []byte) string { return "evt_" + hex.EncodeToString(key) }

func keyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).UTC()
}

func campaignPrefix(c string) []byte { return append([]byte(c), 0) }
func senderPrefix(a string) []byte   { return append([]byte(strings.ToLower(a)), 0) }
func messagePrefix(id, rcpt string) []byte {
	p := append([]byte(id), 0)
	if rcpt != "" {
		p = append(p, strings.ToLower(rcpt)...)
		p = append(p, 0)
	}
	return p
}

func indexKeys(e *tracking.Event, key []byte) [][2][]byte {
	var out [][2][]byte
	if e.Campaign != "" {
		out = append(out, [2][]byte{bCampaign, append(campaignPrefix(e.Campaign), key...)})
	}
	if e.Sender != "" {
		out = append(out, [2][]byte{bSender, append(senderPrefix(e.Sender), key...)})
	}
	mk := append([]byte(e.MessageID), 0)
	mk = append(mk, strings.ToLower(e.Recipient)...)
	mk = append(mk, 0)
	out = append(out, [2][]byte{bMessage, append(mk, key...)})
	return out
}

func putIndexes(tx *bolt.Tx, e *tracking.Event, key []byte) error {
	for _, ik := range indexKeys(e, key) {
		if err := tx.Bucket(ik[0]).Put(ik[1], nil); err != nil {
			return err
		}
	}
	return nil
}

// scanIndex calls fn for each event whose index key in bucket starts with
// prefix and whose time is in [from, to) (zero means unbounded).
func scanIndex(tx *bolt.Tx, bucket, prefix []byte, from, to time.Time, fn func(key []byte, e *tracking.Event) error) error {
	events := tx.Bucket(bEvents)
	lo := append(append([]byte(nil), prefix...), u64(tsOf(from))...)
	hi := append(append([]byte(nil), prefix...), u64(upper(to))...)
	c := tx.Bucket(bucket).Cursor()
	for k, _ := c.Seek(lo); k != nil && bytes.HasPrefix(k, prefix) && bytes.Compare(k, hi) < 0; k, _ = c.Next() {
		ek := k[len(prefix):]
		if len(ek) != 16 {
			continue // a longer key from a prefix collision (cannot happen with NUL-free IDs)
		}
		v := events.Get(ek)
		if v == nil {
			continue
		}
		var e tracking.Event
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("events: corrupt event %x: %w", ek, err)
		}
		if err := fn(ek, &e); err != nil {
			return err
		}
	}
	return nil
}

func upper(to time.Time) uint64 {
	if to.IsZero() {
		return math.MaxUint64
	}
	return tsOf(to)
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// MessageEvents returns the stored events of one message, oldest first,
// restricted to one recipient when recipient is not empty.
func (s *Store) MessageEvents(messageID, recipient string) ([]tracking.Event, error) {
	var out []tracking.Event
	prefix := messagePrefix(messageID, recipient)
	err := s.db.View(func(tx *bolt.Tx) error {
		events := tx.Bucket(bEvents)
		c := tx.Bucket(bMessage).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			rest := k[len(prefix):]
			if recipient == "" {
				// Skip the recipient part: message_id NUL rcpt NUL ts|seq.
				i := bytes.IndexByte(rest, 0)
				if i < 0 {
					continue
				}
				rest = rest[i+1:]
			}
			if len(rest) != 16 {
				continue
			}
			v := events.Get(rest)
			if v == nil {
				continue
			}
			var e tracking.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if recipient == "" {
		// Keys are grouped by recipient; present the message in time order.
		sortEvents(out)
	}
	return out, err
}

// Prune deletes events (with their index entries) and dead letters older
// than now minus the retention, in chunks so that no transaction grows
// large. It returns the number of events deleted.
func (s *Store) Prune(now time.Time) (int, error) {
	cutoff := tsOf(now.Add(-s.opts.Retention))
	total := 0
	for {
		n := 0
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bEvents)
			type item struct {
				k []byte
				e tracking.Event
			}
			var items []item
			c := b.Cursor()
			for k, v := c.First(); k != nil && len(items) < pruneChunk; k, v = c.Next() {
				if binary.BigEndian.Uint64(k[:8]) >= cutoff {
					break
				}
				it := item{k: append([]byte(nil), k...)}
				if err := json.Unmarshal(v, &it.e); err != nil {
					return fmt.Errorf("corrupt event %x: %w", k, err)
				}
				items = append(items, it)
			}
			for _, it := range items {
				for _, ik := range indexKeys(&it.e, it.k) {
					if err := tx.Bucket(ik[0]).Delete(ik[1]); err != nil {
						return err
					}
				}
				if err := b.Delete(it.k); err != nil {
					return err
				}
			}
			n = len(items)
			return nil
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("events: prune: %w", err)
		}
		if n < pruneChunk {
			break
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDead)
		var old [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var d delivery
			if err := json.Unmarshal(v, &d); err != nil || tsOf(d.EventTime) < cutoff {
				old = append(old, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return total, fmt.Errorf("events: prune dead letters: %w", err)
	}
	return total, nil
}

// Run prunes every PruneInterval and dispatches webhooks until ctx ends.
// It returns nil when ctx is cancelled.
func (s *Store) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { s.pruneLoop(ctx) })
	wg.Go(func() { s.dispatchLoop(ctx) })
	wg.Wait()
	return nil
}

func (s *Store) pruneLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.PruneInterval)
	defer t.Stop()
	for {
		if n, err := s.Prune(s.clock.Now()); err != nil {
			s.log.Error("events prune failed", "err", err)
		} else if n > 0 {
			s.log.Info("events pruned", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

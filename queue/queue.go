package queue

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
)

// Clock tells the time. A nil Clock in Options means the real clock.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Options configure a Queue. Zero values take the defaults documented on
// each field.
type Options struct {
	Dir          string        // queue.db and spool/ are created inside
	Key          []byte        // 32 bytes, AES-256-GCM for bodies at rest
	Hostname     string        // reporting MTA in DSNs, Message-ID domain (default os.Hostname)
	Clock        Clock         // nil => real clock
	Deliverer    Deliverer     // required by Run
	Workers      int           // concurrent delivery attempts (default 20)
	MinRetry     time.Duration // first retry delay (default 1m), doubling with jitter
	MaxRetry     time.Duration // cap (default 1h)
	MaxLifetime  time.Duration // default 5 * 24h; then final DSN
	DelayWarning time.Duration // default 4h; <0 disables
	PollInterval time.Duration // how often the scheduler scans when idle (default 1s); Enqueue also wakes it
	Logger       *slog.Logger
	Registerer   prometheus.Registerer // nil => no metrics

	// AttemptTimeout bounds one call to Deliverer.Deliver (default 10m). A
	// deliverer that ignores its context is abandoned one second later and
	// its recipients count as temporarily failed.
	AttemptTimeout time.Duration
	// ShutdownTimeout is how long Run waits for in-flight attempts after its
	// context is done before cancelling them (default 30s).
	ShutdownTimeout time.Duration
	// MaxMessageSize rejects bodies larger than this many bytes with
	// ErrTooBig (0 = no limit here; smtpd enforces SIZE).
	MaxMessageSize int64
}

// Envelope is the SMTP envelope of one message and what smtpd knew about
// its client.
type Envelope struct {
	From       string // "" is the null reverse-path (a bounce); never bounced
	To         []string
	RequireTLS bool
	SMTPUTF8   bool
	ClientAddr string
	Helo       string
	AuthUser   string
	ReceivedAt time.Time         // zero => Clock.Now() at Enqueue
	Meta       map[string]string // opaque per-message data set by smtpd/policy; stored and handed back

	// Finish, when set, is called once the body is durably spooled and
	// before the envelope is committed. Its map is merged into Meta: data
	// that needs the whole body (a PHI scan, a policy decision). An error
	// aborts the enqueue: nothing is committed and the body is removed.
	Finish func() (map[string]string, error) `json:"-"`
}

// Deliverer makes one delivery attempt for some recipients of one message.
type Deliverer interface {
	Deliver(ctx context.Context, a Attempt) []Result
}

// Attempt is the work handed to a Deliverer: all due recipients of one
// message that share a (lowercase) domain.
type Attempt struct {
	ID         string
	From       string
	Rcpts      []string
	Domain     string
	RequireTLS bool
	SMTPUTF8   bool
	Meta       map[string]string
	Size       int64
	Open       func() (io.ReadCloser, error) // decrypted body; may be called several times
	ReceivedAt time.Time
	Attempts   int // attempts so far for these recipients, including this one
}

// Status is the outcome of one recipient in an attempt.
type Status int

// Outcomes of a delivery attempt for one recipient.
const (
	StatusTempFail Status = iota // retry later (also what a missing result means)
	StatusDelivered
	StatusPermFail
	// StatusHeld parks the recipient in the held state (with Text as the
	// reason) until an administrator releases it: for example when policy
	// demands a protection method that is not available.
	StatusHeld
)

func (s Status) String() string {
	switch s {
	case StatusDelivered:
		return "delivered"
	case StatusPermFail:
		return "permfail"
	case StatusHeld:
		return "held"
	default:
		return "tempfail"
	}
}

// Result is the outcome for one recipient. Text is the remote reply or a
// local reason and never contains message content.
type Result struct {
	Rcpt        string
	Status      Status
	Code        int
	Enhanced    string
	Text        string
	MX          string
	TLSVersion  string
	TLSCipher   string
	TLSVerified bool
	Method      string
}

// State is the state of one recipient in the queue.
type State string

// Recipient states.
const (
	StateQueued     State = "queued"
	StateDelivering State = "delivering"
	StateDeferred   State = "deferred"
	StateDelivered  State = "delivered"
	StateBounced    State = "bounced"
	StateHeld       State = "held"
)

// States lists every recipient state, in a stable order.
func States() []State {
	return []State{StateQueued, StateDelivering, StateDeferred, StateDelivered, StateBounced, StateHeld}
}

func (s State) final() bool { return s == StateDelivered || s == StateBounced }

// Errors returned by the queue.
var (
	ErrNotFound     = errors.New("queue: no such message")
	ErrClosed       = errors.New("queue: closed")
	ErrTooBig       = errors.New("queue: message too big")
	ErrNoRecipients = errors.New("queue: no recipients")
	ErrRunning      = errors.New("queue: Run already active")
)

// Queue is the durable store and scheduler. Its methods are safe for
// concurrent use.
type Queue struct {
	opts     Options
	clock    Clock
	log      *slog.Logger
	db       *bolt.DB
	spoolDir string
	m        *metrics

	ops           chan *op
	stopCommitter chan struct{}
	committerDone chan struct{}
	closeOnce     sync.Once
	closed        atomic.Bool

	wake chan struct{} // cap 1: "look at the due index now"

	// visible orders admin reads (Get, List) after the in-memory counts of
	// every commit they can see: the committer holds it across commit and
	// apply, so Stats never lags what Get just showed.
	visible sync.RWMutex

	mu       sync.Mutex
	inflight map[string]int // message id -> jobs running
	counts   map[State]int64
	messages int64
	running  bool

	// Instrumentation for tests and benchmarks (not exported).
	fileSyncs atomic.Int64
	dirSyncs  atomic.Int64
	commits   atomic.Int64
}

func (o *Options) setDefaults() error {
	if o.Dir == "" {
		return errors.New("queue: Options.Dir is required")
	}
	if len(o.Key) != 32 {
		return fmt.Errorf("queue: Options.Key must be 32 bytes, got %d", len(o.Key))
	}
	if o.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		o.Hostname = h
	}
	if o.Workers <= 0 {
		o.Workers = 20
	}
	if o.MinRetry <= 0 {
		o.MinRetry = time.Minute
	}
	if o.MaxRetry <= 0 {
		o.MaxRetry = time.Hour
	}
	if o.MaxRetry < o.MinRetry {
		o.MaxRetry = o.MinRetry
	}
	if o.MaxLifetime <= 0 {
		o.MaxLifetime = 5 * 24 * time.Hour
	}
	if o.DelayWarning == 0 {
		o.DelayWarning = 4 * time.Hour
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 10 * time.Minute
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	return nil
}

// Open opens (creating if needed) the queue in opts.Dir, removes orphan
// spool files, makes recipients that were being delivered when the process
// stopped due again, and starts the group committer. It does not start the
// scheduler: call Run.
func Open(opts Options) (*Queue, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	opts.Key = append([]byte(nil), opts.Key...)
	q := &Queue{
		opts:          opts,
		clock:         opts.Clock,
		log:           opts.Logger,
		spoolDir:      filepath.Join(opts.Dir, "spool"),
		ops:           make(chan *op, 1024),
		stopCommitter: make(chan struct{}),
		committerDone: make(chan struct{}),
		wake:          make(chan struct{}, 1),
		inflight:      map[string]int{},
		counts:        map[State]int64{},
	}
	if q.clock == nil {
		q.clock = realClock{}
	}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(q.spoolDir, 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(opts.Dir, "queue.db"), 0o600, &bolt.Options{
		Timeout:      2 * time.Second,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: open db: %w", err)
	}
	q.db = db
	if err := q.recover(); err != nil {
		db.Close()
		return nil, err
	}
	if opts.Registerer != nil {
		m, err := newMetrics(q, opts.Registerer)
		if err != nil {
			db.Close()
			return nil, err
		}
		q.m = m
	}
	go q.committer()
	return q, nil
}

// Close stops the group committer and closes the database. Call it after
// Run has returned; operations after Close return ErrClosed.
func (q *Queue) Close() error {
	var err error
	q.closeOnce.Do(func() {
		q.closed.Store(true)
		close(q.stopCommitter)
		<-q.committerDone
		if q.m != nil {
			q.m.unregister()
		}
		err = q.db.Close()
	})
	return err
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

var idEncoding = base32.NewEncoding(idAlphabet).WithPadding(base32.NoPadding)

// newID returns 16 characters carrying 80 random bits: short, opaque and,
// at queue sizes of millions, unique with overwhelming probability (the
// insert still refuses a duplicate).
func newID() string {
	var b [10]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

func validID(id string) bool {
	if len(id) != 16 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !strings.ContainsRune(idAlphabet, rune(id[i])) {
			return false
		}
	}
	return true
}

// domainOf returns the lowercase domain of an address (text after the last
// '@'), or "" when there is none.
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}

// Enqueue stores a message and returns its queue ID. It returns only after
// the encrypted body has been fsynced and renamed into place, the spool
// directory fsynced, and the envelope committed to bbolt: a crash after a
// nil error loses nothing. Concurrent calls share directory fsyncs and
// bbolt commits (group commit).
func (q *Queue) Enqueue(ctx context.Context, env Envelope, body io.Reader) (string, error) {
	if q.closed.Load() {
		return "", ErrClosed
	}
	rcpts, err := cleanRcpts(env.To)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(env.From, "\r\n") {
		return "", errors.New("queue: invalid sender")
	}
	id := newID()
	size, err := q.writeSpool(ctx, id, body, q.opts.MaxMessageSize)
	if err != nil {
		return "", fmt.Errorf("queue: spool: %w", err)
	}
	if env.Finish != nil {
		extra, err := env.Finish()
		if err != nil {
			os.Remove(q.spoolPath(id))
			return "", err
		}
		if len(extra) > 0 {
			meta := make(map[string]string, len(env.Meta)+len(extra))
			for k, v := range env.Meta {
				meta[k] = v
			}
			for k, v := range extra {
				meta[k] = v
			}
			env.Meta = meta
		}
	}
	now := q.clock.Now()
	rec := newRecord(id, env, rcpts, size, now)
	err = q.commit(true, func(tx *bolt.Tx, d *delta) error {
		if msgs(tx).Get([]byte(id)) != nil {
			return fmt.Errorf("queue: duplicate id %s", id)
		}
		d.received++
		return putRecord(tx, d, nil, rec)
	})
	if err != nil {
		os.Remove(q.spoolPath(id))
		return "", err
	}
	q.log.Debug("queue: enqueued", "id", id, "rcpts", len(rcpts), "size", size)
	q.kick()
	return id, nil
}

func cleanRcpts(to []string) ([]string, error) {
	seen := make(map[string]bool, len(to))
	out := make([]string, 0, len(to))
	for _, r := range to {
		if r == "" || strings.ContainsAny(r, "\r\n") || domainOf(r) == "" {
			return nil, fmt.Errorf("queue: invalid recipient address")
		}
		if seen[r] {
			continue
		}
		seen[r] = true
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, ErrNoRecipients
	}
	return out, nil
}

// kick wakes the scheduler without blocking.
func (q *Queue) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

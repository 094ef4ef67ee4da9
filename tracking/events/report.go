package events

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sealgate/sealgate/tracking"
)

// Bucket is the width of a time-series point.
type Bucket string

// Buckets. BucketAuto picks hours for spans up to 72 hours, else days.
const (
	BucketAuto Bucket = ""
	BucketHour Bucket = "hour"
	BucketDay  Bucket = "day"
)

// ErrBadQuery wraps every reason a report query is refused.
var ErrBadQuery = errors.New("events: bad report query")

// MaxSeriesPoints bounds a time series.
const MaxSeriesPoints = 2000

// Query selects the events a report covers: times in [From, To), zero
// meaning unbounded.
type Query struct {
	From, To time.Time
	Bucket   Bucket
}

// Report is the reckoning for one campaign or sender.
type Report struct {
	Scope             string    `json:"scope"` // campaign | sender
	ID                string    `json:"id"`
	From              time.Time `json:"from,omitzero"`
	To                time.Time `json:"to,omitzero"`
	SuppressAutomated bool      `json:"suppress_automated"`
	// Headline is Human under SuppressAutomated, else All.
	Headline     Engagement     `json:"headline"`
	All          Engagement     `json:"all"`
	Human        Engagement     `json:"human"`
	Delivery     DeliveryCounts `json:"delivery"`
	HoneypotHits int            `json:"honeypot_hits"`
	// AutomatedReasons counts events whose verdict is not human, by reason,
	// most frequent first.
	AutomatedReasons []ReasonCount `json:"automated_reasons"`
	Bucket           Bucket        `json:"bucket"`
	Series           []Point       `json:"series"`
}

// Engagement holds the headline numbers for one view (all or human only).
type Engagement struct {
	Delivered    int     `json:"delivered"`
	UniqueOpens  int     `json:"unique_opens"`  // recipients who opened or clicked
	UniqueClicks int     `json:"unique_clicks"` // recipients who clicked
	Opens        int     `json:"opens"`         // open events
	Clicks       int     `json:"clicks"`        // click events
	OpenRate     float64 `json:"open_rate"`     // unique opens / delivered
	ClickRate    float64 `json:"click_rate"`    // unique clicks / delivered
	ClickToOpen  float64 `json:"click_to_open"` // unique clicks / unique opens
}

// DeliveryCounts counts recipients (message ID + recipient) with at least
// one event of each delivery kind.
type DeliveryCounts struct {
	Delivered int            `json:"delivered"`
	Deferred  int            `json:"deferred"`
	Bounced   int            `json:"bounced"`
	ByMethod  map[string]int `json:"by_method"` // delivered recipients by their first delivery's method
}

// ReasonCount is how many automated events one reason explains.
type ReasonCount struct {
	Reason   string `json:"reason"`
	Opens    int    `json:"opens"`
	Clicks   int    `json:"clicks"`
	Honeypot int    `json:"honeypot"`
	Total    int    `json:"total"`
}

// Point is one time-series bucket: event counts, not unique recipients.
type Point struct {
	Start           time.Time `json:"start"`
	HumanOpens      int       `json:"human_opens"`
	AutomatedOpens  int       `json:"automated_opens"`
	HumanClicks     int       `json:"human_clicks"`
	AutomatedClicks int       `json:"automated_clicks"`
}

// CampaignReport reports on one campaign.
func (s *Store) CampaignReport(id string, q Query) (*Report, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty campaign ID", ErrBadQuery)
	}
	return s.report("campaign", id, bCampaign, campaignPrefix(id), q)
}

// SenderReport reports on one sender address (case-insensitive).
func (s *Store) SenderReport(addr string, q Query) (*Report, error) {
	if addr == "" {
		return nil, fmt.Errorf("%w: empty sender", ErrBadQuery)
	}
	return s.report("sender", strings.ToLower(addr), bSender, senderPrefix(addr), q)
}

// Per-recipient flags.
const (
	fDelivered uint8 = 1 << iota
	fDeferred
	fBounced
	fOpenAll
	fOpenHuman
	fClickAll
	fClickHuman
)

func (s *Store) report(scope, id string, bucket, prefix []byte, q Query) (*Report, error) {
	if err := q.validate(); err != nil {
		return nil, err
	}
	r := &Report{
		Scope: scope, ID: id, From: q.From, To: q.To,
		SuppressAutomated: s.opts.SuppressAutomated,
		Delivery:          DeliveryCounts{ByMethod: map[string]int{}},
		AutomatedReasons:  []ReasonCount{},
		Series:            []Point{},
	}
	// One 8-byte hash per recipient keeps memory bounded for large sends.
	seed := maphash.MakeSeed()
	recips := map[uint64]uint8{}
	reasons := map[string]*ReasonCount{}
	hours := map[int64]*Point{}
	var first, last time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		return scanIndex(tx, bucket, prefix, q.From, q.To, func(_ []byte, e *tracking.Event) error {
			var h maphash.Hash
			h.SetSeed(seed)
			h.WriteString(e.MessageID)
			h.WriteByte(0)
			h.WriteString(strings.ToLower(e.Recipient))
			rk := h.Sum64()
			fl := recips[rk]
			human := e.Verdict == tracking.VerdictHuman
			switch e.Kind {
			case tracking.EventDelivered:
				if fl&fDelivered == 0 {
					r.Delivery.ByMethod[methodLabel(e.Method)]++
				}
				fl |= fDelivered
			case tracking.EventDeferred:
				fl |= fDeferred
			case tracking.EventBounced:
				fl |= fBounced
			case tracking.EventOpen, tracking.EventClick:
				p := hourPoint(hours, e.Time)
				if first.IsZero() || e.Time.Before(first) {
					first = e.Time
				}
				if e.Time.After(last) {
					last = e.Time
				}
				if e.Kind == tracking.EventOpen {
					r.All.Opens++
					fl |= fOpenAll
					if human {
						r.Human.Opens++
						fl |= fOpenHuman
						p.HumanOpens++
					} else {
						p.AutomatedOpens++
						reason(reasons, e.Reason).Opens++
					}
				} else {
					r.All.Clicks++
					fl |= fClickAll
					if human {
						r.Human.Clicks++
						fl |= fClickHuman
						p.HumanClicks++
					} else {
						p.AutomatedClicks++
						reason(reasons, e.Reason).Clicks++
					}
				}
			case tracking.EventHoneypot:
				r.HoneypotHits++
				reason(reasons, e.Reason).Honeypot++
			}
			recips[rk] = fl
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for _, fl := range recips {
		if fl&fDelivered != 0 {
			r.Delivery.Delivered++
		}
		if fl&fDeferred != 0 {
			r.Delivery.Deferred++
		}
		if fl&fBounced != 0 {
			r.Delivery.Bounced++
		}
		if fl&(fOpenAll|fClickAll) != 0 {
			r.All.UniqueOpens++
		}
		if fl&fClickAll != 0 {
			r.All.UniqueClicks++
		}
		if fl&(fOpenHuman|fClickHuman) != 0 {
			r.Human.UniqueOpens++
		}
		if fl&fClickHuman != 0 {
			r.Human.UniqueClicks++
		}
	}
	for _, e := range []*Engagement{&r.All, &r.Human} {
		e.Delivered = r.Delivery.Delivered
		e.OpenRate = ratio(e.UniqueOpens, e.Delivered)
		e.ClickRate = ratio(e.UniqueClicks, e.Delivered)
		e.ClickToOpen = ratio(e.UniqueClicks, e.UniqueOpens)
	}
	r.Headline = r.All
	if r.SuppressAutomated {
		r.Headline = r.Human
	}
	for _, rc := range reasons {
		rc.Total = rc.Opens + rc.Clicks + rc.Honeypot
		r.AutomatedReasons = append(r.AutomatedReasons, *rc)
	}
	sort.Slice(r.AutomatedReasons, func(i, j int) bool {
		a, b := r.AutomatedReasons[i], r.AutomatedReasons[j]
		if a.Total != b.Total {
			return a.Total > b.Total
		}
		return a.Reason < b.Reason
	})
	r.Bucket, r.Series, err = series(hours, first, last, q.Bucket)
	return r, err
}

func (q *Query) validate() error {
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return fmt.Errorf("%w: from must be before to", ErrBadQuery)
	}
	switch q.Bucket {
	case BucketAuto, BucketHour, BucketDay:
	default:
		return fmt.Errorf("%w: bucket must be hour or day", ErrBadQuery)
	}
	return nil
}

func methodLabel(m string) string {
	if m == "" {
		return "unknown"
	}
	return m
}

func reason(m map[string]*ReasonCount, r string) *ReasonCount {
	if r == "" {
		r = "unspecified"
	}
	rc := m[r]
	if rc == nil {
		rc = &ReasonCount{Reason: r}
		m[r] = rc
	}
	return rc
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func hourPoint(m map[int64]*Point, t time.Time) *Point {
	h := t.UTC().Truncate(time.Hour)
	p := m[h.Unix()]
	if p == nil {
		p = &Point{Start: h}
		m[h.Unix()] = p
	}
	return p
}

// series fills the buckets from the first to the last engagement event,
// zeros included, so charts show gaps as gaps.
func series(hours map[int64]*Point, first, last time.Time, b Bucket) (Bucket, []Point, error) {
	if b == BucketAuto {
		b = BucketHour
		if last.Sub(first) > 72*time.Hour {
			b = BucketDay
		}
	}
	if first.IsZero() {
		return b, []Point{}, nil
	}
	step := time.Hour
	start := first.UTC().Truncate(time.Hour)
	if b == BucketDay {
		step = 24 * time.Hour
		start = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)
	}
	n := int(last.UTC().Sub(start)/step) + 1
	if n > MaxSeriesPoints {
		return b, nil, fmt.Errorf("%w: %d %s buckets exceed %d; use a larger bucket or a shorter range", ErrBadQuery, n, b, MaxSeriesPoints)
	}
	out := make([]Point, n)
	for i := range out {
		out[i].Start = start.Add(time.Duration(i) * step)
	}
	for _, p := range hours {
		i := int(p.Start.Sub(start) / step)
		out[i].HumanOpens += p.HumanOpens
		out[i].AutomatedOpens += p.AutomatedOpens
		out[i].HumanClicks += p.HumanClicks
		out[i].AutomatedClicks += p.AutomatedClicks
	}
	return b, out, nil
}

// CampaignSummary is one entry of the campaign list.
type CampaignSummary struct {
	ID         string    `json:"id"`
	FirstEvent time.Time `json:"first_event"`
	LastEvent  time.Time `json:"last_event"`
}

// MaxCampaigns bounds the campaign list.
const MaxCampaigns = 1000

// Campaigns lists the campaigns with events in [q.From, q.To), by ID, at
// most MaxCampaigns. It skips from one campaign to the next with cursor
// seeks, so its cost grows with the number of campaigns, not events.
func (s *Store) Campaigns(q Query) ([]CampaignSummary, error) {
	if err := q.validate(); err != nil {
		return nil, err
	}
	out := []CampaignSummary{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bCampaign).Cursor()
		k, _ := c.First()
		for k != nil && len(out) < MaxCampaigns {
			i := bytes.IndexByte(k, 0)
			if i < 0 {
				k, _ = c.Next()
				continue
			}
			id := string(k[:i])
			prefix := campaignPrefix(id)
			lo := append(append([]byte(nil), prefix...), u64(tsOf(q.From))...)
			hi := append(append([]byte(nil), prefix...), u64(upper(q.To))...)
			fk, _ := c.Seek(lo)
			if fk != nil && bytes.HasPrefix(fk, prefix) && bytes.Compare(fk, hi) < 0 {
				sum := CampaignSummary{ID: id, FirstEvent: keyTime(fk[len(prefix):])}
				lk, _ := c.Seek(hi)
				if lk == nil {
					lk, _ = c.Last()
				} else {
					lk, _ = c.Prev()
				}
				sum.LastEvent = keyTime(lk[len(prefix):])
				out = append(out, sum)
			}
			// Jump past this campaign: the next key after "id\x00\xff...".
			k, _ = c.Seek(append([]byte(id), 1))
		}
		return nil
	})
	return out, err
}

func sortEvents(es []tracking.Event) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Time.Before(es[j].Time) })
}

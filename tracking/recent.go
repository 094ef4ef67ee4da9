package tracking

import (
	"container/list"
	"sync"
	"time"
)

// RecentRequests is the default History: an in-memory, bounded LRU of the
// recent requests per key. At most maxKeys keys and perKey requests per key
// (the newest) are kept, and requests older than ttl are forgotten, so
// memory is bounded whatever clients send. Keys are opaque hashes made by
// the handler (never addresses). It is lost on restart: after a restart a
// burst that straddles it is seen only in part, a known and accepted gap;
// a persistent History can be passed instead.
type RecentRequests struct {
	mu      sync.Mutex
	maxKeys int
	perKey  int
	ttl     time.Duration
	lru     *list.List // of *recentEntry, most recent at the front
	byKey   map[string]*list.Element
}

type recentEntry struct {
	key    string
	priors []Prior
}

// NewRecentRequests makes a bounded in-memory History.
func NewRecentRequests(maxKeys, perKey int, ttl time.Duration) *RecentRequests {
	if maxKeys < 1 {
		maxKeys = 1
	}
	if perKey < 1 {
		perKey = 1
	}
	return &RecentRequests{maxKeys: maxKeys, perKey: perKey, ttl: ttl, lru: list.New(), byKey: map[string]*list.Element{}}
}

// Observe implements History.
func (r *RecentRequests) Observe(key string, p Prior) ([]Prior, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	el, ok := r.byKey[key]
	if !ok {
		for r.lru.Len() >= r.maxKeys {
			old := r.lru.Back()
			r.lru.Remove(old)
			delete(r.byKey, old.Value.(*recentEntry).key)
		}
		el = r.lru.PushFront(&recentEntry{key: key})
		r.byKey[key] = el
	} else {
		r.lru.MoveToFront(el)
	}
	e := el.Value.(*recentEntry)
	kept := e.priors[:0]
	for _, q := range e.priors {
		if r.ttl <= 0 || p.Time.Sub(q.Time) <= r.ttl {
			kept = append(kept, q)
		}
	}
	earlier := append([]Prior(nil), kept...)
	kept = append(kept, p)
	if len(kept) > r.perKey {
		kept = append(kept[:0:0], kept[len(kept)-r.perKey:]...)
	}
	e.priors = kept
	return earlier, nil
}

// Len is the number of keys held.
func (r *RecentRequests) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lru.Len()
}

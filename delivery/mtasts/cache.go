package mtasts

import (
	"container/list"
	"context"
	"strings"
	"sync"
	"time"
)

// CacheEntry is a policy fetched for a domain, with the TXT id it was
// fetched under and the time it stops being valid (fetch time + max_age,
// RFC 8461 §5.1).
type CacheEntry struct {
	ID      string
	Policy  STSPolicy
	Fetched time.Time
	Expires time.Time
}

// Cache stores policies by domain (lower-case, no trailing dot). It must be
// safe for concurrent use. The in-memory MemoryCache is the default; a
// persistent implementation can survive restarts, which keeps the
// anti-downgrade protection of §5.1 across them.
type Cache interface {
	Get(ctx context.Context, domain string) (CacheEntry, bool)
	Put(ctx context.Context, domain string, e CacheEntry)
}

// MemoryCache is a Cache bounded to a number of domains, evicting the least
// recently used.
type MemoryCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recently used; values are *memItem
	items map[string]*list.Element
}

type memItem struct {
	domain string
	entry  CacheEntry
}

// NewMemoryCache returns a cache holding at most size domains (minimum 1).
func NewMemoryCache(size int) *MemoryCache {
	return &MemoryCache{max: max(size, 1), order: list.New(), items: map[string]*list.Element{}}
}

// Get implements Cache.
func (c *MemoryCache) Get(_ context.Context, domain string) (CacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[strings.ToLower(domain)]
	if !ok {
		return CacheEntry{}, false
	}
	c.order.MoveToFront(el)
	e := el.Value.(*memItem).entry
	e.Policy.MX = append([]string(nil), e.Policy.MX...)
	return e, true
}

// Put implements Cache.
func (c *MemoryCache) Put(_ context.Context, domain string, e CacheEntry) {
	domain = strings.ToLower(domain)
	e.Policy.MX = append([]string(nil), e.Policy.MX...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[domain]; ok {
		el.Value.(*memItem).entry = e
		c.order.MoveToFront(el)
		return
	}
	c.items[domain] = c.order.PushFront(&memItem{domain: domain, entry: e})
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*memItem).domain)
	}
}

// Len returns the number of domains held.
func (c *MemoryCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

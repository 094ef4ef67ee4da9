package tracking

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// limiter is a per-client token bucket with a bounded, LRU-evicted table.
// An evicted client starts again with a full bucket, which only ever errs
// toward letting a request through.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	max     int
	v6bits  int
	lru     *list.List
	clients map[netip.Prefix]*list.Element
}

type bucket struct {
	key    netip.Prefix
	tokens float64
	last   time.Time
}

func newLimiter(r RateLimit) *limiter {
	if r.PerSecond == 0 {
		r.PerSecond = 10
	}
	if r.Burst == 0 {
		r.Burst = 60
	}
	if r.MaxClients == 0 {
		r.MaxClients = 100000
	}
	if r.IPv6Prefix == 0 {
		r.IPv6Prefix = 64
	}
	return &limiter{rate: r.PerSecond, burst: float64(r.Burst), max: r.MaxClients, v6bits: r.IPv6Prefix,
		lru: list.New(), clients: map[netip.Prefix]*list.Element{}}
}

// clientKey groups IPv6 clients by prefix (one host has a whole /64).
func (l *limiter) clientKey(ip netip.Addr) netip.Prefix {
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = l.v6bits
	}
	p, _ := ip.Prefix(bits)
	return p
}

// allow takes one token for ip at now.
func (l *limiter) allow(ip netip.Addr, now time.Time) bool {
	k := l.clientKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.clients[k]
	if !ok {
		for l.lru.Len() >= l.max {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.clients, old.Value.(*bucket).key)
		}
		el = l.lru.PushFront(&bucket{key: k, tokens: l.burst, last: now})
		l.clients[k] = el
	} else {
		l.lru.MoveToFront(el)
	}
	b := el.Value.(*bucket)
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens += el * l.rate
		if b.tokens > l.burst {
			b.tokens = l.burst
		}
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

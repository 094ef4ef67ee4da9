package smtpd

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// connLimiter bounds open connections in total and per client address.
type connLimiter struct {
	mu       sync.Mutex
	total    int
	perIP    map[netip.Addr]int
	maxTotal int
	maxPerIP int
}

func newConnLimiter(maxTotal, maxPerIP int) *connLimiter {
	return &connLimiter{perIP: map[netip.Addr]int{}, maxTotal: maxTotal, maxPerIP: maxPerIP}
}

// acquire reports "" when the connection may proceed, else the limit hit.
func (l *connLimiter) acquire(ip netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.maxTotal {
		return "connections"
	}
	if l.perIP[ip] >= l.maxPerIP {
		return "connections_per_ip"
	}
	l.total++
	l.perIP[ip]++
	return ""
}

func (l *connLimiter) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// limitedListener refuses connections over the limits with a 421 before any
// SMTP state is created, and releases the slot when the connection closes.
type limitedListener struct {
	net.Listener
	limiter *connLimiter
	metrics *metrics
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		if reason := l.limiter.acquire(ip); reason != "" {
			l.metrics.rejected.WithLabelValues(reason).Inc()
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Write([]byte("421 4.7.0 Too many connections, try again later\r\n"))
			c.Close()
			continue
		}
		l.metrics.connections.Inc()
		return &limitedConn{Conn: c, release: func() { l.limiter.release(ip) }}, nil
	}
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

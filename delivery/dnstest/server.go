package dnstest

import (
	"encoding/hex"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server is a fake authoritative DNS server on 127.0.0.1, UDP and TCP on
// the same port.
type Server struct {
	addr string
	mu   sync.RWMutex
	zone Zone
	udp  *dns.Server
	tcp  *dns.Server

	qmu    sync.Mutex
	counts map[string]int // questions per network, see Queries
}

// Start serves zone until the test ends.
func Start(t testing.TB, zone Zone) *Server {
	t.Helper()
	s := &Server{zone: zone.normalize(), counts: map[string]int{}}
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("dnstest: listen udp: %v", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			pc.Close()
			lastErr = err
			continue
		}
		s.addr = pc.LocalAddr().String()
		s.udp = s.serve(func(d *dns.Server) { d.PacketConn = pc }, t)
		s.tcp = s.serve(func(d *dns.Server) { d.Listener = ln }, t)
		t.Cleanup(func() {
			s.udp.Shutdown()
			s.tcp.Shutdown()
		})
		return s
	}
	t.Fatalf("dnstest: no port free for both UDP and TCP: %v", lastErr)
	return nil
}

func (s *Server) serve(set func(*dns.Server), t testing.TB) *dns.Server {
	started := make(chan struct{})
	d := &dns.Server{Handler: dns.HandlerFunc(s.handle), NotifyStartedFunc: func() { close(started) }}
	set(d)
	go d.ActivateAndServe()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatalf("dnstest: server did not start")
	}
	return d
}

// Addr is "127.0.0.1:port", for both UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Set replaces (or adds) the records of one name while the server runs.
func (s *Server) Set(name string, r Records) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zone[canon(name)] = r
}

// Queries returns how many questions arrived over network ("udp" or "tcp").
func (s *Server) Queries(network string) int {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return s.counts[network]
}

func (s *Server) handle(w dns.ResponseWriter, req *dns.Msg) {
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	s.qmu.Lock()
	s.counts[network]++
	s.qmu.Unlock()

	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	s.mu.RLock()
	zone := s.zone
	chain, recs, auth, exists := zone.chase(q.Name)
	first := zone[canon(q.Name)]
	s.mu.RUnlock()

	if first.Delay > 0 {
		time.Sleep(first.Delay)
	}
	switch {
	case first.ServFail || (exists && recs.ServFail):
		m.Rcode = dns.RcodeServerFailure
		w.WriteMsg(m)
		return
	case network == "udp" && first.Truncate:
		m.Truncated = true
		w.WriteMsg(m)
		return
	}
	// CNAME links along the chain.
	for i := 0; i+1 < len(chain); i++ {
		m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(chain[i], dns.TypeCNAME), Target: chain[i+1]})
	}
	if !exists {
		m.Rcode = dns.RcodeNameError
		m.AuthenticatedData = auth && req.AuthenticatedData
		w.WriteMsg(m)
		return
	}
	m.Answer = append(m.Answer, rrs(chain[len(chain)-1], recs, q.Qtype)...)
	// RFC 6840 §5.7: AD only when the client signalled it understands it.
	m.AuthenticatedData = auth && (req.AuthenticatedData || (req.IsEdns0() != nil && req.IsEdns0().Do()))
	if o := req.IsEdns0(); o != nil {
		m.SetEdns0(4096, o.Do())
	}
	w.WriteMsg(m)
}

func hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: 300}
}

func rrs(name string, r Records, qtype uint16) []dns.RR {
	var out []dns.RR
	switch qtype {
	case dns.TypeMX:
		for _, mx := range r.MX {
			out = append(out, &dns.MX{Hdr: hdr(name, dns.TypeMX), Preference: mx.Pref, Mx: dns.Fqdn(mx.Host)})
		}
	case dns.TypeA:
		for _, a := range r.A {
			if ip := net.ParseIP(a).To4(); ip != nil {
				out = append(out, &dns.A{Hdr: hdr(name, dns.TypeA), A: ip})
			}
		}
	case dns.TypeAAAA:
		for _, a := range r.AAAA {
			if ip := net.ParseIP(a); ip != nil && ip.To4() == nil {
				out = append(out, &dns.AAAA{Hdr: hdr(name, dns.TypeAAAA), AAAA: ip})
			}
		}
	case dns.TypeTXT:
		for _, t := range r.TXT {
			out = append(out, &dns.TXT{Hdr: hdr(name, dns.TypeTXT), Txt: splitTXT(t)})
		}
	case dns.TypeTLSA:
		for _, t := range r.TLSA {
			out = append(out, &dns.TLSA{Hdr: hdr(name, dns.TypeTLSA), Usage: t.Usage, Selector: t.Selector,
				MatchingType: t.MatchingType, Certificate: hex.EncodeToString(t.Data)})
		}
	}
	return out
}

// splitTXT cuts a long TXT value into 255-byte character strings.
func splitTXT(s string) []string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, s[:255])
		s = s[255:]
	}
	return append(parts, s)
}

package dnstest

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

func ask(t *testing.T, addr, network, name string, qtype uint16, do bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if do {
		m.SetEdns0(4096, true)
	}
	r, _, err := (&dns.Client{Net: network}).Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestServer(t *testing.T) {
	s := Start(t, Zone{
		"Signed.Test": {A: []string{"192.0.2.1"}, Authentic: true},
		"cut.test":    {A: []string{"192.0.2.2"}, Truncate: true},
		"bad.test":    {ServFail: true},
		"www.test":    {CNAME: "signed.test"},
	})
	r := ask(t, s.Addr(), "udp", "signed.test", dns.TypeA, true)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !r.AuthenticatedData {
		t.Errorf("signed A: %v", r)
	}
	if r := ask(t, s.Addr(), "udp", "signed.test", dns.TypeA, false); r.AuthenticatedData {
		t.Error("AD set for a client that did not ask (RFC 6840 §5.7)")
	}
	if r := ask(t, s.Addr(), "udp", "www.test", dns.TypeA, true); len(r.Answer) != 2 || r.AuthenticatedData {
		t.Errorf("CNAME chain (unsigned link): %v", r)
	}
	if r := ask(t, s.Addr(), "udp", "cut.test", dns.TypeA, true); !r.Truncated || len(r.Answer) != 0 {
		t.Errorf("truncation over UDP: %v", r)
	}
	if r := ask(t, s.Addr(), "tcp", "cut.test", dns.TypeA, true); r.Truncated || len(r.Answer) != 1 {
		t.Errorf("TCP answer: %v", r)
	}
	if r := ask(t, s.Addr(), "udp", "bad.test", dns.TypeA, true); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("SERVFAIL: %v", r)
	}
	if r := ask(t, s.Addr(), "udp", "nope.test", dns.TypeA, true); r.Rcode != dns.RcodeNameError {
		t.Errorf("NXDOMAIN: %v", r)
	}
	if r := ask(t, s.Addr(), "udp", "signed.test", dns.TypeMX, true); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("NODATA: %v", r)
	}
	s.Set("new.test", Records{MX: []*net.MX{{Host: "mx.new.test", Pref: 1}}})
	if r := ask(t, s.Addr(), "udp", "new.test", dns.TypeMX, true); len(r.Answer) != 1 {
		t.Errorf("Set: %v", r)
	}
	if s.Queries("tcp") != 1 {
		t.Errorf("tcp queries %d", s.Queries("tcp"))
	}
}

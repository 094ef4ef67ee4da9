package delivery_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dnstest"
)

func testZone() dnstest.Zone {
	return dnstest.Zone{
		"signed.test":    {MX: []*net.MX{{Host: "mx.signed.test", Pref: 10}}, TXT: []string{"v=STSv1; id=1"}, Authentic: true},
		"mx.signed.test": {A: []string{"192.0.2.1"}, AAAA: []string{"2001:db8::1"}, Authentic: true},
		"_25._tcp.mx.signed.test": {TLSA: []delivery.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{0xde, 0xad}}},
			Authentic: true},
		"unsigned.test":  {MX: []*net.MX{{Host: "mx.unsigned.test", Pref: 5}}},
		"alias.test":     {CNAME: "signed.test", Authentic: true},
		"halfalias.test": {CNAME: "signed.test"},
		"broken.test":    {ServFail: true},
		"big.test":       {TXT: []string{strings.Repeat("v=spf1 a ", 66) + "-all.."}, Truncate: true},
		"null.test":      {MX: []*net.MX{{Host: ".", Pref: 0}}},
	}
}

// Both the socket server (through NewDNSResolver) and the map Resolver must
// give the same answers: tests can use either.
func TestResolvers(t *testing.T) {
	srv := dnstest.Start(t, testZone())
	resolvers := map[string]delivery.Resolver{
		"dns":  delivery.NewDNSResolver([]string{srv.Addr()}, 2*time.Second),
		"mock": dnstest.NewResolver(testZone()),
	}
	ctx := context.Background()
	for name, r := range resolvers {
		t.Run(name, func(t *testing.T) {
			mx, auth, err := r.LookupMX(ctx, "signed.test")
			if err != nil || len(mx) != 1 || mx[0].Host != "mx.signed.test." || mx[0].Pref != 10 || !auth {
				t.Errorf("MX signed: %v %v %v", mx, auth, err)
			}
			_, auth, err = r.LookupMX(ctx, "unsigned.test")
			if err != nil || auth {
				t.Errorf("MX unsigned: authentic=%v err=%v", auth, err)
			}
			ips, auth, err := r.LookupIP(ctx, "MX.Signed.Test.")
			if err != nil || !auth || len(ips) != 2 || !ips[0].Equal(net.ParseIP("192.0.2.1")) || !ips[1].Equal(net.ParseIP("2001:db8::1")) {
				t.Errorf("IP: %v %v %v", ips, auth, err)
			}
			mx, auth, err = r.LookupMX(ctx, "alias.test")
			if err != nil || len(mx) != 1 || !auth {
				t.Errorf("CNAME: %v %v %v", mx, auth, err)
			}
			if _, auth, _ = r.LookupMX(ctx, "halfalias.test"); auth {
				t.Error("an unsigned CNAME link made the answer authentic")
			}
			_, _, err = r.LookupMX(ctx, "nope.test")
			if !delivery.IsNotFound(err) {
				t.Errorf("NXDOMAIN: %v", err)
			}
			_, _, err = r.LookupIP(ctx, "nope.test")
			if !delivery.IsNotFound(err) {
				t.Errorf("NXDOMAIN IP: %v", err)
			}
			_, _, err = r.LookupMX(ctx, "broken.test")
			if err == nil || delivery.IsNotFound(err) {
				t.Errorf("SERVFAIL must be a temporary error, got %v", err)
			} else if de, ok := err.(*delivery.DNSError); !ok || !de.Temporary() {
				t.Errorf("SERVFAIL error %T %v", err, err)
			}
			mx, _, err = r.LookupMX(ctx, "mx.signed.test")
			if err != nil || len(mx) != 0 {
				t.Errorf("NODATA: %v %v", mx, err)
			}
			mx, _, err = r.LookupMX(ctx, "null.test")
			if err != nil || len(mx) != 1 || mx[0].Host != "." {
				t.Errorf("null MX: %v %v", mx, err)
			}
			txt, auth, err := r.LookupTXT(ctx, "signed.test")
			if err != nil || !auth || !slices.Equal(txt, []string{"v=STSv1; id=1"}) {
				t.Errorf("TXT: %q %v %v", txt, auth, err)
			}
			tlsa, auth, err := r.LookupTLSA(ctx, "_25._tcp.mx.signed.test")
			if err != nil || !auth || len(tlsa) != 1 || tlsa[0].Usage != 3 || string(tlsa[0].Data) != "\xde\xad" {
				t.Errorf("TLSA: %+v %v %v", tlsa, auth, err)
			}
			txt, _, err = r.LookupTXT(ctx, "big.test")
			if err != nil || len(txt) != 1 || len(txt[0]) != 600 {
				t.Errorf("long TXT: %d %v", len(txt), err)
			}
		})
	}
	if srv.Queries("tcp") == 0 {
		t.Error("truncated UDP answer did not trigger a TCP retry")
	}
}

func TestDNSResolverServerFallbackAndTimeout(t *testing.T) {
	srv := dnstest.Start(t, testZone())
	dead := deadUDP(t)
	r := delivery.NewDNSResolver([]string{dead, srv.Addr()}, 300*time.Millisecond)
	mx, _, err := r.LookupMX(context.Background(), "signed.test")
	if err != nil || len(mx) != 1 {
		t.Fatalf("second server not used: %v %v", mx, err)
	}
	r = delivery.NewDNSResolver([]string{dead}, 300*time.Millisecond)
	start := time.Now()
	_, _, err = r.LookupMX(context.Background(), "signed.test")
	if err == nil || delivery.IsNotFound(err) || time.Since(start) > 3*time.Second {
		t.Fatalf("timeout: %v after %v", err, time.Since(start))
	}
	// A bare host gets port 53 and no servers at all is a temporary error.
	if _, _, err := delivery.NewDNSResolver(nil, 0).LookupMX(context.Background(), "x.test"); err == nil || delivery.IsNotFound(err) {
		t.Errorf("no servers: %v", err)
	}
}

// deadUDP returns a UDP address that swallows queries.
func deadUDP(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

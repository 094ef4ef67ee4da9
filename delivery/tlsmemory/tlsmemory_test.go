package tlsmemory_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/delivery/tlsmemory"
	"github.com/sealgate/sealgate/internal/mxtest"
)

type fixture struct {
	p    *tlsmemory.Policy
	logs *bytes.Buffer
	reg  *prometheus.Registry
	now  time.Time
	mu   sync.Mutex
}

func newFixture(t *testing.T, enforce bool) *fixture {
	t.Helper()
	f := &fixture{logs: &bytes.Buffer{}, reg: prometheus.NewRegistry(), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p, err := tlsmemory.New(tlsmemory.Options{
		Enforce:    enforce,
		Window:     24 * time.Hour,
		Clock:      func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now },
		Logger:     slog.New(slog.NewTextHandler(f.logs, nil)),
		Registerer: f.reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	return f
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fixture) downgrades(t *testing.T, enforced string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "sealgate_tls_downgrades_total" && m.GetLabel()[0].GetValue() == enforced {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func checkTLS(f *fixture, level delivery.TLSLevel) (delivery.TLSLevel, error) {
	return f.p.CheckTLS(context.Background(), "Example.Test.", "mx.example.test", tls.ConnectionState{}, level)
}

func TestReportOnly(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	if l, err := checkTLS(f, delivery.LevelVerified); err != nil || l != delivery.LevelVerified {
		t.Fatalf("first verified connection: %v %v", l, err)
	}
	if l, err := checkTLS(f, delivery.LevelTLS); err != nil || l != delivery.LevelTLS {
		t.Errorf("report-only mode refused a downgrade: %v %v", l, err)
	}
	if fl, _ := f.p.Floor(ctx, "example.test"); fl != 0 {
		t.Errorf("report-only floor %v", fl)
	}
	logs := f.logs.String()
	for _, want := range []string{"level=WARN", `msg="tls downgrade attempt"`, "domain=example.test", "mx=mx.example.test", "previous=tls-verified", "now=tls"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q: %s", want, logs)
		}
	}
	if f.downgrades(t, "false") != 1 {
		t.Errorf("downgrades{enforced=false} = %v", f.downgrades(t, "false"))
	}
	// The downgrade did not lower the memory.
	if l, ok := f.p.Remembered(ctx, "example.test"); !ok || l != delivery.LevelVerified {
		t.Errorf("remembered %v %v after a downgrade", l, ok)
	}
	// A plaintext delivery, which never reaches CheckTLS, is reported
	// through Observe.
	f.p.Observe(ctx, "example.test", "mx.example.test", delivery.LevelNone)
	if f.downgrades(t, "false") != 2 {
		t.Errorf("plaintext delivery not reported: %v", f.downgrades(t, "false"))
	}
	// A domain never seen before is not a downgrade.
	f.p.Observe(ctx, "fresh.test", "mx.fresh.test", delivery.LevelNone)
	if _, err := f.p.CheckTLS(ctx, "fresh2.test", "mx", tls.ConnectionState{}, delivery.LevelTLS); err != nil || f.downgrades(t, "false") != 2 {
		t.Errorf("first contact counted as a downgrade")
	}
}

func TestEnforce(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	if fl, _ := f.p.Floor(ctx, "example.test"); fl != 0 {
		t.Fatalf("unknown domain floor %v", fl)
	}
	checkTLS(f, delivery.LevelTLS)
	if fl, _ := f.p.Floor(ctx, "example.test"); fl != delivery.PolicyRequired {
		t.Errorf("after tls: floor %v, want required", fl)
	}
	checkTLS(f, delivery.LevelVerified)
	if fl, _ := f.p.Floor(ctx, "example.test"); fl != delivery.PolicyVerified {
		t.Errorf("after tls-verified: floor %v, want verified", fl)
	}
	if l, err := checkTLS(f, delivery.LevelTLS); err == nil {
		t.Errorf("enforced downgrade accepted at %v", l)
	}
	if f.downgrades(t, "true") != 1 {
		t.Errorf("downgrades{enforced=true} = %v", f.downgrades(t, "true"))
	}
	// Each verified connection refreshes the memory; Window after the last
	// one it is forgotten.
	f.advance(20 * time.Hour)
	checkTLS(f, delivery.LevelVerified)
	f.advance(20 * time.Hour)
	if fl, _ := f.p.Floor(ctx, "example.test"); fl != delivery.PolicyVerified {
		t.Errorf("refreshed memory forgotten early: %v", fl)
	}
	f.advance(5 * time.Hour)
	if fl, _ := f.p.Floor(ctx, "example.test"); fl != 0 {
		t.Errorf("memory kept past Window: %v", fl)
	}
	if l, err := checkTLS(f, delivery.LevelTLS); err != nil || l != delivery.LevelTLS {
		t.Errorf("after Window: %v %v", l, err)
	}
}

func TestConcurrentRaisesOnly(t *testing.T) {
	f := newFixture(t, false)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			lvl := delivery.LevelTLS
			if i%2 == 0 {
				lvl = delivery.LevelVerified
			}
			checkTLS(f, lvl)
		})
	}
	wg.Wait()
	if l, _ := f.p.Remembered(context.Background(), "example.test"); l != delivery.LevelVerified {
		t.Errorf("remembered %v", l)
	}
}

func TestMemoryStoreBounded(t *testing.T) {
	s := tlsmemory.NewMemoryStore(2)
	ctx := context.Background()
	for _, d := range []string{"a", "b", "c"} {
		s.Put(ctx, d, tlsmemory.Entry{Level: delivery.LevelTLS})
	}
	if _, ok := s.Get(ctx, "a"); ok || s.Len() != 2 {
		t.Errorf("store not bounded: len %d", s.Len())
	}
	if n, err := testutil.GatherAndCount(newFixture(t, false).reg, "sealgate_tls_downgrades_total"); err != nil || n != 2 {
		t.Errorf("series %d %v", n, err)
	}
}

// TestDeliveryDowngrade: a destination first seen with a CA-valid
// certificate is later reached through an attacker with a self-signed one.
func TestDeliveryDowngrade(t *testing.T) {
	ca := mxtest.NewCA(t)
	good := ca.Issue(t, "mx.example.test")
	evil := mxtest.SelfSigned(t, "mx.example.test")
	for _, enforce := range []bool{true, false} {
		f := newFixture(t, enforce)
		srv := dnstest.Start(t, dnstest.Zone{
			"example.test":    {MX: []*net.MX{{Host: "mx.example.test", Pref: 10}}},
			"mx.example.test": {A: []string{"192.0.2.1"}},
		})
		dialer := &mxtest.Dialer{Map: map[string]string{}}
		c, err := delivery.New(delivery.Options{
			Hostname: "gw.sealgate.test",
			Resolver: delivery.NewDNSResolver([]string{srv.Addr()}, 2*time.Second),
			Dialer:   dialer, RootCAs: ca.Pool(),
			Policies:       []delivery.Policy{f.p},
			ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		send := func(o mxtest.Options) (delivery.Result, *mxtest.Server) {
			mx := mxtest.Start(t, o)
			dialer.Map["192.0.2.1:25"] = mx.Addr()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r := c.Deliver(ctx, delivery.Request{ID: "Q", From: "a@s.test", Rcpts: []string{"u@example.test"},
				Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("Subject: x\r\n\r\nx\r\n")), nil }})
			if r[0].Outcome == delivery.Delivered {
				f.p.Observe(context.Background(), "example.test", r[0].MX, r[0].TLSLevel)
			}
			return r[0], mx
		}
		if r, _ := send(mxtest.Options{TLS: mxtest.TLSModern, Cert: &good}); r.Outcome != delivery.Delivered || r.TLSLevel != delivery.LevelVerified {
			t.Fatalf("enforce=%v: first delivery %+v", enforce, r)
		}
		for _, attack := range []mxtest.Options{{TLS: mxtest.TLSModern, Cert: &evil}, {}} {
			r, mx := send(attack)
			if enforce && (r.Outcome != delivery.TempFail || mx.MailCount() != 0) {
				t.Errorf("enforced memory let a downgrade through (STARTTLS=%v): %+v, MAIL %d", attack.TLS != mxtest.TLSOff, r, mx.MailCount())
			}
			if !enforce && r.Outcome != delivery.Delivered {
				t.Errorf("report-only memory blocked delivery: %+v", r)
			}
		}
		if !enforce && f.downgrades(t, "false") != 2 {
			t.Errorf("report-only: %v downgrades reported, want 2 (self-signed, then plaintext)", f.downgrades(t, "false"))
		}
	}
}

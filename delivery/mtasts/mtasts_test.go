package mtasts_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/delivery/mtasts"
	"github.com/sealgate/sealgate/internal/mxtest"
)

const (
	enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmx: *.backup.example.test\r\nmax_age: 86400\r\n"
	testingPolicy = "version: STSv1\nmode: testing\nmx: mx.example.test\nmax_age: 86400\n"
	policyIP      = "192.0.2.80"
)

// clock is a settable Options.Clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// policyHost is an HTTPS server standing in for mta-sts.example.test; what
// it serves can be changed while it runs.
type policyHost struct {
	mu          sync.Mutex
	body        string
	contentType string
	status      int
	location    string
	cert        *tls.Certificate
	hits        int
	srv         *httptest.Server
}

func (h *policyHost) set(f func(h *policyHost)) {
	h.mu.Lock()
	f(h)
	h.mu.Unlock()
}

func (h *policyHost) Hits() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits
}

func (h *policyHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.hits++
	body, ct, status, loc := h.body, h.contentType, h.status, h.location
	h.mu.Unlock()
	if r.URL.Path != "/.well-known/mta-sts.txt" || r.Host != "mta-sts.example.test" {
		http.Error(w, "wrong URL", http.StatusNotFound)
		return
	}
	if loc != "" {
		http.Redirect(w, r, loc, http.StatusMovedPermanently)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// world is a loopback setup: a fake DNS server, a policy host reached
// through a mapping dialer, a test CA trusted for both.
type world struct {
	t      *testing.T
	ca     *mxtest.CA
	dns    *dnstest.Server
	dialer *mxtest.Dialer
	host   *policyHost
	good   tls.Certificate // CA-issued for mta-sts.example.test
	clock  *clock
	logs   *bytes.Buffer
	reg    *prometheus.Registry
}

func newWorld(t *testing.T, policy string) *world {
	t.Helper()
	ca := mxtest.NewCA(t)
	w := &world{
		t:      t,
		ca:     ca,
		dialer: &mxtest.Dialer{Map: map[string]string{}},
		clock:  &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		logs:   &bytes.Buffer{},
		reg:    prometheus.NewRegistry(),
	}
	w.dns = dnstest.Start(t, dnstest.Zone{
		"example.test":              {MX: []*net.MX{{Host: "mx.example.test", Pref: 10}}},
		"mx.example.test":           {A: []string{"192.0.2.1"}},
		"_mta-sts.example.test":     {TXT: []string{"v=STSv1; id=one;"}},
		"mta-sts.example.test":      {A: []string{policyIP}},
		"other.backup.example.test": {A: []string{"192.0.2.2"}},
	})
	good := ca.Issue(t, "mta-sts.example.test")
	w.good = good
	h := &policyHost{body: policy, contentType: "text/plain; charset=utf-8", status: 200, cert: &good}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.cert, nil
	}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	h.srv = srv
	w.host = h
	w.dialer.Map[policyIP+":443"] = srv.Listener.Addr().String()
	return w
}

func (w *world) resolver() delivery.Resolver {
	return delivery.NewDNSResolver([]string{w.dns.Addr()}, 2*time.Second)
}

func (w *world) policy(mut ...func(*mtasts.Options)) *mtasts.Policy {
	w.t.Helper()
	w.reg = prometheus.NewRegistry() // each Policy counts afresh
	o := mtasts.Options{
		Resolver:     w.resolver(),
		Dialer:       w.dialer,
		RootCAs:      w.ca.Pool(),
		FetchTimeout: 5 * time.Second,
		Clock:        w.clock.Now,
		Logger:       slog.New(slog.NewTextHandler(w.logs, nil)),
		Registerer:   w.reg,
	}
	for _, m := range mut {
		m(&o)
	}
	p, err := mtasts.New(o)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *world) fetches(result string) int {
	w.t.Helper()
	return countOf(w.t, w.reg, "sealgate_mtasts_policy_fetches_total", map[string]string{"result": result})
}

func (w *world) failures(mode, reason string) int {
	w.t.Helper()
	return countOf(w.t, w.reg, "sealgate_mtasts_failures_total", map[string]string{"mode": mode, "reason": reason})
}

// countOf reads one counter from a registry (0 when absent).
func countOf(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return int(m.GetCounter().GetValue())
		}
	}
	return 0
}

func floor(t *testing.T, p *mtasts.Policy) delivery.TLSPolicy {
	t.Helper()
	f, err := p.Floor(context.Background(), "example.test")
	if err != nil {
		t.Fatalf("Floor returned an error: %v (discovery failures must mean no policy, not deferral)", err)
	}
	return f
}

func TestEnforce(t *testing.T) {
	w := newWorld(t, enforcePolicy)
	p := w.policy()
	ctx := context.Background()
	if f := floor(t, p); f != delivery.PolicyVerified {
		t.Fatalf("Floor = %v, want verified", f)
	}
	if err := p.AllowMX(ctx, "example.test", "mx.example.test."); err != nil {
		t.Errorf("listed MX refused: %v", err)
	}
	if err := p.AllowMX(ctx, "example.test", "other.backup.example.test"); err != nil {
		t.Errorf("wildcard-listed MX refused: %v", err)
	}
	for _, h := range []string{"evil.test", "backup.example.test", "a.b.backup.example.test"} {
		if err := p.AllowMX(ctx, "example.test", h); err == nil {
			t.Errorf("MX %s not in the policy was allowed", h)
		}
	}
	if got := w.failures("enforce", "mx_mismatch"); got != 3 {
		t.Errorf("mx_mismatch failures %d, want 3", got)
	}
	if l, err := p.CheckTLS(ctx, "example.test", "mx.example.test", tls.ConnectionState{}, delivery.LevelTLS); err == nil {
		t.Errorf("unverified certificate accepted under enforce (level %v)", l)
	}
	if l, err := p.CheckTLS(ctx, "example.test", "mx.example.test", tls.ConnectionState{}, delivery.LevelVerified); err != nil || l != delivery.LevelVerified {
		t.Errorf("verified connection: %v %v", l, err)
	}
	if got := w.failures("enforce", "tls_unverified"); got != 1 {
		t.Errorf("tls_unverified failures %d, want 1", got)
	}
	if w.fetches("ok") != 1 {
		t.Errorf("fetches ok %d", w.fetches("ok"))
	}
	// Another domain has no policy at all: no opinion.
	if f, err := p.Floor(ctx, "nopolicy.test"); f != 0 || err != nil {
		t.Errorf("unrelated domain floor %v %v", f, err)
	}
	if err := p.AllowMX(ctx, "nopolicy.test", "anything.test"); err != nil {
		t.Errorf("unrelated domain: %v", err)
	}
}

func TestTestingModeReportsOnly(t *testing.T) {
	w := newWorld(t, testingPolicy)
	p := w.policy()
	ctx := context.Background()
	if f := floor(t, p); f != 0 {
		t.Fatalf("testing mode raised the floor to %v", f)
	}
	if err := p.AllowMX(ctx, "example.test", "rogue.example.test"); err != nil {
		t.Errorf("testing mode refused an MX: %v", err)
	}
	if l, err := p.CheckTLS(ctx, "example.test", "rogue.example.test", tls.ConnectionState{}, delivery.LevelTLS); err != nil || l != delivery.LevelTLS {
		t.Errorf("testing mode CheckTLS: %v %v", l, err)
	}
	if w.failures("testing", "mx_mismatch") != 1 || w.failures("testing", "tls_unverified") != 1 {
		t.Errorf("failures not counted: mx %d tls %d", w.failures("testing", "mx_mismatch"), w.failures("testing", "tls_unverified"))
	}
	logs := w.logs.String()
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "domain=example.test") ||
		!strings.Contains(logs, "mx=rogue.example.test") || !strings.Contains(logs, "reason=mx_mismatch") {
		t.Errorf("warning line missing: %s", logs)
	}
}

func TestModeNoneAndNoRecord(t *testing.T) {
	w := newWorld(t, "version: STSv1\nmode: none\nmax_age: 86400\n")
	p := w.policy()
	if f := floor(t, p); f != 0 {
		t.Errorf("mode none floor %v", f)
	}
	if err := p.AllowMX(context.Background(), "example.test", "rogue.test"); err != nil {
		t.Errorf("mode none: %v", err)
	}
	// No TXT record: nothing is fetched.
	w2 := newWorld(t, enforcePolicy)
	w2.dns.Set("_mta-sts.example.test", dnstest.Records{})
	if f := floor(t, w2.policy()); f != 0 || w2.host.Hits() != 0 {
		t.Errorf("no record: floor %v, %d fetches", f, w2.host.Hits())
	}
	// Two STSv1 records: no policy (§3.1), nothing fetched.
	w2.dns.Set("_mta-sts.example.test", dnstest.Records{TXT: []string{"v=STSv1; id=a;", "v=STSv1; id=b;"}})
	if f := floor(t, w2.policy()); f != 0 || w2.host.Hits() != 0 {
		t.Errorf("two records: floor %v, %d fetches", f, w2.host.Hits())
	}
}

func TestZeroMaxAgeAppliesToCurrentDelivery(t *testing.T) {
	w := newWorld(t, "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 0\n")
	p := w.policy()
	if f := floor(t, p); f != delivery.PolicyVerified {
		t.Fatalf("floor %v", f)
	}
	if err := p.AllowMX(context.Background(), "example.test", "rogue.test"); err == nil {
		t.Error("max_age 0: Floor enforced but AllowMX of the same delivery did not")
	}
}

func TestIDChangeRefetches(t *testing.T) {
	w := newWorld(t, enforcePolicy)
	p := w.policy()
	floor(t, p)
	floor(t, p)
	if h := w.host.Hits(); h != 1 {
		t.Fatalf("same id fetched %d times, want 1 (cached)", h)
	}
	w.host.set(func(h *policyHost) { h.body = testingPolicy })
	w.dns.Set("_mta-sts.example.test", dnstest.Records{TXT: []string{"v=STSv1; id=two;"}})
	if f := floor(t, p); f != 0 {
		t.Errorf("after id change floor %v, want the new testing policy (0)", f)
	}
	if h := w.host.Hits(); h != 2 {
		t.Errorf("id change: %d fetches, want 2", h)
	}
	// The same id past max_age is fetched again.
	w.host.set(func(h *policyHost) { h.body = enforcePolicy })
	w.clock.Add(86401 * time.Second)
	if f := floor(t, p); f != delivery.PolicyVerified || w.host.Hits() != 3 {
		t.Errorf("after expiry: floor %v, %d fetches", f, w.host.Hits())
	}
}

// TestCachedPolicySurvivesDowngrade is the anti-downgrade point of §5.1:
// once an enforce policy is known, an attacker who removes the TXT record,
// breaks DNS or the policy host cannot turn enforcement off before max_age.
func TestCachedPolicySurvivesDowngrade(t *testing.T) {
	w := newWorld(t, enforcePolicy)
	p := w.policy()
	if f := floor(t, p); f != delivery.PolicyVerified {
		t.Fatalf("floor %v", f)
	}
	self := mxtest.SelfSigned(t, "mta-sts.example.test")
	attacks := []struct {
		name string
		do   func()
	}{
		{"txt-removed", func() { w.dns.Set("_mta-sts.example.test", dnstest.Records{}) }},
		{"txt-nxdomain", func() { w.dns.Set("_mta-sts.example.test", dnstest.Records{CNAME: "gone.test"}) }},
		{"txt-servfail", func() { w.dns.Set("_mta-sts.example.test", dnstest.Records{ServFail: true}) }},
		{"txt-garbage", func() { w.dns.Set("_mta-sts.example.test", dnstest.Records{TXT: []string{"v=STSv1; id=!!;"}}) }},
		{"new-id-host-invalid-cert", func() {
			w.dns.Set("_mta-sts.example.test", dnstest.Records{TXT: []string{"v=STSv1; id=three;"}})
			w.host.set(func(h *policyHost) { h.cert = &self })
		}},
		{"new-id-404", func() {
			w.dns.Set("_mta-sts.example.test", dnstest.Records{TXT: []string{"v=STSv1; id=four;"}})
			w.host.set(func(h *policyHost) { h.status, h.cert = 404, &w.good })
		}},
	}
	for _, a := range attacks {
		a.do()
		if f := floor(t, p); f != delivery.PolicyVerified {
			t.Errorf("%s: floor %v, want the cached enforce policy", a.name, f)
		}
		if err := p.AllowMX(context.Background(), "example.test", "rogue.test"); err == nil {
			t.Errorf("%s: rogue MX allowed", a.name)
		}
	}
	if w.fetches("error") != 1 || w.fetches("http_status") != 1 {
		t.Errorf("fetch failures: error %d http_status %d", w.fetches("error"), w.fetches("http_status"))
	}
	// Past max_age the cached policy is gone, and with it enforcement.
	w.clock.Add(86401 * time.Second)
	if f := floor(t, p); f != 0 {
		t.Errorf("expired policy still enforced: %v", f)
	}
}

func TestFetchFailuresMeanNoPolicy(t *testing.T) {
	self := mxtest.SelfSigned(t, "mta-sts.example.test")
	cases := []struct {
		name   string
		mut    func(h *policyHost)
		result string
	}{
		{"self-signed-cert", func(h *policyHost) { h.cert = &self }, "error"},
		{"cert-for-other-name", nil, "error"},
		{"redirect", func(h *policyHost) { h.location = "https://mta-sts.example.test/elsewhere" }, "redirect"},
		{"status-500", func(h *policyHost) { h.status = 500 }, "http_status"},
		{"content-type-html", func(h *policyHost) { h.contentType = "text/html" }, "content_type"},
		{"no-content-type", func(h *policyHost) { h.contentType = "" }, "content_type"},
		{"oversize", func(h *policyHost) {
			h.body = enforcePolicy + strings.Repeat("x-pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 2000)
		}, "too_large"},
		{"invalid", func(h *policyHost) { h.body = "version: STSv1\nmode: enforce\nmax_age: 86400\n" }, "invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, enforcePolicy)
			if tc.mut != nil {
				w.host.set(tc.mut)
			}
			if tc.name == "cert-for-other-name" {
				c := w.ca.Issue(t, "www.example.test")
				w.host.set(func(h *policyHost) { h.cert = &c })
			}
			p := w.policy()
			if f := floor(t, p); f != 0 {
				t.Errorf("floor %v, want no policy", f)
			}
			if err := p.AllowMX(context.Background(), "example.test", "rogue.test"); err != nil {
				t.Errorf("no policy but AllowMX refused: %v", err)
			}
			if got := w.fetches(tc.result); got != 1 {
				t.Errorf("fetches{result=%q} = %d, want 1", tc.result, got)
			}
			if w.fetches("ok") != 0 {
				t.Error("counted as ok")
			}
		})
	}
}

func TestSizeLimitBoundary(t *testing.T) {
	body := enforcePolicy
	pad := "x-pad: " + strings.Repeat("a", 100) + "\n"
	for mtasts.MaxPolicySize-len(body) > 2*len(pad) {
		body += pad
	}
	last := "x-last: "
	body += last + strings.Repeat("a", mtasts.MaxPolicySize-len(body)-len(last)-1) + "\n"
	if len(body) != mtasts.MaxPolicySize {
		t.Fatalf("test body is %d bytes", len(body))
	}
	w := newWorld(t, body)
	if f := floor(t, w.policy()); f != delivery.PolicyVerified {
		t.Errorf("a policy of exactly %d bytes was refused (floor %v)", mtasts.MaxPolicySize, f)
	}
	w2 := newWorld(t, body+"\n")
	if f := floor(t, w2.policy()); f != 0 || w2.fetches("too_large") != 1 {
		t.Errorf("a policy one byte over the limit: floor %v, too_large %d", f, w2.fetches("too_large"))
	}
}

func TestFailedFetchNotRepeatedAtOnce(t *testing.T) {
	w := newWorld(t, enforcePolicy)
	w.host.set(func(h *policyHost) { h.status = 503 })
	p := w.policy(func(o *mtasts.Options) { o.RetryAfter = time.Minute })
	floor(t, p)
	floor(t, p)
	if h := w.host.Hits(); h != 1 {
		t.Errorf("failed fetch repeated within RetryAfter: %d hits", h)
	}
	w.host.set(func(h *policyHost) { h.status = 200 })
	w.clock.Add(61 * time.Second)
	if f := floor(t, p); f != delivery.PolicyVerified || w.host.Hits() != 2 {
		t.Errorf("after RetryAfter: floor %v, hits %d", f, w.host.Hits())
	}
}

func TestConcurrentDiscoveryFetchesOnce(t *testing.T) {
	w := newWorld(t, enforcePolicy)
	p := w.policy()
	var wg sync.WaitGroup
	errs := make(chan string, 32)
	for range 32 {
		wg.Go(func() {
			f, err := p.Floor(context.Background(), "Example.Test.")
			if err != nil || f != delivery.PolicyVerified {
				errs <- fmt.Sprintf("floor %v %v", f, err)
			}
			if err := p.AllowMX(context.Background(), "example.test", "rogue.test"); err == nil {
				errs <- "rogue allowed"
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if h := w.host.Hits(); h != 1 {
		t.Errorf("%d concurrent discoveries made %d fetches, want 1", 32, h)
	}
}

func TestCacheBounded(t *testing.T) {
	c := mtasts.NewMemoryCache(2)
	ctx := context.Background()
	for _, d := range []string{"a.test", "b.test", "c.test"} {
		c.Put(ctx, d, mtasts.CacheEntry{ID: d})
	}
	if c.Len() != 2 {
		t.Errorf("len %d", c.Len())
	}
	if _, ok := c.Get(ctx, "a.test"); ok {
		t.Error("least recently used entry kept")
	}
	if e, ok := c.Get(ctx, "C.TEST"); !ok || e.ID != "c.test" {
		t.Errorf("get c: %+v %v", e, ok)
	}
}

func TestNewNeedsResolver(t *testing.T) {
	if _, err := mtasts.New(mtasts.Options{}); err == nil {
		t.Error("New without a Resolver succeeded")
	}
	reg := prometheus.NewRegistry()
	r := dnstest.NewResolver(dnstest.Zone{})
	if _, err := mtasts.New(mtasts.Options{Resolver: r, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	// Every fetch result is exported from the start, so rates work.
	if n, err := testutil.GatherAndCount(reg, "sealgate_mtasts_policy_fetches_total"); err != nil || n != 7 {
		t.Errorf("fetch series %d, %v; want 7", n, err)
	}
}

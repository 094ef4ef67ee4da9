package delivery_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/internal/mxtest"
)

func TestMixedRcptReplies(t *testing.T) {
	e := newEnv(t, oneMX())
	mx := e.mx("192.0.2.1:25", mxtest.Options{RcptReplies: map[string]*smtp.SMTPError{
		"busy@example.test": {Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy"},
		"gone@example.test": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"},
	}})
	res := deliver(t, e.client(), req("example.test", "busy@example.test", "ok@example.test", "gone@example.test"))
	want := []struct {
		o    delivery.Outcome
		code int
		enh  string
	}{{delivery.TempFail, 450, "4.2.1"}, {delivery.Delivered, 250, "2.0.0"}, {delivery.PermFail, 550, "5.1.1"}}
	for i, w := range want {
		if res[i].Outcome != w.o || res[i].Code != w.code || res[i].Enhanced != w.enh || res[i].MX != "mx.example.test" {
			t.Errorf("result %d: %+v, want %v %d %s", i, res[i], w.o, w.code, w.enh)
		}
	}
	if !strings.Contains(res[2].Text, "no such user") {
		t.Errorf("remote text not kept: %q", res[2].Text)
	}
	m := mx.Messages()
	if len(m) != 1 || len(m[0].Rcpts) != 1 || m[0].Rcpts[0] != "ok@example.test" {
		t.Fatalf("messages %+v", m)
	}
}

func TestAllRcptsRefusedSendsNoData(t *testing.T) {
	e := newEnv(t, oneMX())
	mx := e.mx("192.0.2.1:25", mxtest.Options{RcptReplies: map[string]*smtp.SMTPError{
		"a@example.test": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no"},
	}})
	opened := 0
	r := req("example.test", "a@example.test")
	r.Open = func() (io.ReadCloser, error) { opened++; return io.NopCloser(strings.NewReader(testBody)), nil }
	wantOutcome(t, deliver(t, e.client(), r), delivery.PermFail)
	if opened != 0 || len(mx.Messages()) != 0 {
		t.Errorf("opened %d times, %d messages", opened, len(mx.Messages()))
	}
}

func TestDataRejected(t *testing.T) {
	for _, tc := range []struct {
		reply   *smtp.SMTPError
		outcome delivery.Outcome
	}{
		{&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "spam"}, delivery.PermFail},
		{&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"}, delivery.TempFail},
	} {
		e := newEnv(t, oneMX())
		e.mx("192.0.2.1:25", mxtest.Options{DataReply: tc.reply})
		res := deliver(t, e.client(), req("example.test", "a@example.test", "b@example.test"))
		wantOutcome(t, res, tc.outcome)
		for _, r := range res {
			if r.Code != tc.reply.Code {
				t.Errorf("%+v", r)
			}
		}
	}
}

func TestMailRejected(t *testing.T) {
	e := newEnv(t, oneMX())
	e.mx("192.0.2.1:25", mxtest.Options{MailReply: &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "sender refused"}})
	res := deliver(t, e.client(), req("example.test", "a@example.test", "b@example.test"))
	wantOutcome(t, res, delivery.PermFail)
}

type countingSigner struct {
	calls atomic.Int32
	hdr   string
}

func (s *countingSigner) Sign(r io.Reader) ([]byte, error) {
	s.calls.Add(1)
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, s.hdr, h.Sum(nil)[:4]), nil
}

func TestDKIMHeadersPrependedOnce(t *testing.T) {
	e := newEnv(t, dnstest.Zone{
		"example.test":     {MX: []*net.MX{{Host: "mx1.example.test", Pref: 10}, {Host: "mx2.example.test", Pref: 20}}},
		"mx1.example.test": {A: []string{"192.0.2.1"}},
		"mx2.example.test": {A: []string{"192.0.2.2"}},
	})
	// mx1 refuses the connection (not mapped): the message must still be
	// signed once, and sent once, via mx2.
	mx2 := e.mx("192.0.2.2:25", mxtest.Options{})
	s := &countingSigner{hdr: "DKIM-Signature: v=1; b=%x\r\nARC-Seal: i=1\r\n"}
	res := deliver(t, e.client(func(o *delivery.Options) { o.Signer = s }), req("example.test", "u@example.test"))
	wantOutcome(t, res, delivery.Delivered)
	if s.calls.Load() != 1 {
		t.Errorf("signer called %d times", s.calls.Load())
	}
	m := mx2.Messages()
	if len(m) != 1 {
		t.Fatalf("%d messages", len(m))
	}
	got := string(m[0].Data)
	if strings.Count(got, "DKIM-Signature:") != 1 || !strings.HasPrefix(got, "DKIM-Signature: v=1; b=") ||
		!strings.HasSuffix(got, "\r\nARC-Seal: i=1\r\n"+testBody) {
		t.Errorf("sent message:\n%s", got)
	}
}

type badSigner struct{ out []byte }

func (b badSigner) Sign(r io.Reader) ([]byte, error) { return b.out, nil }

func TestMalformedSignatureNotSent(t *testing.T) {
	e := newEnv(t, oneMX())
	mx := e.mx("192.0.2.1:25", mxtest.Options{})
	c := e.client(func(o *delivery.Options) { o.Signer = badSigner{out: []byte("DKIM-Signature: x\n\r\n.\r\nMAIL FROM")} })
	wantOutcome(t, deliver(t, c, req("example.test", "u@example.test")), delivery.TempFail)
	if len(mx.Messages()) != 0 {
		t.Error("message sent with a malformed signature")
	}
}

// genReader yields size bytes of CRLF lines without holding them.
type genReader struct {
	left int64
	line []byte
	off  int
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && g.left > 0 {
		c := copy(p[n:], g.line[g.off:])
		if int64(c) > g.left {
			c = int(g.left)
		}
		n += c
		g.left -= int64(c)
		g.off = (g.off + c) % len(g.line)
	}
	return n, nil
}

func TestLargeMessageStreamsWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large message")
	}
	line := []byte(strings.Repeat("0123456789abcdef", 4) + "\r\n..x\r\n") // dot-stuffed on the wire
	size := int64(20<<20) / int64(len(line)) * int64(len(line))
	open := func() (io.ReadCloser, error) {
		return io.NopCloser(&genReader{left: size, line: line}), nil
	}
	e := newEnv(t, oneMX())
	ca := mxtest.NewCA(t)
	cert := ca.Issue(t, "mx.example.test")
	mx := e.mx("192.0.2.1:25", mxtest.Options{TLS: mxtest.TLSModern, Cert: &cert, DiscardBody: true})
	s := &countingSigner{hdr: "DKIM-Signature: b=%x\r\n"}
	c := e.client(func(o *delivery.Options) { o.Signer = s; o.RootCAs = ca.Pool() })
	// Warm up (TLS, DNS and first-use allocations), then measure.
	wantOutcome(t, deliver(t, c, req("example.test", "u@example.test")), delivery.Delivered)
	r := req("example.test", "u@example.test")
	r.Open, r.Size = open, size

	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	start := time.Now()
	res := deliver(t, c, r)
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	runtime.ReadMemStats(&m1)
	wantOutcome(t, res, delivery.Delivered)

	msgs := mx.Messages()[1:]
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	// The server saw exactly signature + body.
	sig, _ := s.Sign(open2(open))
	h := sha256.New()
	io.Copy(h, io.MultiReader(bytes.NewReader(sig), must(open())))
	if msgs[0].SHA256 != [32]byte(h.Sum(nil)) || msgs[0].Size != int64(len(sig))+size {
		t.Errorf("server got %d bytes with a different digest", msgs[0].Size)
	}
	// Client and fake server share this process: all allocations of both
	// during a 20 MiB delivery (signed, over TLS) stay far below the size.
	alloc := m1.TotalAlloc - m0.TotalAlloc
	growth := int64(peak.Load()) - int64(m0.HeapInuse)
	t.Logf("20 MiB signed and sent over TLS in %v: %.1f MiB allocated in total, peak heap growth %.1f MiB (client and fake server together)",
		elapsed, float64(alloc)/(1<<20), float64(growth)/(1<<20))
	// A buffered copy would allocate at least size bytes and hold them.
	if alloc > uint64(size)/2 || growth > 8<<20 {
		t.Errorf("allocated %d bytes, heap grew %d bytes for a %d-byte message: not streaming", alloc, growth, size)
	}
}

func open2(open func() (io.ReadCloser, error)) io.Reader { return must(open()) }

func must(r io.ReadCloser, err error) io.ReadCloser {
	if err != nil {
		panic(err)
	}
	return r
}

func TestSMTPUTF8(t *testing.T) {
	e := newEnv(t, oneMX())
	mx := e.mx("192.0.2.1:25", mxtest.Options{SMTPUTF8: true})
	r := req("example.test", "jösé@example.test")
	r.SMTPUTF8 = true
	wantOutcome(t, deliver(t, e.client(), r), delivery.Delivered)
	if m := mx.Messages(); len(m) != 1 || !m[0].MailOpts.UTF8 || m[0].Rcpts[0] != "jösé@example.test" {
		t.Errorf("%+v", m)
	}
	e2 := newEnv(t, oneMX())
	mx2 := e2.mx("192.0.2.1:25", mxtest.Options{})
	res := deliver(t, e2.client(), r)
	wantOutcome(t, res, delivery.PermFail)
	if res[0].Enhanced != "5.6.7" || mx2.MailCount() != 0 {
		t.Errorf("%+v", res[0])
	}
}

func TestTimeouts(t *testing.T) {
	e := newEnv(t, oneMX())
	e.dialer.Map["192.0.2.1:25"] = silentListener(t)
	start := time.Now()
	res := deliver(t, e.client(func(o *delivery.Options) { o.CommandTimeout = 300 * time.Millisecond }), req("example.test", "u@example.test"))
	wantOutcome(t, res, delivery.TempFail)
	if d := time.Since(start); d > 3*time.Second || !strings.Contains(res[0].Text, "timeout") {
		t.Errorf("took %v: %+v", d, res[0])
	}
	// Cancelling the context aborts a session stuck on a silent server.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	res = e.client().Deliver(ctx, req("example.test", "u@example.test"))
	wantOutcome(t, res, delivery.TempFail)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cancel took %v", d)
	}
	// DNS that never answers is a temporary failure, not a hang.
	e.dns.Set("slow.test", dnstest.Records{Delay: time.Second})
	c := e.client(func(o *delivery.Options) {
		o.Resolver = delivery.NewDNSResolver([]string{e.dns.Addr()}, 200*time.Millisecond)
	})
	res = deliver(t, c, req("slow.test", "u@slow.test"))
	wantOutcome(t, res, delivery.TempFail)
	if res[0].Enhanced != "4.4.3" {
		t.Errorf("%+v", res[0])
	}
}

// blockingOpen counts concurrent DATA phases.
type gate struct {
	mu       sync.Mutex
	cur, max int
	release  chan struct{}
}

func (g *gate) open() (io.ReadCloser, error) {
	g.mu.Lock()
	g.cur++
	g.max = max(g.max, g.cur)
	g.mu.Unlock()
	<-g.release
	return &closer{Reader: strings.NewReader(testBody), g: g}, nil
}

type closer struct {
	io.Reader
	g *gate
}

func (c *closer) Close() error {
	c.g.mu.Lock()
	c.g.cur--
	c.g.mu.Unlock()
	return nil
}

func TestMaxPerDestination(t *testing.T) {
	for _, limit := range []int{1, 3} {
		e := newEnv(t, oneMX())
		mx := e.mx("192.0.2.1:25", mxtest.Options{})
		c := e.client(func(o *delivery.Options) { o.MaxPerDestination = limit })
		g := &gate{release: make(chan struct{})}
		r := req("", "u@Example.Test") // domain taken from the recipient
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := r
				r.Open = g.open
				wantOutcome(t, c.Deliver(context.Background(), r), delivery.Delivered)
			}()
		}
		// Wait until limit deliveries are at the gate, give the others
		// time to (wrongly) join them, then open it.
		deadline := time.Now().Add(10 * time.Second)
		for {
			g.mu.Lock()
			cur := g.cur
			g.mu.Unlock()
			if cur >= limit || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		close(g.release)
		wg.Wait()
		if g.max != limit {
			t.Errorf("limit %d: %d concurrent deliveries", limit, g.max)
		}
		if _, err := mx.WaitFor(5, time.Second); err != nil {
			t.Error(err)
		}
	}
}

func TestOpenFailureDefers(t *testing.T) {
	e := newEnv(t, oneMX())
	mx := e.mx("192.0.2.1:25", mxtest.Options{})
	r := req("example.test", "u@example.test")
	r.Open = func() (io.ReadCloser, error) { return nil, errors.New("spool gone") }
	wantOutcome(t, deliver(t, e.client(), r), delivery.TempFail)
	// A body that fails half way is never completed with a final dot.
	r.Open = func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(strings.NewReader("Subject: x\r\n\r\npart"), errReader{})), nil
	}
	wantOutcome(t, deliver(t, e.client(), r), delivery.TempFail)
	if len(mx.Messages()) != 0 {
		t.Error("partial message accepted")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk error") }

func TestMetricsAndLogs(t *testing.T) {
	e := newEnv(t, oneMX())
	e.mx("192.0.2.1:25", mxtest.Options{TLS: mxtest.TLSModern, RcptReplies: map[string]*smtp.SMTPError{
		"gone@example.test": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "unknown"},
	}})
	reg := prometheus.NewRegistry()
	c := e.client(func(o *delivery.Options) { o.Registerer = reg })
	r := req("example.test", "ok@example.test", "gone@example.test")
	r.Open = opener("Subject: PATIENT-SECRET-SUBJECT\r\n\r\nSSN 078-05-1120\r\n")
	deliver(t, c, r)

	if n, err := testutil.GatherAndCount(reg, "sealgate_delivery_attempts_total", "sealgate_delivery_duration_seconds",
		"sealgate_delivery_tls_total", "sealgate_delivery_connections_total"); err != nil || n == 0 {
		t.Fatalf("metrics: %d %v", n, err)
	}
	mfs, _ := reg.Gather()
	vals := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetValue()
			}
			if m.Counter != nil {
				vals[key] = m.Counter.GetValue()
			}
		}
	}
	for k, v := range map[string]float64{
		"sealgate_delivery_attempts_total,delivered": 1,
		"sealgate_delivery_attempts_total,bounced":   1,
		"sealgate_delivery_tls_total,TLS1.3":         1,
		"sealgate_delivery_connections_total,ok":     1,
	} {
		if vals[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, vals[k], v, vals)
		}
	}
	logs := e.logs.String()
	if strings.Contains(logs, "PATIENT") || strings.Contains(logs, "078-05") {
		t.Errorf("message content in logs:\n%s", logs)
	}
	if !strings.Contains(logs, "id=Q1") || !strings.Contains(logs, "mx=mx.example.test") || !strings.Contains(logs, "tls=TLS1.3") {
		t.Errorf("attempt log lacks id/mx/tls:\n%s", logs)
	}
	// A second client on the same registry is a configuration error, not a panic.
	if _, err := delivery.New(func() delivery.Options { o := e.opts; o.Registerer = reg; return o }()); err == nil {
		t.Error("duplicate registration accepted")
	}
}

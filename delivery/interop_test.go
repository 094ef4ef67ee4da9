package delivery_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/internal/mxtest"
	"github.com/sealgate/sealgate/internal/testtool"
)

// startSink runs Postfix's smtp-sink on a loopback port, dumping each
// message into dir.
func startSink(t *testing.T, dir string, extra ...string) string {
	t.Helper()
	bin := testtool.Require(t, "smtp-sink")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"-h", "sink.test", "-d", filepath.Join(dir, "msg")}, extra...)
	if os.Geteuid() == 0 {
		// smtp-sink drops to nobody: let it into the test's own temp dirs.
		os.Chmod(filepath.Dir(dir), 0o755)
		os.Chmod(dir, 0o777)
		args = append(args, "-u", "nobody")
	}
	args = append(args, addr, "10")
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("smtp-sink did not start on %s", addr)
	return ""
}

// TestInteropPostfixSmtpSink delivers to Postfix's smtp-sink, a peer
// nobody here wrote, through a static route.
func TestInteropPostfixSmtpSink(t *testing.T) {
	dir := t.TempDir()
	addr := startSink(t, dir)
	e := newEnv(t, dnstest.Zone{})
	e.opts.Dialer = &net.Dialer{} // real loopback connection to the sink
	c := e.client(func(o *delivery.Options) {
		o.Routes = map[string]string{"sink.test": addr}
		o.Signer = &countingSigner{hdr: "DKIM-Signature: v=1; d=sender.test; b=%x\r\n"}
	})
	r := req("sink.test", "one@sink.test", "two@sink.test")
	res := deliver(t, c, r)
	wantOutcome(t, res, delivery.Delivered)
	if res[0].Code != 250 || res[0].TLSLevel != delivery.LevelNone {
		t.Errorf("%+v", res[0])
	}
	var files []string
	for range 50 {
		files, _ = filepath.Glob(filepath.Join(dir, "msg*"))
		if len(files) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(files) != 1 {
		t.Fatalf("smtp-sink wrote %d files", len(files))
	}
	dump, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	s := string(dump)
	for _, want := range []string{"X-Helo-Args: gw.sealgate.test", "X-Mail-Args: <a@sender.test>", "X-Rcpt-Args: <one@sink.test>",
		"X-Rcpt-Args: <two@sink.test>", "DKIM-Signature: v=1; d=sender.test;", "Subject: hello", "body line"} {
		if !strings.Contains(s, want) {
			t.Errorf("dump lacks %q:\n%s", want, s)
		}
	}
	if strings.Count(s, "DKIM-Signature:") != 1 {
		t.Errorf("signature count %d", strings.Count(s, "DKIM-Signature:"))
	}

	// smtp-sink offers no STARTTLS: a required policy must defer, not send.
	c = e.client(func(o *delivery.Options) {
		o.Routes = map[string]string{"sink.test": addr}
		o.DomainTLS = map[string]delivery.TLSPolicy{"sink.test": delivery.PolicyRequired}
	})
	res = deliver(t, c, r)
	wantOutcome(t, res, delivery.TempFail)
	time.Sleep(100 * time.Millisecond)
	if files, _ = filepath.Glob(filepath.Join(dir, "msg*")); len(files) != 1 {
		t.Errorf("plaintext delivery under required TLS: %d files", len(files))
	}

	// smtp-sink's soft and hard rejects at RCPT map to per-recipient outcomes.
	addr2 := startSink(t, t.TempDir(), "-q", "RCPT")
	c = e.client(func(o *delivery.Options) { o.Routes = map[string]string{"sink.test": addr2} })
	res = deliver(t, c, r)
	wantOutcome(t, res, delivery.TempFail)
}

// TestMetricsPassPromtool checks the exposition with promtool.
func TestMetricsPassPromtool(t *testing.T) {
	testtool.Require(t, "promtool")
	e := newEnv(t, oneMX())
	e.mx("192.0.2.1:25", mxtest.Options{TLS: mxtest.TLSModern})
	reg := prometheus.NewRegistry()
	c := e.client(func(o *delivery.Options) { o.Registerer = reg })
	c.Deliver(context.Background(), req("example.test", "u@example.test"))
	text := testtool.Exposition(t, reg)
	for _, name := range []string{"sealgate_delivery_attempts_total", "sealgate_delivery_duration_seconds_bucket",
		"sealgate_delivery_tls_total", "sealgate_delivery_connections_total"} {
		if !strings.Contains(text, name) {
			t.Errorf("exposition lacks %s", name)
		}
	}
	testtool.CheckMetrics(t, text)
}

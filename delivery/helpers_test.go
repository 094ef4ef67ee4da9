package delivery_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/internal/mxtest"
)

const testBody = "From: a@sender.test\r\nTo: b@example.test\r\nSubject: hello\r\n\r\nbody line\r\n"

// env is a loopback world: a fake DNS server, a dialer mapping TEST-NET
// addresses to fake MXes, and options pointing at both.
type env struct {
	t      *testing.T
	dns    *dnstest.Server
	dialer *mxtest.Dialer
	logs   *bytes.Buffer
	opts   delivery.Options
}

func newEnv(t *testing.T, zone dnstest.Zone) *env {
	t.Helper()
	d := dnstest.Start(t, zone)
	logs := &bytes.Buffer{}
	e := &env{
		t:      t,
		dns:    d,
		dialer: &mxtest.Dialer{Map: map[string]string{}},
		logs:   logs,
	}
	e.opts = delivery.Options{
		Hostname:       "gw.sealgate.test",
		Resolver:       delivery.NewDNSResolver([]string{d.Addr()}, 2*time.Second),
		Dialer:         e.dialer,
		ConnectTimeout: 2 * time.Second,
		CommandTimeout: 5 * time.Second,
		DataTimeout:    10 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
	}
	return e
}

// mx starts a fake MX reachable at ip:port through the dialer.
func (e *env) mx(addr string, o mxtest.Options) *mxtest.Server {
	e.t.Helper()
	s := mxtest.Start(e.t, o)
	e.dialer.Map[addr] = s.Addr()
	return s
}

func (e *env) client(mut ...func(*delivery.Options)) *delivery.Client {
	e.t.Helper()
	o := e.opts
	for _, m := range mut {
		m(&o)
	}
	c, err := delivery.New(o)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	return c
}

func opener(body string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
}

func req(domain string, rcpts ...string) delivery.Request {
	return delivery.Request{
		ID: "Q1", From: "a@sender.test", Rcpts: rcpts, Domain: domain,
		Size: int64(len(testBody)), Open: opener(testBody),
	}
}

func deliver(t *testing.T, c *delivery.Client, r delivery.Request) []delivery.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := c.Deliver(ctx, r)
	if len(res) != len(r.Rcpts) {
		t.Fatalf("got %d results for %d recipients", len(res), len(r.Rcpts))
	}
	for i, x := range res {
		if x.Rcpt != r.Rcpts[i] {
			t.Fatalf("result %d is for %q, want %q", i, x.Rcpt, r.Rcpts[i])
		}
	}
	return res
}

func wantOutcome(t *testing.T, res []delivery.Result, want delivery.Outcome) {
	t.Helper()
	for _, r := range res {
		if r.Outcome != want {
			t.Fatalf("%s: outcome %v (%d %s %q), want %v", r.Rcpt, r.Outcome, r.Code, r.Enhanced, r.Text, want)
		}
	}
}

// silentListener accepts connections and never says anything.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return ln.Addr().String()
}

// scriptListener serves one canned exchange per connection: it writes
// greet, then for each line read replies with the next entry of replies.
func scriptListener(t *testing.T, greet string, replies ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.WriteString(c, greet)
				buf := make([]byte, 4096)
				for _, r := range replies {
					if _, err := c.Read(buf); err != nil {
						return
					}
					io.WriteString(c, r)
				}
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}

package dane_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dane"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/internal/mxtest"
)

const body = "From: a@sender.test\r\nTo: u@example.test\r\nSubject: t\r\n\r\nhello\r\n"

// deliverVia runs one delivery through delivery.Client with the DANE policy
// over a fake DNS server (AD bit on the wire) to a fake MX at 192.0.2.1.
func deliverVia(t *testing.T, zone dnstest.Zone, mxOpts mxtest.Options) (delivery.Result, *mxtest.Server, string) {
	t.Helper()
	srv := dnstest.Start(t, zone)
	res := delivery.NewDNSResolver([]string{srv.Addr()}, 2*time.Second)
	logs := &bytes.Buffer{}
	p, err := dane.New(dane.Options{Resolver: res, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mx := mxtest.Start(t, mxOpts)
	c, err := delivery.New(delivery.Options{
		Hostname:       "gw.sealgate.test",
		Resolver:       res,
		Dialer:         &mxtest.Dialer{Map: map[string]string{"192.0.2.1:25": mx.Addr()}},
		RootCAs:        x509.NewCertPool(), // nothing is PKIX-valid here
		Policies:       []delivery.Policy{p},
		ConnectTimeout: 2 * time.Second,
		CommandTimeout: 5 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := c.Deliver(ctx, delivery.Request{
		ID: "Q1", From: "a@sender.test", Rcpts: []string{"u@example.test"}, Domain: "example.test",
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil },
	})
	return r[0], mx, logs.String()
}

func TestDeliveryDANE(t *testing.T) {
	pinned := mxtest.SelfSigned(t, "mx.example.test")
	rec := tlsa(3, 1, 1, parse(t, pinned.Certificate[0]))

	t.Run("ee-match-delivered-verified", func(t *testing.T) {
		res, mx, _ := deliverVia(t, signedZone(rec), mxtest.Options{TLS: mxtest.TLSModern, Cert: &pinned})
		if res.Outcome != delivery.Delivered || res.TLSLevel != delivery.LevelVerified {
			t.Fatalf("result %+v, want delivered at tls-verified", res)
		}
		if msgs := mx.Messages(); len(msgs) != 1 || string(msgs[0].Data) != body {
			t.Errorf("MX received %d messages", len(msgs))
		}
	})
	t.Run("mismatch-deferred-nothing-sent", func(t *testing.T) {
		other := mxtest.SelfSigned(t, "mx.example.test")
		res, mx, logs := deliverVia(t, signedZone(rec), mxtest.Options{TLS: mxtest.TLSModern, Cert: &other})
		if res.Outcome != delivery.TempFail || mx.MailCount() != 0 || len(mx.Messages()) != 0 {
			t.Errorf("result %+v, MAIL %d: want deferred with nothing sent", res, mx.MailCount())
		}
		if len(mx.Conns()) == 0 {
			t.Error("MX never contacted: the test proves nothing about the match")
		}
		// No plaintext retry: every connection went through STARTTLS or stopped.
		for _, c := range mx.Conns() {
			if c.Mails != 0 {
				t.Errorf("a connection reached MAIL: %+v", c)
			}
		}
		if !strings.Contains(logs, "dane refused") || !strings.Contains(logs, "mx=mx.example.test") {
			t.Errorf("no refusal logged: %s", logs)
		}
	})
	t.Run("starttls-stripped-deferred", func(t *testing.T) {
		res, mx, _ := deliverVia(t, signedZone(rec), mxtest.Options{})
		if res.Outcome != delivery.TempFail || mx.MailCount() != 0 {
			t.Errorf("plaintext MX with DANE: %+v, MAIL %d", res, mx.MailCount())
		}
	})
	t.Run("ta-chain-delivered-verified", func(t *testing.T) {
		ta := newIssuer(t, "TA")
		chain := ta.leaf(t, now.Add(-time.Hour), now.Add(time.Hour), "mx.example.test")
		res, mx, _ := deliverVia(t, signedZone(tlsa(2, 1, 1, ta.cert)), mxtest.Options{TLS: mxtest.TLSModern, Cert: &chain})
		if res.Outcome != delivery.Delivered || res.TLSLevel != delivery.LevelVerified || len(mx.Messages()) != 1 {
			t.Errorf("DANE-TA: %+v", res)
		}
	})
	t.Run("unsigned-zone-opportunistic", func(t *testing.T) {
		z := signedZone(rec)
		for k, r := range z {
			r.Authentic = false
			z[k] = r
		}
		other := mxtest.SelfSigned(t, "mx.example.test")
		res, mx, _ := deliverVia(t, z, mxtest.Options{TLS: mxtest.TLSModern, Cert: &other})
		if res.Outcome != delivery.Delivered || res.TLSLevel != delivery.LevelTLS || len(mx.Messages()) != 1 {
			t.Errorf("without DNSSEC DANE must not apply: %+v", res)
		}
	})
}

package mtasts_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/mtasts"
	"github.com/sealgate/sealgate/internal/mxtest"
)

const body = "From: a@sender.test\r\nTo: u@example.test\r\nSubject: t\r\n\r\nhello\r\n"

// deliverOnce runs one delivery through delivery.Client with the MTA-STS
// policy, to a fake MX at 192.0.2.1 (mx.example.test).
func (w *world) deliverOnce(p *mtasts.Policy, mx *mxtest.Server) delivery.Result {
	w.t.Helper()
	w.dialer.Map["192.0.2.1:25"] = mx.Addr()
	c, err := delivery.New(delivery.Options{
		Hostname:       "gw.sealgate.test",
		Resolver:       w.resolver(),
		Dialer:         w.dialer,
		RootCAs:        w.ca.Pool(),
		Policies:       []delivery.Policy{p},
		ConnectTimeout: 2 * time.Second,
		CommandTimeout: 5 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(w.logs, nil)),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := c.Deliver(ctx, delivery.Request{
		ID: "Q1", From: "a@sender.test", Rcpts: []string{"u@example.test"}, Domain: "example.test",
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil },
	})
	return res[0]
}

func TestDeliveryEnforce(t *testing.T) {
	t.Run("self-signed-mx-refused", func(t *testing.T) {
		w := newWorld(t, enforcePolicy)
		self := mxtest.SelfSigned(t, "mx.example.test")
		mx := mxtest.Start(t, mxtest.Options{TLS: mxtest.TLSModern, Cert: &self})
		res := w.deliverOnce(w.policy(), mx)
		if res.Outcome != delivery.TempFail || mx.MailCount() != 0 || len(mx.Messages()) != 0 {
			t.Errorf("result %+v, MAIL commands %d: want deferred with nothing sent", res, mx.MailCount())
		}
		if len(mx.Conns()) == 0 {
			t.Error("the MX was never contacted: the test proves nothing about the certificate")
		}
	})
	t.Run("no-starttls-refused", func(t *testing.T) {
		w := newWorld(t, enforcePolicy)
		mx := mxtest.Start(t, mxtest.Options{})
		res := w.deliverOnce(w.policy(), mx)
		if res.Outcome != delivery.TempFail || mx.MailCount() != 0 {
			t.Errorf("plaintext MX under enforce: %+v, MAIL %d", res, mx.MailCount())
		}
	})
	t.Run("mx-not-in-policy", func(t *testing.T) {
		w := newWorld(t, "version: STSv1\nmode: enforce\nmx: mx.elsewhere.test\nmax_age: 600\n")
		good := w.ca.Issue(t, "mx.example.test")
		mx := mxtest.Start(t, mxtest.Options{TLS: mxtest.TLSModern, Cert: &good})
		res := w.deliverOnce(w.policy(), mx)
		if res.Outcome != delivery.TempFail || len(mx.Conns()) != 0 {
			t.Errorf("unlisted MX: %+v, %d connections", res, len(mx.Conns()))
		}
		if !strings.Contains(res.Text, "MTA-STS") {
			t.Errorf("reason %q does not name MTA-STS", res.Text)
		}
	})
	t.Run("ca-valid-listed-mx-delivered", func(t *testing.T) {
		w := newWorld(t, enforcePolicy)
		good := w.ca.Issue(t, "mx.example.test")
		mx := mxtest.Start(t, mxtest.Options{TLS: mxtest.TLSModern, Cert: &good})
		res := w.deliverOnce(w.policy(), mx)
		if res.Outcome != delivery.Delivered || res.TLSLevel != delivery.LevelVerified {
			t.Fatalf("result %+v, want delivered at tls-verified", res)
		}
		if msgs := mx.Messages(); len(msgs) != 1 || string(msgs[0].Data) != body {
			t.Errorf("MX received %d messages", len(msgs))
		}
	})
	t.Run("testing-mode-delivers-self-signed", func(t *testing.T) {
		w := newWorld(t, testingPolicy)
		self := mxtest.SelfSigned(t, "mx.example.test")
		mx := mxtest.Start(t, mxtest.Options{TLS: mxtest.TLSModern, Cert: &self})
		p := w.policy()
		res := w.deliverOnce(p, mx)
		if res.Outcome != delivery.Delivered || res.TLSLevel != delivery.LevelTLS {
			t.Errorf("testing mode: %+v", res)
		}
		if w.failures("testing", "tls_unverified") != 1 {
			t.Errorf("failure not counted")
		}
	})
}

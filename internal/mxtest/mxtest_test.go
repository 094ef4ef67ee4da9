package mxtest

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestRecordsMessageAndReplies(t *testing.T) {
	s := Start(t, Options{
		TLS:         TLSModern,
		RequireTLS:  true,
		RcptReplies: map[string]*smtp.SMTPError{"busy@x.test": {Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "busy"}},
	})
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@b.test", nil); err != nil {
		t.Fatal(err)
	}
	var se *smtp.SMTPError
	if err := c.Rcpt("busy@x.test", nil); !errors.As(err, &se) || se.Code != 450 {
		t.Fatalf("RCPT busy: %v", err)
	}
	if err := c.Rcpt("ok@x.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: t\r\n\r\nhi\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	msgs, err := s.WaitFor(1, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if m.From != "a@b.test" || len(m.Rcpts) != 1 || m.Rcpts[0] != "ok@x.test" || string(m.Data) != "Subject: t\r\n\r\nhi\r\n" ||
		m.TLSVersion != 0 || len(m.Conn.HelloPlain) != 1 || m.Conn.HelloPlain[0] != "client.test" {
		t.Errorf("recorded %+v", m)
	}
	if _, err := s.WaitFor(2, 50*time.Millisecond); err == nil {
		t.Error("WaitFor(2) succeeded with one message")
	}
}

func TestTLSModesAndCerts(t *testing.T) {
	ca := NewCA(t)
	cert := ca.Issue(t, "mx.test")
	s := Start(t, Options{TLS: TLS12, Cert: &cert})
	c, err := smtp.DialStartTLS(s.Addr(), &tls.Config{ServerName: "mx.test", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("after.test"); err != nil {
		t.Fatal(err)
	}
	st, ok := c.TLSConnectionState()
	if !ok || st.Version != tls.VersionTLS12 {
		t.Fatalf("TLS state %v %x", ok, st.Version)
	}
	c.Quit()
	time.Sleep(50 * time.Millisecond)
	conns := s.Conns()
	if len(conns) != 1 || len(conns[0].HelloTLS) != 1 || conns[0].HelloTLS[0] != "after.test" || conns[0].TLSVersion != tls.VersionTLS12 {
		t.Errorf("conns %+v", conns)
	}
	// A self-signed certificate does not verify against the CA.
	self := Start(t, Options{TLS: TLSModern})
	// The handshake runs lazily, on the first command after STARTTLS.
	c2, err := smtp.DialStartTLS(self.Addr(), &tls.Config{ServerName: "mx.test", RootCAs: ca.Pool()})
	if err == nil {
		err = c2.Hello("x.test")
		c2.Close()
	}
	if err == nil {
		t.Error("self-signed certificate verified")
	}
}

func TestDialerRefusesUnknown(t *testing.T) {
	s := Start(t, Options{Greeting: "421 4.3.2 busy"})
	d := &Dialer{Map: map[string]string{"192.0.2.1:25": s.Addr()}}
	if _, err := d.DialContext(context.Background(), "tcp", "192.0.2.9:25"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("unknown address: %v", err)
	}
	c, err := d.DialContext(context.Background(), "tcp", "192.0.2.1:25")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "421 4.3.2 busy") {
		t.Errorf("greeting %q", buf[:n])
	}
	if got := d.Dials(); len(got) != 2 {
		t.Errorf("dials %v", got)
	}
}

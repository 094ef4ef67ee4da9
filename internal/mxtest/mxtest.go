// Package mxtest is a fake MX for tests, built on emersion/go-smtp and
// listening on 127.0.0.1:0. It records every connection (EHLO names before
// and after STARTTLS, TLS version) and every accepted message (envelope,
// MAIL parameters, bytes), and can be told to refuse at MAIL, RCPT or DATA,
// to greet with an error, or to offer only TLS 1.0.
//
//	mx := mxtest.Start(t, mxtest.Options{TLS: mxtest.TLSModern})
//	// ... deliver to mx.Addr() ...
//	msgs, err := mx.WaitFor(1, 5*time.Second)
package mxtest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TLSMode is what the fake offers after EHLO.
type TLSMode int

const (
	// TLSOff: no STARTTLS.
	TLSOff TLSMode = iota
	// TLSModern: STARTTLS with TLS 1.2 or 1.3.
	TLSModern
	// TLSOnly10: STARTTLS, but the handshake only accepts TLS 1.0.
	TLSOnly10
	// TLS12: STARTTLS with TLS 1.2 only.
	TLS12
)

// Options configure a fake MX. The zero value is a plaintext MX that
// accepts everything.
type Options struct {
	Hostname string           // greeting name; default "mx.test"
	TLS      TLSMode          // STARTTLS offer
	Cert     *tls.Certificate // default: self-signed for Hostname
	// Greeting, when set (e.g. "421 4.3.2 busy"), is sent instead of the
	// normal 220 and the connection is then dropped.
	Greeting string

	RequireTLS bool  // advertise REQUIRETLS (go-smtp does so only over TLS)
	SMTPUTF8   bool  // advertise SMTPUTF8
	MaxSize    int64 // advertised SIZE limit; 0 = none

	MailReply   *smtp.SMTPError            // refuse MAIL FROM with this
	RcptReplies map[string]*smtp.SMTPError // refuse these recipients (lower-case)
	DataReply   *smtp.SMTPError            // refuse after DATA with this

	// Users enables AUTH PLAIN (over TLS only) with these passwords.
	Users map[string]string
	// DiscardBody keeps only the size and SHA-256 of each message, for
	// large-message tests.
	DiscardBody bool
}

// Conn is what the fake saw on one connection.
type Conn struct {
	HelloPlain []string // EHLO/HELO names received before TLS
	HelloTLS   []string // EHLO/HELO names received over TLS
	TLSVersion uint16   // 0 when TLS was not used
	Mails      int      // MAIL FROM commands received
}

// Message is one accepted message.
type Message struct {
	Conn       Conn // snapshot of the connection at acceptance
	From       string
	MailOpts   smtp.MailOptions
	Rcpts      []string
	AuthUser   string
	Data       []byte // nil when DiscardBody
	Size       int64
	SHA256     [32]byte
	TLSVersion uint16
}

// Server is a running fake MX.
type Server struct {
	opts Options
	addr string

	mu    sync.Mutex
	conns map[*smtp.Conn]*Conn
	order []*Conn
	msgs  []Message
	ch    chan struct{} // closed and replaced when a message arrives
}

// Start runs a fake MX until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Hostname == "" {
		opts.Hostname = "mx.test"
	}
	s := &Server{opts: opts, conns: map[*smtp.Conn]*Conn{}, ch: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mxtest: listen: %v", err)
	}
	s.addr = ln.Addr().String()
	if opts.Greeting != "" {
		go s.serveGreeting(ln)
		t.Cleanup(func() { ln.Close() })
		return s
	}
	srv := smtp.NewServer(s)
	srv.Domain = opts.Hostname
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.EnableREQUIRETLS = opts.RequireTLS
	srv.EnableSMTPUTF8 = opts.SMTPUTF8
	srv.MaxMessageBytes = opts.MaxSize
	srv.MaxLineLength = 4000
	if opts.TLS != TLSOff {
		cert := opts.Cert
		if cert == nil {
			c := SelfSigned(t, opts.Hostname)
			cert = &c
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
		switch opts.TLS {
		case TLSOnly10:
			cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS10
		case TLS12:
			cfg.MaxVersion = tls.VersionTLS12
		}
		srv.TLSConfig = cfg
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *Server) serveGreeting(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "%s\r\n", s.opts.Greeting)
			s.mu.Lock()
			s.order = append(s.order, &Conn{})
			s.mu.Unlock()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if strings.EqualFold(strings.TrimSpace(line), "QUIT") {
					io.WriteString(c, "221 bye\r\n")
					return
				}
				io.WriteString(c, "503 5.5.1 go away\r\n")
			}
		}()
	}
}

// Addr is the "127.0.0.1:port" the fake listens on.
func (s *Server) Addr() string { return s.addr }

// Messages returns the accepted messages so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Conns returns what was seen on each connection so far, in accept order.
func (s *Server) Conns() []Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Conn, len(s.order))
	for i, c := range s.order {
		out[i] = snapshot(c)
	}
	return out
}

// MailCount is the number of MAIL FROM commands seen on all connections:
// zero proves that no transaction was even started.
func (s *Server) MailCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.order {
		n += c.Mails
	}
	return n
}

// WaitFor waits until at least n messages were accepted or timeout passes.
func (s *Server) WaitFor(n int, timeout time.Duration) ([]Message, error) {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			m := append([]Message(nil), s.msgs...)
			s.mu.Unlock()
			return m, nil
		}
		ch := s.ch
		got := len(s.msgs)
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return nil, fmt.Errorf("mxtest: %d messages after %v, want %d", got, timeout, n)
		}
	}
}

func snapshot(c *Conn) Conn {
	return Conn{
		HelloPlain: append([]string(nil), c.HelloPlain...),
		HelloTLS:   append([]string(nil), c.HelloTLS...),
		TLSVersion: c.TLSVersion,
		Mails:      c.Mails,
	}
}

package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
)

// TLSMode is how a listener uses TLS.
type TLSMode int

const (
	// TLSNone offers no TLS at all (meant for loopback).
	TLSNone TLSMode = iota
	// TLSStartTLS offers STARTTLS (RFC 3207).
	TLSStartTLS
	// TLSImplicit handshakes TLS before the greeting (RFC 8314).
	TLSImplicit
)

// ParseTLSMode reads the config spelling of a TLS mode.
func ParseTLSMode(s string) (TLSMode, error) {
	switch s {
	case "none":
		return TLSNone, nil
	case "starttls":
		return TLSStartTLS, nil
	case "implicit":
		return TLSImplicit, nil
	}
	return 0, fmt.Errorf("unknown TLS mode %q", s)
}

// Listener is one address to listen on and its TLS mode.
type Listener struct {
	Address string
	Mode    TLSMode
}

// Message is the envelope of one accepted transaction.
type Message struct {
	From       string
	To         []string
	RequireTLS bool
	SMTPUTF8   bool
	ClientAddr string
	Helo       string
	AuthUser   string
	ReceivedAt time.Time
	Size       int64
}

// Spooler stores an accepted message durably. It must not return until the
// body and envelope are on stable storage: its nil return becomes "250".
type Spooler interface {
	Spool(ctx context.Context, msg Message, body io.Reader) (id string, err error)
}

// Reject is what a Spooler returns to refuse a message for good (policy
// said so). Message goes to the client as it is, so it must be generic and
// never describe the content; Reason labels the rejection metric.
type Reject struct {
	Code     int
	Enhanced [3]int
	Message  string
	Reason   string
}

func (r *Reject) Error() string { return fmt.Sprintf("%d %s", r.Code, r.Message) }

// Options configure the server. Zero limits take the defaults below.
type Options struct {
	Hostname  string
	Listeners []Listener
	// TLS is the server certificate configuration. Set ClientCAs and
	// ClientAuth = tls.VerifyClientCertIfGiven to let client certificates
	// authorise relaying. Nil disables STARTTLS and implicit listeners.
	TLS *tls.Config

	RelayNetworks        []netip.Prefix
	Users                map[string][]byte // user name → bcrypt hash
	AllowedSenderDomains []string          // empty: any; "*.example.com" matches subdomains

	MaxMessageSize      int64
	MaxRecipients       int
	MaxConnections      int
	MaxConnectionsPerIP int
	MaxLineLength       int
	CommandTimeout      time.Duration
	DataTimeout         time.Duration

	Spooler    Spooler
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock for Received headers; nil means time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = 50 << 20
	}
	if o.MaxRecipients == 0 {
		o.MaxRecipients = 1000
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = 1000
	}
	if o.MaxConnectionsPerIP == 0 {
		o.MaxConnectionsPerIP = 100
	}
	if o.MaxLineLength == 0 {
		o.MaxLineLength = 4096
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = 5 * time.Minute
	}
	if o.DataTimeout == 0 {
		o.DataTimeout = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Server runs the SMTP listeners.
type Server struct {
	opts    Options
	metrics *metrics
	limiter *connLimiter

	mu        sync.Mutex
	listeners []net.Listener
	servers   []*smtp.Server
	wg        sync.WaitGroup
}

// New checks the options and prepares a server; Listen binds the sockets.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	if opts.Spooler == nil {
		return nil, errors.New("smtpd: no Spooler")
	}
	if opts.Hostname == "" {
		return nil, errors.New("smtpd: no Hostname")
	}
	for _, l := range opts.Listeners {
		if l.Mode != TLSNone && opts.TLS == nil {
			return nil, fmt.Errorf("smtpd: listener %s wants TLS but no certificate is configured", l.Address)
		}
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Server{
		opts:    opts,
		metrics: m,
		limiter: newConnLimiter(opts.MaxConnections, opts.MaxConnectionsPerIP),
	}, nil
}

// Listen binds every configured listener. Addresses ending in ":0" get a free
// port; Addrs reports what was bound.
func (s *Server) Listen() error {
	for _, l := range s.opts.Listeners {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			s.Close()
			return fmt.Errorf("smtpd: listen %s: %w", l.Address, err)
		}
		// Limit first, TLS outside it: go-smtp recognises implicit TLS by
		// the *tls.Conn type, and the limiter must see raw connections.
		ln = &limitedListener{Listener: ln, limiter: s.limiter, metrics: s.metrics}
		if l.Mode == TLSImplicit {
			ln = tls.NewListener(ln, s.tlsConfig())
		}
		s.mu.Lock()
		s.listeners = append(s.listeners, ln)
		s.servers = append(s.servers, s.newSMTPServer(l.Mode))
		s.mu.Unlock()
	}
	return nil
}

// Addrs returns the bound addresses, in listener order.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.Addr()
	}
	return out
}

// Serve accepts connections on every listener until Close.
func (s *Server) Serve() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.listeners {
		ln, srv := s.listeners[i], s.servers[i]
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				s.opts.Logger.Error("smtp listener stopped", "addr", ln.Addr().String(), "err", err)
			}
		}()
	}
}

// Shutdown stops accepting and waits (until ctx ends) for open sessions.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	servers := append([]*smtp.Server(nil), s.servers...)
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// Close stops everything at once.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Close(); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Server) tlsConfig() *tls.Config {
	c := s.opts.TLS.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

func (s *Server) newSMTPServer(mode TLSMode) *smtp.Server {
	srv := smtp.NewServer(&backend{srv: s, mode: mode})
	srv.Domain = s.opts.Hostname
	srv.MaxMessageBytes = s.opts.MaxMessageSize
	srv.MaxRecipients = 0 // enforced in Rcpt with the RFC 5321 452 reply
	srv.MaxLineLength = s.opts.MaxLineLength
	srv.ReadTimeout = s.opts.CommandTimeout
	srv.WriteTimeout = s.opts.CommandTimeout
	srv.AllowInsecureAuth = false
	srv.EnableSMTPUTF8 = true
	srv.EnableREQUIRETLS = true
	srv.ErrorLog = slogAdapter{s.opts.Logger}
	if mode == TLSStartTLS {
		srv.TLSConfig = s.tlsConfig()
	}
	return srv
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Println(v ...any)               { a.l.Warn(fmt.Sprint(v...)) }

package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealgate/sealgate/config"
	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dane"
	"github.com/sealgate/sealgate/delivery/mtasts"
	"github.com/sealgate/sealgate/delivery/protect"
	"github.com/sealgate/sealgate/delivery/tlsmemory"
	"github.com/sealgate/sealgate/queue"
	"github.com/sealgate/sealgate/smtpd"
)

// This file translates the YAML configuration into each package's own
// options and adapts the packages to each other; no package reads YAML.

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[cfg.Log.Level]
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func smtpdOptions(cfg *config.Config, cert tls.Certificate) (smtpd.Options, error) {
	s := cfg.SMTP
	opts := smtpd.Options{
		Hostname:             cfg.Hostname,
		AllowedSenderDomains: s.AllowedSenderDomains,
		MaxMessageSize:       int64(s.MaxMessageSize),
		MaxRecipients:        s.MaxRecipients,
		MaxConnections:       s.MaxConnections,
		MaxConnectionsPerIP:  s.MaxConnectionsPerIP,
		MaxLineLength:        s.MaxLineLength,
		CommandTimeout:       s.CommandTimeout.D(),
		DataTimeout:          s.DataTimeout.D(),
		Users:                map[string][]byte{},
	}
	for _, l := range s.Listeners {
		mode, err := smtpd.ParseTLSMode(l.TLS)
		if err != nil {
			return opts, err
		}
		opts.Listeners = append(opts.Listeners, smtpd.Listener{Address: l.Address, Mode: mode})
	}
	opts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if s.TLS.ClientCAFile != "" {
		pool, err := loadCertPool(cfg.Path(s.TLS.ClientCAFile))
		if err != nil {
			return opts, fmt.Errorf("smtp.tls.client_ca_file: %w", err)
		}
		opts.TLS.ClientCAs = pool
		opts.TLS.ClientAuth = tls.VerifyClientCertIfGiven
	}
	for _, n := range s.RelayNetworks {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			a, aerr := netip.ParseAddr(n)
			if aerr != nil {
				return opts, fmt.Errorf("smtp.relay_networks: %w", err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		opts.RelayNetworks = append(opts.RelayNetworks, p)
	}
	for _, u := range s.Users {
		opts.Users[u.Name] = []byte(u.PasswordHash)
	}
	return opts, nil
}

func deliveryOptions(cfg *config.Config) (delivery.Options, error) {
	d := cfg.Delivery
	opts := delivery.Options{
		Hostname:          cfg.Hostname,
		Smarthost:         d.Smarthost,
		SmarthostUser:     d.SmarthostAuth.Username,
		Routes:            d.Routes,
		Port:              d.Port,
		ConnectTimeout:    d.ConnectTimeout.D(),
		CommandTimeout:    d.CommandTimeout.D(),
		DataTimeout:       d.DataTimeout.D(),
		MaxPerDestination: d.MaxPerDestination,
		DomainTLS:         map[string]delivery.TLSPolicy{},
	}
	var err error
	if opts.SmarthostTLS, err = delivery.ParseTLSPolicy(d.SmarthostTLS); err != nil {
		return opts, err
	}
	if opts.DefaultTLS, err = delivery.ParseTLSPolicy(d.TLSPolicy); err != nil {
		return opts, err
	}
	for dom, pol := range d.DomainTLSPolicy {
		if opts.DomainTLS[strings.ToLower(dom)], err = delivery.ParseTLSPolicy(pol); err != nil {
			return opts, err
		}
	}
	if d.SmarthostAuth.PasswordFile != "" {
		pw, err := os.ReadFile(cfg.Path(d.SmarthostAuth.PasswordFile))
		if err != nil {
			return opts, fmt.Errorf("delivery.smarthost_auth.password_file: %w", err)
		}
		opts.SmarthostPassword = strings.TrimRight(string(pw), "\r\n")
	}
	if d.CAFile != "" {
		// The configured CA is added to the system roots, not instead of them.
		pool, err := systemRootsPlus(cfg.Path(d.CAFile))
		if err != nil {
			return opts, fmt.Errorf("delivery.ca_file: %w", err)
		}
		opts.RootCAs = pool
	}
	if len(d.DNSServers) > 0 {
		opts.Resolver = delivery.NewDNSResolver(d.DNSServers, d.CommandTimeout.D())
	} else if opts.Resolver, err = delivery.SystemResolver(); err != nil {
		return opts, err
	}
	return opts, nil
}

// tlsPolicies are the verified-TLS policies, in the order that matters:
// DANE first (a DANE match makes a self-signed certificate verified, which
// MTA-STS then accepts, RFC 8461 §2), the downgrade memory last so that it
// sees the final level.
func tlsPolicies(cfg *config.Config, opts delivery.Options, reg prometheus.Registerer, log *slog.Logger) ([]delivery.Policy, *tlsmemory.Policy, error) {
	var out []delivery.Policy
	if cfg.Delivery.DANE {
		p, err := dane.New(dane.Options{Resolver: opts.Resolver, Port: cfg.Delivery.Port, Logger: log, Registerer: reg})
		if err != nil {
			return nil, nil, err
		}
		out = append(out, p)
	}
	if cfg.Delivery.MTASTS {
		p, err := mtasts.New(mtasts.Options{Resolver: opts.Resolver, Dialer: opts.Dialer, RootCAs: opts.RootCAs, Logger: log, Registerer: reg})
		if err != nil {
			return nil, nil, err
		}
		out = append(out, p)
	}
	mem, err := tlsmemory.New(tlsmemory.Options{Enforce: cfg.Delivery.TLSDowngrade == "enforce", Logger: log, Registerer: reg})
	if err != nil {
		return nil, nil, err
	}
	return append(out, mem), mem, nil
}

func queueOptions(cfg *config.Config, key []byte) queue.Options {
	q := cfg.Queue
	return queue.Options{
		Dir:            cfg.Path(cfg.DataDir),
		Key:            key,
		Hostname:       cfg.Hostname,
		Workers:        q.Workers,
		MinRetry:       q.MinRetry.D(),
		MaxRetry:       q.MaxRetry.D(),
		MaxLifetime:    q.MaxLifetime.D(),
		DelayWarning:   q.DelayWarning.D(),
		MaxMessageSize: int64(cfg.SMTP.MaxMessageSize) + 64<<10, // room for the Received header
	}
}

// deliverer runs the queue's attempts through the delivery client. With
// tracking on for the message, each recipient gets its own rewritten copy.
type deliverer struct {
	p       *protect.Deliverer
	tracker *tracker          // nil when tracking is off
	tlsMem  *tlsmemory.Policy // told what each delivery achieved
	log     *slog.Logger
}

func (d deliverer) Deliver(ctx context.Context, a queue.Attempt) []queue.Result {
	if d.tracker != nil {
		if ok, campaign := d.tracker.wants(a); ok {
			var out []queue.Result
			for _, rcpt := range a.Rcpts {
				one := a
				one.Rcpts = []string{rcpt}
				one.Open = d.tracker.rewritten(a, rcpt, campaign)
				out = append(out, d.send(ctx, one)...)
			}
			d.tracker.record(a, campaign, out)
			return out
		}
	}
	return d.send(ctx, a)
}

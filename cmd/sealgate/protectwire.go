package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealgate/sealgate/config"
	"github.com/sealgate/sealgate/crypto/keystore"
	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/protect"
	"github.com/sealgate/sealgate/policy"
	"github.com/sealgate/sealgate/queue"
)

// newProtector builds the delivery path that enforces each recipient's
// decision: TLS as required, else S/MIME, else PGP, else the portal (not
// built yet: such recipients are held), never plaintext.
func newProtector(cfg *config.Config, client *delivery.Client, res delivery.Resolver, reg prometheus.Registerer, log *slog.Logger) (*protect.Deliverer, error) {
	dir := cfg.KeysDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	store, err := keystore.Open(dir, keystore.SystemClock{})
	if err != nil {
		return nil, err
	}
	var keys keystore.Lookup = store
	if cfg.Keys.WKD {
		keys = &keystore.Resolver{Store: store, WKD: keystore.NewWKD(keystore.WKDOptions{Client: wkdClient(res)})}
	}
	// Staging holds ciphertext only while a copy is sent; at start nothing
	// is in flight, so whatever a crash left there goes.
	staging := filepath.Join(cfg.Path(cfg.DataDir), "tmp")
	if err := os.RemoveAll(staging); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return nil, err
	}
	return protect.New(protect.Options{
		Sender:         client,
		Keys:           keys,
		GenericSubject: cfg.Encryption.GenericSubject,
		MaxEncryptSize: int64(cfg.Encryption.MaxSize),
		TempDir:        staging,
		Logger:         log,
		Registerer:     reg,
	})
}

// dsnDecision is how sealgate's own bounces travel: they carry the original
// header fields but never the subject or body (see package queue), so
// opportunistic TLS, like any non-PHI mail.
var dsnDecision = policy.Decision{Rule: "dsn", Require: policy.RequireNone, MinTLS: delivery.PolicyOpportunistic}

// decisionsFor reads the decisions stored at reception. A message without
// them (made by sealgate itself: DSNs) gets dsnDecision; one whose stored
// decisions cannot be read is an error: it waits rather than going out
// under a weaker decision.
func decisionsFor(a queue.Attempt) (map[string]policy.Decision, error) {
	enc, ok := a.Meta[policy.MetaKey]
	if !ok && a.Meta[queue.MetaDSN] != "" {
		out := make(map[string]policy.Decision, len(a.Rcpts))
		for _, r := range a.Rcpts {
			out[r] = dsnDecision
		}
		return out, nil
	}
	if !ok {
		// No decision at all: protect applies its fail-closed default.
		return nil, nil
	}
	return policy.DecodeDecisions(enc)
}

// send delivers an attempt through the protector and translates the
// outcomes for the queue.
func (d deliverer) send(ctx context.Context, a queue.Attempt) []queue.Result {
	decisions, err := decisionsFor(a)
	if err != nil {
		d.log.Error("stored policy decision unreadable; message waits", "id", a.ID, "err", err)
		out := make([]queue.Result, len(a.Rcpts))
		for i, r := range a.Rcpts {
			out[i] = queue.Result{Rcpt: r, Status: queue.StatusTempFail, Code: 451, Enhanced: "4.7.0", Text: "local error: policy decision unreadable"}
		}
		return out
	}
	results := d.p.Deliver(ctx, protect.Request{
		ID: a.ID, From: a.From, Rcpts: a.Rcpts, Domain: a.Domain,
		RequireTLS: a.RequireTLS, SMTPUTF8: a.SMTPUTF8, Size: a.Size,
		Open:      editsFor(decisions).open(a.Open),
		Decisions: decisions,
	})
	out := make([]queue.Result, len(results))
	for i, r := range results {
		// A delivery that ignored recipient TLS policies (TLS-Required: No)
		// says nothing about what the domain offers.
		if d.tlsMem != nil && r.Outcome == delivery.Delivered && r.Fallback == "" && !decisions[r.Rcpt].TLSRequiredNo {
			d.tlsMem.Observe(ctx, a.Domain, r.MX, r.TLSLevel)
		}
		out[i] = queue.Result{
			Rcpt: r.Rcpt, Code: r.Code, Enhanced: r.Enhanced, Text: r.Text,
			MX: r.MX, TLSVersion: r.TLSVersion, TLSCipher: r.TLSCipher,
			TLSVerified: r.TLSLevel == delivery.LevelVerified,
			Method:      r.Method,
		}
		switch {
		case r.Held:
			out[i].Status, out[i].Text = queue.StatusHeld, r.HoldReason
			if r.Text != "" {
				out[i].Text += " (" + r.Text + ")"
			}
		case r.Outcome == delivery.Delivered:
			out[i].Status = queue.StatusDelivered
		case r.Outcome == delivery.PermFail:
			out[i].Status = queue.StatusPermFail
		default:
			out[i].Status = queue.StatusTempFail
		}
	}
	return out
}

// wkdClient fetches Web Key Directory keys with host names resolved by the
// configured DNS servers, like every other lookup sealgate makes: TLS 1.2+,
// certificates checked, at most 3 redirects and only to https.
func wkdClient(res delivery.Resolver) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         resolverDialer{res: res}.DialContext,
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   true,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 || req.URL.Scheme != "https" {
				return errors.New("wkd: redirect refused")
			}
			return nil
		},
	}
}

// resolverDialer dials a host name through a delivery.Resolver.
type resolverDialer struct {
	res delivery.Resolver
	d   net.Dialer
}

func (r resolverDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if net.ParseIP(host) != nil {
		return r.d.DialContext(ctx, network, addr)
	}
	ips, _, err := r.res.LookupIP(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("%s: no addresses", host)
	}
	var last error
	for _, ip := range ips {
		c, err := r.d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

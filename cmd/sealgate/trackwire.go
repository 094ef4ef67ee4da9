package main

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealgate/sealgate/config"
	"github.com/sealgate/sealgate/queue"
	"github.com/sealgate/sealgate/tracking"
	"github.com/sealgate/sealgate/tracking/events"
)

// tracker is engagement tracking as the running gateway uses it: the event
// store, the /t/ handlers and the per-recipient rewriting at delivery time.
//
// Rewriting happens at delivery, not at reception as DESIGN.md's data flow
// first drew it: tokens carry the recipient, so each recipient needs its own
// copy, and making the copies at delivery keeps one encrypted body in the
// queue. It still happens before DKIM signing (and, later, encryption).
type tracker struct {
	cfg     *config.TrackingConfig
	opts    tracking.Options
	store   *events.Store
	handler http.Handler
	reports http.Handler
	log     *slog.Logger
}

func newTracker(cfg *config.Config, reg prometheus.Registerer, log *slog.Logger) (*tracker, error) {
	tc := &cfg.Tracking
	eopts, err := eventsOptions(cfg, reg, log)
	if err != nil {
		return nil, err
	}
	store, err := events.Open(eopts)
	if err != nil {
		return nil, err
	}
	keys, err := trackingKeys(cfg)
	if err != nil {
		store.Close()
		return nil, err
	}
	t := &tracker{cfg: tc, store: store, log: log}
	t.opts = tracking.Options{
		BaseURL:            tc.BaseURL,
		Keys:               keys,
		Exclusions:         tc.Exclusions,
		Honeypot:           tc.Honeypot,
		MaxTokenAge:        tc.MaxTokenAge.D(),
		StoreClientDetails: tc.StoreClientDetails,
		RateLimit:          tracking.RateLimit{PerSecond: tc.RateLimit.PerSecond, Burst: tc.RateLimit.Burst},
		Classifier: tracking.ClassifierOptions{
			AppleRangesFile: cfg.Path(tc.Classifier.AppleRangesFile),
			ScannerDataFile: cfg.Path(tc.Classifier.ScannerDataFile),
			ClickTooSoon:    tc.Classifier.ClickTooSoon.D(),
		},
		Sink:       store,
		Deliveries: deliveryTimes{store},
		Registerer: reg,
		Logger:     log,
	}
	if t.opts.BaseURL == "" {
		t.opts.BaseURL = cfg.Web.BaseURL
	}
	for _, s := range cfg.Web.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				store.Close()
				return nil, fmt.Errorf("web.trusted_proxies: %w", err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		t.opts.TrustedProxies = append(t.opts.TrustedProxies, p)
	}
	if t.handler, err = tracking.Handler(t.opts); err != nil {
		store.Close()
		return nil, err
	}
	token := ""
	if tc.AdminTokenFile != "" {
		b, err := os.ReadFile(cfg.Path(tc.AdminTokenFile))
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("tracking.admin_token_file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	t.reports = events.ReportHandler(store, events.HandlerOptions{AdminToken: token, Logger: log})
	return t, nil
}

func eventsOptions(cfg *config.Config, reg prometheus.Registerer, log *slog.Logger) (events.Options, error) {
	tc := &cfg.Tracking
	opts := events.Options{
		Path:              cfg.DataPath(events.DefaultFile),
		Retention:         tc.Events.Retention.D(),
		SuppressAutomated: tc.Events.SuppressAutomated,
		MaxAttempts:       tc.Webhooks.MaxAttempts,
		RetryBase:         tc.Webhooks.RetryBase.D(),
		RetryCap:          tc.Webhooks.RetryCap.D(),
		Registerer:        reg,
		Logger:            log,
	}
	for _, s := range tc.Webhooks.Subscribers {
		secret, err := os.ReadFile(cfg.Path(s.SecretFile))
		if err != nil {
			return opts, fmt.Errorf("tracking.webhooks subscriber %s: secret_file: %w", s.Name, err)
		}
		sub := events.Subscriber{Name: s.Name, URL: s.URL, Secret: strings.TrimSpace(string(secret)), IncludeAutomated: s.IncludeAutomated}
		for _, k := range s.Kinds {
			sub.Kinds = append(sub.Kinds, tracking.EventKind(k))
		}
		opts.Subscribers = append(opts.Subscribers, sub)
	}
	return opts, nil
}

// trackingKeys loads the token keys, making data_dir/tracking.key on first
// start when no key file is configured.
func trackingKeys(cfg *config.Config) (tracking.Keys, error) {
	tc := &cfg.Tracking
	path := cfg.Path(tc.KeyFile)
	if path == "" {
		path = cfg.DataPath("tracking.key")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			k, err := tracking.GenerateKey(1, nil)
			if err != nil {
				return tracking.Keys{}, err
			}
			if err := tracking.WriteKeyFile(path, k); err != nil {
				return tracking.Keys{}, err
			}
		}
	}
	cur, err := tracking.ReadKeyFile(path)
	if err != nil {
		return tracking.Keys{}, err
	}
	keys := tracking.Keys{Current: cur}
	for _, p := range tc.PreviousKeyFiles {
		k, err := tracking.ReadKeyFile(cfg.Path(p))
		if err != nil {
			return tracking.Keys{}, err
		}
		keys.Previous = append(keys.Previous, k)
	}
	if len(keys.Previous) > 0 {
		keys.PreviousUntil, _ = time.Parse(time.RFC3339, tc.PreviousUntil)
	}
	return keys, nil
}

func (t *tracker) Close() error { return t.store.Close() }

// deliveryTimes answers the classifier's "when was this delivered" from the
// delivery events.
type deliveryTimes struct{ store *events.Store }

func (d deliveryTimes) DeliveredAt(messageID, rcpt string) (time.Time, error) {
	evs, err := d.store.MessageEvents(messageID, rcpt)
	if err != nil {
		return time.Time{}, err
	}
	for _, e := range evs {
		if e.Kind == tracking.EventDelivered {
			return e.Time, nil
		}
	}
	return time.Time{}, errors.New("not delivered")
}

// wants reports whether an attempt's message is tracked and its campaign.
func (t *tracker) wants(a queue.Attempt) (bool, string) {
	if !t.cfg.TracksSender(a.From) {
		return false, ""
	}
	campaign, err := campaignHeader(a.Open)
	if err != nil {
		return false, ""
	}
	if t.cfg.CampaignsOnly && campaign == "" {
		return false, ""
	}
	return true, campaign
}

// campaignHeader reads only the header section for X-Sealgate-Campaign.
func campaignHeader(open func() (io.ReadCloser, error)) (string, error) {
	rc, err := open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	br := bufio.NewReader(io.LimitReader(rc, 1<<20))
	for {
		line, err := br.ReadString('\n')
		trimmed := strings.TrimRight(line, "\r\n")
		if trimmed == "" {
			return "", nil
		}
		if name, value, ok := strings.Cut(trimmed, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "X-Sealgate-Campaign") {
			return tracking.CampaignFromHeader(strings.TrimSpace(value)), nil
		}
		if err != nil {
			return "", nil
		}
	}
}

// rewritten returns an Open function that yields the tracked copy of the
// message for one recipient. Every call produces the same bytes (fixed
// issue time, token nonces from a per-copy seeded stream), because delivery
// reads the message once to DKIM-sign it and once to send it. A first pass
// to io.Discard proves the message rewrites; if not, the copy is the
// original, untracked: tracking never stops mail.
func (t *tracker) rewritten(a queue.Attempt, rcpt, campaign string) func() (io.ReadCloser, error) {
	var seed [32]byte
	crand.Read(seed[:])
	params := t.opts.Params(a.ID, rcpt, a.From, campaign)
	params.Now = time.Now()
	run := func(w io.Writer) error {
		src, err := a.Open()
		if err != nil {
			return err
		}
		defer src.Close()
		p := params
		p.Rand = rand.NewChaCha8(seed)
		_, err = tracking.Rewrite(w, src, p)
		return err
	}
	if err := run(io.Discard); err != nil {
		t.log.Warn("tracking rewrite failed; delivering untracked", "id", a.ID, "err", err)
		return a.Open
	}
	return func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(run(pw)) }()
		return pr, nil
	}
}

// record stores the delivery outcome of tracked recipients as events.
func (t *tracker) record(a queue.Attempt, campaign string, results []queue.Result) {
	for _, r := range results {
		kind := tracking.EventDeferred
		switch r.Status {
		case queue.StatusDelivered:
			kind = tracking.EventDelivered
		case queue.StatusPermFail:
			kind = tracking.EventBounced
		}
		err := t.store.Record(tracking.Event{
			Time: time.Now(), Kind: kind, MessageID: a.ID, Recipient: r.Rcpt,
			Sender: a.From, Campaign: campaign, Method: r.Method,
		})
		if err != nil {
			t.log.Warn("recording delivery event", "id", a.ID, "err", err)
		}
	}
}

func (t *tracker) run(ctx context.Context) error { return t.store.Run(ctx) }

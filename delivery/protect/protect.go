package protect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealgate/sealgate/crypto/keystore"
	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/policy"
)

// Sender delivers one attempt of a message; *delivery.Client is one.
type Sender interface {
	Deliver(ctx context.Context, r delivery.Request) []delivery.Result
}

// Portal stores a message for a recipient in the secure portal and returns
// the notification to send instead: a complete RFC 5322 message that
// carries no PHI (no subject, body or attachment of the original).
type Portal interface {
	Notify(ctx context.Context, r Request, rcpt string) (io.ReadCloser, error)
}

// Options configures a Deliverer.
type Options struct {
	// Sender sends each attempt. Required.
	Sender Sender
	// Keys finds recipients' S/MIME certificates and OpenPGP keys; nil
	// means no keys are known.
	Keys keystore.Lookup
	// Portal stores messages for the portal method; nil means the portal
	// is unavailable.
	Portal Portal

	// GenericSubject is the outer Subject of encrypted copies; "" means the
	// crypto packages' default ("Secure message").
	GenericSubject string
	// MaxEncryptSize bounds the message size for encryption; 0 means the
	// crypto packages' default (64 MiB).
	MaxEncryptSize int64
	// TempDir holds the ciphertext staging files; "" means os.TempDir().
	TempDir string

	// Logger receives one line per fallback decision. Default: discard.
	Logger *slog.Logger
	// Registerer receives the metrics. Default: none registered.
	Registerer prometheus.Registerer
	// Now is the clock for key validity. Default: time.Now.
	Now func() time.Time
}

// Request is one message for one destination domain, with the policy
// decision of each recipient (keyed by the address as in Rcpts).
type Request struct {
	ID         string   // queue ID, for logs only
	From       string   // envelope sender
	Rcpts      []string // envelope recipients, all in Domain
	Domain     string   // recipient domain; "" = domain of the first recipient
	RequireTLS bool     // REQUIRETLS was given on MAIL FROM (RFC 8689)
	SMTPUTF8   bool
	Size       int64                         // message size in bytes; 0 = unknown
	Open       func() (io.ReadCloser, error) // opens the cleartext message; called several times
	Decisions  map[string]policy.Decision
}

// Methods, as in Result.Method and the metrics.
const (
	MethodPlaintext   = "plaintext"
	MethodTLS         = "tls"
	MethodTLSVerified = "tls_verified"
	MethodSMIME       = "smime"
	MethodPGP         = "pgp"
	MethodPortal      = "portal"
)

// Fallback reasons, as in Result.Fallback and the metrics.
const (
	ReasonTLSNotReached  = "tls_not_reached"
	ReasonE2ERequired    = "e2e_required"
	ReasonPortalRequired = "portal_required"
)

// Hold reasons, as in Result.HoldReason.
const (
	HoldPolicy            = "policy hold"
	HoldPortalUnavailable = "portal unavailable"
)

// Result is the fate of one recipient.
type Result struct {
	delivery.Result
	// Method is how the copy was (or was being) sent: tls, tls_verified,
	// plaintext, smime, pgp or portal; "" when nothing was sent.
	Method string
	// Held: keep the message queued until an operator releases it.
	// Outcome is then TempFail so that nothing counts it as delivered.
	Held       bool
	HoldReason string
	// Fallback is why the chain was used (tls_not_reached, e2e_required,
	// portal_required); "" when the message itself was sent.
	Fallback string
}

// Deliverer enforces protection decisions. It is safe for concurrent use.
type Deliverer struct {
	opts   Options
	log    *slog.Logger
	engine *policy.Engine
	m      *metrics
}

// New checks opts and registers the metrics.
func New(opts Options) (*Deliverer, error) {
	if opts.Sender == nil {
		return nil, errors.New("protect: Sender is required")
	}
	if opts.MaxEncryptSize < 0 {
		return nil, fmt.Errorf("protect: invalid MaxEncryptSize %d", opts.MaxEncryptSize)
	}
	if strings.ContainsAny(opts.GenericSubject, "\r\n") {
		return nil, errors.New("protect: GenericSubject must be one line")
	}
	if opts.TempDir == "" {
		opts.TempDir = os.TempDir()
	}
	if st, err := os.Stat(opts.TempDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("protect: TempDir %q is not a directory", opts.TempDir)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// policy's built-in defaults: the PHI default is what a recipient
	// without a decision gets (doc.go step 1).
	engine, err := policy.New(policy.Options{})
	if err != nil {
		return nil, fmt.Errorf("protect: built-in policy: %w", err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Deliverer{opts: opts, log: log, engine: engine, m: m}, nil
}

// defaultDecision is policy's PHI default: a message that was not scanned
// is protected (policy doc.go, invariants).
func (d *Deliverer) defaultDecision(rcpt string) policy.Decision {
	return d.engine.Decide(policy.Message{}, rcpt)
}

// decision returns the usable decision of rcpt (doc.go step 1).
func (d *Deliverer) decision(r *Request, rcpt string) policy.Decision {
	dec, ok := r.Decisions[rcpt]
	if !ok || !dec.Require.Valid() {
		return d.defaultDecision(rcpt)
	}
	dec.MinTLS = max(dec.MinTLS, dec.Require.MinTLS())
	if dec.RequireTLSFlag {
		dec.MinTLS = delivery.PolicyVerified
	}
	dec.MinTLS = min(dec.MinTLS, delivery.PolicyVerified)
	return dec
}

// Deliver sends r and returns one Result per recipient, in the order of
// r.Rcpts. See doc.go for the algorithm.
func (d *Deliverer) Deliver(ctx context.Context, r Request) []Result {
	results := make([]Result, len(r.Rcpts))
	for i, rc := range r.Rcpts {
		results[i].Rcpt = rc
	}
	defer func() {
		for _, res := range results {
			if res.Outcome == delivery.Delivered && res.Method != "" {
				d.m.deliveries.WithLabelValues(res.Method).Inc()
			}
		}
	}()
	if r.Open == nil {
		for i := range results {
			setFail(&results[i], 451, "4.3.0", "invalid delivery request")
		}
		return results
	}
	domain := r.Domain
	if domain == "" && len(r.Rcpts) > 0 {
		domain = domainOf(r.Rcpts[0])
	}

	type group struct {
		dec delivery.Request
		fb  []policy.Method
		idx []int
	}
	var groups []*group
	byKey := map[string]*group{}
	var chain []int // recipients going straight to the fallback chain
	decs := make([]policy.Decision, len(r.Rcpts))
	reasons := make([]string, len(r.Rcpts))

	for i, rc := range r.Rcpts {
		dec := d.decision(&r, rc)
		decs[i] = dec
		switch {
		case dec.Reject:
			setFail(&results[i], 550, "5.7.1", "delivery not authorized by policy")
			continue
		case dec.Hold:
			d.hold(&results[i], HoldPolicy, "policy_hold", "held by policy")
			continue
		}
		switch dec.Require {
		case policy.RequireE2E:
			reasons[i] = ReasonE2ERequired
			chain = append(chain, i)
			continue
		case policy.RequirePortal:
			reasons[i] = ReasonPortalRequired
			chain = append(chain, i)
			continue
		}
		reqTLS := dec.RequireTLSFlag || r.RequireTLS
		// RFC 8689 §5: "TLS-Required: No" lifts the recipient's TLS
		// policies only for mail that needs no protection and without
		// REQUIRETLS (policy decides so; checked again here).
		ignore := dec.TLSRequiredNo && dec.Require == policy.RequireNone && !reqTLS
		key := fmt.Sprintf("%s|%d|%t|%v|%t", dec.Require, dec.MinTLS, reqTLS, dec.Fallback, ignore)
		g := byKey[key]
		if g == nil {
			g = &group{
				dec: delivery.Request{
					ID: r.ID, From: r.From, Domain: r.Domain,
					RequireTLS: reqTLS, SMTPUTF8: r.SMTPUTF8, MinTLS: dec.MinTLS,
					Size: r.Size, Open: r.Open, IgnoreTLSPolicies: ignore,
				},
				fb: dec.Fallback,
			}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.dec.Rcpts = append(g.dec.Rcpts, rc)
		g.idx = append(g.idx, i)
	}

	// Step 2: the message itself, per group.
	for _, g := range groups {
		out := d.opts.Sender.Deliver(ctx, g.dec)
		for k, i := range g.idx {
			dr := delivery.Result{Rcpt: r.Rcpts[i], Outcome: delivery.TempFail, Code: 451, Enhanced: "4.3.0", Text: "no result from sender"}
			if k < len(out) && out[k].Rcpt == r.Rcpts[i] {
				dr = out[k]
			}
			res := &results[i]
			switch {
			case dr.Outcome == delivery.Delivered:
				res.Result = dr
				res.Method = methodOf(dr.TLSLevel)
				if dr.TLSLevel < decs[i].MinTLS.Level() {
					// The Sender broke its contract; nothing can unsend it,
					// but it must not go unnoticed.
					d.log.Error("protection invariant violated: delivered below the required TLS level",
						"id", r.ID, "domain", domain, "level", dr.TLSLevel.String(), "required", decs[i].MinTLS.String())
				}
			case dr.Outcome == delivery.TempFail && dr.TLSShortfall:
				d.m.refusals.Inc()
				if decs[i].Require == policy.RequireNone && len(decs[i].Fallback) == 0 {
					// Only the recipient domain's own MTA-STS or DANE
					// policy can demand TLS here; it stands.
					res.Result = dr
					continue
				}
				reasons[i] = ReasonTLSNotReached
				res.Result = dr // replaced by the chain
				chain = append(chain, i)
			default:
				res.Result = dr
			}
		}
	}

	// Steps 3-5: the fallback chain, per recipient, in request order.
	slices.Sort(chain)
	for _, i := range chain {
		d.fallback(ctx, &r, domain, decs[i], reasons[i], &results[i])
	}
	return results
}

// hold marks res as held.
func (d *Deliverer) hold(res *Result, reason, label, text string) {
	res.Outcome, res.Code, res.Enhanced, res.Text = delivery.TempFail, 451, "4.7.0", text
	res.TLSShortfall = false
	res.Held, res.HoldReason = true, reason
	d.m.held.WithLabelValues(label).Inc()
}

func setFail(res *Result, code int, enh, text string) {
	res.Outcome, res.Code, res.Enhanced, res.Text = delivery.TempFail, code, enh, text
	if code >= 500 {
		res.Outcome = delivery.PermFail
	}
}

func methodOf(l delivery.TLSLevel) string {
	switch {
	case l >= delivery.LevelVerified:
		return MethodTLSVerified
	case l >= delivery.LevelTLS:
		return MethodTLS
	}
	return MethodPlaintext
}

func domainOf(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(addr[at+1:]), ".")
}

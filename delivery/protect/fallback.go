package protect

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sealgate/sealgate/crypto/keystore"
	"github.com/sealgate/sealgate/crypto/pgp"
	"github.com/sealgate/sealgate/crypto/smime"
	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/policy"
)

// attempt is what one method of the chain came to.
type attempt struct {
	used      bool   // a copy was sent (whatever its outcome)
	reason    string // why the method could not be used; fixed text, no content
	transient bool   // the reason may go away by itself (retry later)
	portalNil bool   // the portal method was named but no Portal is configured
}

// fallback runs steps 4 and 5 of doc.go for one recipient. res holds the
// cleartext attempt's result (if any) and is overwritten.
func (d *Deliverer) fallback(ctx context.Context, r *Request, domain string, dec policy.Decision, why string, res *Result) {
	rcpt := res.Rcpt
	d.m.fallbacks.WithLabelValues(why).Inc()
	res.Fallback = why
	res.TLSShortfall = false

	var keys keystore.Keys
	var keysErr error
	keysLooked := false
	lookup := func() {
		if keysLooked {
			return
		}
		keysLooked = true
		if d.opts.Keys != nil {
			keys, keysErr = d.opts.Keys.Lookup(ctx, rcpt)
		}
	}

	var notes []string
	transient, portalNamed, portalNil := false, false, false
	for _, m := range dec.Fallback {
		var a attempt
		switch m {
		case policy.MethodSMIME:
			lookup()
			a = d.trySMIME(ctx, r, rcpt, keys, keysErr, dec, res)
		case policy.MethodPGP:
			lookup()
			a = d.tryPGP(ctx, r, rcpt, keys, keysErr, dec, res)
		case policy.MethodPortal:
			portalNamed = true
			a = d.tryPortal(ctx, r, rcpt, dec, res)
		default:
			a = attempt{reason: "unknown method"}
		}
		if a.used {
			d.log.Info("protection fallback", "id", r.ID, "domain", domain, "reason", why,
				"method", res.Method, "skipped", strings.Join(notes, "; "), "result", res.Outcome.String())
			return
		}
		notes = append(notes, string(m)+": "+a.reason)
		transient = transient || a.transient
		portalNil = portalNil || a.portalNil
	}
	if len(dec.Fallback) == 0 {
		notes = append(notes, "no fallback allowed")
	}
	res.Result = delivery.Result{Rcpt: rcpt}
	res.Method = ""
	summary := strings.Join(notes, "; ")
	switch {
	case transient:
		setFail(res, 451, "4.7.5", "no allowed protection method available now ("+summary+")")
	case portalNamed && portalNil:
		d.hold(res, HoldPortalUnavailable, "portal_unavailable", "held: no allowed protection: "+summary)
	default:
		setFail(res, 451, "4.7.5", "no allowed protection method available ("+summary+")")
	}
	d.log.Info("protection fallback", "id", r.ID, "domain", domain, "reason", why,
		"method", "none", "skipped", summary, "result", outcomeLabel(res))
}

func outcomeLabel(res *Result) string {
	if res.Held {
		return "held"
	}
	return res.Outcome.String()
}

func (d *Deliverer) trySMIME(ctx context.Context, r *Request, rcpt string, keys keystore.Keys, keysErr error, dec policy.Decision, res *Result) attempt {
	if keysErr != nil {
		return attempt{reason: "key lookup failed", transient: true}
	}
	if len(keys.SMIME) == 0 {
		return attempt{reason: "no certificate"}
	}
	opts := smime.Options{HideSubject: true, GenericSubject: d.opts.GenericSubject, MaxSize: d.opts.MaxEncryptSize, Now: d.opts.Now}
	return d.encryptAndSend(ctx, r, rcpt, dec, res, MethodSMIME, func(dst io.Writer, src io.Reader) error {
		return smime.Encrypt(dst, src, keys.SMIME, opts)
	})
}

func (d *Deliverer) tryPGP(ctx context.Context, r *Request, rcpt string, keys keystore.Keys, keysErr error, dec policy.Decision, res *Result) attempt {
	if keysErr != nil {
		return attempt{reason: "key lookup failed", transient: true}
	}
	if len(keys.PGP) == 0 {
		return attempt{reason: "no key"}
	}
	opts := pgp.Options{HideSubject: true, GenericSubject: d.opts.GenericSubject, MaxSize: d.opts.MaxEncryptSize, Now: d.opts.Now}
	return d.encryptAndSend(ctx, r, rcpt, dec, res, MethodPGP, func(dst io.Writer, src io.Reader) error {
		return pgp.Encrypt(dst, src, keys.PGP, opts)
	})
}

func (d *Deliverer) tryPortal(ctx context.Context, r *Request, rcpt string, dec policy.Decision, res *Result) attempt {
	if d.opts.Portal == nil {
		return attempt{reason: "unavailable", portalNil: true}
	}
	note, err := d.opts.Portal.Notify(ctx, *r, rcpt)
	if err != nil {
		return attempt{reason: "portal store failed", transient: true}
	}
	defer note.Close()
	return d.stageAndSend(ctx, r, rcpt, dec, res, MethodPortal, func(dst io.Writer) error {
		_, err := io.Copy(dst, note)
		return err
	})
}

// encryptAndSend encrypts the message with enc into a staging file and
// sends that file.
func (d *Deliverer) encryptAndSend(ctx context.Context, r *Request, rcpt string, dec policy.Decision, res *Result, method string,
	enc func(dst io.Writer, src io.Reader) error) attempt {
	var encErr error
	a := d.stageAndSend(ctx, r, rcpt, dec, res, method, func(dst io.Writer) error {
		src, err := r.Open()
		if err != nil {
			return err
		}
		defer src.Close()
		encErr = enc(dst, src)
		return encErr
	})
	if !a.used && encErr != nil {
		// Why the method cannot be used; the errors name keys by
		// fingerprint only, but fixed text is all we report.
		switch {
		case errors.Is(encErr, smime.ErrTooLarge), errors.Is(encErr, pgp.ErrTooLarge):
			a = attempt{reason: "message too large to encrypt"}
		case errors.Is(encErr, smime.ErrUnusableCert):
			a = attempt{reason: "certificate not usable"}
		case errors.Is(encErr, pgp.ErrUnusableKey):
			a = attempt{reason: "key not usable"}
		default:
			a = attempt{reason: "encryption failed"}
		}
	}
	return a
}

// stageAndSend writes the copy to a 0600 staging file with write, then sends
// exactly those bytes for rcpt alone: MinTLS opportunistic (the copy holds
// no cleartext PHI), REQUIRETLS kept when asked for. The file is removed
// before returning.
func (d *Deliverer) stageAndSend(ctx context.Context, r *Request, rcpt string, dec policy.Decision, res *Result, method string,
	write func(dst io.Writer) error) attempt {
	f, err := os.CreateTemp(d.opts.TempDir, ".sealgate-protect-*")
	if err != nil {
		return attempt{reason: "staging failed", transient: true}
	}
	path := f.Name()
	defer os.Remove(path)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return attempt{reason: "staging failed", transient: true}
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if err := write(bw); err != nil {
		f.Close()
		// The caller classifies encryption errors; anything else here is
		// local I/O.
		return attempt{reason: "staging failed", transient: true}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return attempt{reason: "staging failed", transient: true}
	}
	st, err := f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return attempt{reason: "staging failed", transient: true}
	}
	out := d.opts.Sender.Deliver(ctx, delivery.Request{
		ID: r.ID, From: r.From, Rcpts: []string{rcpt}, Domain: r.Domain,
		RequireTLS: dec.RequireTLSFlag || r.RequireTLS,
		SMTPUTF8:   r.SMTPUTF8,
		MinTLS:     delivery.PolicyOpportunistic,
		Size:       st.Size(),
		Open:       func() (io.ReadCloser, error) { return os.Open(path) },
	})
	if len(out) != 1 || out[0].Rcpt != rcpt {
		res.Result = delivery.Result{Rcpt: rcpt}
		setFail(res, 451, "4.3.0", fmt.Sprintf("no result from sender for the %s copy", method))
	} else {
		res.Result = out[0]
	}
	res.Method = method
	return attempt{used: true}
}

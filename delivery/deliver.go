package delivery

import (
	"context"
	"strings"
	"time"
)

// Deliver sends r to its destination and returns one Result per recipient,
// in the order of r.Rcpts. It never returns early with a partial slice: every
// recipient gets an outcome. See doc.go for the algorithm.
func (c *Client) Deliver(ctx context.Context, r Request) []Result {
	start := time.Now()
	results := make([]Result, len(r.Rcpts))
	for i, rc := range r.Rcpts {
		results[i].Rcpt = rc
	}
	defer func() {
		c.metrics.duration.Observe(time.Since(start).Seconds())
		for _, res := range results {
			c.metrics.attempts.WithLabelValues(res.Outcome.String()).Inc()
		}
	}()

	fail := func(idx []int, e *Error) {
		for _, i := range idx {
			setErr(&results[i], e)
		}
	}
	all := make([]int, len(r.Rcpts))
	for i := range all {
		all[i] = i
	}
	if r.Open == nil || len(r.Rcpts) == 0 {
		fail(all, tempErr(451, "4.3.0", "invalid delivery request"))
		return results
	}
	if !validAddr(r.From, true) {
		fail(all, permErr(553, "5.1.7", "invalid sender address"))
		return results
	}
	var pending []int
	for i, rc := range r.Rcpts {
		if !validAddr(rc, false) {
			setErr(&results[i], permErr(553, "5.1.3", "invalid recipient address"))
			continue
		}
		pending = append(pending, i)
	}
	if len(pending) == 0 {
		return results
	}
	if r.IgnoreTLSPolicies && len(c.opts.Policies) > 0 {
		// RFC 8689 §5: this attempt runs without the Policies (step 4 and
		// 5 of doc.go); everything else (limiter, metrics) is shared.
		without := *c
		without.opts.Policies = nil
		c = &without
	}
	domain := normDomain(r.Domain)
	if domain == "" {
		// Default: the domain of the first valid recipient.
		rc := r.Rcpts[pending[0]]
		domain = normDomain(rc[strings.LastIndexByte(rc, '@')+1:])
	}
	if domain == "" {
		fail(pending, permErr(553, "5.1.2", "missing recipient domain"))
		return results
	}

	p, rerr := c.route(ctx, domain)
	if rerr != nil {
		c.log.Info("delivery", "id", r.ID, "domain", domain, "result", outcomeOf(rerr).String(),
			"code", rerr.Code, "reason", rerr.Msg)
		fail(pending, rerr)
		return results
	}
	need := c.required(&r, p)
	if p.kind == "mx" {
		floor, perr := c.policyFloor(ctx, domain)
		if perr != nil {
			// The policy is unknown, not unmet: no MX was tried, so this
			// is not a TLS shortfall (Result.TLSShortfall stays false).
			unknown := *perr
			unknown.tlsFloor = false
			fail(pending, &unknown)
			return results
		}
		need = min(max(need, floor), PolicyVerified)
	}

	release, err := c.limit.acquire(ctx, p.key)
	if err != nil {
		fail(pending, tempErr(451, "4.4.5", "delivery cancelled while waiting for a connection slot"))
		return results
	}
	defer release()

	st := &sendState{req: &r, domain: domain, need: need, smarthost: p.smarthost, pending: pending}
	var failures []*Error
	for _, h := range p.hops {
		if p.kind == "mx" {
			if perr := c.allowMX(ctx, domain, h.name); perr != nil {
				c.log.Info("delivery attempt", "id", r.ID, "mx", h.name, "result", "deferred", "reason", perr.Msg)
				failures = append(failures, perr)
				continue
			}
		}
		addrs, aerr := c.addrs(ctx, h)
		if aerr != nil {
			c.log.Info("delivery attempt", "id", r.ID, "mx", h.name, "result", "deferred", "reason", aerr.Msg)
			failures = append(failures, aerr)
			continue
		}
		for _, addr := range addrs {
			if ctx.Err() != nil {
				failures = append(failures, tempErr(451, "4.4.5", "delivery cancelled"))
				break
			}
			out := c.attempt(ctx, st, h, addr, true)
			if !out.final && out.handshakeFailed && need == PolicyOpportunistic {
				// Opportunistic only: the peer offered STARTTLS but the
				// handshake failed. Retry this address in plaintext, as an
				// attacker able to break the handshake could equally strip
				// STARTTLS; stricter policies never get here (doc.go §5).
				out = c.attempt(ctx, st, h, addr, false)
			}
			if out.final {
				for k, i := range st.pending {
					res := &results[i]
					if e := out.rcpt[k]; e != nil {
						setErr(res, e)
					} else {
						res.Outcome, res.Code, res.Enhanced, res.Text = Delivered, out.reply.Code, out.reply.Enhanced, out.reply.Msg
					}
					res.MX, res.TLSVersion, res.TLSCipher, res.TLSLevel = h.name, out.info.version, out.info.cipher, out.info.level
				}
				return results
			}
			failures = append(failures, out.err)
		}
	}
	fail(pending, summarize(failures, need))
	return results
}

func setErr(res *Result, e *Error) {
	res.Outcome = outcomeOf(e)
	res.Code, res.Enhanced, res.Text = e.Code, e.Enhanced, e.Msg
	res.TLSShortfall = e.tlsFloor && e.Temporary
}

func outcomeOf(e *Error) Outcome {
	if e.Temporary {
		return TempFail
	}
	return PermFail
}

// summarize turns the failures of every tried host into one reason: any
// temporary failure makes the whole temporary; when every host failed the
// TLS floor, say so plainly.
func summarize(failures []*Error, need TLSPolicy) *Error {
	if len(failures) == 0 {
		return tempErr(451, "4.4.4", "no next hop could be tried")
	}
	var tlsFail, firstTemp *Error
	onlyTLS := true
	for _, f := range failures {
		if f.tlsFloor {
			tlsFail = f
		} else {
			onlyTLS = false
		}
		if f.Temporary && firstTemp == nil {
			firstTemp = f
		}
	}
	last := failures[len(failures)-1]
	if tlsFail != nil {
		// Some host was reachable but could not give the protection the
		// message needs: that is the actionable reason.
		e := tempErr(451, tlsFail.Enhanced, "TLS %s required but not reached on any MX (%s)", need, tlsFail.Msg)
		// Only a pure TLS shortfall is flagged: when a host was also
		// unreachable, it may give the TLS needed on a later attempt.
		e.tlsFloor = onlyTLS
		return e
	}
	if firstTemp == nil {
		return last
	}
	// Prefer the last temporary failure: it describes the final host tried.
	for i := len(failures) - 1; i >= 0; i-- {
		if failures[i].Temporary {
			return failures[i]
		}
	}
	return firstTemp
}

// validAddr rejects addresses that would break the SMTP command line or
// smuggle commands. Full RFC 5321 syntax is smtpd's job.
func validAddr(a string, sender bool) bool {
	if a == "" {
		return sender
	}
	if len(a) > 512 || strings.ContainsAny(a, "<> \t\r\n\x00") {
		return false
	}
	for _, r := range a {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	at := strings.LastIndexByte(a, '@')
	return at > 0 && at < len(a)-1
}

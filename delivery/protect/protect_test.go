package protect_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealgate/sealgate/crypto/keystore"
	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/protect"
	"github.com/sealgate/sealgate/internal/testtool"
	"github.com/sealgate/sealgate/policy"
)

// sent is one Deliver call the fake sender saw, with the bytes of each of
// two reads (DKIM signing, then the wire).
type sent struct {
	req   delivery.Request
	reads [2][]byte
	files []os.DirEntry // staging directory during the call
	modes []os.FileMode
}

// fakeSender answers each recipient with answer (default: delivered over
// verified TLS) and records everything it was asked to send.
type fakeSender struct {
	mu      sync.Mutex
	calls   []sent
	staging string
	answer  func(call int, r delivery.Request, rcpt string) delivery.Result
}

func (f *fakeSender) Deliver(_ context.Context, r delivery.Request) []delivery.Result {
	s := sent{req: r}
	for i := range 2 {
		rc, err := r.Open()
		if err != nil {
			panic(err)
		}
		s.reads[i], _ = io.ReadAll(rc)
		rc.Close()
	}
	if f.staging != "" {
		s.files, _ = os.ReadDir(f.staging)
		for _, e := range s.files {
			if fi, err := e.Info(); err == nil {
				s.modes = append(s.modes, fi.Mode().Perm())
			}
		}
	}
	f.mu.Lock()
	call := len(f.calls)
	f.calls = append(f.calls, s)
	f.mu.Unlock()
	out := make([]delivery.Result, len(r.Rcpts))
	for i, rc := range r.Rcpts {
		if f.answer != nil {
			out[i] = f.answer(call, r, rc)
			out[i].Rcpt = rc
			continue
		}
		out[i] = delivery.Result{Rcpt: rc, Outcome: delivery.Delivered, Code: 250, TLSLevel: delivery.LevelVerified, TLSVersion: "TLS1.3"}
	}
	return out
}

// shortfall answers a cleartext send (MinTLS above opportunistic) with a
// TLS shortfall and delivers everything else in plaintext (an MX that
// offers REQUIRETLS but no certificate we can verify is not modelled).
func shortfall(_ int, r delivery.Request, rc string) delivery.Result {
	if r.MinTLS > delivery.PolicyOpportunistic {
		return delivery.Result{Outcome: delivery.TempFail, Code: 451, Enhanced: "4.7.10", Text: "TLS verified required but not reached on any MX", TLSShortfall: true}
	}
	return delivery.Result{Outcome: delivery.Delivered, Code: 250, TLSLevel: delivery.LevelNone}
}

// fakeKeys serves the S/MIME certificate and OpenPGP key of a real key
// store for chosen addresses, or an error.
type fakeKeys struct {
	keys map[string]keystore.Keys
	err  error
}

func (k fakeKeys) Lookup(_ context.Context, addr string) (keystore.Keys, error) {
	return k.keys[addr], k.err
}

type fakePortal struct {
	mu    sync.Mutex
	rcpts []string
	err   error
}

const notification = "From: portal@sender.test\r\nTo: nokey@example.test\r\nSubject: You have a secure message\r\n\r\nOpen https://portal.sender.test/p/abc to read it.\r\n"

func (p *fakePortal) Notify(_ context.Context, r protect.Request, rcpt string) (io.ReadCloser, error) {
	p.mu.Lock()
	p.rcpts = append(p.rcpts, rcpt)
	p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	return io.NopCloser(strings.NewReader(notification)), nil
}

type fixture struct {
	d      *protect.Deliverer
	sender *fakeSender
	reg    *prometheus.Registry
	logs   *bytes.Buffer
}

func newFixture(t *testing.T, mut func(*protect.Options)) *fixture {
	t.Helper()
	f := &fixture{sender: &fakeSender{staging: t.TempDir()}, reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	o := protect.Options{
		Sender:     f.sender,
		TempDir:    f.sender.staging,
		Logger:     slog.New(slog.NewTextHandler(f.logs, nil)),
		Registerer: f.reg,
	}
	if mut != nil {
		mut(&o)
	}
	d, err := protect.New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	return f
}

func (f *fixture) deliver(t *testing.T, msg string, ds map[string]policy.Decision, rc ...string) []protect.Result {
	t.Helper()
	res := f.d.Deliver(context.Background(), protect.Request{
		ID: "Q1", From: "clinic@sender.test", Rcpts: rc, Domain: "example.test", Size: int64(len(msg)), Decisions: ds,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(msg)), nil },
	})
	if len(res) != len(rc) {
		t.Fatalf("%d results for %d recipients", len(res), len(rc))
	}
	for i := range res {
		if res[i].Rcpt != rc[i] {
			t.Fatalf("result %d is for %q", i, res[i].Rcpt)
		}
	}
	return res
}

// cleartextSends counts the sends that carried the original message.
func (f *fixture) cleartextSends() int {
	n := 0
	for _, c := range f.sender.calls {
		if bytes.Contains(c.reads[0], []byte(phiBodyText)) || bytes.Contains(c.reads[1], []byte(phiBodyText)) {
			n++
		}
	}
	return n
}

func (f *fixture) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				ok := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						ok = true
					}
				}
				if !ok {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

func dec(req policy.Requirement, fb ...policy.Method) policy.Decision {
	if fb == nil {
		fb = policy.DefaultFallback(req)
	}
	return policy.Decision{Rule: "test", Require: req, Fallback: fb, MinTLS: req.MinTLS()}
}

// realKeys returns the keys of the test key store (built with gpg).
func realKeys(t *testing.T) (*recipientKeys, keystore.Keys, keystore.Keys) {
	t.Helper()
	rk := newRecipientKeys(t)
	ks, _ := rk.store.LookupAddress(rcptSMIME)
	kp, _ := rk.store.LookupAddress(rcptPGP)
	return rk, ks, kp
}

func TestNoDecisionIsProtectedByDefault(t *testing.T) {
	f := newFixture(t, nil)
	f.sender.answer = shortfall
	res := f.deliver(t, phiMessage, nil, rcptNone)
	if len(f.sender.calls) != 1 {
		t.Fatalf("%d sends, want 1 (the cleartext attempt only)", len(f.sender.calls))
	}
	if got := f.sender.calls[0].req; got.MinTLS != delivery.PolicyVerified {
		t.Errorf("cleartext attempt with MinTLS %v, want verified (policy's PHI default)", got.MinTLS)
	}
	r := res[0]
	if !r.Held || r.HoldReason != protect.HoldPortalUnavailable || r.Outcome != delivery.TempFail || r.Fallback != protect.ReasonTLSNotReached {
		t.Errorf("%+v: want held (portal unavailable) after tls_not_reached", r)
	}
	for _, want := range []string{"smime: no certificate", "pgp: no key", "portal: unavailable"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("reason %q lacks %q", r.Text, want)
		}
	}
	if f.counter(t, "sealgate_protect_downgrade_refusals_total") != 1 ||
		f.counter(t, "sealgate_protect_held_total", "reason", "portal_unavailable") != 1 ||
		f.counter(t, "sealgate_protect_fallbacks_total", "reason", "tls_not_reached") != 1 {
		t.Error("metrics not counted")
	}
	// Unknown requirement (a decision this version does not understand):
	// also the PHI default.
	f2 := newFixture(t, nil)
	f2.sender.answer = shortfall
	f2.deliver(t, phiMessage, map[string]policy.Decision{rcptNone: {Rule: "x", Require: "bogus"}}, rcptNone)
	if f2.sender.calls[0].req.MinTLS != delivery.PolicyVerified {
		t.Errorf("unknown requirement sent with MinTLS %v", f2.sender.calls[0].req.MinTLS)
	}
}

func TestRejectAndHoldSendNothing(t *testing.T) {
	f := newFixture(t, nil)
	rej, hold := dec(policy.RequireTLS), dec(policy.RequireTLS)
	rej.Reject, hold.Hold = true, true
	res := f.deliver(t, phiMessage, map[string]policy.Decision{"a@example.test": rej, "b@example.test": hold}, "a@example.test", "b@example.test")
	if r := res[0]; r.Outcome != delivery.PermFail || r.Code != 550 || r.Enhanced != "5.7.1" || r.Held {
		t.Errorf("reject: %+v", r)
	}
	if r := res[1]; !r.Held || r.HoldReason != protect.HoldPolicy || r.Outcome != delivery.TempFail {
		t.Errorf("hold: %+v", r)
	}
	if len(f.sender.calls) != 0 {
		t.Errorf("%d sends for rejected and held recipients", len(f.sender.calls))
	}
	if f.counter(t, "sealgate_protect_held_total", "reason", "policy_hold") != 1 {
		t.Error("hold not counted")
	}
}

func TestGroupingAndTLSFloors(t *testing.T) {
	f := newFixture(t, nil)
	v := dec(policy.RequireTLSVerified)
	rt := v
	rt.RequireTLSFlag = true
	ds := map[string]policy.Decision{
		"a@example.test": v, "b@example.test": dec(policy.RequireTLS), "c@example.test": v,
		"d@example.test": dec(policy.RequireNone), "e@example.test": rt,
	}
	res := f.deliver(t, phiMessage, ds, "a@example.test", "b@example.test", "c@example.test", "d@example.test", "e@example.test")
	if len(f.sender.calls) != 4 {
		t.Fatalf("%d sends, want 4 groups", len(f.sender.calls))
	}
	type want struct {
		rcpts  string
		min    delivery.TLSPolicy
		reqTLS bool
	}
	wants := []want{
		{"a@example.test,c@example.test", delivery.PolicyVerified, false},
		{"b@example.test", delivery.PolicyRequired, false},
		{"d@example.test", delivery.PolicyOpportunistic, false},
		{"e@example.test", delivery.PolicyVerified, true},
	}
	for i, w := range wants {
		r := f.sender.calls[i].req
		if strings.Join(r.Rcpts, ",") != w.rcpts || r.MinTLS != w.min || r.RequireTLS != w.reqTLS {
			t.Errorf("send %d: rcpts %v MinTLS %v RequireTLS %v; want %+v", i, r.Rcpts, r.MinTLS, r.RequireTLS, w)
		}
	}
	for _, r := range res {
		if r.Outcome != delivery.Delivered || r.Method != protect.MethodTLSVerified || r.Fallback != "" {
			t.Errorf("%+v", r)
		}
	}
	if f.counter(t, "sealgate_protect_deliveries_total", "method", "tls_verified") != 5 {
		t.Error("deliveries not counted")
	}
}

// A TempFail that is not a TLS shortfall (network, DNS, 4xx) and a
// PermFail are the recipient's outcome: no fallback, retry the cleartext
// later.
func TestOtherFailuresDoNotFallBack(t *testing.T) {
	f := newFixture(t, nil)
	f.sender.answer = func(_ int, _ delivery.Request, rc string) delivery.Result {
		if rc == "a@example.test" {
			return delivery.Result{Outcome: delivery.TempFail, Code: 451, Enhanced: "4.4.1", Text: "connection refused"}
		}
		return delivery.Result{Outcome: delivery.PermFail, Code: 550, Enhanced: "5.1.1", Text: "no such user"}
	}
	v := dec(policy.RequireTLSVerified)
	res := f.deliver(t, phiMessage, map[string]policy.Decision{"a@example.test": v, "b@example.test": v}, "a@example.test", "b@example.test")
	if len(f.sender.calls) != 1 {
		t.Fatalf("%d sends, want 1", len(f.sender.calls))
	}
	if r := res[0]; r.Outcome != delivery.TempFail || r.Enhanced != "4.4.1" || r.Fallback != "" || r.Held {
		t.Errorf("temp: %+v", r)
	}
	if r := res[1]; r.Outcome != delivery.PermFail || r.Enhanced != "5.1.1" || r.Fallback != "" {
		t.Errorf("perm: %+v", r)
	}
	if f.counter(t, "sealgate_protect_downgrade_refusals_total") != 0 {
		t.Error("a network failure counted as a downgrade refusal")
	}
}

// The fallback chain with real keys: S/MIME first, then OpenPGP, in the
// decision's order; the copies are staged 0600, read twice identically,
// sent one recipient at a time with MinTLS opportunistic and REQUIRETLS
// kept, and never the cleartext.
func TestFallbackChainStagesCiphertext(t *testing.T) {
	rk, ks, kp := realKeys(t)
	both := keystore.Keys{SMIME: ks.SMIME, PGP: kp.PGP}
	f := newFixture(t, func(o *protect.Options) {
		o.Keys = fakeKeys{keys: map[string]keystore.Keys{rcptSMIME: ks, rcptPGP: kp, "both@example.test": both, "both2@example.test": both}}
	})
	f.sender.answer = shortfall
	v := dec(policy.RequireTLSVerified)
	v.RequireTLSFlag = true
	v.MinTLS = delivery.PolicyVerified
	pgpFirst := dec(policy.RequireTLSVerified, policy.MethodPGP, policy.MethodSMIME)
	ds := map[string]policy.Decision{rcptSMIME: v, rcptPGP: v, "both@example.test": v, "both2@example.test": pgpFirst}
	res := f.deliver(t, phiMessage, ds, rcptSMIME, rcptPGP, "both@example.test", "both2@example.test")
	wantMethods := []string{protect.MethodSMIME, protect.MethodPGP, protect.MethodSMIME, protect.MethodPGP}
	for i, r := range res {
		if r.Outcome != delivery.Delivered || r.Method != wantMethods[i] || r.Fallback != protect.ReasonTLSNotReached {
			t.Errorf("%s: %+v, want delivered by %s", r.Rcpt, r, wantMethods[i])
		}
	}
	if n := f.cleartextSends(); n != 2 {
		t.Errorf("%d sends carried the cleartext, want only the 2 refused attempts", n)
	}
	for _, c := range f.sender.calls[2:] {
		if len(c.req.Rcpts) != 1 || c.req.MinTLS != delivery.PolicyOpportunistic {
			t.Errorf("ciphertext send %v with MinTLS %v", c.req.Rcpts, c.req.MinTLS)
		}
		if c.req.RequireTLS != (c.req.Rcpts[0] != "both2@example.test") {
			t.Errorf("%s: RequireTLS %v not kept from the decision", c.req.Rcpts[0], c.req.RequireTLS)
		}
		if !bytes.Equal(c.reads[0], c.reads[1]) || int64(len(c.reads[0])) != c.req.Size {
			t.Errorf("%s: the two reads differ or Size is wrong: DKIM would sign other bytes", c.req.Rcpts[0])
		}
		if l := leaked(c.reads[0]); len(l) > 0 {
			t.Errorf("%s: ciphertext copy shows %v", c.req.Rcpts[0], l)
		}
		if len(c.files) != 1 || len(c.modes) != 1 || c.modes[0] != 0o600 {
			t.Errorf("staging during send: %d files, modes %v; want one 0600 file", len(c.files), c.modes)
		}
	}
	if ents, _ := os.ReadDir(f.sender.staging); len(ents) != 0 {
		t.Errorf("%d staging files left", len(ents))
	}
	// The S/MIME copy for "both" decrypts with openssl.
	if dec := rk.opensslDecrypt(t, f.sender.calls[4].reads[1]); !bytes.Contains(dec, []byte(phiBodyText)) {
		t.Errorf("openssl gave %q", dec)
	}
	if f.counter(t, "sealgate_protect_deliveries_total", "method", "smime") != 2 ||
		f.counter(t, "sealgate_protect_deliveries_total", "method", "pgp") != 2 {
		t.Error("fallback deliveries not counted")
	}
	// One log line per fallback decision: queue ID, domain, method, reason;
	// never the address or content.
	logs := f.logs.String()
	if strings.Count(logs, "protection fallback") != 4 || !strings.Contains(logs, "domain=example.test") ||
		!strings.Contains(logs, "method=smime") || !strings.Contains(logs, "reason=tls_not_reached") {
		t.Errorf("logs:\n%s", logs)
	}
	if strings.Contains(logs, "@example.test") || len(leaked([]byte(logs))) > 0 {
		t.Errorf("logs carry an address or content:\n%s", logs)
	}
}

// When the ciphertext send itself fails, the recipient gets that outcome;
// the cleartext is still never sent.
func TestCiphertextSendFailureIsTheOutcome(t *testing.T) {
	_, ks, _ := realKeys(t)
	f := newFixture(t, func(o *protect.Options) { o.Keys = fakeKeys{keys: map[string]keystore.Keys{rcptSMIME: ks}} })
	f.sender.answer = func(call int, r delivery.Request, rc string) delivery.Result {
		return delivery.Result{Outcome: delivery.TempFail, Code: 451, Enhanced: "4.7.10", Text: "TLS not reached", TLSShortfall: true}
	}
	res := f.deliver(t, phiMessage, map[string]policy.Decision{rcptSMIME: dec(policy.RequireTLSVerified)}, rcptSMIME)
	if r := res[0]; r.Outcome != delivery.TempFail || r.Method != protect.MethodSMIME || r.Held || !r.TLSShortfall || r.Enhanced != "4.7.10" {
		t.Errorf("%+v", r)
	}
	if len(f.sender.calls) != 2 || f.cleartextSends() != 1 {
		t.Errorf("%d sends, %d cleartext", len(f.sender.calls), f.cleartextSends())
	}
}

func TestE2ENeverSendsCleartext(t *testing.T) {
	_, ks, _ := realKeys(t)
	f := newFixture(t, func(o *protect.Options) { o.Keys = fakeKeys{keys: map[string]keystore.Keys{rcptSMIME: ks}} })
	ds := map[string]policy.Decision{rcptSMIME: dec(policy.RequireE2E), rcptNone: dec(policy.RequireE2E)}
	res := f.deliver(t, phiMessage, ds, rcptSMIME, rcptNone)
	if r := res[0]; r.Outcome != delivery.Delivered || r.Method != protect.MethodSMIME || r.Fallback != protect.ReasonE2ERequired {
		t.Errorf("e2e with a cert: %+v", r)
	}
	// e2e names no portal: nothing allowed is possible → stays queued.
	if r := res[1]; r.Outcome != delivery.TempFail || r.Held || r.Code != 451 || r.Enhanced != "4.7.5" ||
		!strings.Contains(r.Text, "no allowed protection method available") {
		t.Errorf("e2e without keys: %+v", r)
	}
	if f.cleartextSends() != 0 || len(f.sender.calls) != 1 {
		t.Errorf("%d sends, %d cleartext: e2e must never send the message itself", len(f.sender.calls), f.cleartextSends())
	}
}

func TestNoFallbackAllowedWaits(t *testing.T) {
	f := newFixture(t, nil)
	f.sender.answer = shortfall
	res := f.deliver(t, phiMessage, map[string]policy.Decision{rcptNone: dec(policy.RequireTLS, []policy.Method{}...)}, rcptNone)
	r := res[0]
	if r.Outcome != delivery.TempFail || r.Held || r.Enhanced != "4.7.5" || !strings.Contains(r.Text, "no fallback allowed") {
		t.Errorf("%+v", r)
	}
	if len(f.sender.calls) != 1 {
		t.Errorf("%d sends", len(f.sender.calls))
	}
}

func TestPortal(t *testing.T) {
	p := &fakePortal{}
	f := newFixture(t, func(o *protect.Options) { o.Portal = p })
	f.sender.answer = shortfall
	ds := map[string]policy.Decision{rcptNone: dec(policy.RequireTLSVerified), "p@example.test": dec(policy.RequirePortal)}
	res := f.deliver(t, phiMessage, ds, rcptNone, "p@example.test")
	for i, why := range []string{protect.ReasonTLSNotReached, protect.ReasonPortalRequired} {
		if r := res[i]; r.Outcome != delivery.Delivered || r.Method != protect.MethodPortal || r.Fallback != why {
			t.Errorf("%s: %+v", r.Rcpt, r)
		}
	}
	if strings.Join(p.rcpts, ",") != rcptNone+",p@example.test" {
		t.Errorf("portal stored for %v", p.rcpts)
	}
	if f.cleartextSends() != 1 {
		t.Errorf("%d cleartext sends, want only the refused attempt", f.cleartextSends())
	}
	last := f.sender.calls[len(f.sender.calls)-1]
	if string(last.reads[1]) != notification || last.req.MinTLS != delivery.PolicyOpportunistic {
		t.Errorf("portal send: %q MinTLS %v", last.reads[1], last.req.MinTLS)
	}

	// A portal that fails to store: retry later, not held, not plaintext.
	p2 := &fakePortal{err: errors.New("disk full")}
	f2 := newFixture(t, func(o *protect.Options) { o.Portal = p2 })
	res = f2.deliver(t, phiMessage, map[string]policy.Decision{rcptNone: dec(policy.RequirePortal)}, rcptNone)
	if r := res[0]; r.Outcome != delivery.TempFail || r.Held || r.Enhanced != "4.7.5" || strings.Contains(r.Text, "disk full") {
		t.Errorf("portal failure: %+v", r)
	}
}

func TestKeyLookupErrorRetries(t *testing.T) {
	f := newFixture(t, func(o *protect.Options) { o.Keys = fakeKeys{err: errors.New("wkd timeout")} })
	f.sender.answer = shortfall
	res := f.deliver(t, phiMessage, map[string]policy.Decision{rcptSMIME: dec(policy.RequireTLSVerified)}, rcptSMIME)
	if r := res[0]; r.Outcome != delivery.TempFail || r.Held || r.Enhanced != "4.7.5" || !strings.Contains(r.Text, "key lookup failed") {
		t.Errorf("%+v: an unknown key answer must be retried, not held", r)
	}
}

func TestTooLargeToEncryptMovesOn(t *testing.T) {
	_, ks, kp := realKeys(t)
	f := newFixture(t, func(o *protect.Options) {
		o.MaxEncryptSize = 64
		o.Keys = fakeKeys{keys: map[string]keystore.Keys{rcptSMIME: {SMIME: ks.SMIME, PGP: kp.PGP}}}
	})
	f.sender.answer = shortfall
	res := f.deliver(t, phiMessage, map[string]policy.Decision{rcptSMIME: dec(policy.RequireTLSVerified)}, rcptSMIME)
	r := res[0]
	if !r.Held || !strings.Contains(r.Text, "smime: message too large to encrypt") || !strings.Contains(r.Text, "pgp: message too large to encrypt") {
		t.Errorf("%+v", r)
	}
	if len(f.sender.calls) != 1 {
		t.Errorf("%d sends", len(f.sender.calls))
	}
	if ents, _ := os.ReadDir(f.sender.staging); len(ents) != 0 {
		t.Errorf("%d staging files left after failed encryption", len(ents))
	}
}

func TestNewChecksOptions(t *testing.T) {
	if _, err := protect.New(protect.Options{}); err == nil {
		t.Error("New without a Sender")
	}
	if _, err := protect.New(protect.Options{Sender: &fakeSender{}, TempDir: "/nonexistent/protect"}); err == nil {
		t.Error("New with a missing TempDir")
	}
	if _, err := protect.New(protect.Options{Sender: &fakeSender{}, GenericSubject: "a\r\nBcc: x@y"}); err == nil {
		t.Error("New with a header-injecting GenericSubject")
	}
}

func TestMetricsPassPromtool(t *testing.T) {
	testtool.Require(t, "promtool")
	f := newFixture(t, nil)
	f.sender.answer = shortfall
	f.deliver(t, phiMessage, nil, rcptNone)
	text := testtool.Exposition(t, f.reg)
	for _, want := range []string{
		`sealgate_protect_downgrade_refusals_total 1`,
		`sealgate_protect_held_total{reason="portal_unavailable"} 1`,
		`sealgate_protect_fallbacks_total{reason="tls_not_reached"} 1`,
		`sealgate_protect_deliveries_total{method="smime"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %s:\n%s", want, text)
		}
	}
	testtool.CheckMetrics(t, text)
	if n := testutil.CollectAndCount(f.reg); n == 0 {
		t.Error("no metrics registered")
	}
}

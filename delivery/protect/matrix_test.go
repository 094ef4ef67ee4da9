package protect_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/delivery/dane"
	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/delivery/mtasts"
	"github.com/sealgate/sealgate/delivery/protect"
	"github.com/sealgate/sealgate/internal/mxtest"
	"github.com/sealgate/sealgate/policy"
)

const (
	mxIP     = "192.0.2.1"
	policyIP = "192.0.2.80"
)

// world is one loopback destination "example.test": fake DNS (on the
// wire, with the AD bit), a dialer mapping mx.example.test's address to a
// fake MX, optional MTA-STS/DANE policies, and a protect.Deliverer over a
// real delivery.Client.
type world struct {
	t        *testing.T
	ca       *mxtest.CA
	zone     dnstest.Zone
	dialer   *mxtest.Dialer
	policies []delivery.Policy
	mx       *mxtest.Server // where the bytes land
	proxy    *stripProxy
	logs     *bytes.Buffer
	reg      *prometheus.Registry
	staging  string
}

func newWorld(t *testing.T, ca *mxtest.CA) *world {
	return &world{
		t:  t,
		ca: ca,
		zone: dnstest.Zone{
			"example.test":    {MX: []*net.MX{{Host: "mx.example.test", Pref: 10}}},
			"mx.example.test": {A: []string{mxIP}},
		},
		dialer:  &mxtest.Dialer{Map: map[string]string{}},
		logs:    &bytes.Buffer{},
		reg:     prometheus.NewRegistry(),
		staging: t.TempDir(),
	}
}

func (w *world) startMX(o mxtest.Options) {
	o.Hostname = "mx.example.test"
	w.mx = mxtest.Start(w.t, o)
	w.dialer.Map[mxIP+":25"] = w.mx.Addr()
}

func (w *world) validCert() *tls.Certificate {
	c := w.ca.Issue(w.t, "mx.example.test")
	return &c
}

func (w *world) resolver() delivery.Resolver {
	srv := dnstest.Start(w.t, w.zone)
	return delivery.NewDNSResolver([]string{srv.Addr()}, 2*time.Second)
}

func (w *world) deliverer(keys *recipientKeys) *protect.Deliverer {
	w.t.Helper()
	res := w.resolver()
	var pols []delivery.Policy
	for _, p := range w.policies {
		pols = append(pols, p)
	}
	c, err := delivery.New(delivery.Options{
		Hostname:       "gw.sealgate.test",
		Resolver:       res,
		Dialer:         w.dialer,
		RootCAs:        w.ca.Pool(),
		Policies:       pols,
		ConnectTimeout: 2 * time.Second,
		CommandTimeout: 5 * time.Second,
		DataTimeout:    10 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(w.logs, nil)),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	d, err := protect.New(protect.Options{
		Sender:         c,
		Keys:           keys.store,
		GenericSubject: "Secure message from Riverside Clinic",
		TempDir:        w.staging,
		Logger:         slog.New(slog.NewTextHandler(w.logs, nil)),
		Registerer:     w.reg,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

// policyHost serves one MTA-STS policy over HTTPS (RFC 8461 §3.2).
type policyHost struct{ body string }

func (h policyHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/.well-known/mta-sts.txt" || r.Host != "mta-sts.example.test" {
		http.Error(w, "wrong URL", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, h.body)
}

// scenario is one MX behaviour of the matrix.
type scenario struct {
	name  string
	setup func(w *world)
	// hostile: a PHI message must not be sent in cleartext.
	hostile bool
	// domainPolicy: the recipient domain's own MTA-STS/DANE policy forbids
	// this MX for any mail, ciphertext included (RFC 8461 §5, RFC 7672
	// §2.2): nothing may be delivered, whatever the protection.
	domainPolicy bool
	// plainMethod is how the non-PHI message goes (opportunistic TLS).
	plainMethod string
}

func scenarios() []scenario {
	return []scenario{
		{name: "0 happy: CA-valid cert, right name", plainMethod: protect.MethodTLSVerified, setup: func(w *world) {
			w.startMX(mxtest.Options{TLS: mxtest.TLSModern, Cert: w.validCert()})
		}},
		{name: "1 no STARTTLS offered", hostile: true, plainMethod: protect.MethodPlaintext, setup: func(w *world) {
			w.startMX(mxtest.Options{TLS: mxtest.TLSOff})
		}},
		{name: "2 STARTTLS with TLS 1.0 only", hostile: true, plainMethod: protect.MethodPlaintext, setup: func(w *world) {
			w.startMX(mxtest.Options{TLS: mxtest.TLSOnly10, Cert: w.validCert()})
		}},
		{name: "3 self-signed cert", hostile: true, plainMethod: protect.MethodTLS, setup: func(w *world) {
			c := mxtest.SelfSigned(w.t, "mx.example.test")
			w.startMX(mxtest.Options{TLS: mxtest.TLSModern, Cert: &c})
		}},
		{name: "4 expired cert", hostile: true, plainMethod: protect.MethodTLS, setup: func(w *world) {
			c := w.ca.IssueValid(w.t, time.Now().Add(-72*time.Hour), time.Now().Add(-24*time.Hour), "mx.example.test")
			w.startMX(mxtest.Options{TLS: mxtest.TLSModern, Cert: &c})
		}},
		{name: "5 wrong host name", hostile: true, plainMethod: protect.MethodTLS, setup: func(w *world) {
			c := w.ca.Issue(w.t, "mx.other.test")
			w.startMX(mxtest.Options{TLS: mxtest.TLSModern, Cert: &c})
		}},
		{name: "6 STARTTLS stripped on path", hostile: true, plainMethod: protect.MethodPlaintext, setup: func(w *world) {
			w.startMX(mxtest.Options{TLS: mxtest.TLSModern, Cert: w.validCert()})
			w.proxy = startStripProxy(w.t, w.mx.Addr())
			w.dialer.Map[mxIP+":25"] = w.proxy.addr
		}},
		{name: "7 MTA-STS enforce, MX not in policy", hostile: true, domainPolicy: true, setup: func(w *world) {
			w.startMX(mxtest.Options{TLS: mxtest.TLSModern, Cert: w.validCert()})
			w.zone["_mta-sts.example.test"] = dnstest.Records{TXT: []string{"v=STSv1; id=m1;"}}
			w.zone["mta-sts.example.test"] = dnstest.Records{A: []string{policyIP}}
			cert := w.ca.Issue(w.t, "mta-sts.example.test")
			srv := httptest.NewUnstartedServer(policyHost{body: "version: STSv1\r\nmode: enforce\r\nmx: mx.elsewhere.test\r\nmax_age: 86400\r\n"})
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.StartTLS()
			w.t.Cleanup(srv.Close)
			w.dialer.Map[policyIP+":443"] = srv.Listener.Addr().String()
			p, err := mtasts.New(mtasts.Options{
				Resolver: dnstest.NewResolver(w.zone), Dialer: w.dialer, RootCAs: w.ca.Pool(),
				FetchTimeout: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(w.logs, nil)),
			})
			if err != nil {
				w.t.Fatal(err)
			}
			w.policies = append(w.policies, p)
		}},
		{name: "8 DANE TLSA mismatch", hostile: true, domainPolicy: true, setup: func(w *world) {
			// The MX even has a CA-valid certificate: DANE, not PKIX,
			// decides once TLSA records are usable (RFC 7672 §3).
			w.startMX(mxtest.Options{TLS: mxtest.TLSModern, Cert: w.validCert()})
			pinned := mxtest.SelfSigned(w.t, "mx.example.test")
			leaf, err := x509.ParseCertificate(pinned.Certificate[0])
			if err != nil {
				w.t.Fatal(err)
			}
			h := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
			for _, n := range []string{"example.test", "mx.example.test"} {
				r := w.zone[n]
				r.Authentic = true
				w.zone[n] = r
			}
			w.zone["_25._tcp.mx.example.test"] = dnstest.Records{
				TLSA: []delivery.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: h[:]}}, Authentic: true,
			}
			p, err := dane.New(dane.Options{Resolver: dnstest.NewResolver(w.zone), Logger: slog.New(slog.NewTextHandler(w.logs, nil))})
			if err != nil {
				w.t.Fatal(err)
			}
			w.policies = append(w.policies, p)
		}},
	}
}

// cell is one (scenario, recipient) outcome of the matrix.
func cell(r protect.Result, got bool) string {
	var s string
	switch {
	case r.Held:
		s = "held (" + r.HoldReason + ")"
	case r.Outcome == delivery.Delivered:
		s = "delivered/" + r.Method
		if r.TLSVersion != "" {
			s += " " + r.TLSVersion
		}
	default:
		s = r.Outcome.String() + " " + r.Enhanced
		if r.Method != "" {
			s += " (" + r.Method + " copy)"
		}
	}
	if r.Fallback != "" {
		s += " [" + r.Fallback + "]"
	}
	if got {
		s += " · MX has copy"
	} else {
		s += " · MX: nothing"
	}
	return s
}

// TestHostileMXMatrix is the heart of mandatory encryption: for every MX
// behaviour an attacker or a broken peer can show, a PHI message either
// goes over verified TLS 1.2+ or as S/MIME or OpenPGP ciphertext that the
// real openssl and gpg decrypt, or is held; never in cleartext. A non-PHI
// message follows opportunistic TLS.
func TestHostileMXMatrix(t *testing.T) {
	keys := newRecipientKeys(t)
	ca := mxtest.NewCA(t)

	phiDecisions, scan := decide(t, phiMessage)
	if !scan.PHI {
		t.Fatalf("the PHI canary message does not scan as PHI: %+v", scan)
	}
	for rc, d := range phiDecisions {
		if d.Require != policy.RequireTLSVerified || !slices.Equal(d.Fallback, []policy.Method{policy.MethodSMIME, policy.MethodPGP, policy.MethodPortal}) ||
			d.MinTLS != delivery.PolicyVerified {
			t.Fatalf("%s: policy default for PHI is %+v, not tls-verified with smime, pgp, portal", rc, d)
		}
	}
	plainDecisions, pscan := decide(t, plainMessage)
	if pscan.PHI {
		t.Fatalf("the non-PHI message scans as PHI: %+v", pscan)
	}
	for rc, d := range plainDecisions {
		if d.Require != policy.RequireNone {
			t.Fatalf("%s: non-PHI decision %+v", rc, d)
		}
	}

	type row struct {
		scenario string
		kind     string
		cells    []string
	}
	var rows []row
	for _, sc := range scenarios() {
		for _, kind := range []string{"PHI", "non-PHI"} {
			t.Run(sc.name+"/"+kind, func(t *testing.T) {
				w := newWorld(t, ca)
				sc.setup(w)
				d := w.deliverer(keys)
				msg, decs := phiMessage, phiDecisions
				if kind == "non-PHI" {
					msg, decs = plainMessage, plainDecisions
				}
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				res := d.Deliver(ctx, protect.Request{
					ID: "Q" + sc.name[:1], From: "clinic@sender.test", Rcpts: rcpts, Domain: "example.test",
					Size: int64(len(msg)), Decisions: decs,
					Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(msg)), nil },
				})
				if len(res) != len(rcpts) {
					t.Fatalf("%d results for %d recipients", len(res), len(rcpts))
				}
				// Which recipient got which bytes.
				byRcpt := map[string][][]byte{}
				for _, m := range w.mx.Messages() {
					for _, rc := range m.Rcpts {
						byRcpt[rc] = append(byRcpt[rc], m.Data)
					}
				}
				var cells []string
				for i, r := range res {
					if r.Rcpt != rcpts[i] {
						t.Fatalf("result %d is for %s", i, r.Rcpt)
					}
					cells = append(cells, cell(r, len(byRcpt[r.Rcpt]) > 0))
				}
				rows = append(rows, row{sc.name, kind, cells})

				if sc.name[0] == '6' && w.proxy.stripped.Load() == 0 {
					t.Error("the proxy never stripped STARTTLS: the scenario proves nothing")
				}
				if !sc.domainPolicy && len(w.mx.Conns()) == 0 {
					t.Error("the MX was never contacted: the scenario proves nothing")
				}
				if kind == "PHI" {
					checkPHI(t, sc, keys, res, byRcpt)
				} else {
					checkPlain(t, sc, res, byRcpt)
				}
				// No PHI in logs or metrics, no staging file left behind.
				if l := leaked(w.logs.Bytes()); len(l) > 0 {
					t.Errorf("logs show %v", l)
				}
				if strings.Contains(w.logs.String(), rcptSMIME) || strings.Contains(w.logs.String(), "nokey@") {
					t.Error("protect or delivery logged a recipient address")
				}
				if mfs, err := w.reg.Gather(); err == nil {
					var b strings.Builder
					fmt.Fprint(&b, mfs)
					if l := leaked([]byte(b.String())); len(l) > 0 {
						t.Errorf("metrics show %v", l)
					}
				}
				if ents, _ := os.ReadDir(w.staging); len(ents) != 0 {
					t.Errorf("%d staging files left behind", len(ents))
				}
			})
		}
	}

	// The matrix, for humans: t.Log and stdout (go test -v) as Markdown.
	var b strings.Builder
	fmt.Fprintf(&b, "| scenario | message | %s (S/MIME cert) | %s (PGP key) | %s (no key) |\n", rcptSMIME, rcptPGP, rcptNone)
	b.WriteString("|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.scenario, r.kind, strings.Join(r.cells, " | "))
	}
	t.Log("\n" + b.String())
	fmt.Print("\nHOSTILE-MX MATRIX (measured)\n" + b.String())
}

func checkPHI(t *testing.T, sc scenario, keys *recipientKeys, res []protect.Result, byRcpt map[string][][]byte) {
	t.Helper()
	smimeR, pgpR, noneR := res[0], res[1], res[2]
	if !sc.hostile {
		// Verified TLS 1.2+: the message itself, to everyone, once.
		for _, r := range res {
			if r.Outcome != delivery.Delivered || r.Method != protect.MethodTLSVerified || r.Fallback != "" ||
				(r.TLSVersion != "TLS1.2" && r.TLSVersion != "TLS1.3") {
				t.Errorf("%s: %+v, want delivered tls_verified over TLS 1.2+", r.Rcpt, r)
			}
			if got := byRcpt[r.Rcpt]; len(got) != 1 || !bytes.Contains(got[0], []byte(phiBodyText)) {
				t.Errorf("%s: MX has %d copies, want the cleartext once", r.Rcpt, len(got))
			}
		}
		return
	}
	// Hostile: never the cleartext, on any connection.
	for rc, copies := range byRcpt {
		for _, c := range copies {
			if l := leaked(c); len(l) > 0 {
				t.Errorf("PHI visible on the wire in the copy for %s: %v", rc, l)
			}
		}
	}
	for _, r := range res {
		if r.Fallback != protect.ReasonTLSNotReached {
			t.Errorf("%s: fallback %q, want tls_not_reached", r.Rcpt, r.Fallback)
		}
	}
	if !noneR.Held || noneR.HoldReason != protect.HoldPortalUnavailable || noneR.Outcome == delivery.Delivered || len(byRcpt[rcptNone]) != 0 {
		t.Errorf("no-key recipient: %+v, %d copies: want held (portal unavailable), nothing sent", noneR, len(byRcpt[rcptNone]))
	}
	if sc.domainPolicy {
		// The domain's policy forbids this MX for any mail: the encrypted
		// copies wait too (TempFail), and nothing reached the MX.
		for _, r := range []protect.Result{smimeR, pgpR} {
			if r.Outcome != delivery.TempFail || r.Held {
				t.Errorf("%s: %+v, want deferred by the domain's policy", r.Rcpt, r)
			}
		}
		if smimeR.Method != protect.MethodSMIME || pgpR.Method != protect.MethodPGP {
			t.Errorf("methods tried: %q, %q", smimeR.Method, pgpR.Method)
		}
		if len(byRcpt) != 0 || mailCount(sc, byRcpt) != 0 {
			t.Errorf("the MX received %d copies", len(byRcpt))
		}
		return
	}
	if smimeR.Outcome != delivery.Delivered || smimeR.Method != protect.MethodSMIME {
		t.Errorf("S/MIME recipient: %+v", smimeR)
	}
	if pgpR.Outcome != delivery.Delivered || pgpR.Method != protect.MethodPGP {
		t.Errorf("PGP recipient: %+v", pgpR)
	}
	if got := byRcpt[rcptSMIME]; len(got) != 1 {
		t.Errorf("S/MIME recipient: %d copies", len(got))
	} else {
		if !bytes.Contains(got[0], []byte("application/pkcs7-mime")) || !bytes.Contains(got[0], []byte("Subject: Secure message from Riverside Clinic")) {
			t.Errorf("S/MIME copy is not an enveloped message with the generic subject")
		}
		dec := keys.opensslDecrypt(t, got[0])
		if !bytes.Contains(dec, []byte(phiBodyText)) || !bytes.Contains(dec, []byte("Lab results for Marguerite Oyelaran")) {
			t.Errorf("openssl cms -decrypt did not give back the original:\n%s", dec)
		}
	}
	if got := byRcpt[rcptPGP]; len(got) != 1 {
		t.Errorf("PGP recipient: %d copies", len(got))
	} else {
		if !bytes.Contains(got[0], []byte("multipart/encrypted")) {
			t.Errorf("PGP copy is not PGP/MIME")
		}
		dec := keys.gpgDecrypt(t, got[0])
		if !bytes.Contains(dec, []byte(phiBodyText)) || !bytes.Contains(dec, []byte("Lab results for Marguerite Oyelaran")) {
			t.Errorf("gpg --decrypt did not give back the original:\n%s", dec)
		}
	}
}

func mailCount(sc scenario, byRcpt map[string][][]byte) int {
	n := 0
	for _, c := range byRcpt {
		n += len(c)
	}
	return n
}

func checkPlain(t *testing.T, sc scenario, res []protect.Result, byRcpt map[string][][]byte) {
	t.Helper()
	for _, r := range res {
		if r.Held || r.Outcome == delivery.PermFail || r.Fallback != "" {
			t.Errorf("%s: non-PHI message refused, held or sent through the chain: %+v", r.Rcpt, r)
		}
		if sc.domainPolicy {
			// Opportunistic on our side, but the recipient domain
			// published an enforced policy: only it can relax that.
			if r.Outcome != delivery.TempFail || !r.TLSShortfall || len(byRcpt[r.Rcpt]) != 0 {
				t.Errorf("%s: %+v, want deferred by the domain's own policy", r.Rcpt, r)
			}
			continue
		}
		if r.Outcome != delivery.Delivered || r.Method != sc.plainMethod {
			t.Errorf("%s: %+v, want delivered/%s", r.Rcpt, r, sc.plainMethod)
		}
		if got := byRcpt[r.Rcpt]; len(got) != 1 || !bytes.Contains(got[0], []byte("front desk closes")) {
			t.Errorf("%s: MX has %d copies of the message", r.Rcpt, len(got))
		}
	}
}

package main

import (
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-smtp"

	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/internal/mxtest"
	"github.com/sealgate/sealgate/internal/testtool"
)

// world is the loopback Internet a gateway delivers into: a fake DNS server
// whose MX records point at a fake MX, and the DKIM keys made by the real
// `sealgate dkim keygen` with the records it printed published in DNS.
type world struct {
	dns     *dnstest.Server
	mx      *mxtest.Server
	mxPort  string
	keyDir  string
	records map[string]string
}

func newWorld(t *testing.T, mxOpts mxtest.Options) *world {
	t.Helper()
	w := &world{keyDir: t.TempDir(), records: map[string]string{}}
	w.mx = mxtest.Start(t, mxOpts)
	_, w.mxPort, _ = net.SplitHostPort(w.mx.Addr())
	zone := dnstest.Zone{
		"example.org":         {MX: []*net.MX{{Host: "mx.example.org.", Pref: 10}}},
		"hospital.example":    {MX: []*net.MX{{Host: "mx.example.org.", Pref: 10}}},
		"mx.example.org":      {A: []string{"127.0.0.1"}},
		"mx.hospital.example": {A: []string{"127.0.0.1"}},
	}
	quoted := regexp.MustCompile(`"([^"]*)"`)
	for _, k := range []struct{ sel, alg string }{{"s-rsa", "rsa"}, {"s-ed", "ed25519"}} {
		out, errOut, code := runBinary(t, nil, "dkim", "keygen", "--domain", "hospital.example", "--selector", k.sel,
			"--algorithm", k.alg, "--out", filepath.Join(w.keyDir, k.sel+".key"))
		if code != 0 {
			t.Fatalf("dkim keygen: %s", errOut)
		}
		var value strings.Builder
		for _, m := range quoted.FindAllStringSubmatch(out, -1) {
			value.WriteString(m[1])
		}
		name := k.sel + "._domainkey.hospital.example"
		zone[name] = dnstest.Records{TXT: []string{value.String()}}
		w.records[name+"."] = value.String()
	}
	w.dns = dnstest.Start(t, zone)
	return w
}

// config is a gateway configuration delivering into the world.
func (w *world) config(smtpPort int, extra string) string {
	return fmt.Sprintf(`hostname: gw.hospital.example
data_dir: data
log:
  level: debug
smtp:
  listeners:
    - address: 127.0.0.1:%d
      tls: starttls
  relay_networks: [127.0.0.0/8]
delivery:
  dns_servers: [%s]
  port: %s
  tls_policy: opportunistic
dkim:
  keys:
    - {domain: hospital.example, selector: s-rsa, key_file: %s}
    - {domain: hospital.example, selector: s-ed, key_file: %s}
metrics:
  address: 127.0.0.1:0
web:
  address: 127.0.0.1:0
queue:
  min_retry: 1s
  max_retry: 2s
%s`, smtpPort, w.dns.Addr(), w.mxPort, filepath.Join(w.keyDir, "s-rsa.key"), filepath.Join(w.keyDir, "s-ed.key"), extra)
}

// dkimverify runs Debian's dkimverify on msg, with dnspython pointed at the
// fake DNS server, for the signature at index.
func dkimverify(t *testing.T, dnsAddr string, msg []byte, index int) string {
	t.Helper()
	testtool.Require(t, "dkimverify")
	host, port, _ := net.SplitHostPort(dnsAddr)
	script := fmt.Sprintf(`import sys, dns.resolver
r = dns.resolver.Resolver(configure=False)
r.nameservers = [%q]
r.port = %s
dns.resolver.default_resolver = r
sys.argv = ["dkimverify", "--index", "%d"]
from dkim.dkimverify import main
main()
`, host, port, index)
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	cmd.Stdin = strings.NewReader(string(msg))
	out, _ := cmd.CombinedOutput()
	return strings.TrimSpace(string(out))
}

func swaks(t *testing.T, args ...string) (string, int) {
	t.Helper()
	testtool.Require(t, "swaks")
	cmd := exec.Command("swaks", append([]string{"--timeout", "30"}, args...)...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func TestSwaksThroughGatewayToMXWithDKIM(t *testing.T) {
	w := newWorld(t, mxtest.Options{TLS: mxtest.TLSModern, Hostname: "mx.example.org"})
	port := freePort(t)
	g := startGateway(t, w.config(port, ""))

	out, code := swaks(t, "--server", "127.0.0.1", "--port", fmt.Sprint(port), "--tls",
		"--ehlo", "upstream.hospital.example",
		"--from", "alice@hospital.example", "--to", "bob@example.org",
		"--header", "Subject: Appointment reminder", "--body", "See you on Monday at 10.")
	if code != 0 || !regexp.MustCompile(`250 2\.0\.0 Ok: queued as \S+`).MatchString(out) {
		t.Fatalf("swaks exit %d:\n%s", code, out)
	}
	msgs, err := w.mx.WaitFor(1, 30*time.Second)
	if err != nil {
		t.Fatalf("%v\n%s", err, g.logs())
	}
	m := msgs[0]
	if m.From != "alice@hospital.example" || len(m.Rcpts) != 1 || m.Rcpts[0] != "bob@example.org" {
		t.Errorf("envelope at MX: from %q rcpts %v", m.From, m.Rcpts)
	}
	if m.TLSVersion < 0x0303 {
		t.Errorf("delivered with TLS version %#x, want 1.2+", m.TLSVersion)
	}
	if len(m.Conn.HelloPlain) == 0 || m.Conn.HelloPlain[0] != "gw.hospital.example" ||
		len(m.Conn.HelloTLS) == 0 || m.Conn.HelloTLS[0] != "gw.hospital.example" {
		t.Errorf("EHLO names before/after STARTTLS: %v / %v", m.Conn.HelloPlain, m.Conn.HelloTLS)
	}
	if !strings.Contains(string(m.Data), "See you on Monday at 10.") {
		t.Errorf("body lost:\n%s", m.Data)
	}
	for i, alg := range []string{"rsa-sha256", "ed25519-sha256"} {
		if !strings.Contains(string(m.Data), "a="+alg) {
			t.Errorf("no %s signature", alg)
		}
		if got := dkimverify(t, w.dns.Addr(), m.Data, i); got != "signature ok" {
			t.Errorf("dkimverify --index %d: %q\n%s", i, got, m.Data)
		}
	}

	// The metrics endpoint passes promtool and counts what happened.
	waitUntil(t, 10*time.Second, "delivered metric", func() bool {
		return strings.Contains(scrape(t, g.metrics), "sealgate_queue_delivered_total 1")
	})
	body := scrape(t, g.metrics)
	testtool.CheckMetrics(t, body)
	for _, want := range []string{
		"sealgate_smtpd_received_total 1",
		`sealgate_queue_recipients{state="delivered"}`,
		"sealgate_delivery_duration_seconds_bucket",
		`sealgate_delivery_tls_total{version="TLS1.3"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Logs carry the queue ID and never the body or subject.
	logs := g.logs()
	if strings.Contains(logs, "Monday") || strings.Contains(logs, "Appointment reminder") {
		t.Error("message content in logs")
	}
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestSwaksRefusals(t *testing.T) {
	w := newWorld(t, mxtest.Options{})
	port := freePort(t)
	plainPort := freePort(t)
	cfg := strings.Replace(w.config(port, ""), "  relay_networks: [127.0.0.0/8]\n",
		fmt.Sprintf("    - address: 127.0.0.1:%d\n      tls: none\n  relay_networks: [10.0.0.0/8]\n  max_message_size: 64KiB\n  users:\n    - {name: relay, password_hash: \"%s\"}\n", plainPort, mustHash(t, "correct horse")), 1)
	startGateway(t, cfg)

	// Not in a relay network, not authenticated: relay denied.
	out, code := swaks(t, "--server", "127.0.0.1", "--port", fmt.Sprint(port), "--tls",
		"--from", "alice@hospital.example", "--to", "bob@example.org")
	if code == 0 || !strings.Contains(out, "554 5.7.1 Relay access denied") {
		t.Errorf("relay without permission: exit %d\n%s", code, out)
	}
	// AUTH is not offered in cleartext.
	out, code = swaks(t, "--server", "127.0.0.1", "--port", fmt.Sprint(plainPort),
		"--auth", "PLAIN", "--auth-user", "relay", "--auth-password", "correct horse",
		"--from", "alice@hospital.example", "--to", "bob@example.org")
	if code == 0 || !strings.Contains(out, "advertise") {
		t.Errorf("AUTH over cleartext: exit %d\n%s", code, out)
	}
	// Over TLS the same credentials relay.
	out, code = swaks(t, "--server", "127.0.0.1", "--port", fmt.Sprint(port), "--tls",
		"--auth", "PLAIN", "--auth-user", "relay", "--auth-password", "correct horse",
		"--from", "alice@hospital.example", "--to", "bob@example.org")
	if code != 0 || !strings.Contains(out, "Ok: queued as") {
		t.Errorf("AUTH over TLS: exit %d\n%s", code, out)
	}
	// Oversize: 552.
	big := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n", 2000)
	bodyFile := filepath.Join(t.TempDir(), "big.txt")
	os.WriteFile(bodyFile, []byte(big), 0o600)
	out, code = swaks(t, "--server", "127.0.0.1", "--port", fmt.Sprint(port), "--tls",
		"--auth", "PLAIN", "--auth-user", "relay", "--auth-password", "correct horse",
		"--from", "alice@hospital.example", "--to", "bob@example.org", "--body", bodyFile)
	if code == 0 || !strings.Contains(out, "552 5.3.4") {
		t.Errorf("oversize: exit %d\n%s", code, out)
	}
	if _, err := w.mx.WaitFor(1, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if n := len(w.mx.Messages()); n != 1 {
		t.Errorf("%d messages reached the MX, want only the authenticated one", n)
	}
}

func mustHash(t *testing.T, pass string) string {
	t.Helper()
	out, errOut, code := runBinary(t, strings.NewReader(pass+"\n"), "passwd")
	if code != 0 {
		t.Fatalf("passwd: %s", errOut)
	}
	return strings.TrimSpace(out)
}

// TestBounceAndDeferral: a 5xx from the MX becomes an RFC 3464 DSN to the
// sender that a MIME parser reads as multipart/report; a 4xx is retried.
func TestBounceAndDeferral(t *testing.T) {
	w := newWorld(t, mxtest.Options{RcptReplies: map[string]*smtp.SMTPError{
		"gone@example.org":  {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"},
		"later@example.org": {Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again"},
	}})
	port := freePort(t)
	g := startGateway(t, w.config(port, ""))
	c, err := smtp.Dial(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const canary = "CANARY-BODY-7f3a9 SSN 123-45-6789"
	if err := c.SendMail("alice@hospital.example", []string{"gone@example.org", "later@example.org"},
		strings.NewReader("From: alice@hospital.example\r\nTo: gone@example.org\r\nSubject: results\r\nMessage-ID: <m1@hospital.example>\r\n\r\n"+canary+"\r\n")); err != nil {
		t.Fatal(err)
	}
	msgs, err := w.mx.WaitFor(1, 30*time.Second)
	if err != nil {
		t.Fatalf("no DSN: %v", err)
	}
	dsn := msgs[0]
	if dsn.From != "" || len(dsn.Rcpts) != 1 || dsn.Rcpts[0] != "alice@hospital.example" {
		t.Fatalf("DSN envelope from %q to %v", dsn.From, dsn.Rcpts)
	}
	ent, err := message.Read(strings.NewReader(string(dsn.Data)))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, _ := mime.ParseMediaType(ent.Header.Get("Content-Type"))
	if mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("DSN type %q %v", mt, params)
	}
	var status string
	mr := ent.MultipartReader()
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, _ := io.ReadAll(p.Body)
		if ct == "message/delivery-status" {
			status = string(b)
		}
	}
	if !regexp.MustCompile(`Final-Recipient: rfc822; ?gone@example.org`).MatchString(status) || !strings.Contains(status, "Action: failed") ||
		!strings.Contains(status, "Status: 5.1.1") {
		t.Errorf("delivery-status part:\n%s", status)
	}
	if strings.Contains(status, "later@example.org") {
		t.Error("the deferred recipient was reported as failed")
	}
	if strings.Contains(string(dsn.Data), "CANARY-BODY") {
		t.Error("DSN carries the original body")
	}
	// The 451 recipient is retried (min_retry 1s) and stays deferred.
	waitUntil(t, 30*time.Second, "a retry of the deferred recipient", func() bool {
		out, _, _ := runBinary(t, nil, "queue", "list", "--config", g.cfgPath)
		return regexp.MustCompile(`later@example.org\s+deferred\s+([2-9]|\d\d)\s`).MatchString(out)
	})
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("hostname: gw.example.com\nsmtp:\n  relay_networks: [10.0.0.0/8]\n"), 0o600)
	if out, errOut, code := runBinary(t, nil, "config", "check", good); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("good config: %d %s %s", code, out, errOut)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("hostname: gw.example.com\nsmtp:\n  relay_network: [10.0.0.0/8]\n  max_recipients: -1\ndelivery:\n  smarthost: nohostport\n"), 0o600)
	_, errOut, code := runBinary(t, nil, "config", "check", bad)
	if code == 0 {
		t.Fatal("bad config passed")
	}
	for _, want := range []string{"bad.yaml:3: unknown key \"relay_network\"", "bad.yaml:4: smtp.max_recipients", "bad.yaml:6: delivery.smarthost"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing %q in:\n%s", want, errOut)
		}
	}
	// A valid file naming a key that does not exist fails too: check
	// promises the gateway will start.
	missing := filepath.Join(dir, "missing.yaml")
	os.WriteFile(missing, []byte("hostname: gw.example.com\ndkim:\n  keys:\n    - {domain: example.com, selector: s, key_file: nokey.pem}\n"), 0o600)
	if _, errOut, code := runBinary(t, nil, "config", "check", missing); code == 0 || !strings.Contains(errOut, "nokey.pem") {
		t.Errorf("missing key file passed: %d %s", code, errOut)
	}
	hooks := filepath.Join(dir, "hooks.yaml")
	os.WriteFile(hooks, []byte("hostname: gw.example.com\ntracking:\n  enabled: true\n  webhooks:\n    subscribers:\n      - {name: crm, url: \"https://crm.example/h\", secret_file: crm.secret}\n"), 0o600)
	if _, errOut, code := runBinary(t, nil, "config", "check", hooks); code == 0 || !strings.Contains(errOut, "crm.secret") {
		t.Errorf("missing webhook secret file passed: %d %s", code, errOut)
	}
}

// TestEmbeddedDefaultsFirstStart is `make run` on a fresh machine: no
// config, files made on first start, a ready line that says where it listens.
func TestEmbeddedDefaultsFirstStart(t *testing.T) {
	dir := t.TempDir()
	// The embedded listener is fixed at 127.0.0.1:2525; skip rather than
	// fight a developer's running gateway for the port.
	if ln, err := net.Listen("tcp", "127.0.0.1:2525"); err != nil {
		if testtool.InCI() {
			t.Fatalf("port 2525 busy in CI: %v", err)
		}
		t.Skip("127.0.0.1:2525 is in use")
	} else {
		ln.Close()
	}
	cmd := exec.Command(sealgateBin, "serve")
	cmd.Dir = dir
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitUntil(t, 60*time.Second, "ready line", func() bool { return strings.Contains(out.String(), "sealgate ready smtp=127.0.0.1:2525") })
	text := out.String()
	for _, want := range []string{"._domainkey.", "IN TXT", "swaks --server 127.0.0.1 --port 2525"} {
		if !strings.Contains(text, want) {
			t.Errorf("first-start output lacks %q:\n%s", want, text)
		}
	}
	for _, f := range []string{"queue.key", "tls.crt", "tls.key", "dkim/sg-rsa.key", "dkim/sg-ed.key", "queue.db"} {
		st, err := os.Stat(filepath.Join(dir, "sealgate-data", f))
		if err != nil {
			t.Errorf("first start did not make %s: %v", f, err)
		} else if strings.HasSuffix(f, ".key") && st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is readable by others: %v", f, st.Mode())
		}
	}
}

// TestQueueAdminCommands drives `sealgate queue` against a running gateway
// through its control socket: a deferred message is listed, shown, held,
// released and deleted.
func TestQueueAdminCommands(t *testing.T) {
	w := newWorld(t, mxtest.Options{RcptReplies: map[string]*smtp.SMTPError{
		"later@example.org": {Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again"},
	}})
	port := freePort(t)
	g := startGateway(t, w.config(port, ""))
	c, err := smtp.Dial(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("alice@hospital.example", []string{"later@example.org"}, strings.NewReader("Subject: x\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	var id string
	waitUntil(t, 20*time.Second, "deferred in queue list", func() bool {
		out, _, _ := runBinary(t, nil, "queue", "list", "--config", g.cfgPath)
		m := regexp.MustCompile(`(?m)^(\S+)\s.*later@example.org\s+deferred`).FindStringSubmatch(out)
		if m != nil {
			id = m[1]
		}
		return m != nil
	})
	q := func(args ...string) string {
		t.Helper()
		out, errOut, code := runBinary(t, nil, append([]string{"queue"}, append(args, "--config", g.cfgPath)...)...)
		if code != 0 {
			t.Fatalf("queue %v: %s", args, errOut)
		}
		return out
	}
	if out := q("show", id); !strings.Contains(out, `"Addr":"later@example.org"`) || strings.Contains(out, "hello") {
		t.Errorf("show: %s", out)
	}
	q("hold", id)
	if out := q("list", "--state", "held"); !strings.Contains(out, id) {
		t.Errorf("held message not listed: %s", out)
	}
	q("release", id)
	q("delete", id)
	if out := q("list"); strings.Contains(out, id) {
		t.Errorf("deleted message still listed: %s", out)
	}
	if _, errOut, code := runBinary(t, nil, "queue", "show", "nosuchid", "--config", g.cfgPath); code == 0 || !strings.Contains(errOut, "no such message") {
		t.Errorf("show of a missing ID: %d %s", code, errOut)
	}
	if st := q("stats"); !strings.Contains(st, "Recipients") {
		t.Errorf("stats: %s", st)
	}
}

// Package postfixtest runs a real Postfix instance on loopback for tests:
// its own config, queue and log directories under a temporary folder, no
// syslog (maillog_file), no chroot, no DNS, stopped when the test ends.
package postfixtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/internal/testtool"
)

// Options configure an instance.
type Options struct {
	// Relayhost is where Postfix sends everything, "host:port" (required).
	Relayhost string
	// TLS sets smtp_tls_security_level ("may" when empty).
	TLS string
	// Extra main.cf lines.
	Extra []string
}

// Instance is a running Postfix.
type Instance struct {
	Dir  string
	Addr string // its smtpd, 127.0.0.1:port
	t    testing.TB
}

// masterCF is Debian's master.cf reduced to what a relay needs, with chroot
// off (the temporary queue has no copied /etc).
const masterCF = `%s inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
`

// Start runs Postfix with relayhost = opts.Relayhost.
func Start(t testing.TB, opts Options) *Instance {
	t.Helper()
	postfix := testtool.Require(t, "postfix")
	if os.Geteuid() != 0 {
		if testtool.InCI() {
			t.Fatal("postfixtest needs root to start Postfix")
		}
		t.Skip("postfixtest needs root to start Postfix")
	}
	// Postfix's daemons run as the postfix user: every folder on the way
	// to the queue must be traversable.
	dir, err := os.MkdirTemp("", "sealgate-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	port := freePort(t)
	in := &Instance{Dir: dir, Addr: fmt.Sprintf("127.0.0.1:%d", port), t: t}
	host, rport, err := net.SplitHostPort(opts.Relayhost)
	if err != nil {
		t.Fatalf("postfixtest: relayhost %q: %v", opts.Relayhost, err)
	}
	tlsLevel := opts.TLS
	if tlsLevel == "" {
		tlsLevel = "may"
	}
	main := []string{
		"compatibility_level = 3.6",
		"queue_directory = " + filepath.Join(dir, "spool"),
		"data_directory = " + filepath.Join(dir, "data"),
		"mail_owner = postfix",
		"setgid_group = postdrop",
		"maillog_file = " + filepath.Join(dir, "maillog"),
		"maillog_file_prefixes = " + dir,
		"inet_interfaces = 127.0.0.1",
		"inet_protocols = ipv4",
		"myhostname = upstream.test",
		"mydomain = upstream.test",
		"mydestination =",
		"mynetworks = 127.0.0.0/8",
		fmt.Sprintf("relayhost = [%s]:%s", host, rport),
		"smtp_dns_support_level = disabled",
		"smtp_tls_security_level = " + tlsLevel,
		"alias_maps =",
		"alias_database =",
		"local_recipient_maps =",
		"daemon_directory = /usr/lib/postfix/sbin",
		"shlib_directory = /usr/lib/postfix",
		"meta_directory = /etc/postfix",
		"command_directory = /usr/sbin",
		"smtpd_client_connection_count_limit = 0",
		"smtpd_client_connection_rate_limit = 0",
		"default_process_limit = 200",
	}
	main = append(main, opts.Extra...)
	etc := filepath.Join(dir, "etc")
	for _, d := range []string{etc, filepath.Join(dir, "spool"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exec.Command("chown", "postfix", filepath.Join(dir, "data")).Run()
	os.WriteFile(filepath.Join(etc, "main.cf"), []byte(strings.Join(main, "\n")+"\n"), 0o644)
	os.WriteFile(filepath.Join(etc, "master.cf"), []byte(fmt.Sprintf(masterCF, in.Addr)), 0o644)
	if out, err := exec.Command(postfix, "-c", etc, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
		t.Fatalf("postfix start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(in.Stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", in.Addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("postfix smtpd not listening on %s:\n%s", in.Addr, in.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return in
}

// Log is Postfix's maillog so far.
func (in *Instance) Log() string {
	b, _ := os.ReadFile(filepath.Join(in.Dir, "maillog"))
	return string(b)
}

// Stop stops Postfix and removes its folder.
func (in *Instance) Stop() {
	if in.Dir == "" {
		return
	}
	etc := filepath.Join(in.Dir, "etc")
	var out bytes.Buffer
	cmd := exec.Command("postfix", "-c", etc, "stop")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		exec.Command("postfix", "-c", etc, "abort").Run()
	}
	// master exits shortly after "stop"; wait for its pid file to go.
	pid := filepath.Join(in.Dir, "spool", "pid", "master.pid")
	for i := 0; i < 50; i++ {
		if _, err := os.Stat(pid); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if in.t.Failed() {
		in.t.Logf("postfix maillog:\n%s", in.Log())
	}
	os.RemoveAll(in.Dir)
	in.Dir = ""
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

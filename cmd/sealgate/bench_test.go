package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sealgate/sealgate/internal/postfixtest"
	"github.com/sealgate/sealgate/internal/testtool"
)

// BenchmarkRelayVsPostfix measures end-to-end throughput (first byte sent to
// the last message received by the sink) of 5 KiB messages over 20 sessions,
// with Postfix's smtp-source as the client and smtp-sink as the MX, through
// sealgate (DKIM on) and through a plain Postfix relay, in the same run.
// Run it with bench/relay.sh; it runs the whole measurement once.
func BenchmarkRelayVsPostfix(b *testing.B) {
	const (
		sessions = 20
		messages = 2000
		size     = 5120
	)
	testtool.Require(b, "smtp-source")
	testtool.Require(b, "smtp-sink")
	for b.Loop() {
		sinkAddr, count := startSink(b)
		keyDir := b.TempDir()
		for _, k := range []struct{ sel, alg string }{{"s-rsa", "rsa"}, {"s-ed", "ed25519"}} {
			if _, errOut, code := runBinary(b, nil, "dkim", "keygen", "--domain", "hospital.example", "--selector", k.sel,
				"--algorithm", k.alg, "--out", filepath.Join(keyDir, k.sel+".key")); code != 0 {
				b.Fatal(errOut)
			}
		}
		port := freePort(b)
		startGateway(b, fmt.Sprintf(`hostname: gw.hospital.example
data_dir: data
log: {level: warn}
smtp:
  listeners: [{address: "127.0.0.1:%d", tls: none}]
  relay_networks: [127.0.0.0/8]
delivery:
  routes: {example.org: "%s"}
  max_per_destination: %d
dkim:
  keys:
    - {domain: hospital.example, selector: s-rsa, key_file: %s}
    - {domain: hospital.example, selector: s-ed, key_file: %s}
metrics: {address: ""}
web: {address: ""}
`, port, sinkAddr, sessions, filepath.Join(keyDir, "s-rsa.key"), filepath.Join(keyDir, "s-ed.key")))
		sg := relayRun(b, fmt.Sprintf("127.0.0.1:%d", port), count, sessions, messages, size)

		sinkAddr2, count2 := startSink(b)
		pf := postfixtest.Start(b, postfixtest.Options{Relayhost: sinkAddr2, TLS: "none",
			Extra: []string{fmt.Sprintf("default_destination_concurrency_limit = %d", sessions)}})
		pfRate := relayRun(b, pf.Addr, count2, sessions, messages, size)

		b.ReportMetric(sg, "sealgate_msgs/s")
		b.ReportMetric(pfRate, "postfix_msgs/s")
		b.ReportMetric(sg/pfRate, "ratio")
		b.Logf("%d × %d B over %d sessions: sealgate (DKIM RSA+Ed25519) %.0f msgs/s, postfix %.0f msgs/s, ratio %.2f",
			messages, size, sessions, sg, pfRate, sg/pfRate)
	}
}

// startSink runs smtp-sink on loopback, dumping each message to a file
// (its counter is buffered when not on a terminal), and returns its address
// and a function reporting how many messages it has received.
func startSink(b *testing.B) (string, func() int) {
	port := freePort(b)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// smtp-sink writes as the postfix user: the folder and its parents
	// must be reachable, which a t.TempDir (under a 0700 parent) is not.
	dir, err := os.MkdirTemp("", "sealgate-sink-")
	if err != nil {
		b.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	b.Cleanup(func() { os.RemoveAll(dir) })
	cmd := exec.Command("smtp-sink", "-u", "postfix", "-d", filepath.Join(dir, "%H%M%S."), addr, "1000")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	time.Sleep(200 * time.Millisecond)
	return addr, func() int {
		entries, _ := os.ReadDir(dir)
		return len(entries)
	}
}

// relayRun sends with smtp-source and waits for the sink to count them all.
func relayRun(b *testing.B, addr string, count func() int, sessions, messages, size int) float64 {
	before := count()
	start := time.Now()
	src := exec.Command("smtp-source", "-s", strconv.Itoa(sessions), "-m", strconv.Itoa(messages), "-l", strconv.Itoa(size),
		"-f", "bench@hospital.example", "-t", "sink@example.org", addr)
	if out, err := src.CombinedOutput(); err != nil {
		b.Fatalf("smtp-source: %v\n%s", err, out)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for count()-before < messages {
		if time.Now().After(deadline) {
			b.Fatalf("sink got %d of %d messages", count()-before, messages)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return float64(messages) / time.Since(start).Seconds()
}

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The integration tests run the real binary, built once here, against real
// peers (swaks, Postfix, dkimverify, promtool) and in-process fakes.

var sealgateBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sealgate-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sealgateBin = filepath.Join(dir, "sealgate")
	build := exec.Command("go", "build", "-o", sealgateBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building sealgate:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort reserves a loopback port number that a restarted gateway can
// bind again (the listener is closed before returning).
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// gateway is one running `sealgate serve` process.
type gateway struct {
	t       testing.TB
	dir     string
	cfgPath string
	cmd     *exec.Cmd
	smtp    string
	metrics string
	web     string
	logMu   sync.Mutex
	log     strings.Builder
	exited  chan struct{}
}

var readyRE = regexp.MustCompile(`^sealgate ready smtp=(\S+)(?: metrics=(\S+))?(?: web=(\S+))?`)

// startGateway writes cfg (YAML) into a fresh folder and runs the binary.
func startGateway(t testing.TB, cfg string) *gateway {
	t.Helper()
	g := prepareGateway(t, cfg)
	g.start()
	return g
}

// prepareGateway writes the configuration but does not start the process,
// for tests that run CLI commands against the configuration first.
func prepareGateway(t testing.TB, cfg string) *gateway {
	t.Helper()
	dir := t.TempDir()
	g := &gateway{t: t, dir: dir, cfgPath: filepath.Join(dir, "sealgate.yaml")}
	if err := os.WriteFile(g.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if g.cmd != nil {
			g.stop()
		}
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.logs())
		}
	})
	return g
}

func (g *gateway) start() {
	g.t.Helper()
	g.cmd = exec.Command(sealgateBin, "serve", "--config", g.cfgPath)
	g.cmd.Dir = g.dir
	stdout, _ := g.cmd.StdoutPipe()
	stderr, _ := g.cmd.StderrPipe()
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.exited = make(chan struct{})
	ready := make(chan []string, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			g.appendLog("stdout: " + sc.Text())
			if m := readyRE.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m
			}
		}
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			g.appendLog(sc.Text())
		}
	}()
	go func() {
		wg.Wait()
		g.cmd.Wait()
		close(g.exited)
	}()
	select {
	case m := <-ready:
		g.smtp, g.metrics, g.web = strings.Split(m[1], ",")[0], m[2], m[3]
	case <-g.exited:
		g.t.Fatalf("sealgate exited before it was ready:\n%s", g.logs())
	case <-time.After(60 * time.Second):
		g.t.Fatalf("sealgate not ready after 60s:\n%s", g.logs())
	}
}

func (g *gateway) appendLog(line string) {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	g.log.WriteString(line + "\n")
}

func (g *gateway) logs() string {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	return g.log.String()
}

// kill is `kill -9`: no shutdown code runs.
func (g *gateway) kill() {
	if g.cmd.Process != nil {
		g.cmd.Process.Signal(syscall.SIGKILL)
		<-g.exited
	}
}

// stop is a graceful SIGTERM, with SIGKILL after 30s.
func (g *gateway) stop() {
	select {
	case <-g.exited:
		return
	default:
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(30 * time.Second):
		g.kill()
	}
}

// sealgate runs a CLI subcommand of the built binary.
func runBinary(t testing.TB, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(sealgateBin, args...)
	cmd.Stdin = stdin
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// waitUntil polls cond until it is true or the timeout passes.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

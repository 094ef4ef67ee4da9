package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/internal/testtool"
)

// The alert rules that ship are valid and behave as their unit tests say.
func TestPrometheusRules(t *testing.T) {
	promtool := testtool.Require(t, "promtool")
	dir := "../../packaging/prometheus"
	for _, args := range [][]string{{"check", "rules", "sealgate.rules.yml"}, {"test", "rules", "sealgate.rules.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Every metric the rules use is one sealgate exports (or Prometheus's up).
	rules, _ := os.ReadFile(filepath.Join(dir, "sealgate.rules.yml"))
	for _, name := range []string{
		"sealgate_queue_oldest_message_age_seconds", "sealgate_queue_recipients", "sealgate_queue_deferred_total",
		"sealgate_queue_delivered_total", "sealgate_tls_downgrades_total", "sealgate_protect_downgrade_refusals_total",
		"sealgate_smtpd_rejected_total",
	} {
		if !strings.Contains(string(rules), name) {
			t.Errorf("rules no longer use %s; update this list", name)
		}
	}
}

// The systemd unit passes systemd-analyze without a single warning.
func TestSystemdUnit(t *testing.T) {
	analyze := testtool.Require(t, "systemd-analyze")
	unit, err := os.ReadFile("../../packaging/systemd/sealgate.service")
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart exists: point it at the built binary.
	path := filepath.Join(t.TempDir(), "sealgate.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/bin/sealgate", sealgateBin)), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

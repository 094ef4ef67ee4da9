package tlsmemory_test

import (
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/internal/testtool"
)

// TestMetricsPassPromtool checks the exposition with promtool.
func TestMetricsPassPromtool(t *testing.T) {
	bin := testtool.Require(t, "promtool")
	f := newFixture(t, false)
	checkTLS(f, delivery.LevelVerified)
	checkTLS(f, delivery.LevelTLS)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(f.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	if !strings.Contains(text, `sealgate_tls_downgrades_total{enforced="false"} 1`) {
		t.Errorf("exposition lacks the downgrade:\n%s", text)
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

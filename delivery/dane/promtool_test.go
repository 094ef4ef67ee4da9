package dane_test

import (
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/internal/mxtest"
	"github.com/sealgate/sealgate/internal/testtool"
)

// TestMetricsPassPromtool checks the exposition with promtool.
func TestMetricsPassPromtool(t *testing.T) {
	bin := testtool.Require(t, "promtool")
	self := mxtest.SelfSigned(t, "mx.example.test")
	f := newPolicy(t, signedZone(tlsa(3, 1, 1, parse(t, self.Certificate[0]))))
	check(t, f.p, "mx.example.test", self, delivery.LevelTLS)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(f.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	if !strings.Contains(text, `sealgate_dane_checks_total{result="verified"} 1`) {
		t.Errorf("exposition lacks the verified check:\n%s", text)
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

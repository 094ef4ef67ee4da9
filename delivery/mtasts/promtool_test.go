package mtasts_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/internal/testtool"
)

// TestMetricsPassPromtool checks the exposition with promtool after a
// fetch and both kinds of failure.
func TestMetricsPassPromtool(t *testing.T) {
	testtool.Require(t, "promtool")
	w := newWorld(t, testingPolicy)
	p := w.policy()
	floor(t, p)
	p.AllowMX(context.Background(), "example.test", "rogue.test")
	p.CheckTLS(context.Background(), "example.test", "mx.example.test", tls.ConnectionState{}, delivery.LevelTLS)
	text := testtool.Exposition(t, w.reg)
	for _, want := range []string{`sealgate_mtasts_policy_fetches_total{result="ok"} 1`,
		`sealgate_mtasts_failures_total{mode="testing",reason="mx_mismatch"} 1`,
		`sealgate_mtasts_failures_total{mode="testing",reason="tls_unverified"} 1`} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %s:\n%s", want, text)
		}
	}
	testtool.CheckMetrics(t, text)
}

package tlsmemory_test

import (
	"strings"
	"testing"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/internal/testtool"
)

// TestMetricsPassPromtool checks the exposition with promtool.
func TestMetricsPassPromtool(t *testing.T) {
	testtool.Require(t, "promtool")
	f := newFixture(t, false)
	checkTLS(f, delivery.LevelVerified)
	checkTLS(f, delivery.LevelTLS)
	text := testtool.Exposition(t, f.reg)
	if !strings.Contains(text, `sealgate_tls_downgrades_total{enforced="false"} 1`) {
		t.Errorf("exposition lacks the downgrade:\n%s", text)
	}
	testtool.CheckMetrics(t, text)
}

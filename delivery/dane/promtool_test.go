package dane_test

import (
	"strings"
	"testing"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/internal/mxtest"
	"github.com/sealgate/sealgate/internal/testtool"
)

// TestMetricsPassPromtool checks the exposition with promtool.
func TestMetricsPassPromtool(t *testing.T) {
	testtool.Require(t, "promtool")
	self := mxtest.SelfSigned(t, "mx.example.test")
	f := newPolicy(t, signedZone(tlsa(3, 1, 1, parse(t, self.Certificate[0]))))
	check(t, f.p, "mx.example.test", self, delivery.LevelTLS)
	text := testtool.Exposition(t, f.reg)
	if !strings.Contains(text, `sealgate_dane_checks_total{result="verified"} 1`) {
		t.Errorf("exposition lacks the verified check:\n%s", text)
	}
	testtool.CheckMetrics(t, text)
}

package events

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealgate/sealgate/tracking"
)

// Delivery results, the values of the result label.
const (
	resultOK    = "ok"
	resultRetry = "retry"
	resultDead  = "dead"
)

type metrics struct {
	events     *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	pending    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_tracking_events_total",
			Help: "Tracking events recorded, by kind and classifier verdict (none for delivery events).",
		}, []string{"kind", "verdict"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_tracking_webhook_deliveries_total",
			Help: "Webhook delivery attempts by result: ok, retry (failed, will retry) or dead (dead-lettered).",
		}, []string{"result"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sealgate_tracking_webhook_pending",
			Help: "Webhook deliveries waiting in the outbox (dead letters excluded).",
		}),
	}
	for _, k := range Kinds() {
		if isEngagement(k) {
			m.events.WithLabelValues(string(k), string(tracking.VerdictHuman))
			m.events.WithLabelValues(string(k), string(tracking.VerdictAutomated))
		} else {
			m.events.WithLabelValues(string(k), "none")
		}
	}
	for _, r := range []string{resultOK, resultRetry, resultDead} {
		m.deliveries.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.events, m.deliveries, m.pending} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// verdictLabel keeps the label set bounded: Record only accepts the two
// verdicts or none.
func verdictLabel(v tracking.Verdict) string {
	if v == "" {
		return "none"
	}
	return string(v)
}

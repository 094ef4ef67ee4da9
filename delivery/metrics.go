package delivery

import (
	"crypto/tls"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	attempts    *prometheus.CounterVec
	duration    prometheus.Histogram
	tlsVersions *prometheus.CounterVec
	connections *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_delivery_attempts_total",
			Help: "Recipient delivery attempts by result (delivered, deferred, bounced).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sealgate_delivery_duration_seconds",
			Help:    "Time taken by one delivery of a message to one destination.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
		tlsVersions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_delivery_tls_total",
			Help: "Outbound SMTP sessions that reached the MAIL stage, by TLS version (none, TLS1.2, TLS1.3).",
		}, []string{"version"}),
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_delivery_connections_total",
			Help: "Outbound connection attempts by result (ok, dial_error, greeting_error, tls_error, tls_policy, protocol_error).",
		}, []string{"result"}),
	}
	for _, r := range []string{"delivered", "deferred", "bounced"} {
		m.attempts.WithLabelValues(r)
	}
	for _, v := range []string{"none", "TLS1.2", "TLS1.3"} {
		m.tlsVersions.WithLabelValues(v)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.attempts, m.duration, m.tlsVersions, m.connections} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// tlsVersionName spells a TLS version as in metrics and results.
func tlsVersionName(v uint16) string {
	switch v {
	case 0:
		return ""
	case tls.VersionTLS12:
		return "TLS1.2"
	case tls.VersionTLS13:
		return "TLS1.3"
	}
	return tls.VersionName(v)
}

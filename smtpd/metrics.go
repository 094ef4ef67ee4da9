package smtpd

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	connections   prometheus.Counter
	received      prometheus.Counter
	receivedBytes prometheus.Counter
	rejected      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealgate_smtpd_connections_total",
			Help: "SMTP connections accepted (after the connection limits).",
		}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealgate_smtpd_received_total",
			Help: "Messages accepted and acknowledged with 250.",
		}),
		receivedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealgate_smtpd_received_bytes_total",
			Help: "Bytes of message data accepted.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_smtpd_rejected_total",
			Help: "SMTP commands or messages refused, by reason.",
		}, []string{"reason"}),
	}
	for _, r := range rejectReasons {
		m.rejected.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.connections, m.received, m.receivedBytes, m.rejected} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// rejectReasons are pre-created so that dashboards see zeros, not gaps.
var rejectReasons = []string{
	"relay_denied", "sender_domain", "bad_address", "too_many_recipients", "size",
	"bare_line_ending", "auth_failed", "spool_error", "connections", "connections_per_ip",
	"require_tls_without_tls", "policy",
}

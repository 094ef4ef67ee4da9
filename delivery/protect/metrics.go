package protect

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	deliveries *prometheus.CounterVec
	fallbacks  *prometheus.CounterVec
	refusals   prometheus.Counter
	held       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_protect_deliveries_total",
			Help: "Recipients delivered, by protection method (plaintext, tls, tls_verified, smime, pgp, portal).",
		}, []string{"method"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_protect_fallbacks_total",
			Help: "Recipients sent through the fallback chain, by reason (tls_not_reached, e2e_required, portal_required).",
		}, []string{"reason"}),
		refusals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealgate_protect_downgrade_refusals_total",
			Help: "Cleartext sends refused because the required TLS level was not reached.",
		}),
		held: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_protect_held_total",
			Help: "Recipients held in the queue, by reason (policy_hold, portal_unavailable).",
		}, []string{"reason"}),
	}
	for _, v := range []string{MethodPlaintext, MethodTLS, MethodTLSVerified, MethodSMIME, MethodPGP, MethodPortal} {
		m.deliveries.WithLabelValues(v)
	}
	for _, v := range []string{ReasonTLSNotReached, ReasonE2ERequired, ReasonPortalRequired} {
		m.fallbacks.WithLabelValues(v)
	}
	for _, v := range []string{"policy_hold", "portal_unavailable"} {
		m.held.WithLabelValues(v)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.fallbacks, m.refusals, m.held} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

package queue

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are registered on Options.Registerer only. Gauges read the
// in-memory counts and the first key of the recv index: a scrape never
// scans the queue.
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector
	received   prometheus.Counter
	delivered  prometheus.Counter
	deferred   prometheus.Counter
	bounced    prometheus.Counter
	dsnSent    *prometheus.CounterVec
}

func newMetrics(q *Queue, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reg: reg,
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealgate_queue_received_total",
			Help: "Messages accepted into the queue (DSNs the queue generates are not counted).",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealgate_queue_delivered_total",
			Help: "Recipients delivered.",
		}),
		deferred: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealgate_queue_deferred_total",
			Help: "Recipient delivery attempts that failed temporarily and were deferred.",
		}),
		bounced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealgate_queue_bounced_total",
			Help: "Recipients that failed permanently or expired.",
		}),
		dsnSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealgate_queue_dsn_sent_total",
			Help: "Delivery status notifications enqueued, by type.",
		}, []string{"type"}),
	}
	m.dsnSent.WithLabelValues(dsnKindDelay)
	m.dsnSent.WithLabelValues(dsnKindFailure)
	m.collectors = []prometheus.Collector{m.received, m.delivered, m.deferred, m.bounced, m.dsnSent}
	for _, s := range States() {
		m.collectors = append(m.collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "sealgate_queue_recipients",
			Help:        "Recipients in the queue by state.",
			ConstLabels: prometheus.Labels{"state": string(s)},
		}, func() float64 {
			q.mu.Lock()
			defer q.mu.Unlock()
			return float64(q.counts[s])
		}))
	}
	m.collectors = append(m.collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sealgate_queue_oldest_message_age_seconds",
		Help: "Age of the oldest message in the queue (0 when empty).",
	}, func() float64 {
		if q.closed.Load() {
			return 0
		}
		t, err := q.oldest()
		if err != nil || t.IsZero() {
			return 0
		}
		return max(q.clock.Now().Sub(t).Seconds(), 0)
	}))
	for i, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			for _, r := range m.collectors[:i] {
				reg.Unregister(r)
			}
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) add(d *delta) {
	m.received.Add(float64(d.received))
	m.delivered.Add(float64(d.delivered))
	m.deferred.Add(float64(d.deferred))
	m.bounced.Add(float64(d.bounced))
	if d.dsnDelay > 0 {
		m.dsnSent.WithLabelValues(dsnKindDelay).Add(float64(d.dsnDelay))
	}
	if d.dsnFailure > 0 {
		m.dsnSent.WithLabelValues(dsnKindFailure).Add(float64(d.dsnFailure))
	}
}

func (m *metrics) unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}

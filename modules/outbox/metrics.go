package outbox

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the relay's instruments.
type Metrics struct {
	Backlog   prometheus.Gauge
	OldestAge prometheus.Gauge
	Published prometheus.Counter
	Failed    prometheus.Counter
	// DuplicateRisk counts events published again after a failure although
	// the broker may have taken them the first time.
	DuplicateRisk prometheus.Counter
	Purged        prometheus.Counter
	Latency       prometheus.Histogram
	Leader        prometheus.Gauge

	backlog atomic.Int64
}

// NewMetrics registers the relay's instruments on r.
func NewMetrics(r prometheus.Registerer) *Metrics {
	m := &Metrics{
		Backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "outbox_backlog", Help: "Events recorded and not yet published.",
		}),
		OldestAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "outbox_oldest_unpublished_age_seconds", Help: "Age of the oldest event not yet published (0 when none).",
		}),
		Published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outbox_published_total", Help: "Events published and confirmed by the broker.",
		}),
		Failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outbox_publish_failures_total", Help: "Publish attempts that failed (nack, return, outage); each is retried.",
		}),
		DuplicateRisk: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outbox_duplicate_risk_total",
			Help: "Events handed to the broker but not recorded as published (no confirm, a refusal before them, or the mark failed): published again, they may reach consumers twice.",
		}),
		Purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outbox_purged_total", Help: "Published events deleted after the retention.",
		}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "outbox_publish_latency_seconds", Help: "Time from an event's transaction to the broker's confirm.",
			Buckets: []float64{.005, .01, .025, .05, .1, .2, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "outbox_relay_leader", Help: "1 while this process's relay holds the lock and publishes.",
		}),
	}
	r.MustRegister(m.Backlog, m.OldestAge, m.Published, m.Failed, m.DuplicateRisk, m.Purged, m.Latency, m.Leader)
	return m
}

func (m *Metrics) setBacklog(n int64, oldestAge float64) {
	m.backlog.Store(n)
	m.Backlog.Set(float64(n))
	m.OldestAge.Set(oldestAge)
}

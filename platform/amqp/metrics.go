package amqp

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a consumed event (label "outcome" of events_consumed_total).
const (
	outcomeApplied      = "applied"
	outcomeIgnored      = "ignored" // a message the subscription does not handle: acknowledged and counted
	outcomeDeadLettered = "dead_lettered"
)

// typeUnknown labels messages whose type the subscription does not know, so
// foreign types cannot grow the label set without bound.
const typeUnknown = "unknown"

// Metrics are the consumer's instruments.
type Metrics struct {
	Consumed     *prometheus.CounterVec
	DeadLettered *prometheus.CounterVec
	Duration     *prometheus.HistogramVec
	Retries      prometheus.Counter
	Reconnects   prometheus.Counter
	Connected    prometheus.Gauge
	BatchSize    prometheus.Histogram
}

// NewMetrics registers the consumer's instruments on r.
func NewMetrics(r prometheus.Registerer) *Metrics {
	m := &Metrics{
		Consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "events_consumed_total", Help: "Events settled by the consumer, by normalized type and outcome (applied, ignored, dead_lettered).",
		}, []string{"type", "outcome"}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "events_dead_lettered_total", Help: "Messages rejected to the dead-letter queue, by reason.",
		}, []string{"reason"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "event_processing_duration_seconds", Help: "Time from delivery to acknowledgement, by normalized type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"type"}),
		Retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "event_retries_total", Help: "In-process retries of deliveries kept in hand after a transient failure.",
		}),
		Reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amqp_reconnects_total", Help: "Connection attempts after the first (a lost connection, then every failed redial).",
		}),
		Connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amqp_connected", Help: "1 while the consumer holds a consuming channel.",
		}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "event_batch_size", Help: "Deliveries processed together.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500},
		}),
	}
	r.MustRegister(m.Consumed, m.DeadLettered, m.Duration, m.Retries, m.Reconnects, m.Connected, m.BatchSize)
	return m
}

package database

import (
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector exports pgxpool's statistics at scrape time (no per-query cost).
type poolCollector struct {
	pool  *Pool
	descs map[string]*prometheus.Desc
}

var poolMetrics = []struct {
	name, help string
	counter    bool
}{
	{"db_pool_total_connections", "Connections open, idle or in use.", false},
	{"db_pool_idle_connections", "Idle connections.", false},
	{"db_pool_acquired_connections", "Connections in use.", false},
	{"db_pool_max_connections", "The pool's ceiling (DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW).", false},
	{"db_pool_acquires_total", "Successful connection acquisitions.", true},
	{"db_pool_empty_acquires_total", "Acquisitions that had to wait for a connection.", true},
	{"db_pool_canceled_acquires_total", "Acquisitions abandoned (timeout or cancellation).", true},
	{"db_pool_acquire_seconds_total", "Time spent waiting for connections.", true},
}

// RegisterMetrics adds the pool collector to the registry.
func RegisterMetrics(r *prometheus.Registry, p *Pool) error {
	c := &poolCollector{pool: p, descs: map[string]*prometheus.Desc{}}
	for _, m := range poolMetrics {
		c.descs[m.name] = prometheus.NewDesc(m.name, m.help, nil, nil)
	}
	return r.Register(c)
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	values := map[string]float64{
		"db_pool_total_connections":       float64(s.TotalConns()),
		"db_pool_idle_connections":        float64(s.IdleConns()),
		"db_pool_acquired_connections":    float64(s.AcquiredConns()),
		"db_pool_max_connections":         float64(s.MaxConns()),
		"db_pool_acquires_total":          float64(s.AcquireCount()),
		"db_pool_empty_acquires_total":    float64(s.EmptyAcquireCount()),
		"db_pool_canceled_acquires_total": float64(s.CanceledAcquireCount()),
		"db_pool_acquire_seconds_total":   s.AcquireDuration().Seconds(),
	}
	for _, m := range poolMetrics {
		kind := prometheus.GaugeValue
		if m.counter {
			kind = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(c.descs[m.name], kind, values[m.name])
	}
}

package database

import (
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector exports pgxpool's statistics and the pipelines' counters
// at scrape time (no per-query cost).
type poolCollector struct {
	pool      *Pool
	pipelines map[string]func() PipelineStats // by the pipeline label
	descs     map[string]*prometheus.Desc
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

// pipelineMetrics are each pipeline's, labelled reads or writes;
// statements over batches is the mean batch.
var pipelineMetrics = []struct {
	name, help string
	counter    bool
	value      func(PipelineStats) float64
}{
	{"db_pipeline_batches_total", "Batches sent by a pipeline (one round trip each; for writes, one commit).", true,
		func(s PipelineStats) float64 { return float64(s.Batches) }},
	{"db_pipeline_statements_total", "Statements sent in those batches.", true,
		func(s PipelineStats) float64 { return float64(s.Statements) }},
	{"db_pipeline_reruns_total", "Statements run again alone after their batch failed.", true,
		func(s PipelineStats) float64 { return float64(s.Reruns) }},
	{"db_pipeline_queued", "Statements waiting for a lane.", false,
		func(s PipelineStats) float64 { return float64(s.Queued) }},
}

// RegisterMetrics adds the pool and pipeline collector to the registry.
func RegisterMetrics(r *prometheus.Registry, p *Pool, reads *Pipeline, writes *WritePipeline) error {
	c := &poolCollector{pool: p, pipelines: map[string]func() PipelineStats{"reads": reads.Stats, "writes": writes.Stats},
		descs: map[string]*prometheus.Desc{}}
	for _, m := range poolMetrics {
		c.descs[m.name] = prometheus.NewDesc(m.name, m.help, nil, nil)
	}
	for _, m := range pipelineMetrics {
		c.descs[m.name] = prometheus.NewDesc(m.name, m.help, []string{"pipeline"}, nil)
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
		ch <- prometheus.MustNewConstMetric(c.descs[m.name], valueType(m.counter), values[m.name])
	}
	for label, stats := range c.pipelines {
		s := stats()
		for _, m := range pipelineMetrics {
			ch <- prometheus.MustNewConstMetric(c.descs[m.name], valueType(m.counter), m.value(s), label)
		}
	}
}

func valueType(counter bool) prometheus.ValueType {
	if counter {
		return prometheus.CounterValue
	}
	return prometheus.GaugeValue
}

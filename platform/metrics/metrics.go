// Package metrics owns the Prometheus registry and the HTTP instruments.
package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/fx"
)

// Module provides the registry and the HTTP instruments.
var Module = fx.Module("metrics", fx.Provide(NewRegistry, NewHTTP))

// NewRegistry returns a registry with the Go runtime and process collectors.
// A registry of our own (not the global one) keeps tests independent.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// HTTP holds the request instruments of one server.
type HTTP struct {
	Requests *prometheus.CounterVec
	Duration *prometheus.HistogramVec
	routes   sync.Map // route key → *RouteInstruments
}

// NewHTTP registers http_requests_total and http_request_duration_seconds.
func NewHTTP(r *prometheus.Registry) *HTTP {
	h := &HTTP{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request latency by method and route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route"}),
	}
	r.MustRegister(h.Requests, h.Duration)
	return h
}

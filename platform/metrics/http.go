package metrics

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// RouteInstruments are one route's instruments, resolved once: looking up a
// labelled child on every request hashes and validates its labels again.
type RouteInstruments struct {
	Duration prometheus.Observer
	requests *prometheus.CounterVec
	method   string
	route    string
	byStatus sync.Map // int → prometheus.Counter
}

// Done records a finished request.
func (ri *RouteInstruments) Done(status int, seconds float64) {
	ri.Duration.Observe(seconds)
	c, ok := ri.byStatus.Load(status)
	if !ok {
		c, _ = ri.byStatus.LoadOrStore(status, ri.requests.WithLabelValues(ri.method, ri.route, strconv.Itoa(status)))
	}
	c.(prometheus.Counter).Inc()
}

// For returns the instruments of a method and route pattern, keyed by
// whatever identifies the route cheaply (the router's route pointer).
func (h *HTTP) For(key any, method, route string) *RouteInstruments {
	if ri, ok := h.routes.Load(key); ok {
		return ri.(*RouteInstruments)
	}
	ri := &RouteInstruments{Duration: h.Duration.WithLabelValues(method, route), requests: h.Requests, method: method, route: route}
	actual, _ := h.routes.LoadOrStore(key, ri)
	return actual.(*RouteInstruments)
}

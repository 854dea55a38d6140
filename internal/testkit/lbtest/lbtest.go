// Package lbtest is a small load balancer for tests of several replicas: a
// reverse proxy that sends each request to the next ready backend in turn
// and probes every backend's readiness path on a short period. It models a
// Kubernetes Service whose endpoints follow the pods' readiness probes: a
// replica that answers 503 on /ready (it is stopping) or does not answer
// leaves the rotation, and comes back once it answers 200.
//
// It never retries a failed request on another backend: a request that a
// replica drops must show as a failure to the test, not be hidden.
package lbtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Backend is one replica behind the balancer.
type Backend struct {
	URL    *url.URL
	proxy  *httputil.ReverseProxy
	ready  atomic.Bool
	misses int          // consecutive failed probes; only its watcher touches it
	served atomic.Int64 // requests it answered (any status)
	failed atomic.Int64 // requests the proxy could not get an answer for
}

// Served is how many requests this backend answered.
func (b *Backend) Served() int64 { return b.served.Load() }

// Ready is the backend's state at the last probe.
func (b *Backend) Ready() bool { return b.ready.Load() }

// Balancer is the proxy; URL is where clients send their requests.
type Balancer struct {
	URL      string
	Backends []*Backend

	next      atomic.Uint64
	period    time.Duration
	threshold int
	readyPath string
	probe     *http.Client
	noBackend atomic.Int64
}

// Options tune the balancer; the defaults follow a readiness probe's
// (timeout 1 s, failure threshold 2), on a shorter period.
type Options struct {
	ReadyPath        string        // default /ready
	Period           time.Duration // between probes of one backend; default 100 ms
	Timeout          time.Duration // of one probe; default 1 s
	FailureThreshold int           // consecutive failures that take a backend out; default 2
}

// New starts a balancer over backends (base URLs such as http://127.0.0.1:8000),
// stopped when the test ends. Backends start out of the rotation until
// their first successful probe.
func New(t testing.TB, opts Options, backends ...string) *Balancer {
	t.Helper()
	if opts.ReadyPath == "" {
		opts.ReadyPath = "/ready"
	}
	if opts.Period <= 0 {
		opts.Period = 100 * time.Millisecond
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.FailureThreshold <= 0 {
		opts.FailureThreshold = 2
	}
	lb := &Balancer{period: opts.Period, threshold: opts.FailureThreshold, readyPath: opts.ReadyPath, probe: &http.Client{Timeout: opts.Timeout}}
	for _, raw := range backends {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("lbtest: %v", err)
		}
		b := &Backend{URL: u}
		b.proxy = newProxy(b)
		lb.Backends = append(lb.Backends, b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, b := range lb.Backends {
		wg.Add(1)
		go func() { defer wg.Done(); lb.watch(ctx, b) }()
	}
	srv := httptest.NewServer(http.HandlerFunc(lb.serve))
	lb.URL = srv.URL
	t.Cleanup(func() { srv.Close(); cancel(); wg.Wait() })
	return lb
}

// newProxy forwards to b; a request it cannot get an answer for is a 502
// and counts as b's failure.
func newProxy(b *Backend) *httputil.ReverseProxy {
	p := httputil.NewSingleHostReverseProxy(b.URL)
	p.Transport = &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	p.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) {
		b.failed.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}
	return p
}

// watch probes b's readiness path every period: one success puts it in
// the rotation, FailureThreshold failures in a row take it out.
func (lb *Balancer) watch(ctx context.Context, b *Backend) {
	target := b.URL.JoinPath(lb.readyPath).String()
	for {
		if lb.ready(ctx, target) {
			b.misses = 0
			b.ready.Store(true)
		} else if b.misses++; b.misses >= lb.threshold {
			b.ready.Store(false)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(lb.period):
		}
	}
}

func (lb *Balancer) ready(ctx context.Context, target string) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	resp, err := lb.probe.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// serve hands the request to the next ready backend (round robin); with
// none ready it answers 503, as a Service without endpoints refuses.
func (lb *Balancer) serve(w http.ResponseWriter, r *http.Request) {
	b := lb.pick()
	if b == nil {
		lb.noBackend.Add(1)
		http.Error(w, "no ready backend", http.StatusServiceUnavailable)
		return
	}
	b.served.Add(1)
	b.proxy.ServeHTTP(w, r)
}

func (lb *Balancer) pick() *Backend {
	n := len(lb.Backends)
	start := lb.next.Add(1)
	for i := range n {
		b := lb.Backends[(int(start)+i)%n]
		if b.ready.Load() {
			return b
		}
	}
	return nil
}

// WaitReady waits until every backend is in the rotation.
func (lb *Balancer) WaitReady(within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		all := true
		for _, b := range lb.Backends {
			all = all && b.ready.Load()
		}
		if all {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// WaitBackend waits until backend i is in (ready) or out of the rotation.
func (lb *Balancer) WaitBackend(i int, ready bool, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if lb.Backends[i].ready.Load() == ready {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// Failures counts requests the balancer answered itself: backend errors
// (502) and moments with no ready backend (503).
func (lb *Balancer) Failures() int64 {
	n := lb.noBackend.Load()
	for _, b := range lb.Backends {
		n += b.failed.Load()
	}
	return n
}

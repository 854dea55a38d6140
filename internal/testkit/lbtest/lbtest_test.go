package lbtest

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// backend answers /ready with 200 while ready is set, 503 otherwise, and
// every other path with 200.
func backend(t *testing.T, ready *atomic.Bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ready" && !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRoundRobinOverReadyBackends(t *testing.T) {
	var a, b atomic.Bool
	a.Store(true)
	b.Store(true)
	lb := New(t, Options{Period: 10 * time.Millisecond}, backend(t, &a), backend(t, &b))
	if !lb.WaitReady(5 * time.Second) {
		t.Fatal("backends never ready")
	}
	for range 10 {
		if got := get(t, lb.URL+"/x"); got != 200 {
			t.Fatalf("status %d", got)
		}
	}
	if lb.Backends[0].Served() != 5 || lb.Backends[1].Served() != 5 {
		t.Fatalf("served %d and %d, want 5 and 5", lb.Backends[0].Served(), lb.Backends[1].Served())
	}

	b.Store(false) // the second one is stopping
	if !lb.WaitBackend(1, false, 5*time.Second) {
		t.Fatal("the unready backend stayed in the rotation")
	}
	before := lb.Backends[1].Served()
	for range 10 {
		get(t, lb.URL+"/x")
	}
	if lb.Backends[1].Served() != before {
		t.Fatal("a request went to the unready backend")
	}

	a.Store(false)
	if !lb.WaitBackend(0, false, 5*time.Second) {
		t.Fatal("the unready backend stayed in the rotation")
	}
	if got := get(t, lb.URL+"/x"); got != http.StatusServiceUnavailable || lb.Failures() != 1 {
		t.Fatalf("with no ready backend: %d, failures %d; want 503 and 1", got, lb.Failures())
	}
}

func TestOneFailedProbeKeepsABackend(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	lb := New(t, Options{Period: 50 * time.Millisecond, FailureThreshold: 1000}, backend(t, &ready))
	if !lb.WaitReady(5 * time.Second) {
		t.Fatal("backend never ready")
	}
	ready.Store(false)
	time.Sleep(200 * time.Millisecond) // a few failed probes, far below the threshold
	if !lb.Backends[0].Ready() {
		t.Fatal("failed probes below the threshold took the backend out")
	}
}

func TestUnreachableBackendIsABadGateway(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	lb := New(t, Options{Period: time.Hour}, srv.URL) // probed once, then never again
	if !lb.WaitReady(5 * time.Second) {
		t.Fatal("backend never ready")
	}
	srv.Close() // gone, and the balancer has not noticed yet
	if got := get(t, lb.URL+"/x"); got != http.StatusBadGateway || lb.Failures() != 1 {
		t.Fatalf("%d, failures %d; want 502 and 1", got, lb.Failures())
	}
}

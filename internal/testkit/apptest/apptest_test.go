package apptest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"

	"usersvc/internal/testkit/apptest"
	"usersvc/modules/authref"
	"usersvc/modules/badges"
	"usersvc/modules/goals"
	"usersvc/modules/profile"
	"usersvc/platform/config"
)

type request struct {
	method, path string
	body         any
	want         int
}

// TestAppStopsCleanly starts the whole API, serves each kind of request, and
// requires that stopping it leaves no goroutine behind (pools, pipelines,
// listener, background work). Not parallel: other tests' goroutines would count.
func TestAppStopsCleanly(t *testing.T) {
	// An auth-service that never answers: the background enrichment of a new
	// caller's reference is still waiting on it when the app stops.
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hung.Close()
	cases := []struct {
		name     string
		tweak    func(*config.Config)
		requests []request
	}{
		{"every kind of request", nil, []request{
			{http.MethodPost, "/users/ada/goals", map[string]any{"title": "learn Go"}, 201},
			{http.MethodGet, "/users/ada/goals", nil, 200},
			{http.MethodPost, "/users/ada/badges", map[string]any{"name": "first"}, 201},
			{http.MethodGet, "/users/ada/badges", nil, 200},
			{http.MethodGet, "/users/me", nil, 200},
			{http.MethodGet, "/users/nobody/goals", nil, 404},
		}},
		{"an enrichment in flight", func(c *config.Config) {
			c.AuthServiceURL = hung.URL
			c.AuthServiceTimeout = time.Minute
		}, []request{
			{http.MethodPost, "/users/ada/goals", map[string]any{"title": "learn Go"}, 201},
		}},
	}
	for _, tc := range cases {
		before := goleak.IgnoreCurrent()
		t.Run(tc.name, func(t *testing.T) {
			app := apptest.New(t, tc.tweak, authref.Module, goals.Module, badges.Module, profile.Module)
			owner := apptest.Bearer(apptest.Token(t, "ada", nil))
			for _, rq := range tc.requests {
				if r := app.Do(rq.method, rq.path, rq.body, owner); r.Status != rq.want {
					t.Fatalf("%s %s = %d, want %d: %s", rq.method, rq.path, r.Status, rq.want, r.Body)
				}
			}
		})
		// The stop hooks have run (the subtest's cleanup); goleak retries a while for
		// goroutines they ended that are still returning.
		goleak.VerifyNone(t, before,
			// fasthttp's process-wide clock for the Date header, started once, never stopped.
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
			// The listener's idle-worker cleaner sees the stop only when its sleep
			// (MaxIdleWorkerDuration, 10 s) ends; waiting for it would cost every run 10 s.
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
			// The hung auth-service's own connection goroutines: the server, not the app.
			goleak.IgnoreAnyFunction("net/http.(*conn).serve"))
	}
}

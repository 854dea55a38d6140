package apptest_test

import (
	"net/http"
	"testing"

	"go.uber.org/goleak"

	"usersvc/internal/testkit/apptest"
	"usersvc/modules/authref"
	"usersvc/modules/badges"
	"usersvc/modules/goals"
	"usersvc/modules/profile"
)

// TestAppStopsCleanly starts the whole API, serves each kind of request, and
// requires that stopping it leaves no goroutine behind (pools, pipelines,
// listener). Not parallel: other tests' goroutines would count.
func TestAppStopsCleanly(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Run("serve", func(t *testing.T) {
		app := apptest.New(t, nil, authref.Module, goals.Module, badges.Module, profile.Module)
		owner := apptest.Bearer(apptest.Token(t, "ada", nil))
		for _, rq := range []struct {
			method, path string
			body         any
			want         int
		}{
			{http.MethodPost, "/users/ada/goals", map[string]any{"title": "learn Go"}, 201},
			{http.MethodGet, "/users/ada/goals", nil, 200},
			{http.MethodPost, "/users/ada/badges", map[string]any{"name": "first"}, 201},
			{http.MethodGet, "/users/ada/badges", nil, 200},
			{http.MethodGet, "/users/me", nil, 200},
			{http.MethodGet, "/users/nobody/goals", nil, 404},
		} {
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
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"))
}

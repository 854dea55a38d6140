package badges_test

import (
	"net/http"
	"testing"

	"usersvc/internal/testkit/apptest"
)

// CONTRACT §3 "Idempotent POSTs" on the badge route: a repeated key replays
// without a second badge (whose name would otherwise be a 409).
func TestCreateBadgeIdempotent(t *testing.T) {
	t.Parallel()
	app := newApp(t, nil)
	owner := bearer(t, "42")
	k := apptest.Header("Idempotency-Key", "badge-1")
	first := app.Do("POST", "/users/42/badges", `{"name":"Gopher","description":"d"}`, owner, k)
	if first.Status != http.StatusCreated || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v %s", first.Status, first.Header, first.Body)
	}
	again := app.Do("POST", "/users/42/badges", `{"description":"d", "name":"Gopher"}`, owner, apptest.Header("Idempotency-Key", `"badge-1"`))
	if again.Status != first.Status || string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" ||
		again.Header.Get("Location") != first.Header.Get("Location") || again.Header.Get("Content-Type") != first.Header.Get("Content-Type") {
		t.Fatalf("replay: %d %v %s", again.Status, again.Header, again.Body)
	}
	var n int
	if err := app.DB.QueryRow(t.Context(), "SELECT count(*) FROM badges").Scan(&n); err != nil || n != 1 {
		t.Errorf("%d badges (%v), want 1", n, err)
	}
	apptest.ExpectProblem(t, app.Do("POST", "/users/42/badges", `{"name":"Other"}`, owner, k), http.StatusUnprocessableEntity)
	// Without a key the same request is a new one: its name is taken.
	apptest.ExpectProblem(t, app.Do("POST", "/users/42/badges", `{"name":"Gopher","description":"d"}`, owner), http.StatusConflict)
}

package goals_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"usersvc/internal/testkit/apptest"
	"usersvc/internal/testkit/pgtest"
	"usersvc/modules/authref"
	"usersvc/modules/goals"
	"usersvc/platform/config"
)

// CONTRACT §3 "Idempotent POSTs", driven through the real API.

func key(k string) apptest.Option { return apptest.Header("Idempotency-Key", k) }

func count(t *testing.T, app *apptest.App, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := app.DB.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// effects counts what a goal's creation writes: the goal, its activity, its event.
func effects(t *testing.T, app *apptest.App) [3]int {
	return [3]int{
		count(t, app, "SELECT count(*) FROM learning_goals"),
		count(t, app, "SELECT count(*) FROM activity_items"),
		count(t, app, "SELECT count(*) FROM outbox_events"),
	}
}

func expectReplay(t *testing.T, first, again apptest.Response) {
	t.Helper()
	if again.Status != first.Status || string(again.Body) != string(first.Body) {
		t.Fatalf("replay %d %s, want %d %s", again.Status, again.Body, first.Status, first.Body)
	}
	for _, h := range []string{"Content-Type", "Location", "ETag"} {
		if again.Header.Get(h) != first.Header.Get(h) {
			t.Errorf("replayed %s = %q, want %q", h, again.Header.Get(h), first.Header.Get(h))
		}
	}
	if again.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("Idempotent-Replayed = %q, want true", again.Header.Get("Idempotent-Replayed"))
	}
}

func TestIdempotentCreateReplays(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	owner := apptest.Bearer(apptest.Token(t, "ada", nil)) // unknown until its first request: the retry path
	first := app.Do("POST", "/users/ada/goals", `{"title":"Learn Go","description":"daily"}`, owner, key("k-1"))
	if first.Status != http.StatusCreated || first.Header.Get("Location") == "" || first.Header.Get("ETag") == "" {
		t.Fatalf("first: %d %v %s", first.Status, first.Header, first.Body)
	}
	if first.Header.Get("Idempotent-Replayed") != "" {
		t.Error("the first answer says it is replayed")
	}
	before := effects(t, app)
	// White space and member order do not matter; "k-1" and k-1 are one key.
	for _, k := range []string{"k-1", `"k-1"`} {
		again := app.Do("POST", "/users/ada/goals", "{ \"description\" : \"daily\",\n \"title\":\"Learn Go\" }", owner, key(k))
		expectReplay(t, first, again)
	}
	if after := effects(t, app); after != before {
		t.Errorf("a replay changed goals/activity/events %v → %v", before, after)
	}
	// Even after its owner is forgotten (the goal went with it), the key
	// answers first: its replay and its 422 come before the user's lookup.
	app.Exec("DELETE FROM auth_users WHERE auth_user_id = 'ada'")
	admin := apptest.Bearer(apptest.AdminToken(t))
	expectReplay(t, first, app.Do("POST", "/users/ada/goals", `{"title":"Learn Go","description":"daily"}`, owner, key("k-1")))
	r := app.Do("POST", "/users/ada/goals", `{"title":"Learn Rust"}`, owner, key("k-1"))
	if p := apptest.ExpectProblem(t, r, http.StatusUnprocessableEntity); r.Header.Get("Idempotent-Replayed") != "" || len(p.Errors) != 1 || p.Errors[0].Field != "Idempotency-Key" {
		t.Errorf("reused key: %v %s", r.Header, r.Body)
	}
	// The admin is another caller: its k-1 is its own.
	if r := app.Do("POST", "/users/ada/goals", `{"title":"Learn Rust"}`, admin, key("k-1")); r.Status != http.StatusCreated || r.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("the admin's own k-1: %d %v %s", r.Status, r.Header, r.Body)
	}
}

func TestIdempotencyKeyAnswersBeforeUnknownUser(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	admin := apptest.Bearer(apptest.AdminToken(t))
	createGoal(t, app, "ivy", map[string]any{"title": "warm-up"})
	first := app.Do("POST", "/users/ivy/goals", `{"title":"A"}`, admin, key("k"))
	if first.Status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Status, first.Body)
	}
	// ivy is deleted: a new request about her is 404, a repeated key is not.
	app.Exec("INSERT INTO auth_user_tombstones (auth_user_id, deleted_at) VALUES ('ivy', now())")
	app.Exec("DELETE FROM auth_users WHERE auth_user_id = 'ivy'")
	apptest.ExpectProblem(t, app.Do("POST", "/users/ivy/goals", `{"title":"A"}`, admin, key("new")), http.StatusNotFound)
	expectReplay(t, first, app.Do("POST", "/users/ivy/goals", `{"title":"A"}`, admin, key("k")))
	apptest.ExpectProblem(t, app.Do("POST", "/users/ivy/goals", `{"title":"B"}`, admin, key("k")), http.StatusUnprocessableEntity)
}

func TestIdempotencyKeyReusedForAnotherRequest(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	owner := apptest.Bearer(apptest.Token(t, "bo", nil))
	createGoal(t, app, "bo", map[string]any{"title": "warm-up"})
	first := app.Do("POST", "/users/bo/goals", map[string]any{"title": "A", "streak_count": 1}, owner, key("same"))
	if first.Status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Status, first.Body)
	}
	before := effects(t, app)
	for _, body := range []string{`{"title":"B","streak_count":1}`, `{"title":"A","streak_count":2}`, `{"title":"A"}`, `{"title":"A","streak_count":1,"description":""}`} {
		r := app.Do("POST", "/users/bo/goals", body, owner, key("same"))
		apptest.ExpectProblem(t, r, http.StatusUnprocessableEntity)
		if r.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("%s: a 422 says it is replayed", body)
		}
	}
	// A body whose fields break a rule is still first a reused key.
	apptest.ExpectProblem(t, app.Do("POST", "/users/bo/goals", `{"title":""}`, owner, key("same")), http.StatusUnprocessableEntity)
	if after := effects(t, app); after != before {
		t.Errorf("refused requests changed %v → %v", before, after)
	}
}

func TestIdempotencyKeyMalformed(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	owner := apptest.Bearer(apptest.Token(t, "cy", nil))
	createGoal(t, app, "cy", map[string]any{"title": "warm-up"})
	before := effects(t, app)
	for _, k := range []string{"", `""`, strings.Repeat("k", 256), "a b", "clé", `"a"b"`} {
		r := app.Do("POST", "/users/cy/goals", map[string]any{"title": "x"}, owner, key(k))
		apptest.ExpectProblem(t, r, http.StatusBadRequest)
	}
	if r := app.Do("POST", "/users/cy/goals", map[string]any{"title": "x"}, owner, key(strings.Repeat("k", 255))); r.Status != http.StatusCreated {
		t.Errorf("a 255-character key: %d %s", r.Status, r.Body)
	}
	// Ownership (403) and the content type (415) come before the key's 400.
	other := apptest.Bearer(apptest.Token(t, "dee", nil))
	apptest.ExpectProblem(t, app.Do("POST", "/users/cy/goals", map[string]any{"title": "x"}, other, key("a b")), http.StatusForbidden)
	apptest.ExpectProblem(t, app.Do("POST", "/users/cy/goals", "title=x", owner, key("a b"), apptest.Header("Content-Type", "text/plain")), http.StatusUnsupportedMediaType)
	if after := effects(t, app); after[0] != before[0]+1 {
		t.Errorf("goals %d → %d, want one more", before[0], after[0])
	}
}

func TestIdempotencyFailedRequestStoresNothing(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	owner := apptest.Bearer(apptest.Token(t, "eve", nil))
	apptest.ExpectProblem(t, app.Do("POST", "/users/eve/goals", `{"title":"   "}`, owner, key("retry-me")), http.StatusUnprocessableEntity)
	apptest.ExpectProblem(t, app.Do("POST", "/users/eve/goals", `{"title":`, owner, key("retry-me")), http.StatusBadRequest)
	if n := count(t, app, "SELECT count(*) FROM idempotency_answers"); n != 0 {
		t.Fatalf("%d answers stored after failures", n)
	}
	r := app.Do("POST", "/users/eve/goals", `{"title":"fixed"}`, owner, key("retry-me"))
	if r.Status != http.StatusCreated || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("after a failure the key runs again: %d %v %s", r.Status, r.Header, r.Body)
	}
	expectReplay(t, r, app.Do("POST", "/users/eve/goals", `{"title":"fixed"}`, owner, key("retry-me")))
}

func TestIdempotencyKeysAreScoped(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	admin := apptest.Bearer(apptest.AdminToken(t))
	a := createGoal(t, app, "fay", map[string]any{"title": "warm-up"})
	createGoal(t, app, "gus", map[string]any{"title": "warm-up"})
	fay := apptest.Bearer(apptest.Token(t, "fay", nil))
	created := func(r apptest.Response) {
		t.Helper()
		if r.Status != http.StatusCreated || r.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("want a new resource: %d %v %s", r.Status, r.Header, r.Body)
		}
	}
	// One key, four scopes: two callers, two users' paths, two routes.
	created(app.Do("POST", "/users/fay/goals", map[string]any{"title": "one"}, fay, key("shared")))
	created(app.Do("POST", "/users/fay/goals", map[string]any{"title": "two"}, admin, key("shared")))
	created(app.Do("POST", "/users/gus/goals", map[string]any{"title": "three"}, admin, key("shared")))
	created(app.Do("POST", fmt.Sprintf("/users/fay/goals/%d/check-ins", a.ID), map[string]any{"minutes": 5}, fay, key("shared")))
	if n := count(t, app, "SELECT count(*) FROM learning_goals"); n != 5 {
		t.Errorf("%d goals, want 5", n)
	}
	// The check-in's key replays on its own route.
	r := app.Do("POST", fmt.Sprintf("/users/fay/goals/%d/check-ins", a.ID), map[string]any{"minutes": 5}, fay, key("shared"))
	if r.Status != http.StatusCreated || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("check-in repeat: %d %v", r.Status, r.Header)
	}
	if n := count(t, app, "SELECT count(*) FROM check_ins"); n != 1 {
		t.Errorf("%d check-ins, want 1", n)
	}
}

func TestIdempotencyConcurrentRepeats(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	owner := apptest.Bearer(apptest.Token(t, "hal", nil)) // unknown: every first run takes the retry path
	const n = 20
	answers := make([]apptest.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = app.Do("POST", "/users/hal/goals", map[string]any{"title": "once"}, owner, key("race"))
		}()
	}
	wg.Wait()
	fresh := 0
	for _, r := range answers {
		switch {
		case r.Status == http.StatusCreated && r.Header.Get("Idempotent-Replayed") == "":
			fresh++
		case r.Status == http.StatusCreated && r.Header.Get("Idempotent-Replayed") == "true":
		case r.Status == http.StatusConflict && r.Header.Get("Retry-After") == "1" && r.Header.Get("Idempotent-Replayed") == "":
		default:
			t.Errorf("answer %d %v %s", r.Status, r.Header, r.Body)
		}
	}
	if goals := count(t, app, "SELECT count(*) FROM learning_goals WHERE auth_user_id = 'hal'"); fresh != 1 || goals != 1 {
		t.Errorf("%d fresh answers and %d goals, want exactly one of each", fresh, goals)
	}
}

// TestIdempotencyKeyCostsOneRoundTrip: a POST goal with a first-time key
// makes at most one database round trip more than the same POST without
// one (CONTRACT §3's keys on the write path's hottest route), and its
// replay no more than the first request. Counted on one connection whose
// statements are already prepared, so every request is measured alike.
func TestIdempotencyKeyCostsOneRoundTrip(t *testing.T) {
	t.Parallel()
	var rec *pgtest.Recorder
	app := apptest.New(t, func(c *config.Config) {
		rec = pgtest.Record(t, c.DatabaseURL)
		c.DatabaseURL = rec.URL
		c.DatabasePoolSize, c.DatabaseMaxOverflow = 1, 0
	}, authref.Module, goals.Module)
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('ada')`)
	owner := apptest.Bearer(apptest.Token(t, "ada", nil))
	trips := func(opts ...apptest.Option) int {
		t.Helper()
		rec.TakeRoundTrips()
		r := app.Do("POST", "/users/ada/goals", `{"title":"Learn Go"}`, append(opts, owner)...)
		if r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		return rec.TakeRoundTrips()
	}
	trips()
	trips(key("warm-up"))
	trips(key("warm-up")) // the replay's statements too
	for i := range 3 {
		plain, keyed := trips(), trips(key(fmt.Sprintf("k-%d", i)))
		if keyed > plain+1 {
			t.Errorf("a keyed POST made %d round trips, one without a key %d: want at most one more", keyed, plain)
		}
		// A replay reads the stored answer once the claim has refused the request.
		if replay := trips(key(fmt.Sprintf("k-%d", i))); replay > keyed+1 {
			t.Errorf("a replay made %d round trips, its first request %d: want at most one more", replay, keyed)
		}
		t.Logf("round trips: %d without a key, %d with a first-time key", plain, keyed)
	}
}

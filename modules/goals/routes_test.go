package goals_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"usersvc/internal/testkit/apptest"
	"usersvc/modules/authref"
	"usersvc/modules/goals"
)

type goalJSON struct {
	ID          int64   `json:"id"`
	AuthUserID  string  `json:"auth_user_id"`
	Title       string  `json:"title"`
	Description string  `json:"description"`
	Status      string  `json:"status"`
	StreakCount int64   `json:"streak_count"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
	CompletedAt *string `json:"completed_at"`
}

func newApp(t *testing.T) *apptest.App {
	t.Helper()
	return apptest.New(t, nil, authref.Module, goals.Module)
}

var timeFormat = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)

func createGoal(t *testing.T, app *apptest.App, user string, body any) goalJSON {
	t.Helper()
	r := app.Do("POST", "/users/"+user+"/goals", body, apptest.Bearer(apptest.Token(t, user, nil)))
	if r.Status != http.StatusCreated {
		t.Fatalf("create: status %d body %s", r.Status, r.Body)
	}
	var g goalJSON
	r.JSON(t, &g)
	return g
}

func TestCreateAndGetGoal(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	r := app.Do("POST", "/users/42/goals", map[string]any{"title": "  Learn Go  "}, apptest.Bearer(apptest.Token(t, 42, nil)))
	if r.Status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	var fields map[string]any
	r.JSON(t, &fields)
	want := []string{"id", "auth_user_id", "title", "description", "status", "streak_count", "longest_streak", "last_check_in_on", "created_at", "updated_at", "completed_at"}
	if len(fields) != len(want) {
		t.Fatalf("fields %v, want exactly %v", fields, want)
	}
	var g goalJSON
	r.JSON(t, &g)
	if g.AuthUserID != "42" || g.Title != "Learn Go" || g.Status != "in-progress" || g.Description != "" || g.StreakCount != 0 || g.CompletedAt != nil {
		t.Fatalf("unexpected goal %+v", g)
	}
	if !timeFormat.MatchString(g.CreatedAt) || !timeFormat.MatchString(g.UpdatedAt) {
		t.Fatalf("timestamps %q %q", g.CreatedAt, g.UpdatedAt)
	}
	loc := r.Header.Get("Location")
	if loc != fmt.Sprintf("/users/42/goals/%d", g.ID) || r.Header.Get("ETag") == "" {
		t.Fatalf("Location %q ETag %q", loc, r.Header.Get("ETag"))
	}
	got := app.Do("GET", loc, nil)
	if got.Status != 200 || got.Header.Get("ETag") != r.Header.Get("ETag") {
		t.Fatalf("get: %d %s etag %q", got.Status, got.Body, got.Header.Get("ETag"))
	}
}

func TestCompletedAtFollowsStatus(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	tok := apptest.Bearer(apptest.Token(t, "ada", nil))
	g := createGoal(t, app, "ada", map[string]any{"title": "x", "status": "completed"})
	if g.CompletedAt == nil {
		t.Fatal("created completed without completed_at")
	}
	path := fmt.Sprintf("/users/ada/goals/%d", g.ID)
	var upd goalJSON
	r := app.Do("PUT", path, map[string]any{"streak_count": 3}, tok)
	r.JSON(t, &upd)
	if r.Status != 200 || upd.CompletedAt == nil || *upd.CompletedAt != *g.CompletedAt {
		t.Fatalf("completed_at must survive an unrelated update: %d %s", r.Status, r.Body)
	}
	r = app.Do("PUT", path, map[string]any{"status": "abandoned"}, tok)
	r.JSON(t, &upd)
	if upd.CompletedAt != nil || upd.Status != "abandoned" {
		t.Fatalf("leaving completed must clear completed_at: %s", r.Body)
	}
	r = app.Do("PUT", path, map[string]any{"status": "completed"}, tok)
	r.JSON(t, &upd)
	if upd.CompletedAt == nil {
		t.Fatalf("becoming completed must set completed_at: %s", r.Body)
	}
}

func TestGoalErrors(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	owner := apptest.Bearer(apptest.Token(t, "u1", nil))
	other := apptest.Bearer(apptest.Token(t, "u2", nil))
	admin := apptest.Bearer(apptest.AdminToken(t))
	g := createGoal(t, app, "u1", map[string]any{"title": "first"})
	item := fmt.Sprintf("/users/u1/goals/%d", g.ID)
	long := func(n int) string { return strings.Repeat("é", n) }

	cases := []struct {
		name   string
		method string
		path   string
		body   any
		opts   []apptest.Option
		status int
		field  string
	}{
		{"unknown user list", "GET", "/users/nobody/goals", nil, nil, 404, ""},
		{"malformed user id", "GET", "/users/bad%20id/goals", nil, nil, 400, ""},
		{"malformed goal id", "GET", "/users/u1/goals/abc", nil, nil, 400, ""},
		{"zero goal id", "GET", "/users/u1/goals/0", nil, nil, 400, ""},
		{"unknown goal", "GET", "/users/u1/goals/999999", nil, nil, 404, ""},
		{"other user's goal", "GET", fmt.Sprintf("/users/u2/goals/%d", g.ID), nil, nil, 404, ""},
		{"bad limit", "GET", "/users/u1/goals?limit=0", nil, nil, 400, ""},
		{"limit over max", "GET", "/users/u1/goals?limit=101", nil, nil, 400, ""},
		{"bad status filter", "GET", "/users/u1/goals?status=done", nil, nil, 400, ""},
		{"bad cursor", "GET", "/users/u1/goals?cursor=zzz", nil, nil, 400, ""},
		{"anonymous write", "POST", "/users/u1/goals", map[string]any{"title": "t"}, nil, 401, ""},
		{"other user write", "POST", "/users/u1/goals", map[string]any{"title": "t"}, []apptest.Option{other}, 403, ""},
		{"malformed id before 403", "POST", "/users/-x/goals", map[string]any{"title": "t"}, []apptest.Option{other}, 400, ""},
		{"admin write unknown user", "POST", "/users/ghost/goals", map[string]any{"title": "t"}, []apptest.Option{admin}, 404, ""},
		{"admin write bad body unknown user", "POST", "/users/ghost/goals", map[string]any{"title": ""}, []apptest.Option{admin}, 404, ""},
		{"empty body", "POST", "/users/u1/goals", "", []apptest.Option{owner}, 400, ""},
		{"malformed json", "POST", "/users/u1/goals", `{"title":`, []apptest.Option{owner}, 400, ""},
		{"trailing data", "POST", "/users/u1/goals", `{"title":"a"} {}`, []apptest.Option{owner}, 400, ""},
		{"not an object", "POST", "/users/u1/goals", `["title"]`, []apptest.Option{owner}, 400, ""},
		{"wrong content type", "POST", "/users/u1/goals", `{"title":"a"}`, []apptest.Option{owner, apptest.Header("Content-Type", "text/plain")}, 415, ""},
		{"missing title", "POST", "/users/u1/goals", map[string]any{}, []apptest.Option{owner}, 422, "title"},
		{"blank title", "POST", "/users/u1/goals", map[string]any{"title": "   "}, []apptest.Option{owner}, 422, "title"},
		{"title 201", "POST", "/users/u1/goals", map[string]any{"title": long(201)}, []apptest.Option{owner}, 422, "title"},
		{"title NUL", "POST", "/users/u1/goals", map[string]any{"title": "a\u0000b"}, []apptest.Option{owner}, 422, "title"},
		{"title number", "POST", "/users/u1/goals", map[string]any{"title": 5}, []apptest.Option{owner}, 422, "title"},
		{"description 2001", "POST", "/users/u1/goals", map[string]any{"title": "a", "description": long(2001)}, []apptest.Option{owner}, 422, "description"},
		{"description null", "POST", "/users/u1/goals", map[string]any{"title": "a", "description": nil}, []apptest.Option{owner}, 422, "description"},
		{"bad status", "POST", "/users/u1/goals", map[string]any{"title": "a", "status": "done"}, []apptest.Option{owner}, 422, "status"},
		{"streak negative", "POST", "/users/u1/goals", map[string]any{"title": "a", "streak_count": -1}, []apptest.Option{owner}, 422, "streak_count"},
		{"streak too big", "POST", "/users/u1/goals", map[string]any{"title": "a", "streak_count": 1000001}, []apptest.Option{owner}, 422, "streak_count"},
		{"streak fraction", "POST", "/users/u1/goals", `{"title":"a","streak_count":1.5}`, []apptest.Option{owner}, 422, "streak_count"},
		{"unknown field", "POST", "/users/u1/goals", map[string]any{"title": "a", "colour": "red"}, []apptest.Option{owner}, 422, "colour"},
		{"read-only id", "POST", "/users/u1/goals", map[string]any{"title": "a", "id": 5}, []apptest.Option{owner}, 422, "id"},
		{"read-only owner", "POST", "/users/u1/goals", map[string]any{"title": "a", "auth_user_id": "u2"}, []apptest.Option{owner}, 422, "auth_user_id"},
		{"duplicate key", "POST", "/users/u1/goals", `{"title":"a","title":"b"}`, []apptest.Option{owner}, 422, "title"},
		{"empty update", "PUT", item, map[string]any{}, []apptest.Option{owner}, 422, ""},
		{"update unknown goal", "PUT", "/users/u1/goals/999999", map[string]any{"title": "x"}, []apptest.Option{owner}, 404, ""},
		{"update unknown goal bad body", "PUT", "/users/u1/goals/999999", map[string]any{"title": ""}, []apptest.Option{owner}, 404, ""},
		{"update stale etag", "PUT", item, map[string]any{"title": "x"}, []apptest.Option{owner, apptest.Header("If-Match", `"999"`)}, 412, ""},
		{"update stale etag bad body", "PUT", item, map[string]any{"title": ""}, []apptest.Option{owner, apptest.Header("If-Match", `"999"`)}, 412, ""},
		{"update weak etag", "PUT", item, map[string]any{"title": "x"}, []apptest.Option{owner, apptest.Header("If-Match", `W/"1"`)}, 412, ""},
		{"delete other user", "DELETE", item, nil, []apptest.Option{other}, 403, ""},
		{"delete stale etag", "DELETE", item, nil, []apptest.Option{owner, apptest.Header("If-Match", `"999"`)}, 412, ""},
		{"delete unknown goal", "DELETE", "/users/u1/goals/999999", nil, []apptest.Option{owner}, 404, ""},
		{"wrong method", "PATCH", item, nil, nil, 405, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := app.Do(tc.method, tc.path, tc.body, tc.opts...)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			p := apptest.ExpectProblem(t, r, tc.status)
			if tc.field != "" {
				found := false
				for _, e := range p.Errors {
					found = found || e.Field == tc.field
				}
				if !found {
					t.Fatalf("no error for field %q in %s", tc.field, r.Body)
				}
			}
			if tc.status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without a Bearer challenge")
			}
		})
	}
}

func TestLimitsAtTheBound(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	g := createGoal(t, app, "b", map[string]any{
		"title": strings.Repeat("ü", 200), "description": strings.Repeat("語", 2000), "streak_count": 1000000, "status": "not-started"})
	if len([]rune(g.Title)) != 200 || g.StreakCount != 1000000 || g.Status != "not-started" {
		t.Fatalf("bounds not accepted: %+v", g)
	}
}

func TestOwnershipMatrix(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	g := createGoal(t, app, "own", map[string]any{"title": "mine"})
	item := fmt.Sprintf("/users/own/goals/%d", g.ID)
	callers := map[string][]apptest.Option{
		"owner":     {apptest.Bearer(apptest.Token(t, "own", nil))},
		"admin":     {apptest.Bearer(apptest.AdminToken(t))},
		"other":     {apptest.Bearer(apptest.Token(t, "intruder", nil))},
		"anonymous": nil,
	}
	want := map[string]int{"owner": 200, "admin": 200, "other": 403, "anonymous": 401}
	for who, opts := range callers {
		r := app.Do("PUT", item, map[string]any{"streak_count": 1}, opts...)
		if r.Status != want[who] {
			t.Errorf("PUT as %s: %d, want %d", who, r.Status, want[who])
		}
		r = app.Do("POST", "/users/own/goals", map[string]any{"title": "by " + who}, opts...)
		if wantPost := map[int]int{200: 201}[want[who]]; wantPost == 0 && r.Status != want[who] || wantPost != 0 && r.Status != wantPost {
			t.Errorf("POST as %s: %d", who, r.Status)
		}
	}
	wantDel := map[string]int{"other": 403, "anonymous": 401}
	for who, status := range wantDel {
		if r := app.Do("DELETE", item, nil, callers[who]...); r.Status != status {
			t.Errorf("DELETE as %s: %d, want %d", who, r.Status, status)
		}
	}
	if r := app.Do("DELETE", item, nil, callers["admin"]...); r.Status != 204 {
		t.Errorf("DELETE as admin: %d", r.Status)
	}
	if r := app.Do("GET", item, nil); r.Status != 404 {
		t.Errorf("deleted goal answers %d", r.Status)
	}
}

func TestIfMatchConcurrentUpdates(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	g := createGoal(t, app, "race", map[string]any{"title": "contended"})
	item := fmt.Sprintf("/users/race/goals/%d", g.ID)
	etag := app.Do("GET", item, nil).Header.Get("ETag")
	tok := apptest.Bearer(apptest.Token(t, "race", nil))
	const n = 20
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := app.Do("PUT", item, map[string]any{"streak_count": i}, tok, apptest.Header("If-Match", etag))
			statuses <- r.Status
		}(i)
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts[200] != 1 || counts[412] != n-1 {
		t.Fatalf("want exactly one winner, got %v", counts)
	}
	r := app.Do("PUT", item, map[string]any{"title": "again"}, tok, apptest.Header("If-Match", "*"))
	if r.Status != 200 || r.Header.Get("ETag") == etag {
		t.Fatalf("If-Match * : %d, etag must change", r.Status)
	}
}

func TestPaginationWalk(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	const total = 250
	// Same created_at for many rows exercises the id tie-break.
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('walker')`)
	app.Exec(`INSERT INTO learning_goals (auth_user_id, title, status, created_at)
	          SELECT 'walker', 'goal ' || i, CASE WHEN i % 3 = 0 THEN 'completed' ELSE 'in-progress' END,
	                 '2024-01-01T00:00:00Z'::timestamptz + (i / 7) * interval '1 second'
	          FROM generate_series(1, $1) i`, total)
	seen := map[int64]bool{}
	next := "/users/walker/goals?limit=13"
	var prev *goalJSON
	pages := 0
	for next != "" {
		r := app.Do("GET", next, nil)
		if r.Status != 200 {
			t.Fatalf("page %d: %d %s", pages, r.Status, r.Body)
		}
		var items []goalJSON
		r.JSON(t, &items)
		for i := range items {
			it := items[i]
			if seen[it.ID] {
				t.Fatalf("duplicate %d", it.ID)
			}
			seen[it.ID] = true
			if prev != nil && (it.CreatedAt > prev.CreatedAt || it.CreatedAt == prev.CreatedAt && it.ID > prev.ID) {
				t.Fatalf("order broken at %d after %d", it.ID, prev.ID)
			}
			prev = &it
		}
		pages++
		// New goals arriving mid-walk are newer than the cursor and must not disturb it.
		createGoal(t, app, "walker", map[string]any{"title": fmt.Sprintf("late %d", pages)})
		next = linkNext(t, r.Header.Get("Link"))
	}
	if len(seen) != total {
		t.Fatalf("walked %d goals, want %d (pages %d)", len(seen), total, pages)
	}
	// The status filter survives in the next link.
	r := app.Do("GET", "/users/walker/goals?status=completed&limit=5", nil)
	link := r.Header.Get("Link")
	if !strings.Contains(link, "status=completed") || !strings.HasSuffix(link, `rel="next"`) {
		t.Fatalf("link %q", link)
	}
	checkCursorBinding(t, app, link)
}

// checkCursorBinding: a cursor of walker's completed goals works on that list
// only; on another filter or another user's list (even one of the same length
// and filter) it is answered exactly like a malformed cursor, never served and
// never a 404 (CONTRACT §2: a malformed query comes before an unknown user).
func checkCursorBinding(t *testing.T, app *apptest.App, link string) {
	t.Helper()
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('walker2')`)
	app.Exec(`INSERT INTO learning_goals (auth_user_id, title, status) SELECT 'walker2', 'goal ' || i, 'completed' FROM generate_series(1, 20) i`)
	cursor := regexp.MustCompile(`cursor=([^&>]+)`).FindStringSubmatch(link)[1]
	if r := app.Do("GET", "/users/walker/goals?status=completed&cursor="+cursor, nil); r.Status != 200 {
		t.Fatalf("the cursor on its own list: %d %s", r.Status, r.Body)
	}
	malformed := apptest.ExpectProblem(t, app.Do("GET", "/users/walker2/goals?status=completed&cursor=zzz", nil), 400)
	if !strings.Contains(malformed.Detail, "cursor") {
		t.Fatalf("a malformed cursor's problem does not name the cursor: %+v", malformed)
	}
	for _, tc := range []struct{ name, target string }{
		{"without its filter", "/users/walker/goals?cursor="},
		{"with another filter", "/users/walker/goals?status=in-progress&cursor="},
		{"on another user's list", "/users/walker2/goals?status=completed&cursor="},
		{"on another user's unfiltered list", "/users/walker2/goals?cursor="},
		{"on an unknown user's list", "/users/nobody/goals?status=completed&cursor="},
	} {
		name, target := tc.name, tc.target
		p := apptest.ExpectProblem(t, app.Do("GET", target+cursor, nil), 400)
		if p.Type != malformed.Type || p.Detail != malformed.Detail {
			t.Errorf("cursor reused %s: %+v, want the bad-cursor problem %+v", name, p, malformed)
		}
	}
}

func linkNext(t *testing.T, link string) string {
	t.Helper()
	if link == "" {
		return ""
	}
	m := regexp.MustCompile(`^<([^>]+)>; rel="next"$`).FindStringSubmatch(link)
	if m == nil {
		t.Fatalf("malformed Link %q", link)
	}
	return m[1]
}

func TestEmptyListForKnownUser(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('empty')`)
	r := app.Do("GET", "/users/empty/goals", nil)
	if r.Status != 200 || string(r.Body) != "[]" || r.Header.Get("Link") != "" {
		t.Fatalf("%d %q link %q", r.Status, r.Body, r.Header.Get("Link"))
	}
}

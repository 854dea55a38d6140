package badges_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"usersvc/internal/testkit/apptest"
	"usersvc/internal/testkit/pgtest"
	"usersvc/platform/config"
)

// newRecordedApp starts the API with every statement it executes recorded.
func newRecordedApp(t *testing.T) (*apptest.App, *pgtest.Recorder) {
	t.Helper()
	var rec *pgtest.Recorder
	app := newApp(t, func(c *config.Config) {
		rec = pgtest.Record(t, c.DatabaseURL)
		c.DatabaseURL = rec.URL
	})
	return app, rec
}

// plansReading returns the generic plans of the recorded statements that read relation.
func plansReading(t *testing.T, app *apptest.App, stmts []string, relation string) []pgtest.PlanNode {
	t.Helper()
	var plans []pgtest.PlanNode
	for _, s := range stmts {
		if !pgtest.Plannable(s) {
			continue
		}
		if p := pgtest.GenericPlan(t, app.DB, s); len(p.Scans(relation)) > 0 {
			plans = append(plans, p)
		}
	}
	return plans
}

// TestBadgeReadsUseIndexes: a page of one user's badges is read through an index
// in the list's order (no scan of everyone's badges, no sort of all of the
// user's), whatever the values, on a table the size of a busy service's.
func TestBadgeReadsUseIndexes(t *testing.T) {
	t.Parallel()
	app, rec := newRecordedApp(t)
	app.Exec(`INSERT INTO auth_users (auth_user_id) SELECT 'user' || u FROM generate_series(1, 2000) u`)
	app.Exec(`INSERT INTO badges (auth_user_id, name, date_achieved)
		SELECT 'user' || u, 'badge ' || b, timestamptz '2024-01-01T00:00:00Z' - make_interval(hours => b)
		FROM generate_series(1, 2000) u, generate_series(1, 10) b`)
	app.Exec(`ANALYZE auth_users, badges`)
	rec.Take()

	first := app.Do(http.MethodGet, "/users/user7/badges?limit=3", nil)
	if first.Status != 200 {
		t.Fatalf("list: %d %s", first.Status, first.Body)
	}
	firstStmts := rec.Take()
	next := app.Do(http.MethodGet, nextLink(t, first.Header.Get("Link")), nil)
	if next.Status != 200 {
		t.Fatalf("next page: %d %s", next.Status, next.Body)
	}
	for name, stmts := range map[string][]string{"first page": firstStmts, "after a cursor": rec.Take()} {
		plans := plansReading(t, app, stmts, "badges")
		if len(plans) == 0 {
			t.Fatalf("%s: no recorded statement reads badges: %q", name, stmts)
		}
		for _, p := range plans {
			if why := pageInIndexOrder(p, "badges"); why != "" {
				t.Errorf("%s %s: %s", name, why, p)
			}
		}
	}

	var id int64
	if err := app.DB.QueryRow(context.Background(), `SELECT id FROM badges WHERE auth_user_id = 'user7' LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if r := app.Do(http.MethodGet, fmt.Sprintf("/users/user7/badges/%d", id), nil); r.Status != 200 {
		t.Fatalf("get: %d %s", r.Status, r.Body)
	}
	plans := plansReading(t, app, rec.Take(), "badges")
	if len(plans) == 0 {
		t.Fatal("get: no recorded statement reads badges")
	}
	for _, p := range plans {
		for _, scan := range p.Scans("badges") {
			if !strings.Contains(scan.NodeType, "Index") {
				t.Errorf("get reads badges by %s: %s", scan.NodeType, p)
			}
		}
	}
}

// pageInIndexOrder says why plan does not read a page of relation in an index's
// order and stop at the page's end ("" if it does): every read of relation is an
// index scan under a Limit, with no sort between the two. (A sort above the
// Limit orders one page, which is cheap.)
func pageInIndexOrder(plan pgtest.PlanNode, relation string) string {
	for _, path := range plan.PathsTo(relation) {
		scan := path[len(path)-1]
		if scan.NodeType != "Index Scan" && scan.NodeType != "Index Only Scan" {
			return "reads " + relation + " by " + scan.NodeType
		}
		limit := -1 // the Limit nearest the scan
		for i, n := range path {
			if n.NodeType == "Limit" {
				limit = i
			}
		}
		if limit == -1 {
			return "reads all of a user's " + relation + " (no Limit above the scan)"
		}
		for _, n := range path[limit+1:] {
			if strings.HasSuffix(n.NodeType, "Sort") {
				return "sorts " + relation + " before the page's Limit"
			}
		}
	}
	return ""
}

// TestBadgeValuesAreParameters: what a client sends reaches PostgreSQL as bound
// parameters, never inside a statement's text, and comes back byte for byte.
func TestBadgeValuesAreParameters(t *testing.T) {
	t.Parallel()
	app, rec := newRecordedApp(t)
	const user = "zq9-user"
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ($1)`, user)
	name := `O'Brien's "badge"; DROP TABLE badges; -- $1`
	description := "desc-3f9a \\ ' $2"
	created := app.Do(http.MethodPost, "/users/"+user+"/badges", map[string]any{
		"name": name, "description": description, "date_achieved": "2024-05-06T07:08:09.123456Z",
	}, admin(t))
	if created.Status != 201 {
		t.Fatalf("create: %d %s", created.Status, created.Body)
	}
	b := checkBadgeShape(t, created.Body)
	app.Do(http.MethodPost, "/users/"+user+"/badges", map[string]any{"name": "second"}, admin(t))
	list := app.Do(http.MethodGet, "/users/"+user+"/badges?limit=1", nil)
	app.Do(http.MethodGet, nextLink(t, list.Header.Get("Link")), nil)
	got := checkBadgeShape(t, app.Do(http.MethodGet, fmt.Sprintf("/users/%s/badges/%d", user, b.ID), nil).Body)
	if got.Name != name || got.Description != description || got.DateAchieved != "2024-05-06T07:08:09.123456Z" || got.UserID != user {
		t.Fatalf("badge came back as %+v", got)
	}

	stmts := rec.Take()
	if len(stmts) < 5 {
		t.Fatalf("recorded %d statements for five requests: %q", len(stmts), stmts)
	}
	for _, s := range stmts {
		for _, value := range []string{user, "O'Brien", "desc-3f9a", "2024-05-06"} {
			if strings.Contains(s, value) {
				t.Errorf("the value %q is inside the statement text %q", value, s)
			}
		}
	}
}

package profile_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"usersvc/internal/testkit/apptest"
	"usersvc/internal/testkit/pgtest"
	"usersvc/platform/config"
)

// TestProfileReadsOneSnapshotThroughIndexes: a profile's identity and stats come
// from one statement (one snapshot: the counts agree with each other), reading
// only that user's rows through indexes, with the user id a bound parameter.
func TestProfileReadsOneSnapshotThroughIndexes(t *testing.T) {
	t.Parallel()
	var rec *pgtest.Recorder
	app := newApp(t, func(c *config.Config) {
		rec = pgtest.Record(t, c.DatabaseURL)
		c.DatabaseURL = rec.URL
	})
	app.Exec(`INSERT INTO auth_users (auth_user_id, username) SELECT 'user' || u, 'name' || u FROM generate_series(1, 2000) u`)
	app.Exec(`INSERT INTO badges (auth_user_id, name) SELECT 'user' || u, 'badge ' || b FROM generate_series(1, 2000) u, generate_series(1, 5) b`)
	app.Exec(`INSERT INTO learning_goals (auth_user_id, title, status, streak_count)
		SELECT 'user' || u, 'goal ' || g, CASE WHEN g % 3 = 0 THEN 'completed' ELSE 'in-progress' END, g
		FROM generate_series(1, 2000) u, generate_series(1, 10) g`)
	app.Exec(`ANALYZE auth_users, badges, learning_goals`)
	rec.Take()

	for _, path := range []string{"/users/user1234", "/users/me"} {
		t.Run(path, func(t *testing.T) {
			p := checkProfile(t, app.Do(http.MethodGet, path, nil, apptest.Bearer(apptest.Token(t, "user1234", nil))), path == "/users/me")
			if p.Stats != (wireStats{Badges: 5, GoalsTotal: 10, GoalsCompleted: 3, BestStreak: 10}) {
				t.Fatalf("stats = %+v", p.Stats)
			}
			stmts := rec.Take()
			var whole []pgtest.PlanNode // plans that read the user and every table the stats count
			for _, s := range stmts {
				if strings.Contains(s, "user1234") {
					t.Errorf("the user id is inside the statement text %q", s)
				}
				if !pgtest.Plannable(s) {
					continue
				}
				plan := pgtest.GenericPlan(t, app.DB, s)
				if !slices.ContainsFunc([]string{"auth_users", "badges", "learning_goals"}, func(rel string) bool { return len(plan.Scans(rel)) == 0 }) {
					whole = append(whole, plan)
				}
			}
			if len(whole) != 1 {
				t.Fatalf("%d statements read the user, badges and goals together, want 1; statements %q", len(whole), stmts)
			}
			for _, rel := range []string{"auth_users", "badges", "learning_goals"} {
				for _, scan := range whole[0].Scans(rel) {
					if !strings.Contains(scan.NodeType, "Index") && scan.NodeType != "Bitmap Heap Scan" {
						t.Errorf("the profile reads %s by %s: %s", rel, scan.NodeType, whole[0])
					}
				}
			}
		})
	}
}

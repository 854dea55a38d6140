package profile

import "testing"

// TestQueryShape pins the one profile query: identity and every stat in a
// single round trip, every value a bound parameter ($1 status, $2 user).
func TestQueryShape(t *testing.T) {
	t.Parallel()
	want := "SELECT u.username, u.email, u.created_at, " +
		"(SELECT count(*) FROM badges b WHERE b.auth_user_id = u.auth_user_id) AS badges, " +
		"gs.total, gs.completed, gs.best_streak FROM auth_users u " +
		"CROSS JOIN LATERAL (SELECT count(*) AS total, COALESCE(max(g.streak_count), 0) AS best_streak, " +
		"count(*) FILTER (WHERE g.status = $1) AS completed FROM learning_goals g " +
		"WHERE g.auth_user_id = u.auth_user_id) gs WHERE u.auth_user_id = $2"
	if profileSQL != want {
		t.Fatalf("profile query:\n got %s\nwant %s", profileSQL, want)
	}
}

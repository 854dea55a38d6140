package migrations_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"usersvc/internal/testkit/pgtest"
)

// owned counts what a user owns, table by table (CONTRACT §6).
type owned struct{ goals, badges, checkIns, activity, events, streaks int }

// seedOwner gives a user two goals (two check-ins on the first, one on the
// second), a badge, an activity item for the first goal's creation and one
// for the badge: 2 goals, 1 badge, 3 check-ins, 5 activity items, 3 events.
// It returns the first goal, its first check-in and the badge.
func seedOwner(t *testing.T, conn *pgx.Conn, user string) (goal, checkIn, badge int64) {
	t.Helper()
	ctx := context.Background()
	var goal2 int64
	err := conn.QueryRow(ctx, `WITH u AS (INSERT INTO auth_users (auth_user_id) VALUES ($1)),
g AS (INSERT INTO learning_goals (auth_user_id, title) VALUES ($1, 'one'), ($1, 'two') RETURNING id),
b AS (INSERT INTO badges (auth_user_id, name) VALUES ($1, 'First Steps') RETURNING id)
SELECT (SELECT min(id) FROM g), (SELECT max(id) FROM g), (SELECT id FROM b)`, user).Scan(&goal, &goal2, &badge)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT activity_record($1, 'goal.created', now(), $2, NULL, NULL, 'one', NULL, NULL, NULL),
    activity_record($1, 'badge.awarded', now(), NULL, $3, NULL, 'First Steps', NULL, NULL, NULL)`, user, goal, badge); err != nil {
		t.Fatal(err)
	}
	for i, g := range []int64{goal, goal, goal2} {
		var id int64
		err := conn.QueryRow(ctx, `SELECT id FROM check_in_fast($1, $2, now(), now(), NULL, 25, '', false,
    'goal.checked_in', 'goal.checked_in', 'GoalCheckedIn', $3, '""')`, g, user, fmt.Sprintf("%q", user)).Scan(&id)
		if err != nil {
			t.Fatalf("check-in %d: %v", i, err)
		}
		if i == 0 {
			checkIn = id
		}
	}
	return goal, checkIn, badge
}

func countOwned(t *testing.T, conn *pgx.Conn, user string) owned {
	t.Helper()
	var o owned
	err := conn.QueryRow(context.Background(), `SELECT
    (SELECT count(*) FROM learning_goals WHERE auth_user_id = $1), (SELECT count(*) FROM badges WHERE auth_user_id = $1),
    (SELECT count(*) FROM check_ins WHERE auth_user_id = $1), (SELECT count(*) FROM activity_items WHERE auth_user_id = $1),
    (SELECT count(*) FROM outbox_events WHERE auth_user_id = $1), (SELECT count(*) FROM user_streaks WHERE auth_user_id = $1)`,
		user).Scan(&o.goals, &o.badges, &o.checkIns, &o.activity, &o.events, &o.streaks)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestDeletionsCascadeAsTheContractSays: a check-in takes its activity item
// with it, a goal its check-ins and their items, a badge its item, a user
// everything; on a fresh database and on a converted legacy one (00008
// carries some of these cascades by a trigger or through the goal).
func TestDeletionsCascadeAsTheContractSays(t *testing.T) {
	fresh := pgtest.NewDatabase(t)
	mustRun(t, fresh, "up")
	legacy := legacyDatabase(t, "legacy_clean.sql")
	mustRun(t, legacy, "up")
	all := owned{goals: 2, badges: 1, checkIns: 3, activity: 5, events: 3, streaks: 1}
	cases := []struct {
		name   string
		delete string // $1 the user, $2 the first goal, $3 its first check-in, $4 the badge
		want   owned
	}{
		{"a check-in", `DELETE FROM check_ins WHERE id = $3 AND $1::text IS NOT NULL AND $2::bigint IS NOT NULL AND $4::bigint IS NOT NULL`,
			owned{goals: 2, badges: 1, checkIns: 2, activity: 4, events: 3, streaks: 1}},
		{"a goal", `DELETE FROM learning_goals WHERE id = $2 AND $1::text IS NOT NULL AND $3::bigint IS NOT NULL AND $4::bigint IS NOT NULL`,
			owned{goals: 1, badges: 1, checkIns: 1, activity: 2, events: 3, streaks: 1}},
		{"a badge", `DELETE FROM badges WHERE id = $4 AND $1::text IS NOT NULL AND $2::bigint IS NOT NULL AND $3::bigint IS NOT NULL`,
			owned{goals: 2, badges: 0, checkIns: 3, activity: 4, events: 3, streaks: 1}},
		{"the user", `DELETE FROM auth_users WHERE auth_user_id = $1 AND $2::bigint IS NOT NULL AND $3::bigint IS NOT NULL AND $4::bigint IS NOT NULL`,
			owned{}},
	}
	for db, url := range map[string]string{"fresh": fresh, "converted legacy": legacy} {
		conn := connect(t, url)
		for i, c := range cases {
			t.Run(db+"/"+c.name, func(t *testing.T) {
				user, bystander := fmt.Sprintf("cascade-%d", i), fmt.Sprintf("bystander-%d", i)
				goal, checkIn, badge := seedOwner(t, conn, user)
				seedOwner(t, conn, bystander)
				if got := countOwned(t, conn, user); got != all {
					t.Fatalf("seeded %+v, want %+v", got, all)
				}
				if _, err := conn.Exec(context.Background(), c.delete, user, goal, checkIn, badge); err != nil {
					t.Fatal(err)
				}
				if got := countOwned(t, conn, user); got != c.want {
					t.Errorf("after deleting %s: %+v, want %+v", c.name, got, c.want)
				}
				if got := countOwned(t, conn, bystander); got != all {
					t.Errorf("another user's rows changed: %+v, want %+v", got, all)
				}
			})
		}
	}
}

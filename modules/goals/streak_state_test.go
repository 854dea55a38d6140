package goals_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"usersvc/internal/testkit/apptest"
	"usersvc/modules/goals/streak"
)

// storedState is what the goal row keeps for reads.
type storedState struct {
	runEnd      *time.Time
	runDays     int
	longest     int
	lastCheckIn *time.Time
}

func sameDate(a, b *time.Time) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && a.Equal(*b))
}

// recomputed is the full recomputation from raw check-ins, in Go.
func recomputed(t *testing.T, app *apptest.App, where string, arg any, base streak.Base) (streak.State, *time.Time) {
	t.Helper()
	rows, err := app.DB.Query(t.Context(), "SELECT local_date, utc_offset, occurred_at, id FROM check_ins WHERE "+where, arg)
	if err != nil {
		t.Fatal(err)
	}
	var cs []streak.CheckIn
	var c streak.CheckIn
	if _, err := pgx.ForEachRow(rows, []any{&c.Date, &c.Offset, &c.At, &c.ID}, func() error { cs = append(cs, c); return nil }); err != nil {
		t.Fatal(err)
	}
	days := streak.Days(cs)
	var last *time.Time
	if len(days) > 0 {
		last = &days[len(days)-1].Date
	}
	return streak.Compute(days, base), last
}

func checkGoalState(t *testing.T, app *apptest.App, goalID int64) {
	t.Helper()
	var s storedState
	var base streak.Base
	err := app.DB.QueryRow(t.Context(), `SELECT streak_run_end, streak_run_days, longest_streak, last_check_in_on, streak_count, streak_set_on
FROM learning_goals WHERE id = $1`, goalID).Scan(&s.runEnd, &s.runDays, &s.longest, &s.lastCheckIn, &base.Days, &base.On)
	if err != nil {
		t.Fatal(err)
	}
	want, last := recomputed(t, app, "goal_id = $1", goalID, base)
	if !sameDate(last, s.lastCheckIn) {
		t.Fatalf("goal %d: last_check_in_on %v, recomputed %v", goalID, s.lastCheckIn, last)
	}
	if last == nil {
		return // without check-ins a read shows the hand-written streak
	}
	if !sameDate(want.RunEnd, s.runEnd) || want.RunDays != s.runDays || want.Longest != s.longest {
		t.Fatalf("goal %d: stored %+v, recomputed %+v", goalID, s, want)
	}
}

func checkUserState(t *testing.T, app *apptest.App, user string) {
	t.Helper()
	want, _ := recomputed(t, app, "auth_user_id = $1", user, streak.Base{})
	var s storedState
	err := app.DB.QueryRow(t.Context(), "SELECT streak_run_end, streak_run_days, longest_streak FROM user_streaks WHERE auth_user_id = $1", user).
		Scan(&s.runEnd, &s.runDays, &s.longest)
	if err == pgx.ErrNoRows {
		if want.RunEnd != nil {
			t.Fatalf("no user streak row, recomputed %+v", want)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !sameDate(want.RunEnd, s.runEnd) || want.RunDays != s.runDays || want.Longest != s.longest {
		t.Fatalf("user %s: stored %+v, recomputed %+v", user, s, want)
	}
}

var propertyZones = []string{"UTC", "Pacific/Honolulu", "Pacific/Kiritimati", "Europe/Berlin", "America/New_York", "Asia/Kolkata"}

// TestIncrementalStateEqualsRecomputation: over seeded random sequences of
// check-ins (any zone, any recent time) and deletions, the state kept on the
// goal rows and the user's row always equals a full recomputation.
func TestIncrementalStateEqualsRecomputation(t *testing.T) {
	t.Parallel()
	app := newTrackerApp(t)
	admin := apptest.Bearer(apptest.AdminToken(t))
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 2026))
			user := fmt.Sprintf("prop%d", seed)
			var goalIDs []int64
			for i := range 3 {
				body := map[string]any{"title": fmt.Sprintf("g%d", i)}
				if i == 0 {
					body["streak_count"] = 4 // a hand-written base joins the check-ins
				}
				goalIDs = append(goalIDs, createGoal(t, app, user, body).ID)
			}
			type live struct{ goal, id int64 }
			var checkIns []live
			for step := range 90 {
				goal := goalIDs[rng.IntN(len(goalIDs))]
				switch {
				case len(checkIns) > 0 && rng.IntN(10) < 3:
					i := rng.IntN(len(checkIns))
					c := checkIns[i]
					checkIns = append(checkIns[:i], checkIns[i+1:]...)
					if r := app.Do("DELETE", fmt.Sprintf("/users/%s/goals/%d/check-ins/%d", user, c.goal, c.id), nil, admin); r.Status != 204 {
						t.Fatalf("step %d: delete: %d %s", step, r.Status, r.Body)
					}
					goal = c.goal
				case rng.IntN(20) == 0:
					body := map[string]any{"day_start_hour": rng.IntN(5), "timezone": propertyZones[rng.IntN(len(propertyZones))]}
					if r := app.Do("PUT", "/users/"+user+"/settings", body, admin); r.Status != 200 {
						t.Fatalf("step %d: settings: %d %s", step, r.Status, r.Body)
					}
				default:
					at := time.Now().Add(-time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
					body := map[string]any{"occurred_at": at.UTC().Format(time.RFC3339Nano), "timezone": propertyZones[rng.IntN(len(propertyZones))]}
					c := checkIn(t, app, user, goal, body, admin)
					checkIns = append(checkIns, live{goal, c.ID})
				}
				checkGoalState(t, app, goal)
				checkUserState(t, app, user)
			}
			for _, g := range goalIDs {
				checkGoalState(t, app, g)
			}
		})
	}
}

// TestConcurrentCheckIns: 20 check-ins on one goal at once (and 10 on
// another goal of the same user) all land, one version each, and leave the
// goal's and the user's state equal to a recomputation.
func TestConcurrentCheckIns(t *testing.T) {
	t.Parallel()
	app := newTrackerApp(t)
	admin := apptest.Bearer(apptest.AdminToken(t))
	g := createGoal(t, app, "busy", map[string]any{"title": "g", "status": "not-started"})
	g2 := createGoal(t, app, "busy", map[string]any{"title": "g2"})
	var wg sync.WaitGroup
	errs := make(chan string, 30)
	post := func(goal int64, daysAgo int) {
		defer wg.Done()
		body := map[string]any{"occurred_at": noonUTC(-daysAgo)}
		r := app.Do("POST", fmt.Sprintf("/users/busy/goals/%d/check-ins", goal), body, admin)
		if r.Status != 201 {
			errs <- fmt.Sprintf("goal %d, %d days ago: %d %s", goal, daysAgo, r.Status, r.Body)
		}
	}
	for i := range 20 {
		wg.Add(1)
		go post(g.ID, i)
	}
	for i := range 10 {
		wg.Add(1)
		go post(g2.ID, 25+i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	got, etag := getGoal(t, app, "busy", g.ID)
	if got.StreakCount != 20 || got.Longest != 20 || got.Status != "in-progress" || etag != `"21"` {
		t.Fatalf("after 20 concurrent check-ins: %+v ETag %s", got, etag)
	}
	checkGoalState(t, app, g.ID)
	checkGoalState(t, app, g2.ID)
	checkUserState(t, app, "busy")
	var n int
	if err := app.DB.QueryRow(t.Context(), "SELECT count(*) FROM activity_items WHERE auth_user_id = 'busy' AND type = 'goal.checked_in'").Scan(&n); err != nil || n != 30 {
		t.Fatalf("%d check-in activity items, want 30 (%v)", n, err)
	}
}

// TestConcurrentCheckInsOfManyUsers: check-ins of many users at once share
// commits (the write pipeline), yet each lands with its own state: every
// POST answers 201, each goal's and user's kept state equals a
// recomputation, and each check-in has its one activity item and event.
// Some take the Go path (an earlier date after a later one) beside them.
func TestConcurrentCheckInsOfManyUsers(t *testing.T) {
	t.Parallel()
	app := newTrackerApp(t)
	admin := apptest.Bearer(apptest.AdminToken(t))
	const users = 30
	type goalPair struct{ a, b int64 }
	goals := make([]goalPair, users)
	for u := range users {
		user := fmt.Sprintf("many%d", u)
		goals[u] = goalPair{createGoal(t, app, user, map[string]any{"title": "a"}).ID, createGoal(t, app, user, map[string]any{"title": "b"}).ID}
	}
	var wg sync.WaitGroup
	errs := make(chan string, users*6)
	post := func(user string, goal int64, daysAgo int) {
		defer wg.Done()
		r := app.Do("POST", fmt.Sprintf("/users/%s/goals/%d/check-ins", user, goal), map[string]any{"occurred_at": noonUTC(-daysAgo)}, admin)
		if r.Status != 201 {
			errs <- fmt.Sprintf("%s goal %d, %d days ago: %d %s", user, goal, daysAgo, r.Status, r.Body)
		}
	}
	for u := range users {
		user := fmt.Sprintf("many%d", u)
		for daysAgo := range 4 {
			wg.Add(1)
			go post(user, goals[u].a, daysAgo)
		}
		for daysAgo := range 2 {
			wg.Add(1)
			go post(user, goals[u].b, daysAgo)
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for u := range users {
		user := fmt.Sprintf("many%d", u)
		checkGoalState(t, app, goals[u].a)
		checkGoalState(t, app, goals[u].b)
		checkUserState(t, app, user)
		if got, _ := getGoal(t, app, user, goals[u].a); got.StreakCount != 4 {
			t.Fatalf("%s: goal a streak %d after 4 consecutive days", user, got.StreakCount)
		}
		var items, events int
		err := app.DB.QueryRow(t.Context(), `SELECT
    (SELECT count(*) FROM activity_items WHERE auth_user_id = $1 AND type = 'goal.checked_in'),
    (SELECT count(*) FROM outbox_events WHERE auth_user_id = $1 AND routing_key = 'goal.checked_in')`, user).Scan(&items, &events)
		if err != nil || items != 6 || events != 6 {
			t.Fatalf("%s: %d activity items and %d events, want 6 and 6 (%v)", user, items, events, err)
		}
	}
}

// TestTodayInSQLMatchesGo: reads apply liveness in SQL, writes compute dates
// in Go (streak.LocalDate); both must agree on every zone, hour and DST edge.
func TestTodayInSQLMatchesGo(t *testing.T) {
	t.Parallel()
	app := newTrackerApp(t)
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Pacific/Honolulu", "Pacific/Kiritimati", "Asia/Kolkata", "Australia/Lord_Howe"}
	start := time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)
	for _, name := range zones {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, month := range []int{0, 7} { // March and October: both DST changes
			for step := 0; step < 4*24*2; step++ {
				at := start.AddDate(0, month, 0).Add(time.Duration(step) * 30 * time.Minute)
				for dsh := 0; dsh <= 4; dsh += 2 {
					var got time.Time
					err := app.DB.QueryRow(t.Context(), `SELECT (($1::timestamptz AT TIME ZONE $2) - make_interval(hours => $3))::date`,
						at, name, dsh).Scan(&got)
					if err != nil {
						t.Fatal(err)
					}
					if want := streak.LocalDate(at, loc, dsh); !got.Equal(want) {
						t.Fatalf("%s in %s, day starting at %d: SQL %s, Go %s", at, name, dsh, got.Format(time.DateOnly), want.Format(time.DateOnly))
					}
				}
			}
		}
	}
}

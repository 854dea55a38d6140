package goals_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"usersvc/internal/testkit/apptest"
)

// TestIncrementalStateForwardWalk: the property of
// TestIncrementalStateEqualsRecomputation over check-ins that mostly move
// forward in time, as learners make them — the path that folds a check-in
// into the kept state without reading the history (same day, next day, a
// gap, the date line between Honolulu and Kiritimati) — with deletions and
// settings changes now and then sending it back to a full recomputation.
func TestIncrementalStateForwardWalk(t *testing.T) {
	t.Parallel()
	app := newTrackerApp(t)
	admin := apptest.Bearer(apptest.AdminToken(t))
	steps := []time.Duration{0, time.Hour, 3 * time.Hour, 9 * time.Hour, 22 * time.Hour, 26 * time.Hour, 50 * time.Hour, 75 * time.Hour}
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1010))
			user := fmt.Sprintf("walk%d", seed)
			var goalIDs []int64
			for i := range 3 {
				body := map[string]any{"title": fmt.Sprintf("g%d", i)}
				if i == 0 {
					body["streak_count"] = 3
				}
				goalIDs = append(goalIDs, createGoal(t, app, user, body).ID)
			}
			type live struct{ goal, id int64 }
			var made []live
			end := time.Now()
			at := end.Add(-40 * 24 * time.Hour)
			for step := 0; at.Before(end); step++ {
				goal := goalIDs[rng.IntN(len(goalIDs))]
				switch r := rng.IntN(40); {
				case r < 3 && len(made) > 0:
					i := rng.IntN(len(made))
					c := made[i]
					made = append(made[:i], made[i+1:]...)
					if r := app.Do("DELETE", fmt.Sprintf("/users/%s/goals/%d/check-ins/%d", user, c.goal, c.id), nil, admin); r.Status != 204 {
						t.Fatalf("step %d: delete: %d %s", step, r.Status, r.Body)
					}
					goal = c.goal
				case r == 3:
					body := map[string]any{"day_start_hour": rng.IntN(5), "timezone": propertyZones[rng.IntN(len(propertyZones))]}
					if r := app.Do("PUT", "/users/"+user+"/settings", body, admin); r.Status != 200 {
						t.Fatalf("step %d: settings: %d %s", step, r.Status, r.Body)
					}
				default:
					at = at.Add(steps[rng.IntN(len(steps))] + time.Duration(rng.IntN(3600))*time.Second)
					if at.After(end) {
						at = end
					}
					when := at
					if rng.IntN(6) == 0 { // now and then a little earlier than the latest: a new first of its day, or the day before
						when = at.Add(-time.Duration(rng.IntN(6*3600)) * time.Second)
					}
					body := map[string]any{"occurred_at": when.UTC().Format(time.RFC3339Nano), "minutes": 1 + rng.IntN(60)}
					if rng.IntN(3) > 0 { // else the user's own zone
						body["timezone"] = propertyZones[rng.IntN(len(propertyZones))]
					}
					c := checkIn(t, app, user, goal, body, admin)
					made = append(made, live{goal, c.ID})
					if g, _ := getGoal(t, app, user, goal); c.Streak != g.StreakCount || c.Longest != g.Longest {
						t.Fatalf("step %d: check-in shows streak %d/%d, the goal %d/%d", step, c.Streak, c.Longest, g.StreakCount, g.Longest)
					}
				}
				checkGoalState(t, app, goal)
				checkUserState(t, app, user)
			}
		})
	}
}

// TestCheckInEventIsTheResponse: the goal.checked_in event carries the
// check-in exactly as the POST answered it, whichever path recorded it
// (today's check-in folds in; yesterday's after it recomputes).
func TestCheckInEventIsTheResponse(t *testing.T) {
	t.Parallel()
	app := newTrackerApp(t)
	owner := apptest.Bearer(apptest.Token(t, "eve", nil))
	g := createGoal(t, app, "eve", map[string]any{"title": "g"})
	path := fmt.Sprintf("/users/eve/goals/%d/check-ins", g.ID)
	for _, body := range []map[string]any{
		{"minutes": 25, "note": "<b>\"quoted\" & \\ ünï\u2028\n\t</b>", "timezone": "Asia/Kolkata"},
		{"minutes": nil, "occurred_at": noonUTC(0)},
		{"occurred_at": noonUTC(-1), "note": "yesterday"},
	} {
		r := app.Do("POST", path, body, owner)
		if r.Status != 201 {
			t.Fatalf("check-in %v: %d %s", body, r.Status, r.Body)
		}
		var c checkInJSON
		r.JSON(t, &c)
		var data string
		if err := app.DB.QueryRow(t.Context(), `SELECT data::text FROM outbox_events
WHERE routing_key = 'goal.checked_in' AND (data::jsonb -> 'check_in' ->> 'id')::bigint = $1`, c.ID).Scan(&data); err != nil {
			t.Fatalf("check-in %d: %v", c.ID, err)
		}
		if want := `{"auth_user_id":"eve","check_in":` + string(r.Body) + `}`; data != want {
			t.Errorf("event data\n%s\nwant\n%s", data, want)
		}
	}
}

// TestCheckInScriptedRuns: sequences that reach each case of the fold and
// its way back to a recomputation; after each check-in the kept state
// equals a recomputation, and at the end the goal shows the streak.
func TestCheckInScriptedRuns(t *testing.T) {
	t.Parallel()
	app := newTrackerApp(t)
	admin := apptest.Bearer(apptest.AdminToken(t))
	// A UTC instant on the date offset days from today, at hh:mm.
	utc := func(offset, hh, mm int) string {
		return utcToday().AddDate(0, 0, offset).Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute).Format(time.RFC3339)
	}
	type step struct{ at, zone string }
	for _, tc := range []struct {
		name                  string
		base                  int
		steps                 []step
		wantStreak, wantLongs int64
	}{
		{name: "next day, same day, a gap, an earlier date", steps: []step{
			{noonUTC(-6), ""}, {noonUTC(-5), ""}, {utc(-5, 13, 0), ""}, {noonUTC(-2), ""}, {noonUTC(-1), ""}, {noonUTC(-4), ""},
		}, wantStreak: 2, wantLongs: 3},
		// Honolulu on day 0, Auckland (+12/+13) on day 2 is less than 24 h
		// further east: a new run. Then Kiritimati (+14), earlier on day 2,
		// becomes that day's first check-in and joins the two.
		{name: "an earlier first check-in joins across the date line", steps: []step{
			{utc(-9, 8, 0), "Pacific/Honolulu"}, {utc(-9, 11, 30), "Pacific/Auckland"}, {utc(-9, 10, 30), "Pacific/Kiritimati"},
			{utc(-8, 12, 0), "Pacific/Kiritimati"},
		}, wantStreak: 0, wantLongs: 3},
		{name: "the hand-written base, then today and tomorrow's check-ins", base: 3, steps: []step{
			{noonUTC(0), ""}, {noonUTC(0), ""},
		}, wantStreak: 3, wantLongs: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := "script" + fmt.Sprint(len(tc.name))
			g := createGoal(t, app, user, map[string]any{"title": "g", "streak_count": tc.base})
			for _, s := range tc.steps {
				body := map[string]any{"occurred_at": s.at}
				if s.zone != "" {
					body["timezone"] = s.zone
				}
				checkIn(t, app, user, g.ID, body, admin)
				checkGoalState(t, app, g.ID)
				checkUserState(t, app, user)
			}
			if got, _ := getGoal(t, app, user, g.ID); got.StreakCount != tc.wantStreak || got.Longest != tc.wantLongs {
				t.Fatalf("streak %d, longest %d; want %d, %d", got.StreakCount, got.Longest, tc.wantStreak, tc.wantLongs)
			}
		})
	}
}

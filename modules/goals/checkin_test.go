package goals_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"usersvc/internal/testkit/apptest"
	"usersvc/modules/activity"
	"usersvc/modules/authref"
	"usersvc/modules/goals"
	"usersvc/modules/profile"
)

type checkInJSON struct {
	ID         int64  `json:"id"`
	GoalID     int64  `json:"goal_id"`
	AuthUserID string `json:"auth_user_id"`
	OccurredAt string `json:"occurred_at"`
	LocalDate  string `json:"local_date"`
	Timezone   string `json:"timezone"`
	Minutes    *int64 `json:"minutes"`
	Note       string `json:"note"`
	Streak     int64  `json:"streak_count"`
	Longest    int64  `json:"longest_streak"`
	CreatedAt  string `json:"created_at"`
}

type trackedGoal struct {
	goalJSON
	Longest     int64   `json:"longest_streak"`
	LastCheckIn *string `json:"last_check_in_on"`
}

func newTrackerApp(t *testing.T) *apptest.App {
	t.Helper()
	return apptest.New(t, nil, authref.Module, goals.Module, profile.Module, activity.Module)
}

func utcToday() time.Time { return time.Now().UTC().Truncate(24 * time.Hour) }

func day(offset int) string { return utcToday().AddDate(0, 0, offset).Format(time.DateOnly) }

func checkIn(t *testing.T, app *apptest.App, user string, goalID int64, body any, opts ...apptest.Option) checkInJSON {
	t.Helper()
	if opts == nil {
		opts = []apptest.Option{apptest.Bearer(apptest.Token(t, user, nil))}
	}
	r := app.Do("POST", fmt.Sprintf("/users/%s/goals/%d/check-ins", user, goalID), body, opts...)
	if r.Status != http.StatusCreated {
		t.Fatalf("check-in: status %d body %s", r.Status, r.Body)
	}
	var c checkInJSON
	r.JSON(t, &c)
	if want := fmt.Sprintf("/users/%s/goals/%d/check-ins/%d", user, goalID, c.ID); r.Header.Get("Location") != want {
		t.Fatalf("Location %q, want %q", r.Header.Get("Location"), want)
	}
	return c
}

func getGoal(t *testing.T, app *apptest.App, user string, id int64) (trackedGoal, string) {
	t.Helper()
	r := app.Do("GET", fmt.Sprintf("/users/%s/goals/%d", user, id), nil)
	if r.Status != 200 {
		t.Fatalf("get goal: %d %s", r.Status, r.Body)
	}
	var g trackedGoal
	r.JSON(t, &g)
	return g, r.Header.Get("ETag")
}

// noonUTC is an instant on a UTC date offset days from today, safely in the past.
func noonUTC(offset int) string {
	at := utcToday().AddDate(0, 0, offset).Add(12 * time.Hour)
	if now := time.Now().UTC(); at.After(now) {
		at = now.Add(-time.Second)
	}
	return at.Format(time.RFC3339Nano)
}

func TestCheckInLifecycle(t *testing.T) {
	t.Parallel()
	app := newTrackerApp(t)
	owner := apptest.Bearer(apptest.Token(t, "ada", nil))
	admin := apptest.Bearer(apptest.AdminToken(t))
	g := createGoal(t, app, "ada", map[string]any{"title": "Learn Go", "status": "not-started"})
	_, etag0 := getGoal(t, app, "ada", g.ID)

	r := app.Do("POST", fmt.Sprintf("/users/ada/goals/%d/check-ins", g.ID), map[string]any{"minutes": 25, "note": " first "}, owner)
	if r.Status != 201 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	var fields map[string]any
	r.JSON(t, &fields)
	want := []string{"auth_user_id", "created_at", "goal_id", "id", "local_date", "longest_streak", "minutes", "note", "occurred_at", "streak_count", "timezone"}
	got := make([]string, 0, len(fields))
	for k := range fields {
		got = append(got, k)
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("check-in fields %v, want %v", got, want)
	}
	var c1 checkInJSON
	r.JSON(t, &c1)
	if c1.GoalID != g.ID || c1.AuthUserID != "ada" || c1.LocalDate != day(0) || c1.Timezone != "UTC" || c1.Minutes == nil ||
		*c1.Minutes != 25 || c1.Note != "first" || c1.Streak != 1 || c1.Longest != 1 ||
		!timeFormat.MatchString(c1.OccurredAt) || !timeFormat.MatchString(c1.CreatedAt) {
		t.Fatalf("check-in %s", r.Body)
	}
	g1, etag1 := getGoal(t, app, "ada", g.ID)
	if g1.Status != "in-progress" || g1.StreakCount != 1 || g1.Longest != 1 || g1.LastCheckIn == nil || *g1.LastCheckIn != day(0) ||
		etag1 == etag0 || g1.UpdatedAt == g.UpdatedAt {
		t.Fatalf("goal after a check-in: %+v etag %s (was %s)", g1, etag1, etag0)
	}

	// Several check-ins a day count once; yesterday extends the run.
	if c := checkIn(t, app, "ada", g.ID, map[string]any{"minutes": nil}); c.Streak != 1 || c.Minutes != nil {
		t.Fatalf("second check-in today: %+v", c)
	}
	yesterday := checkIn(t, app, "ada", g.ID, map[string]any{"occurred_at": noonUTC(-1)})
	if yesterday.Streak != 2 || yesterday.Longest != 2 || yesterday.LocalDate != day(-1) {
		t.Fatalf("yesterday's check-in: %+v", yesterday)
	}

	// An owner records today and yesterday only; an admin imports history.
	r = app.Do("POST", fmt.Sprintf("/users/ada/goals/%d/check-ins", g.ID), map[string]any{"occurred_at": noonUTC(-3)}, owner)
	if p := apptest.ExpectProblem(t, r, 422); !slices.Equal(p.Fields(), []string{"occurred_at"}) {
		t.Fatalf("old check-in by the owner: %s", r.Body)
	}
	old := checkIn(t, app, "ada", g.ID, map[string]any{"occurred_at": noonUTC(-10)}, admin)
	if old.Streak != 2 || old.Longest != 2 || old.LocalDate != day(-10) {
		t.Fatalf("imported check-in: %+v", old)
	}

	// The future: 5 minutes of skew, no more.
	soon := time.Now().Add(4 * time.Minute).UTC().Format(time.RFC3339)
	checkIn(t, app, "ada", g.ID, map[string]any{"occurred_at": soon})
	late := time.Now().Add(6 * time.Minute).UTC().Format(time.RFC3339)
	r = app.Do("POST", fmt.Sprintf("/users/ada/goals/%d/check-ins", g.ID), map[string]any{"occurred_at": late}, admin)
	if p := apptest.ExpectProblem(t, r, 422); !slices.Equal(p.Fields(), []string{"occurred_at"}) {
		t.Fatalf("future check-in: %s", r.Body)
	}

	// The list: newest first, paginated, its cursor bound to the goal.
	r = app.Do("GET", fmt.Sprintf("/users/ada/goals/%d/check-ins?limit=2", g.ID), nil)
	var page1 []checkInJSON
	r.JSON(t, &page1)
	if r.Status != 200 || len(page1) != 2 || page1[0].OccurredAt < page1[1].OccurredAt || !strings.Contains(r.Header.Get("Link"), `rel="next"`) {
		t.Fatalf("first page: %d %s Link %q", r.Status, r.Body, r.Header.Get("Link"))
	}
	all := walk(t, app, fmt.Sprintf("/users/ada/goals/%d/check-ins?limit=2", g.ID))
	if len(all) != 5 || all[len(all)-1].ID != old.ID {
		t.Fatalf("walked %d check-ins, the oldest last: %+v", len(all), all)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].OccurredAt < all[i].OccurredAt || (all[i-1].OccurredAt == all[i].OccurredAt && all[i-1].ID < all[i].ID) {
			t.Fatalf("not newest first: %+v", all)
		}
	}
	other := createGoal(t, app, "ada", map[string]any{"title": "other"})
	link := r.Header.Get("Link")
	cursor := link[strings.Index(link, "cursor=")+7 : strings.Index(link, ">")]
	if amp := strings.Index(cursor, "&"); amp >= 0 {
		cursor = cursor[:amp]
	}
	r = app.Do("GET", fmt.Sprintf("/users/ada/goals/%d/check-ins?cursor=%s", other.ID, cursor), nil)
	apptest.ExpectProblem(t, r, 400)
	if r = app.Do("GET", fmt.Sprintf("/users/ada/goals/%d/check-ins", other.ID), nil); r.Status != 200 || string(r.Body) != "[]" {
		t.Fatalf("a goal without check-ins: %d %s", r.Status, r.Body)
	}

	// Writing the streak by hand is refused once the goal has check-ins;
	// If-Match still answers first.
	r = app.Do("PUT", fmt.Sprintf("/users/ada/goals/%d", g.ID), map[string]any{"streak_count": 9}, owner)
	if p := apptest.ExpectProblem(t, r, 422); !slices.Equal(p.Fields(), []string{"streak_count"}) {
		t.Fatalf("hand-written streak with check-ins: %s", r.Body)
	}
	r = app.Do("PUT", fmt.Sprintf("/users/ada/goals/%d", g.ID), map[string]any{"streak_count": 9}, owner, apptest.Header("If-Match", `"1"`))
	apptest.ExpectProblem(t, r, 412)
	for _, field := range []string{"longest_streak", "last_check_in_on"} {
		r = app.Do("PUT", fmt.Sprintf("/users/ada/goals/%d", g.ID), map[string]any{field: 1}, owner)
		if p := apptest.ExpectProblem(t, r, 422); !slices.Equal(p.Fields(), []string{field}) {
			t.Fatalf("read-only %s: %s", field, r.Body)
		}
	}

	// Deleting yesterday's check-in splits the run and changes the ETag.
	_, etagBefore := getGoal(t, app, "ada", g.ID)
	path := fmt.Sprintf("/users/ada/goals/%d/check-ins/%d", g.ID, yesterday.ID)
	if r = app.Do("DELETE", path, nil, owner, apptest.Header("If-Match", `"999"`)); r.Status != 204 {
		t.Fatalf("delete (If-Match ignored): %d %s", r.Status, r.Body)
	}
	g2, etagAfter := getGoal(t, app, "ada", g.ID)
	if g2.StreakCount != 1 || g2.Longest != 1 || etagAfter == etagBefore {
		t.Fatalf("after deleting yesterday: %+v etag %s → %s", g2, etagBefore, etagAfter)
	}
	apptest.ExpectProblem(t, app.Do("DELETE", path, nil, owner), 404)
	apptest.ExpectProblem(t, app.Do("DELETE", fmt.Sprintf("/users/ada/goals/%d/check-ins/%d", other.ID, old.ID), nil, owner), 404)

	// A completed or abandoned goal takes no check-in.
	for _, status := range []string{"completed", "abandoned"} {
		if r = app.Do("PUT", fmt.Sprintf("/users/ada/goals/%d", g.ID), map[string]any{"status": status}, owner); r.Status != 200 {
			t.Fatalf("PUT status: %d %s", r.Status, r.Body)
		}
		r = app.Do("POST", fmt.Sprintf("/users/ada/goals/%d/check-ins", g.ID), map[string]any{}, owner)
		apptest.ExpectProblem(t, r, 409)
		// A broken field answers before the conflict.
		r = app.Do("POST", fmt.Sprintf("/users/ada/goals/%d/check-ins", g.ID), map[string]any{"minutes": 0}, owner)
		apptest.ExpectProblem(t, r, 422)
	}

	// Deleting the goal takes its check-ins.
	if r = app.Do("DELETE", fmt.Sprintf("/users/ada/goals/%d", g.ID), nil, owner); r.Status != 204 {
		t.Fatalf("delete goal: %d", r.Status)
	}
	var left int
	if err := app.DB.QueryRow(t.Context(), "SELECT count(*) FROM check_ins WHERE goal_id = $1", g.ID).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d check-ins outlived their goal (%v)", left, err)
	}
}

func walk(t *testing.T, app *apptest.App, path string) []checkInJSON {
	t.Helper()
	var all []checkInJSON
	for path != "" {
		r := app.Do("GET", path, nil)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
		var page []checkInJSON
		r.JSON(t, &page)
		all = append(all, page...)
		path = ""
		if link := r.Header.Get("Link"); link != "" {
			path = link[1:strings.Index(link, ">")]
		}
	}
	return all
}

func TestCheckInErrors(t *testing.T) {
	t.Parallel()
	app := newTrackerApp(t)
	owner := apptest.Bearer(apptest.Token(t, "u1", nil))
	other := apptest.Bearer(apptest.Token(t, "u2", nil))
	admin := apptest.Bearer(apptest.AdminToken(t))
	g := createGoal(t, app, "u1", map[string]any{"title": "g"})
	createGoal(t, app, "u2", map[string]any{"title": "theirs"})
	c := checkIn(t, app, "u1", g.ID, map[string]any{})
	list := fmt.Sprintf("/users/u1/goals/%d/check-ins", g.ID)
	item := fmt.Sprintf("%s/%d", list, c.ID)
	cases := []struct {
		name, method, path string
		body               any
		opts               []apptest.Option
		status             int
		fields             []string
	}{
		{"anonymous", "POST", list, map[string]any{}, nil, 401, nil},
		{"other user", "POST", list, map[string]any{}, []apptest.Option{other}, 403, nil},
		{"other user deletes", "DELETE", item, nil, []apptest.Option{other}, 403, nil},
		{"malformed goal id", "POST", "/users/u1/goals/x/check-ins", map[string]any{}, []apptest.Option{owner}, 400, nil},
		{"malformed check-in id", "DELETE", list + "/0", nil, []apptest.Option{owner}, 400, nil},
		{"malformed user id", "GET", "/users/-u/goals/1/check-ins", nil, nil, 400, nil},
		{"text body", "POST", list, nil, []apptest.Option{owner, apptest.Header("Content-Type", "text/plain")}, 415, nil},
		{"empty body", "POST", list, "", []apptest.Option{owner}, 400, nil},
		{"array body", "POST", list, "[]", []apptest.Option{owner}, 400, nil},
		{"unknown goal", "POST", "/users/u1/goals/999999/check-ins", map[string]any{}, []apptest.Option{owner}, 404, nil},
		{"unknown goal before 422", "POST", "/users/u1/goals/999999/check-ins", map[string]any{"minutes": 0}, []apptest.Option{owner}, 404, nil},
		{"another user's goal", "POST", fmt.Sprintf("/users/u2/goals/%d/check-ins", g.ID), map[string]any{}, []apptest.Option{admin}, 404, nil},
		{"unknown user", "POST", "/users/ghost/goals/1/check-ins", map[string]any{}, []apptest.Option{admin}, 404, nil},
		{"unknown user list", "GET", "/users/ghost/goals/1/check-ins", nil, nil, 404, nil},
		{"unknown goal list", "GET", "/users/u1/goals/999999/check-ins", nil, nil, 404, nil},
		{"another user's goal list", "GET", fmt.Sprintf("/users/u2/goals/%d/check-ins", g.ID), nil, nil, 404, nil},
		{"bad limit", "GET", list + "?limit=0", nil, nil, 400, nil},
		{"bad cursor", "GET", list + "?cursor=abc", nil, nil, 400, nil},
		{"unknown check-in", "DELETE", list + "/999999", nil, []apptest.Option{owner}, 404, nil},
		{"minutes 0", "POST", list, map[string]any{"minutes": 0}, []apptest.Option{owner}, 422, []string{"minutes"}},
		{"minutes 1441", "POST", list, map[string]any{"minutes": 1441}, []apptest.Option{owner}, 422, []string{"minutes"}},
		{"minutes text", "POST", list, map[string]any{"minutes": "5"}, []apptest.Option{owner}, 422, []string{"minutes"}},
		{"minutes fraction", "POST", list, `{"minutes": 1.5}`, []apptest.Option{owner}, 422, []string{"minutes"}},
		{"note too long", "POST", list, map[string]any{"note": strings.Repeat("é", 501)}, []apptest.Option{owner}, 422, []string{"note"}},
		{"note with NUL", "POST", list, map[string]any{"note": "a\u0000b"}, []apptest.Option{owner}, 422, []string{"note"}},
		{"null note", "POST", list, map[string]any{"note": nil}, []apptest.Option{owner}, 422, []string{"note"}},
		{"null occurred_at", "POST", list, map[string]any{"occurred_at": nil}, []apptest.Option{owner}, 422, []string{"occurred_at"}},
		{"bad occurred_at", "POST", list, map[string]any{"occurred_at": "yesterday"}, []apptest.Option{owner}, 422, []string{"occurred_at"}},
		{"null timezone", "POST", list, map[string]any{"timezone": nil}, []apptest.Option{owner}, 422, []string{"timezone"}},
		{"Local", "POST", list, map[string]any{"timezone": "Local"}, []apptest.Option{owner}, 422, []string{"timezone"}},
		{"offset zone", "POST", list, map[string]any{"timezone": "+02:00"}, []apptest.Option{owner}, 422, []string{"timezone"}},
		{"empty zone", "POST", list, map[string]any{"timezone": ""}, []apptest.Option{owner}, 422, []string{"timezone"}},
		{"lower-case zone", "POST", list, map[string]any{"timezone": "europe/berlin"}, []apptest.Option{owner}, 422, []string{"timezone"}},
		{"unknown zone", "POST", list, map[string]any{"timezone": "Mars/Olympus"}, []apptest.Option{owner}, 422, []string{"timezone"}},
		{"unknown field", "POST", list, map[string]any{"mood": "good"}, []apptest.Option{owner}, 422, []string{"mood"}},
		{"read-only fields", "POST", list, map[string]any{"local_date": "2026-01-01", "streak_count": 3}, []apptest.Option{owner}, 422, []string{"local_date", "streak_count"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := app.Do(tc.method, tc.path, tc.body, tc.opts...)
			p := apptest.ExpectProblem(t, r, tc.status)
			if tc.fields != nil && !slices.Equal(p.Fields(), tc.fields) {
				t.Fatalf("fields %v, want %v: %s", p.Fields(), tc.fields, r.Body)
			}
		})
	}
	// An admin deletes anyone's check-in.
	if r := app.Do("DELETE", item, nil, admin); r.Status != 204 {
		t.Fatalf("admin delete: %d %s", r.Status, r.Body)
	}
}

// TestCheckInZones: the body's zone wins over the settings and is kept;
// the settings' day_start_hour applies; local dates never change later.
func TestCheckInZones(t *testing.T) {
	t.Parallel()
	app := newTrackerApp(t)
	owner := apptest.Bearer(apptest.Token(t, "zed", nil))
	admin := apptest.Bearer(apptest.AdminToken(t))
	g := createGoal(t, app, "zed", map[string]any{"title": "g"})
	if r := app.Do("PUT", "/users/zed/settings", map[string]any{"timezone": "Pacific/Kiritimati", "day_start_hour": 4}, owner); r.Status != 200 {
		t.Fatalf("settings: %d %s", r.Status, r.Body)
	}
	cases := []struct {
		at, zone, want, wantZone string
	}{
		{"2026-06-01T10:00:00Z", "", "2026-06-01", "Pacific/Kiritimati"},               // 00:00 local, before 04:00: the day before
		{"2026-06-01T14:30:00Z", "", "2026-06-02", "Pacific/Kiritimati"},               // 04:30 local
		{"2026-06-01T06:00:00Z", "Pacific/Honolulu", "2026-05-31", "Pacific/Honolulu"}, // 20:00 on the 31st
		{"2026-06-01T01:30:00Z", "Europe/Berlin", "2026-05-31", "Europe/Berlin"},       // 03:30 CEST, before 04:00
		{"2026-06-01T02:30:00Z", "America/New_York", "2026-05-31", "America/New_York"}, // 22:30 EDT
	}
	for _, tc := range cases {
		body := map[string]any{"occurred_at": tc.at}
		if tc.zone != "" {
			body["timezone"] = tc.zone
		}
		c := checkIn(t, app, "zed", g.ID, body, admin)
		if c.LocalDate != tc.want || c.Timezone != tc.wantZone {
			t.Errorf("%s in %q: local_date %s zone %s, want %s %s", tc.at, tc.zone, c.LocalDate, c.Timezone, tc.want, tc.wantZone)
		}
	}
	// A later change of settings leaves recorded dates alone.
	app.Do("PUT", "/users/zed/settings", map[string]any{"timezone": "UTC", "day_start_hour": 0}, owner)
	for _, c := range walk(t, app, fmt.Sprintf("/users/zed/goals/%d/check-ins", g.ID)) {
		if c.OccurredAt == "2026-06-01T10:00:00.000000Z" && c.LocalDate != "2026-06-01" {
			t.Errorf("a settings change moved a check-in: %+v", c)
		}
	}
}

// TestHandWrittenStreak: the base of N days ending on the day it was written,
// continued by check-ins, and gone once a whole day passed without one.
func TestHandWrittenStreak(t *testing.T) {
	t.Parallel()
	app := newTrackerApp(t)
	owner := apptest.Bearer(apptest.Token(t, "hw", nil))
	g := createGoal(t, app, "hw", map[string]any{"title": "g", "streak_count": 5})
	if got, _ := getGoal(t, app, "hw", g.ID); got.StreakCount != 5 || got.Longest != 5 || got.LastCheckIn != nil {
		t.Fatalf("a hand-written streak: %+v", got)
	}
	// Written yesterday: a check-in today continues it.
	app.Exec("UPDATE learning_goals SET streak_set_on = $2::date WHERE id = $1", g.ID, day(-1))
	if c := checkIn(t, app, "hw", g.ID, map[string]any{}); c.Streak != 6 || c.Longest != 6 {
		t.Fatalf("a check-in after a base written yesterday: %+v", c)
	}
	// Written two days ago, without check-ins: the streak is over, its record stays.
	g2 := createGoal(t, app, "hw", map[string]any{"title": "g2"})
	if r := app.Do("PUT", fmt.Sprintf("/users/hw/goals/%d", g2.ID), map[string]any{"streak_count": 7}, owner); r.Status != 200 {
		t.Fatalf("PUT streak: %d %s", r.Status, r.Body)
	}
	app.Exec("UPDATE learning_goals SET streak_set_on = $2::date WHERE id = $1", g2.ID, day(-2))
	if got, _ := getGoal(t, app, "hw", g2.ID); got.StreakCount != 0 || got.Longest != 7 {
		t.Fatalf("a stale hand-written streak: %+v", got)
	}
	// Writing a lower value lowers the longest too (only the last write counts).
	app.Do("PUT", fmt.Sprintf("/users/hw/goals/%d", g2.ID), map[string]any{"streak_count": 2}, owner)
	if got, _ := getGoal(t, app, "hw", g2.ID); got.StreakCount != 2 || got.Longest != 2 {
		t.Fatalf("a lower hand-written streak: %+v", got)
	}
	// The profile's own streak counts check-ins only; best_streak the goals' streaks.
	r := app.Do("GET", "/users/hw", nil)
	var p struct {
		Stats map[string]int64 `json:"stats"`
	}
	r.JSON(t, &p)
	if p.Stats["current_streak"] != 1 || p.Stats["longest_streak"] != 1 || p.Stats["best_streak"] != 6 {
		t.Fatalf("profile stats: %s", r.Body)
	}
}

// TestDeleteTakesTheStreakRowBeforeTheEventLock: a check-in locks the user's
// streak row, then the user's event lock; deleting a goal with check-ins
// must take them in that order too, or it deadlocks with a check-in on
// another of the user's goals. The streak row is held here, the delete made
// to wait on it, and the event lock must still be free.
func TestDeleteTakesTheStreakRowBeforeTheEventLock(t *testing.T) {
	app := newTrackerApp(t)
	ctx := context.Background()
	g := createGoal(t, app, "orderly", map[string]any{"title": "g"})
	checkIn(t, app, "orderly", g.ID, map[string]any{})

	tx, err := app.DB.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT 1 FROM user_streaks WHERE auth_user_id = 'orderly' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		r := app.Do("DELETE", fmt.Sprintf("/users/orderly/goals/%d", g.ID), nil, apptest.Bearer(apptest.Token(t, "orderly", nil)))
		done <- r.Status
	}()
	deadline := time.Now().Add(10 * time.Second)
	for waiting := false; !waiting; {
		if time.Now().After(deadline) {
			t.Fatal("the delete never waited for the streak row")
		}
		select {
		case s := <-done:
			t.Fatalf("the delete ended (%d) while the streak row was held", s)
		default:
		}
		if err := app.DB.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%user_streaks%')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	var held bool
	// The users' event locks: advisory, first key 1869574002 (modules/outbox).
	if err := app.DB.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
WHERE locktype = 'advisory' AND classid = 1869574002 AND granted)`).Scan(&held); err != nil {
		t.Fatal(err)
	}
	if held {
		t.Error("the delete holds the user's event lock while it waits for the streak row")
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if s := <-done; s != http.StatusNoContent {
		t.Fatalf("delete: %d", s)
	}
}

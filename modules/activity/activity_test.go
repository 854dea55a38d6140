package activity_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"usersvc/internal/testkit/apptest"
	"usersvc/modules/activity"
	"usersvc/modules/authref"
	"usersvc/modules/badges"
	"usersvc/modules/goals"
	"usersvc/modules/profile"
)

type item struct {
	ID         int64  `json:"id"`
	Type       string `json:"type"`
	OccurredAt string `json:"occurred_at"`
	GoalID     *int64 `json:"goal_id"`
	BadgeID    *int64 `json:"badge_id"`
	Title      string `json:"title"`
	Streak     *int64 `json:"streak_count"`
}

type calendar struct {
	Timezone string `json:"timezone"`
	From     string `json:"from"`
	To       string `json:"to"`
	Days     []struct {
		Date     string `json:"date"`
		CheckIns int64  `json:"check_ins"`
		Minutes  int64  `json:"minutes"`
		Level    int    `json:"level"`
	} `json:"days"`
}

func newApp(t *testing.T) *apptest.App {
	t.Helper()
	return apptest.New(t, nil, authref.Module, profile.Module, badges.Module, goals.Module, activity.Module)
}

func today() time.Time { return time.Now().UTC().Truncate(24 * time.Hour) }

func mustDo(t *testing.T, app *apptest.App, status int, method, path string, body any, opts ...apptest.Option) apptest.Response {
	t.Helper()
	r := app.Do(method, path, body, opts...)
	if r.Status != status {
		t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, status)
	}
	return r
}

func walkFeed(t *testing.T, app *apptest.App, path string) []item {
	t.Helper()
	var all []item
	for path != "" {
		r := mustDo(t, app, 200, "GET", path, nil)
		var page []item
		r.JSON(t, &page)
		all = append(all, page...)
		path = ""
		if link := r.Header.Get("Link"); link != "" {
			path = link[1:strings.Index(link, ">")]
		}
	}
	return all
}

// script is a month of a learner: two goals, a badge, check-ins on most
// days (several on some), one goal completed twice. It returns how many
// check-ins each date got and their minutes.
func script(t *testing.T, app *apptest.App) (goalA, goalB int64, perDay map[string][2]int64) {
	t.Helper()
	owner := apptest.Bearer(apptest.Token(t, "ana", nil))
	admin := apptest.Bearer(apptest.AdminToken(t))
	var g struct{ ID int64 }
	mustDo(t, app, 201, "POST", "/users/ana/goals", map[string]any{"title": "Learn Go"}, owner).JSON(t, &g)
	goalA = g.ID
	mustDo(t, app, 201, "POST", "/users/ana/goals", map[string]any{"title": "Read SICP"}, owner).JSON(t, &g)
	goalB = g.ID
	mustDo(t, app, 201, "POST", "/users/ana/badges", map[string]any{"name": "First Steps"}, owner)
	perDay = map[string][2]int64{}
	for i := 29; i >= 0; i-- {
		if i%7 == 3 {
			continue // a day off each week
		}
		n := 1 + i%3
		for k := range n {
			goal := goalA
			if k == 1 {
				goal = goalB
			}
			at := today().AddDate(0, 0, -i).Add(time.Duration(8+k) * time.Hour)
			if now := time.Now(); at.After(now) {
				at = now.Add(-time.Duration(n-k) * time.Second)
			}
			mustDo(t, app, 201, "POST", fmt.Sprintf("/users/ana/goals/%d/check-ins", goal),
				map[string]any{"occurred_at": at.UTC().Format(time.RFC3339Nano), "minutes": 10 * (k + 1)}, admin)
			date := at.UTC().Format(time.DateOnly)
			perDay[date] = [2]int64{perDay[date][0] + 1, perDay[date][1] + int64(10*(k+1))}
		}
	}
	path := fmt.Sprintf("/users/ana/goals/%d", goalB)
	mustDo(t, app, 200, "PUT", path, map[string]any{"status": "completed"}, owner)
	mustDo(t, app, 200, "PUT", path, map[string]any{"title": "Read SICP again"}, owner) // still completed: no new item
	mustDo(t, app, 200, "PUT", path, map[string]any{"status": "in-progress"}, owner)
	mustDo(t, app, 200, "PUT", path, map[string]any{"status": "completed"}, owner)
	return goalA, goalB, perDay
}

func TestFeedAfterAScriptedMonth(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	goalA, goalB, perDay := script(t, app)
	checkIns := 0
	for _, c := range perDay {
		checkIns += int(c[0])
	}

	all := walkFeed(t, app, "/users/ana/activity?limit=7")
	count := map[string]int{}
	seen := map[int64]bool{}
	for i, it := range all {
		count[it.Type]++
		if seen[it.ID] {
			t.Fatalf("item %d twice", it.ID)
		}
		seen[it.ID] = true
		if i > 0 && (all[i-1].OccurredAt < it.OccurredAt || (all[i-1].OccurredAt == it.OccurredAt && all[i-1].ID < it.ID)) {
			t.Fatalf("not newest first at %d: %+v then %+v", i, all[i-1], it)
		}
		switch it.Type {
		case "goal.checked_in":
			if it.Streak == nil || *it.Streak < 0 || it.GoalID == nil || it.BadgeID != nil {
				t.Fatalf("check-in item %+v", it)
			}
		case "badge.awarded":
			if it.Title != "First Steps" || it.BadgeID == nil || it.GoalID != nil || it.Streak != nil {
				t.Fatalf("badge item %+v", it)
			}
		default:
			if it.GoalID == nil || it.BadgeID != nil || it.Streak != nil {
				t.Fatalf("goal item %+v", it)
			}
		}
	}
	want := map[string]int{"goal.created": 2, "goal.completed": 2, "badge.awarded": 1, "goal.checked_in": checkIns}
	if fmt.Sprint(count) != fmt.Sprint(want) {
		t.Fatalf("feed counts %v, want %v", count, want)
	}
	var completions []string
	for _, it := range all {
		if it.Type == "goal.completed" {
			completions = append(completions, it.Title)
		}
	}
	if !slices.Equal(completions, []string{"Read SICP again", "Read SICP"}) {
		t.Errorf("completions titled %q, want the goal's name when each was recorded", completions)
	}
	// The newest check-in item carries the streak right after it (days 0..2 are active: 3).
	checked := walkFeed(t, app, "/users/ana/activity?type=goal.checked_in&limit=100")
	if len(checked) != checkIns || *checked[0].Streak != 3 {
		t.Fatalf("filtered feed: %d items, newest %+v", len(checked), checked[0])
	}

	// Filters and errors.
	for _, q := range []string{"?type=", "?type=goal.unknown", "?type=Goal.Created", "?type=goal.created&type=badge.awarded", "?limit=0", "?cursor=x"} {
		apptest.ExpectProblem(t, app.Do("GET", "/users/ana/activity"+q, nil), 400)
	}
	apptest.ExpectProblem(t, app.Do("GET", "/users/ghost/activity", nil), 404)
	apptest.ExpectProblem(t, app.Do("GET", "/users/-x/activity", nil), 400)
	r := mustDo(t, app, 200, "GET", "/users/ana/activity?type=goal.checked_in&limit=1", nil)
	link := r.Header.Get("Link")
	if !strings.Contains(link, "type=goal.checked_in") {
		t.Fatalf("the next link drops the filter: %q", link)
	}
	crossed := strings.Replace(link[1:strings.Index(link, ">")], "type=goal.checked_in", "type=goal.created", 1)
	apptest.ExpectProblem(t, app.Do("GET", crossed, nil), 400)
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('quiet')`)
	if r := mustDo(t, app, 200, "GET", "/users/quiet/activity", nil); string(r.Body) != "[]" {
		t.Fatalf("an empty feed: %s", r.Body)
	}

	// Deleting a check-in removes its item; deleting a goal removes all of its items.
	owner := apptest.Bearer(apptest.Token(t, "ana", nil))
	var newest item
	for _, it := range checked {
		if *it.GoalID == goalA {
			newest = it
			break
		}
	}
	var checkInID int64
	if err := app.DB.QueryRow(t.Context(), "SELECT check_in_id FROM activity_items WHERE id = $1", newest.ID).Scan(&checkInID); err != nil {
		t.Fatal(err)
	}
	mustDo(t, app, 204, "DELETE", fmt.Sprintf("/users/ana/goals/%d/check-ins/%d", goalA, checkInID), nil, owner)
	mustDo(t, app, 204, "DELETE", fmt.Sprintf("/users/ana/goals/%d", goalB), nil, owner)
	for _, it := range walkFeed(t, app, "/users/ana/activity?limit=100") {
		if it.ID == newest.ID || (it.GoalID != nil && *it.GoalID == goalB) {
			t.Fatalf("item %+v outlived what it recorded", it)
		}
	}
	// A deleted user's feed goes with the user.
	app.Exec(`DELETE FROM auth_users WHERE auth_user_id = 'ana'`)
	var left int
	if err := app.DB.QueryRow(t.Context(), "SELECT count(*) FROM activity_items WHERE auth_user_id = 'ana'").Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d items outlived the user (%v)", left, err)
	}
}

func TestCalendarAfterAScriptedMonth(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	_, _, perDay := script(t, app)
	var most int64
	for _, c := range perDay {
		most = max(most, c[0])
	}

	var cal calendar
	mustDo(t, app, 200, "GET", "/users/ana/activity/calendar", nil).JSON(t, &cal)
	if cal.Timezone != "UTC" || cal.To != today().Format(time.DateOnly) || cal.From != today().AddDate(0, 0, -364).Format(time.DateOnly) || len(cal.Days) != 365 {
		t.Fatalf("default range: %s %s–%s, %d days", cal.Timezone, cal.From, cal.To, len(cal.Days))
	}
	for i, d := range cal.Days {
		if want := today().AddDate(0, 0, i-364).Format(time.DateOnly); d.Date != want {
			t.Fatalf("day %d is %s, want %s", i, d.Date, want)
		}
		c := perDay[d.Date]
		wantLevel := 0
		if c[0] > 0 {
			wantLevel = int((4*c[0] + most - 1) / most)
		}
		if d.CheckIns != c[0] || d.Minutes != c[1] || d.Level != wantLevel {
			t.Fatalf("%s: %+v, want %d check-ins, %d minutes, level %d", d.Date, d, c[0], c[1], wantLevel)
		}
	}

	// The range rules.
	from, to := today().AddDate(0, 0, -10).Format(time.DateOnly), today().AddDate(0, 0, 5).Format(time.DateOnly)
	mustDo(t, app, 200, "GET", "/users/ana/activity/calendar?from="+from+"&to="+to, nil).JSON(t, &cal)
	if cal.From != from || cal.To != to || len(cal.Days) != 16 || cal.Days[15].CheckIns != 0 {
		t.Fatalf("from and to: %s–%s %d days", cal.From, cal.To, len(cal.Days))
	}
	mustDo(t, app, 200, "GET", "/users/ana/activity/calendar?from="+from, nil).JSON(t, &cal)
	if cal.To != today().Format(time.DateOnly) || len(cal.Days) != 11 {
		t.Fatalf("from alone: %s–%s", cal.From, cal.To)
	}
	mustDo(t, app, 200, "GET", "/users/ana/activity/calendar?to=2024-12-31", nil).JSON(t, &cal)
	if cal.From != "2024-01-02" || len(cal.Days) != 365 {
		t.Fatalf("to alone: %s–%s", cal.From, cal.To)
	}
	mustDo(t, app, 200, "GET", "/users/ana/activity/calendar?from=2024-01-01&to=2024-12-31", nil).JSON(t, &cal) // 366 days
	for _, q := range []string{"?from=2024-01-01&to=2025-01-01", "?from=2025-01-02&to=2025-01-01", "?from=", "?to=",
		"?from=2025-13-01", "?from=2025-02-30", "?from=25-01-01", "?from=2025-1-1", "?to=2025-01-01T00:00:00Z",
		"?from=2025-01-01&from=2025-01-02", "?from=" + today().AddDate(0, 0, 1).Format(time.DateOnly)} {
		apptest.ExpectProblem(t, app.Do("GET", "/users/ana/activity/calendar"+q, nil), 400)
	}
	apptest.ExpectProblem(t, app.Do("GET", "/users/ghost/activity/calendar", nil), 404)
	apptest.ExpectProblem(t, app.Do("GET", "/users/ghost/activity/calendar?from=x", nil), 400)

	// The user's zone names the calendar and decides "today".
	owner := apptest.Bearer(apptest.Token(t, "ana", nil))
	mustDo(t, app, 200, "PUT", "/users/ana/settings", map[string]any{"timezone": "Pacific/Kiritimati"}, owner)
	mustDo(t, app, 200, "GET", "/users/ana/activity/calendar", nil).JSON(t, &cal)
	kiritimatiToday := time.Now().In(mustZone(t, "Pacific/Kiritimati")).Format(time.DateOnly)
	if cal.Timezone != "Pacific/Kiritimati" || cal.To != kiritimatiToday {
		t.Fatalf("in Kiritimati: %s %s, want today %s", cal.Timezone, cal.To, kiritimatiToday)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

var dayTitle = regexp.MustCompile(`^\d{4}-\d\d-\d\d: `)

func TestCalendarSVG(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	_, _, perDay := script(t, app)
	r := mustDo(t, app, 200, "GET", "/users/ana/activity/calendar.svg", nil)
	if ct := r.Header.Get("Content-Type"); ct != "image/svg+xml" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Fatalf("Cache-Control %q", cc)
	}
	etag := r.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) {
		t.Fatalf("ETag %q", etag)
	}
	// Well-formed XML; a <title> on every day, beginning with its ISO date.
	dec := xml.NewDecoder(bytes.NewReader(r.Body))
	var titles []string
	var inTitle bool
	rects := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			inTitle = el.Name.Local == "title"
			if el.Name.Local == "rect" && slices.ContainsFunc(el.Attr, func(a xml.Attr) bool { return a.Name.Local == "data-date" }) {
				rects++
			}
		case xml.CharData:
			if inTitle {
				titles = append(titles, string(el))
			}
		case xml.EndElement:
			inTitle = false
		}
	}
	if rects != 365 || len(titles) != 366 {
		t.Fatalf("%d day cells and %d titles, want 365 and 366", rects, len(titles))
	}
	for _, title := range titles[1:] {
		if !dayTitle.MatchString(title) {
			t.Fatalf("day title %q does not begin with its ISO date", title)
		}
	}
	busiest := ""
	for date, c := range perDay {
		if c[0] == 3 {
			busiest = date
		}
	}
	if !strings.Contains(string(r.Body), busiest+": 3 check-ins, 60 minutes") {
		t.Errorf("no title for %s with 3 check-ins", busiest)
	}
	for _, label := range []string{">Mon<", ">Wed<", ">Fri<", ">Less<", ">More<", "prefers-color-scheme:dark"} {
		if !strings.Contains(string(r.Body), label) {
			t.Errorf("the heat map lacks %q", label)
		}
	}
	// Conditional requests, and the same 400s as the JSON.
	if r := app.Do("GET", "/users/ana/activity/calendar.svg", nil, apptest.Header("If-None-Match", etag)); r.Status != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", r.Status)
	}
	apptest.ExpectProblem(t, app.Do("GET", "/users/ana/activity/calendar.svg?from=2025-01-02&to=2025-01-01", nil), 400)
	apptest.ExpectProblem(t, app.Do("GET", "/users/ghost/activity/calendar.svg", nil), 404)
}

package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"usersvc/internal/testkit/pgtest"
	"usersvc/migrations"
)

type legacyBadge struct {
	id, userID        int64
	name              string
	description, icon *string
	date              *time.Time
}

type badge struct {
	id                      int64
	user, name, description string
	icon                    *string
	date, created           time.Time
}

type legacyGoal struct {
	id, userID          int64
	title               string
	description, status *string
	streak              *int32
}

type goal struct {
	id                       int64
	user, title, description string
	status                   string
	streak                   int32
	created, updated         time.Time
	completed                *time.Time
	version                  int64
}

func collect[T any](t *testing.T, conn *pgx.Conn, sql string, scan func(pgx.Row, *T) error) map[int64]T {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out := map[int64]T{}
	for rows.Next() {
		var v T
		if err := scan(rows, &v); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		out[idOf(v)] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func idOf(v any) int64 {
	switch x := v.(type) {
	case legacyBadge:
		return x.id
	case badge:
		return x.id
	case legacyGoal:
		return x.id
	case goal:
		return x.id
	}
	panic(fmt.Sprintf("idOf %T", v))
}

func readLegacyBadges(t *testing.T, conn *pgx.Conn) map[int64]legacyBadge {
	return collect(t, conn, "SELECT id, user_id, name, description, icon_url, date_achieved FROM badges",
		func(r pgx.Row, b *legacyBadge) error {
			return r.Scan(&b.id, &b.userID, &b.name, &b.description, &b.icon, &b.date)
		})
}

func readBadges(t *testing.T, conn *pgx.Conn) map[int64]badge {
	return collect(t, conn, "SELECT id, auth_user_id, name, description, icon_url, date_achieved, created_at FROM badges",
		func(r pgx.Row, b *badge) error {
			return r.Scan(&b.id, &b.user, &b.name, &b.description, &b.icon, &b.date, &b.created)
		})
}

func readLegacyGoals(t *testing.T, conn *pgx.Conn) map[int64]legacyGoal {
	return collect(t, conn, "SELECT id, user_id, title, description, status, streak_count FROM learning_goals",
		func(r pgx.Row, g *legacyGoal) error {
			return r.Scan(&g.id, &g.userID, &g.title, &g.description, &g.status, &g.streak)
		})
}

func readGoals(t *testing.T, conn *pgx.Conn) map[int64]goal {
	return collect(t, conn, `SELECT id, auth_user_id, title, description, status, streak_count, created_at, updated_at,
       completed_at, version FROM learning_goals`,
		func(r pgx.Row, g *goal) error {
			return r.Scan(&g.id, &g.user, &g.title, &g.description, &g.status, &g.streak, &g.created, &g.updated,
				&g.completed, &g.version)
		})
}

func or[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func relations(t *testing.T, conn *pgx.Conn) []string {
	return lines(t, conn, `SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S', 'v') ORDER BY 1`)
}

// downSteps bounds a walk down to the conversion: more steps than there are
// migrations, so that a new migration needs no edit here.
const downSteps = 50

// downPastConversion rolls back until badges is in the legacy shape again.
func downPastConversion(t *testing.T, url string) string {
	t.Helper()
	conn := connect(t, url)
	var diag strings.Builder
	for range downSteps {
		_, d := mustRun(t, url, "down")
		diag.WriteString(d)
		if len(lines(t, conn, "SELECT attname::text FROM pg_attribute WHERE attrelid = 'badges'::regclass AND attname = 'user_id'")) == 1 {
			return diag.String()
		}
	}
	t.Fatalf("badges is not in the legacy shape after %d steps down", downSteps)
	return ""
}

func TestConvertCleanLegacyKeepsEveryRowAndID(t *testing.T) {
	url := legacyDatabase(t, "legacy_clean.sql")
	conn := connect(t, url)
	ctx := context.Background()

	usersBefore := tableData(t, conn, "users")
	oldBadges, oldGoals := readLegacyBadges(t, conn), readLegacyGoals(t, conn)
	type user struct {
		email, username *string
		created         time.Time
	}
	users := map[int64]user{}
	rows, _ := conn.Query(ctx, "SELECT id, email, username, created_at FROM users")
	var id int64
	var u user
	if _, err := pgx.ForEachRow(rows, []any{&id, &u.email, &u.username, &u.created}, func() error { users[id] = u; return nil }); err != nil {
		t.Fatal(err)
	}
	var badgeSeq, goalMax int64
	if err := conn.QueryRow(ctx, "SELECT last_value FROM badges_id_seq").Scan(&badgeSeq); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT max(id) FROM learning_goals").Scan(&goalMax); err != nil {
		t.Fatal(err)
	}
	if len(oldBadges) < 2000 || len(oldGoals) < 3000 || len(users) != 300 {
		t.Fatalf("fixture: %d badges, %d goals, %d users", len(oldBadges), len(oldGoals), len(users))
	}

	start := time.Now()
	out, diag := mustRun(t, url, "up")
	t.Logf("migrate up: %s\n%s", time.Since(start), out)

	// One migration time for every row that needs one.
	var migratedAt time.Time
	if err := conn.QueryRow(ctx, "SELECT created_at FROM learning_goals LIMIT 1").Scan(&migratedAt); err != nil {
		t.Fatal(err)
	}
	if d := migratedAt.Sub(start); d < -5*time.Second || d > time.Minute {
		t.Errorf("migration time %s is not the time of the migration (started %s)", migratedAt, start)
	}

	// A legacy streak_count is a streak written by hand on the migration's date in UTC (CONTRACT §6).
	var offDate int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM learning_goals WHERE streak_set_on <> $1::date OR last_check_in_on IS NOT NULL",
		migratedAt.UTC().Format(time.DateOnly)).Scan(&offDate); err != nil || offDate != 0 {
		t.Errorf("%d legacy goals do not carry their streak as written on the migration's date (%v)", offDate, err)
	}

	newBadges := readBadges(t, conn)
	if len(newBadges) != len(oldBadges) {
		t.Errorf("%d badges after the conversion, %d before", len(newBadges), len(oldBadges))
	}
	for id, o := range oldBadges {
		n, ok := newBadges[id]
		if !ok {
			t.Errorf("badge %d is gone", id)
			continue
		}
		wantDate := migratedAt
		if o.date != nil {
			wantDate = *o.date // a naive legacy timestamp read as UTC
		}
		if n.user != strconv.FormatInt(o.userID, 10) || n.name != o.name || n.description != or(o.description, "") ||
			!equalPtr(n.icon, o.icon) || !n.date.Equal(wantDate) || !n.created.Equal(migratedAt) {
			t.Errorf("badge %d: legacy %+v became %+v", id, o, n)
		}
	}

	newGoals := readGoals(t, conn)
	if len(newGoals) != len(oldGoals) {
		t.Errorf("%d goals after the conversion, %d before", len(newGoals), len(oldGoals))
	}
	for id, o := range oldGoals {
		n, ok := newGoals[id]
		if !ok {
			t.Errorf("goal %d is gone", id)
			continue
		}
		status := or(o.status, "in-progress")
		completedOK := n.completed == nil
		if status == "completed" {
			completedOK = n.completed != nil && n.completed.Equal(migratedAt)
		}
		if n.user != strconv.FormatInt(o.userID, 10) || n.title != o.title || n.description != or(o.description, "") ||
			n.status != status || n.streak != or(o.streak, 0) || !n.created.Equal(migratedAt) ||
			!n.updated.Equal(migratedAt) || !completedOK || n.version != 1 {
			t.Errorf("goal %d: legacy %+v became %+v", id, o, n)
		}
	}

	// A reference for every user the tables use, identity from the users table.
	used := map[string]bool{}
	for _, b := range oldBadges {
		used[strconv.FormatInt(b.userID, 10)] = true
	}
	for _, g := range oldGoals {
		used[strconv.FormatInt(g.userID, 10)] = true
	}
	rows, _ = conn.Query(ctx, "SELECT auth_user_id, email, username, created_at FROM auth_users")
	var ref string
	refs := 0
	_, err := pgx.ForEachRow(rows, []any{&ref, &u.email, &u.username, &u.created}, func() error {
		refs++
		uid, _ := strconv.ParseInt(ref, 10, 64)
		want, ok := users[uid]
		if !used[ref] || !ok || !equalPtr(u.email, want.email) || !equalPtr(u.username, want.username) || !u.created.Equal(want.created) {
			t.Errorf("reference %s: %+v, want the legacy user's %+v (used: %v)", ref, u, want, used[ref])
		}
		return nil
	})
	if err != nil || refs != len(used) {
		t.Errorf("%d references for %d users in use (%v)", refs, len(used), err)
	}

	// Identity continues after the highest id ever handed out.
	anyUser := newBadges[slices.Collect(maps.Keys(newBadges))[0]].user
	var newBadgeID, newGoalID int64
	if err := conn.QueryRow(ctx, "INSERT INTO badges (auth_user_id, name) VALUES ($1, 'fresh') RETURNING id", anyUser).Scan(&newBadgeID); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "INSERT INTO learning_goals (auth_user_id, title) VALUES ($1, 'fresh') RETURNING id", anyUser).Scan(&newGoalID); err != nil {
		t.Fatal(err)
	}
	if newBadgeID != badgeSeq+1 || newGoalID != goalMax+1 {
		t.Errorf("new ids %d and %d, want %d (after the legacy sequence) and %d (after the highest goal)", newBadgeID, newGoalID, badgeSeq+1, goalMax+1)
	}
	if _, err := conn.Exec(ctx, "DELETE FROM badges WHERE id = $1; ", newBadgeID); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "DELETE FROM learning_goals WHERE id = $1", newGoalID); err != nil {
		t.Fatal(err)
	}

	// Text over the API's limits is kept and reported, row by row.
	for id, b := range oldBadges {
		if len([]rune(b.name)) > 100 && !strings.Contains(diag, fmt.Sprintf("legacy badges id=%d user_id=%d: name is %d characters", id, b.userID, len([]rune(b.name)))) {
			t.Errorf("badge %d's long name is not reported", id)
		}
		if len([]rune(or(b.description, ""))) > 1000 && !strings.Contains(diag, fmt.Sprintf("legacy badges id=%d user_id=%d: description is", id, b.userID)) {
			t.Errorf("badge %d's long description is not reported", id)
		}
	}
	for id, g := range oldGoals {
		if len([]rune(g.title)) > 200 && !strings.Contains(diag, fmt.Sprintf("legacy learning_goals id=%d user_id=%d: title is 250 characters", id, g.userID)) {
			t.Errorf("goal %d's long title is not reported", id)
		}
	}

	// The auth-service's table is untouched, and nothing of the conversion is left behind.
	if diff := diffLines(usersBefore, tableData(t, conn, "users")); diff != "" {
		t.Errorf("the users table changed:\n%s", diff)
	}
	wantRelations := []string{"auth_user_tombstones", "auth_users", "badges", "badges_id_seq", "goose_db_version",
		"goose_db_version_id_seq", "learning_goals", "learning_goals_id_seq", "users", "users_id_seq"}
	if got := relations(t, conn); !isSuperset(got, wantRelations) || slices.ContainsFunc(got, func(r string) bool { return strings.HasPrefix(r, "usersvc_") }) {
		t.Errorf("relations after the conversion: %v", got)
	}

	// up again is a no-op.
	before := map[string][]string{}
	for _, tbl := range []string{"badges", "learning_goals", "auth_users", "users"} {
		before[tbl] = tableData(t, conn, tbl)
	}
	out, _ = mustRun(t, url, "up")
	if !strings.Contains(out, "already up to date") {
		t.Errorf("second up: %s", out)
	}
	for tbl, rows := range before {
		if diff := diffLines(rows, tableData(t, conn, tbl)); diff != "" {
			t.Errorf("second up changed %s:\n%s", tbl, diff)
		}
	}

	// down restores the legacy shape with every row; up re-applies.
	downPastConversion(t, url)
	restored := readLegacyBadges(t, conn)
	for id, n := range newBadges {
		r := restored[id]
		if r.userID != mustInt(n.user) || r.name != n.name || or(r.description, "-") != n.description || !equalPtr(r.icon, n.icon) ||
			r.date == nil || !r.date.Equal(n.date) {
			t.Errorf("badge %d: %+v went down as %+v", id, n, r)
		}
	}
	if len(restored) != len(newBadges) {
		t.Errorf("%d badges after down, %d before", len(restored), len(newBadges))
	}
	if got := lines(t, conn, `SELECT format('%s %s', conname, convalidated) FROM pg_constraint
WHERE contype = 'f' AND confrelid = 'users'::regclass ORDER BY 1`); !slices.Equal(got, []string{"badges_user_id_fkey t", "learning_goals_user_id_fkey t"}) {
		t.Errorf("legacy foreign keys after down: %v", got)
	}
	mustRun(t, url, "up")
	again := readBadges(t, conn)
	for id, n := range newBadges {
		a := again[id]
		if a.user != n.user || a.name != n.name || a.description != n.description || !equalPtr(a.icon, n.icon) || !a.date.Equal(n.date) {
			t.Errorf("badge %d: %+v after down and up, %+v before", id, a, n)
		}
	}
	goalsAgain := readGoals(t, conn)
	for id, n := range newGoals {
		a := goalsAgain[id]
		if a.user != n.user || a.title != n.title || a.description != n.description || a.status != n.status || a.streak != n.streak {
			t.Errorf("goal %d: %+v after down and up, %+v before", id, a, n)
		}
	}
	if len(again) != len(newBadges) || len(goalsAgain) != len(newGoals) {
		t.Errorf("after down and up: %d badges and %d goals, want %d and %d", len(again), len(goalsAgain), len(newBadges), len(newGoals))
	}
	fresh := pgtest.NewDatabase(t)
	mustRun(t, fresh, "up")
	if diff := diffLines(schemaDump(t, fresh), schemaDump(t, url)); diff != "" {
		t.Errorf("after down and up the schema differs from a fresh database's (- fresh, + converted):\n%s", diff)
	}
}

func TestFreshAndConvertedSchemasAreIdentical(t *testing.T) {
	fresh := pgtest.NewDatabase(t)
	mustRun(t, fresh, "up")
	legacy := legacyDatabase(t, "legacy_clean.sql")
	mustRun(t, legacy, "up")
	dirty := legacyDatabase(t, "legacy_dirty.sql")
	mustRun(t, dirty, "up", migrations.WithNormalizeLegacy(true))

	want := schemaDump(t, fresh)
	if len(want) < 30 {
		t.Fatalf("the dump is too thin to compare anything:\n%s", strings.Join(want, "\n"))
	}
	for name, url := range map[string]string{"clean legacy": legacy, "normalized dirty legacy": dirty} {
		if diff := diffLines(want, schemaDump(t, url)); diff != "" {
			t.Errorf("%s: the schema differs from a fresh database's (- fresh, + converted):\n%s", name, diff)
		}
	}
}

// expectedFix is one finding of legacy_dirty.sql: the row, the words of its
// line, and the value after --normalize-legacy.
type expectedFix struct {
	table string
	id    int64
	says  string
	value string
}

var dirtyFixes = []expectedFix{
	{"badges", 11, `name "gold" equals the name of badge 10 under lower(); fix: rename to "gold (3)"`, "gold (3)"},
	{"badges", 12, `name "GOLD" equals the name of badge 10 under lower(); fix: rename to "GOLD (4)"`, "GOLD (4)"},
	{"badges", 22, `name "straße" equals the name of badge 20 under lower(); fix: rename to "straße (2)"`, "straße (2)"},
	{"badges", 30, `name is NULL and "Untitled badge" is taken by badge 31; fix: rename to "Untitled badge (2)"`, "Untitled badge (2)"},
	{"learning_goals", 1, `status "Done" is not one of`, "completed"},
	{"learning_goals", 2, `status "complete" is not one of`, "completed"},
	{"learning_goals", 3, `status "FINISHED" is not one of`, "completed"},
	{"learning_goals", 4, `status "In Progress" is not one of`, "in-progress"},
	{"learning_goals", 5, `status "in_progress" is not one of`, "in-progress"},
	{"learning_goals", 6, `status "inprogress" is not one of`, "in-progress"},
	{"learning_goals", 7, `status "Active" is not one of`, "in-progress"},
	{"learning_goals", 8, `status "started" is not one of`, "in-progress"},
	{"learning_goals", 9, `status "not_started" is not one of`, "not-started"},
	{"learning_goals", 10, `status "TODO" is not one of`, "not-started"},
	{"learning_goals", 11, `status "new" is not one of`, "not-started"},
	{"learning_goals", 12, `status "pending" is not one of`, "not-started"},
	{"learning_goals", 13, `status "cancelled" is not one of`, "abandoned"},
	{"learning_goals", 14, `status "Dropped" is not one of`, "abandoned"},
	{"learning_goals", 15, `status "Abandoned" is not one of`, "abandoned"},
	{"learning_goals", 16, `status "weird" is not one of`, "not-started"},
	{"learning_goals", 17, `status "" is not one of`, "not-started"},
	{"learning_goals", 18, `status "  completed " is not one of`, "completed"},
	{"learning_goals", 19, "streak_count -1 is out of range 0–1000000; fix: streak_count 0", "0"},
	{"learning_goals", 20, "streak_count 1000001 is out of range 0–1000000; fix: streak_count 1000000", "1000000"},
	{"learning_goals", 21, "streak_count 2147483647 is out of range 0–1000000; fix: streak_count 1000000", "1000000"},
	{"learning_goals", 22, `title is NULL; fix: title "Untitled goal"`, "Untitled goal"},
}

func TestDirtyLegacyIsListedAndUnchangedThenNormalized(t *testing.T) {
	url := legacyDatabase(t, "legacy_dirty.sql")
	conn := connect(t, url)
	snapshot := func() []string {
		s := relations(t, conn)
		for _, tbl := range []string{"users", "badges", "learning_goals"} {
			s = append(s, tableData(t, conn, tbl)...)
		}
		return append(s, schemaDump(t, url)...)
	}
	before := snapshot()

	_, diag, err := run(t, url, "up")
	if !errors.Is(err, migrations.ErrLegacyData) {
		t.Fatalf("up on dirty data: %v, want ErrLegacyData\n%s", err, diag)
	}
	found := 0
	for _, line := range strings.Split(diag, "\n") {
		if strings.HasPrefix(line, "migrate: legacy ") {
			found++
		}
	}
	for _, f := range dirtyFixes {
		prefix := fmt.Sprintf("migrate: legacy %s id=%d user_id=", f.table, f.id)
		if !slices.ContainsFunc(strings.Split(diag, "\n"), func(l string) bool {
			return strings.HasPrefix(l, prefix) && strings.Contains(l, f.says)
		}) {
			t.Errorf("the pre-flight check does not list %s %d (%q)", f.table, f.id, f.says)
		}
		if f.table == "learning_goals" && strings.HasPrefix(f.says, "status") &&
			!strings.Contains(diag, fmt.Sprintf("%s%s: %s", prefix, userOf(f.id), f.says)) {
			t.Errorf("goal %d's line does not name its user", f.id)
		}
	}
	if found != len(dirtyFixes) {
		t.Errorf("the pre-flight check lists %d rows, want exactly %d:\n%s", found, len(dirtyFixes), diag)
	}
	if diff := diffLines(before, snapshot()); diff != "" {
		t.Fatalf("the refused migration changed the database:\n%s", diff)
	}

	_, diag = mustRun(t, url, "up", migrations.WithNormalizeLegacy(true))
	for _, f := range dirtyFixes {
		if !strings.Contains(diag, fmt.Sprintf("migrate: fixed: legacy %s id=%d ", f.table, f.id)) {
			t.Errorf("--normalize-legacy does not log the fix of %s %d", f.table, f.id)
		}
	}
	badges, goals := readBadges(t, conn), readGoals(t, conn)
	wantNames := map[int64]string{10: "Gold", 13: "gold (2)", 14: "Silver", 20: "Straße", 21: "STRASSE", 31: "untitled badge", 40: "Gold"}
	for _, f := range dirtyFixes {
		if f.table == "badges" {
			wantNames[f.id] = f.value
		}
	}
	for id, want := range wantNames {
		if badges[id].name != want {
			t.Errorf("badge %d: name %q, want %q", id, badges[id].name, want)
		}
	}
	if len(badges) != len(wantNames) {
		t.Errorf("%d badges, want %d", len(badges), len(wantNames))
	}
	legacyDirty := map[int64][2]string{23: {"in-progress", "1000000"}, 24: {"in-progress", "0"}, 22: {"abandoned", "0"},
		19: {"completed", ""}, 20: {"in-progress", ""}, 21: {"not-started", ""}}
	for _, f := range dirtyFixes {
		if f.table != "learning_goals" {
			continue
		}
		g := goals[f.id]
		switch {
		case strings.HasPrefix(f.says, "status"):
			if g.status != f.value || int64(g.streak) != f.id {
				t.Errorf("goal %d: status %q streak %d, want %q and its streak %d", f.id, g.status, g.streak, f.value, f.id)
			}
		case strings.HasPrefix(f.says, "streak"):
			if strconv.Itoa(int(g.streak)) != f.value || g.status != legacyDirty[f.id][0] {
				t.Errorf("goal %d: streak %d status %q, want %s and %q", f.id, g.streak, g.status, f.value, legacyDirty[f.id][0])
			}
		default:
			if g.title != f.value {
				t.Errorf("goal %d: title %q, want %q", f.id, g.title, f.value)
			}
		}
		if (g.status == "completed") != (g.completed != nil) {
			t.Errorf("goal %d: status %s with completed_at %v", f.id, g.status, g.completed)
		}
	}
	if g := goals[24]; g.status != "in-progress" || g.streak != 0 || g.title != "ok too" {
		t.Errorf("goal 24 (NULLs, no finding): %+v", g)
	}
	if len(goals) != 24 {
		t.Errorf("%d goals, want 24", len(goals))
	}
}

// userOf is the user of a goal of legacy_dirty.sql.
func userOf(goalID int64) string {
	switch {
	case goalID <= 8:
		return "1"
	case goalID <= 15:
		return "2"
	case goalID <= 21:
		return "3"
	}
	return "4"
}

func TestLegacyRowsWithoutAFixAreRefusedEvenWhenNormalizing(t *testing.T) {
	url := legacyDatabase(t, "legacy_dirty.sql")
	execSQL(t, url, `
INSERT INTO badges (id, user_id, name) VALUES (99, NULL, 'nobody''s');
INSERT INTO learning_goals (id, user_id, title) VALUES (98, NULL, 'nobody''s');
CREATE VIEW badge_names AS SELECT name FROM badges;`)
	conn := connect(t, url)
	before := relations(t, conn)
	_, diag, err := run(t, url, "up", migrations.WithNormalizeLegacy(true))
	if !errors.Is(err, migrations.ErrLegacyData) || !strings.Contains(err.Error(), "3 without an automatic fix") {
		t.Fatalf("up: %v\n%s", err, diag)
	}
	for _, want := range []string{
		"migrate: legacy badges id=99 user_id=NULL: the row belongs to no user; no automatic fix",
		"migrate: legacy learning_goals id=98 user_id=NULL: the row belongs to no user; no automatic fix",
		"migrate: legacy badges: view badge_names depends on it",
		`migrate: legacy badges id=11 user_id=1: name "gold" equals`,
	} {
		if !strings.Contains(diag, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, diag)
		}
	}
	if diff := diffLines(before, relations(t, conn)); diff != "" {
		t.Errorf("the refused migration changed the database:\n%s", diff)
	}
}

func TestDownRefusesNonNumericAuthUserIDs(t *testing.T) {
	url := legacyDatabase(t, "legacy_dirty.sql")
	mustRun(t, url, "up", migrations.WithNormalizeLegacy(true))
	execSQL(t, url, `INSERT INTO auth_users (auth_user_id) VALUES ('auth0.ada'), ('007');
INSERT INTO learning_goals (auth_user_id, title) VALUES ('auth0.ada', 'x'), ('007', 'y');`)
	conn := connect(t, url)
	before := tableData(t, conn, "learning_goals")
	var diag string
	var err error
	for range downSteps { // newer migrations first (they may change learning_goals); the conversion refuses
		if _, diag, err = run(t, url, "down"); err != nil {
			break
		}
		before = tableData(t, conn, "learning_goals")
	}
	if err == nil || !strings.Contains(err.Error(), "2 learning_goals rows belong to auth_user_ids that are not integers (e.g. 007, auth0.ada)") {
		t.Fatalf("down: %v\n%s", err, diag)
	}
	if diff := diffLines(before, tableData(t, conn, "learning_goals")); diff != "" {
		t.Errorf("the refused rollback changed learning_goals:\n%s", diff)
	}
	execSQL(t, url, "DELETE FROM auth_users WHERE auth_user_id IN ('auth0.ada', '007')") // cascades to the goals
	downPastConversion(t, url)
}

func TestInterruptedConversionResumes(t *testing.T) {
	url := legacyDatabase(t, "legacy_clean.sql")
	conn := connect(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Stop the run right after the rows are copied, before the old tables are dropped.
	diag := &watchWriter{on: "converted legacy learning_goals", do: cancel}
	if _, err := runWith(ctx, t, url, "up", diag); err == nil {
		t.Fatal("the interrupted run succeeded")
	}
	if got := relations(t, conn); !slices.Contains(got, "usersvc_legacy_badges") {
		t.Fatalf("the interruption came too late to test anything: %v", got)
	}
	out, d := mustRun(t, url, "up")
	if !strings.Contains(d, "dropped the old foreign key of badges to users") || strings.Contains(d, "converted legacy") {
		t.Errorf("the resumed run did not pick up where it stopped:\n%s%s", out, d)
	}
	if got := relations(t, conn); slices.ContainsFunc(got, func(r string) bool { return strings.HasPrefix(r, "usersvc_") }) {
		t.Errorf("left behind: %v", got)
	}
	fresh := pgtest.NewDatabase(t)
	mustRun(t, fresh, "up")
	if diff := diffLines(schemaDump(t, fresh), schemaDump(t, url)); diff != "" {
		t.Errorf("schema after a resumed conversion (- fresh, + converted):\n%s", diff)
	}
}

// watchWriter calls do once when a line containing on is written.
type watchWriter struct {
	syncBuffer
	on   string
	do   func()
	done bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	if !w.done && strings.Contains(string(p), w.on) {
		w.done = true
		w.do()
	}
	return n, err
}

func equalPtr[T comparable](a, b *T) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func mustInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return n
}

func isSuperset(got, want []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

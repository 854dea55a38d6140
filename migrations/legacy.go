package migrations

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrLegacyData: the legacy rows break rules the new schema enforces; the
// pre-flight check listed them and nothing was changed.
var ErrLegacyData = errors.New("the legacy data breaks rules the new schema enforces")

// querier is what the checks need; *pgx.Conn and pgx.Tx both have it.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Tables set aside while they are rebuilt, named so a re-run after an
// interruption can tell where it stopped.
const (
	asideLegacy = "usersvc_legacy_" // legacy table after its rows were copied (up)
	asideNew    = "usersvc_new_"    // new table after its rows were copied back (down)
)

// dbState is the shape of the tables the conversion cares about, in the
// current schema: each relation's columns and their types.
type dbState struct {
	columns map[string]map[string]string // relation → column → format_type
}

func inspect(ctx context.Context, q querier) (*dbState, error) {
	names := []string{"users"}
	for _, s := range schemas {
		names = append(names, s.name, asideLegacy+s.name, asideNew+s.name)
	}
	rows, err := q.Query(ctx, `
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname = ANY($1)`, names)
	if err != nil {
		return nil, fmt.Errorf("inspect the schema: %w", err)
	}
	st := &dbState{columns: map[string]map[string]string{}}
	var rel, col, typ string
	_, err = pgx.ForEachRow(rows, []any{&rel, &col, &typ}, func() error {
		if st.columns[rel] == nil {
			st.columns[rel] = map[string]string{}
		}
		st.columns[rel][col] = typ
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("inspect the schema: %w", err)
	}
	return st, nil
}

func (s *dbState) exists(rel string) bool { return len(s.columns[rel]) > 0 }

func (s *dbState) has(rel, col string) bool { _, ok := s.columns[rel][col]; return ok }

// legacyShaped: the table still keys rows by user_id (CONTRACT §6's shared database).
func (s *dbState) legacyShaped(rel string) bool {
	return s.has(rel, "user_id") && !s.has(rel, "auth_user_id")
}

// newShaped: the table is usersvc's (fresh or already converted).
func (s *dbState) newShaped(rel string) bool { return s.has(rel, "auth_user_id") }

// anyLegacy reports whether the conversion has work to do.
func (s *dbState) anyLegacy() bool {
	for _, t := range schemas {
		if s.legacyShaped(t.name) {
			return true
		}
	}
	return false
}

// legacyUsers: the auth-service's users table with an integer id is there.
func (s *dbState) legacyUsers() bool { return isInteger(s.columns["users"]["id"]) }

func isInteger(typ string) bool { return typ == "integer" || typ == "bigint" || typ == "smallint" }

// column returns x.<col> cast to typ, or a typed NULL when the legacy table lacks the column.
func (s *dbState) column(rel, col, typ string) string {
	if s.has(rel, col) {
		return "x." + col + "::" + typ
	}
	return "NULL::" + typ
}

// timestampExpr reads a legacy time column as UTC (CONTRACT §6).
func (s *dbState) timestampExpr(rel, col string) string {
	typ := s.columns[rel][col]
	switch {
	case typ == "":
		return "NULL::timestamptz"
	case strings.HasPrefix(typ, "timestamp") && strings.HasSuffix(typ, "with time zone") && !strings.HasSuffix(typ, "without time zone"):
		return "x." + col
	default: // timestamp without time zone, date
		return "(x." + col + "::timestamp AT TIME ZONE 'UTC')"
	}
}

func supportedTime(typ string) bool {
	return typ == "" || typ == "date" || strings.HasPrefix(typ, "timestamp")
}

// finding is one legacy row (or table) that breaks a rule the new schema
// enforces, with the fix --normalize-legacy applies; fix "" means none.
type finding struct {
	table, id, userID string
	problem, fix      string
}

func (f finding) String() string {
	var b strings.Builder
	b.WriteString("legacy " + f.table)
	if f.id != "" {
		b.WriteString(" id=" + f.id + " user_id=" + f.userID)
	}
	b.WriteString(": " + f.problem)
	if f.fix == "" {
		b.WriteString("; no automatic fix: correct or delete it by hand")
	} else {
		b.WriteString("; fix: " + f.fix)
	}
	return b.String()
}

// check is the outcome of the pre-flight check of one or more legacy tables.
type check struct {
	findings []finding
	notes    []string         // kept as is or defaulted without asking; reported only
	names    map[int64]string // badge id → name after the fixes (NULL names, duplicates)
}

func (c *check) fixable() bool {
	for _, f := range c.findings {
		if f.fix == "" {
			return false
		}
	}
	return true
}

func (c *check) merge(o check) {
	c.findings = append(c.findings, o.findings...)
	c.notes = append(c.notes, o.notes...)
	if len(o.names) > 0 && c.names == nil {
		c.names = map[int64]string{}
	}
	for k, v := range o.names {
		c.names[k] = v
	}
}

// checkLegacy runs the pre-flight check on every legacy-shaped table. It only reads.
func checkLegacy(ctx context.Context, q querier, st *dbState) (check, error) {
	var all check
	for _, s := range schemas {
		if !st.legacyShaped(s.name) {
			continue
		}
		c, err := checkTable(ctx, q, st, s.name)
		if err != nil {
			return all, err
		}
		all.merge(c)
	}
	return all, nil
}

func checkTable(ctx context.Context, q querier, st *dbState, table string) (check, error) {
	var c check
	if blocked := checkStructure(st, table); len(blocked) > 0 {
		c.findings = blocked
		return c, nil
	}
	dependents, err := checkDependents(ctx, q, table)
	if err != nil {
		return c, err
	}
	c.findings = append(c.findings, dependents...)
	rowChecks := []func(context.Context, querier, *dbState, string, *check) error{checkIDs, checkUsers}
	if table == "badges" {
		rowChecks = append(rowChecks, checkBadgeNames)
	} else {
		rowChecks = append(rowChecks, checkGoals)
	}
	rowChecks = append(rowChecks, noteDefaults, noteLongText)
	for _, run := range rowChecks {
		if err := run(ctx, q, st, table, &c); err != nil {
			return c, fmt.Errorf("check legacy %s: %w", table, err)
		}
	}
	return c, nil
}

// checkStructure refuses shapes the conversion cannot read.
func checkStructure(st *dbState, table string) []finding {
	cols := st.columns[table]
	var out []finding
	for _, col := range []string{"id", "user_id"} {
		if !isInteger(cols[col]) {
			what := "has no column " + col
			if cols[col] != "" {
				what = fmt.Sprintf("column %s is %s, not an integer", col, cols[col])
			}
			out = append(out, finding{table: table, problem: what})
		}
	}
	if table == "badges" && !supportedTime(cols["date_achieved"]) {
		out = append(out, finding{table: table, problem: "column date_achieved is " + cols["date_achieved"] + ", not a timestamp"})
	}
	if table == "learning_goals" && cols["streak_count"] != "" && !isInteger(cols["streak_count"]) {
		out = append(out, finding{table: table, problem: "column streak_count is " + cols["streak_count"] + ", not an integer"})
	}
	return out
}

// checkDependents refuses when views or other tables' foreign keys depend on
// the legacy table: the conversion rebuilds it and could not drop the old one.
func checkDependents(ctx context.Context, q querier, table string) ([]finding, error) {
	rows, err := q.Query(ctx, `
SELECT format('foreign key %s of table %s references it', c.conname, c.conrelid::regclass)
FROM pg_constraint c
WHERE c.contype = 'f' AND c.confrelid = $1::regclass AND c.conrelid <> $1::regclass
UNION ALL
SELECT DISTINCT format('%s %s depends on it', CASE v.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END, v.oid::regclass)
FROM pg_depend d
JOIN pg_rewrite r ON r.oid = d.objid
JOIN pg_class v ON v.oid = r.ev_class
WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
  AND d.refobjid = $1::regclass AND v.oid <> $1::regclass`, table)
	if err != nil {
		return nil, fmt.Errorf("check what depends on legacy %s: %w", table, err)
	}
	problems, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	out := make([]finding, 0, len(problems))
	for _, p := range problems {
		out = append(out, finding{table: table, problem: p + " (drop or change it before migrating)"})
	}
	return out, nil
}

// rowFindings turns rows of (id, user_id, problem, fix) into findings.
func rowFindings(ctx context.Context, q querier, table, sql string, args ...any) ([]finding, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (finding, error) {
		f := finding{table: table}
		var id, user *string
		err := r.Scan(&id, &user, &f.problem, &f.fix)
		f.id, f.userID = deref(id), deref(user)
		return f, err
	})
}

func deref(s *string) string {
	if s == nil {
		return "NULL"
	}
	return *s
}

// checkIDs: every row needs a distinct id (the new primary key).
func checkIDs(ctx context.Context, q querier, _ *dbState, table string, c *check) error {
	var uniqueID bool
	err := q.QueryRow(ctx, `
SELECT EXISTS (
    SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attname = 'id'
    WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indpred IS NULL AND i.indkey::int2[] = ARRAY[a.attnum])`,
		table).Scan(&uniqueID)
	if err != nil || uniqueID {
		return err
	}
	fs, err := rowFindings(ctx, q, table, `
SELECT x.id::text, x.user_id::text,
       CASE WHEN x.id IS NULL THEN 'the row has no id' ELSE 'another row has the same id' END, ''
FROM `+table+` x
WHERE x.id IS NULL OR x.id IN (SELECT id FROM `+table+` GROUP BY id HAVING count(*) > 1)
ORDER BY x.id, x.ctid`)
	c.findings = append(c.findings, fs...)
	return err
}

// checkUsers: every row needs a user whose id can be an auth_user_id.
func checkUsers(ctx context.Context, q querier, st *dbState, table string, c *check) error {
	fs, err := rowFindings(ctx, q, table, `
SELECT x.id::text, x.user_id::text,
       CASE WHEN x.user_id IS NULL THEN 'the row belongs to no user'
            ELSE 'a negative user_id is not a valid auth_user_id' END, ''
FROM `+table+` x
WHERE x.user_id IS NULL OR x.user_id < 0
ORDER BY x.id`)
	if err != nil {
		return err
	}
	c.findings = append(c.findings, fs...)
	if !st.legacyUsers() {
		c.notes = append(c.notes, fmt.Sprintf("legacy %s: there is no users table; references get no email or username until `usersvc backfill-auth-users` runs", table))
		return nil
	}
	var missing int64
	err = q.QueryRow(ctx, `
SELECT count(DISTINCT x.user_id) FROM `+table+` x
WHERE x.user_id >= 0 AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = x.user_id)`).Scan(&missing)
	if missing > 0 {
		c.notes = append(c.notes, fmt.Sprintf("legacy %s: %s not in the users table; their references get no email or username", table, plural(missing, "user id")))
	}
	return err
}

// checkBadgeNames: a name is required and unique per user under lower(). The
// first badge (by id) keeps a name; later ones get " (2)", " (3)"… — the
// lowest suffix the user does not already use. A NULL name becomes
// "Untitled badge", after the named badges have kept theirs.
func checkBadgeNames(ctx context.Context, q querier, st *dbState, table string, c *check) error {
	name := st.column(table, "name", "text")
	rows, err := q.Query(ctx, `
WITH b AS (
    SELECT x.id, x.user_id, `+name+` AS name, lower(COALESCE(`+name+`, $1)) AS lname
    FROM `+table+` x WHERE x.user_id IS NOT NULL AND x.id IS NOT NULL),
dup AS (SELECT user_id FROM b GROUP BY user_id, lname HAVING count(*) > 1)
SELECT id, user_id::text, name, lname FROM b
WHERE name IS NULL OR user_id IN (SELECT user_id FROM dup)
ORDER BY user_id, id`, untitledBadge)
	if err != nil {
		return err
	}
	type badge struct {
		id           int64
		user         string
		name         *string
		lname        string
		keptBy       int64
		fixed, fixLo string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (badge, error) {
		var b badge
		return b, r.Scan(&b.id, &b.user, &b.name, &b.lname)
	})
	if err != nil {
		return err
	}
	for start := 0; start < len(list); {
		end := start
		for end < len(list) && list[end].user == list[start].user {
			end++
		}
		user := list[start:end]
		// Named badges keep their names before a NULL name is given one.
		slices.SortStableFunc(user, func(a, b badge) int {
			switch {
			case (a.name == nil) == (b.name == nil):
				return 0
			case a.name == nil:
				return 1
			}
			return -1
		})
		taken := map[string]bool{}
		for _, b := range user {
			taken[b.lname] = true
		}
		first := map[string]int64{}
		for _, b := range user {
			base := untitledBadge
			if b.name != nil {
				base = *b.name
			}
			keeper, dup := first[b.lname]
			if !dup {
				first[b.lname] = b.id
				if b.name == nil {
					c.addName(b.id, base)
					c.findings = append(c.findings, finding{table: table, id: strconv.FormatInt(b.id, 10), userID: b.user,
						problem: "name is NULL", fix: fmt.Sprintf("name %q", base)})
				}
				continue
			}
			n := 2
			for taken[b.lname+" ("+strconv.Itoa(n)+")"] {
				n++
			}
			suffix := " (" + strconv.Itoa(n) + ")"
			taken[b.lname+suffix] = true
			c.addName(b.id, base+suffix)
			what := fmt.Sprintf("name %q equals the name of badge %d under lower()", base, keeper)
			if b.name == nil {
				what = fmt.Sprintf("name is NULL and %q is taken by badge %d", base, keeper)
			}
			c.findings = append(c.findings, finding{table: table, id: strconv.FormatInt(b.id, 10), userID: b.user,
				problem: what, fix: fmt.Sprintf("rename to %q", base+suffix)})
		}
		start = end
	}
	return nil
}

func (c *check) addName(id int64, name string) {
	if c.names == nil {
		c.names = map[int64]string{}
	}
	c.names[id] = name
}

// statusExpr is the status a legacy value becomes: NULL is the column default,
// values of the enum stay, anything else follows the documented mapping.
func statusExpr(col string) string {
	keys := make([]string, 0, len(statusSynonyms))
	for k := range statusSynonyms {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "CASE WHEN %[1]s IS NULL THEN 'in-progress' WHEN %[1]s IN (%[2]s) THEN %[1]s ELSE CASE lower(btrim(%[1]s, E' \\t\\r\\n'))", col, quoteList(goalStatuses))
	for _, k := range keys {
		fmt.Fprintf(&b, " WHEN '%s' THEN '%s'", k, statusSynonyms[k])
	}
	fmt.Fprintf(&b, " ELSE '%s' END END", unknownStatusFix)
	return b.String()
}

func quoteList(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = "'" + v + "'"
	}
	return strings.Join(q, ", ")
}

// checkGoals: a title is required, the status must be in the enum and the
// streak in range.
func checkGoals(ctx context.Context, q querier, st *dbState, table string, c *check) error {
	title := st.column(table, "title", "text")
	status := st.column(table, "status", "text")
	streak := st.column(table, "streak_count", "bigint")
	fs, err := rowFindings(ctx, q, table, `
SELECT x.id::text, x.user_id::text, 'title is NULL', format('title "%s"', $1::text)
FROM `+table+` x WHERE `+title+` IS NULL
UNION ALL
SELECT x.id::text, x.user_id::text, format('status %s is not one of `+strings.Join(goalStatuses, ", ")+`', to_json(`+status+`)),
       format('status "%s"', `+statusExpr(status)+`)
FROM `+table+` x WHERE `+status+` IS NOT NULL AND `+status+` NOT IN (`+quoteList(goalStatuses)+`)
UNION ALL
SELECT x.id::text, x.user_id::text, format('streak_count %s is out of range 0–%s', `+streak+`, $2::int),
       format('streak_count %s', LEAST(GREATEST(`+streak+`, 0), $2::int))
FROM `+table+` x WHERE `+streak+` < 0 OR `+streak+` > $2::int
ORDER BY 1`, untitledGoal, maxStreak)
	if err != nil {
		return err
	}
	slices.SortStableFunc(fs, func(a, b finding) int { return cmpID(a.id, b.id) })
	c.findings = append(c.findings, fs...)
	return nil
}

func cmpID(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// noteDefaults reports the NULLs that become the documented defaults without asking.
func noteDefaults(ctx context.Context, q querier, st *dbState, table string, c *check) error {
	type def struct{ col, typ, becomes string }
	defs := []def{{"description", "text", `""`}}
	if table == "badges" {
		defs = append(defs, def{"date_achieved", "text", "the migration's time"})
	} else {
		defs = append(defs, def{"status", "text", `"in-progress"`}, def{"streak_count", "text", "0"})
	}
	exprs := make([]string, 0, len(defs)+1)
	for _, d := range defs {
		exprs = append(exprs, "count(*) FILTER (WHERE "+st.column(table, d.col, d.typ)+" IS NULL)")
	}
	if table == "learning_goals" {
		exprs = append(exprs, "count(*) FILTER (WHERE ("+statusExpr(st.column(table, "status", "text"))+") = 'completed')")
	}
	counts := make([]int64, len(exprs))
	dest := make([]any, len(exprs))
	for i := range counts {
		dest[i] = &counts[i]
	}
	if err := q.QueryRow(ctx, "SELECT "+strings.Join(exprs, ", ")+" FROM "+table+" x").Scan(dest...); err != nil {
		return err
	}
	for i, d := range defs {
		if counts[i] > 0 {
			c.notes = append(c.notes, fmt.Sprintf("legacy %s: %s is NULL in %s; it becomes %s", table, d.col, plural(counts[i], "row"), d.becomes))
		}
	}
	if table == "learning_goals" && counts[len(defs)] > 0 {
		c.notes = append(c.notes, fmt.Sprintf("legacy %s: %s get completed_at = the migration's time (the legacy schema did not record it)", table, plural(counts[len(defs)], "completed goal")))
	}
	return nil
}

// noteLongText reports text over the API's limits, which is kept as it is.
func noteLongText(ctx context.Context, q querier, st *dbState, table string, c *check) error {
	var parts []string
	for _, l := range textLimits[table] {
		if !st.has(table, l.column) {
			continue
		}
		n := "char_length(btrim(x." + l.column + "::text, E' \\t\\r\\n'))"
		parts = append(parts, fmt.Sprintf("SELECT x.id::text, x.user_id::text, '%s', %s, %d, x.id AS sort FROM %s x WHERE %s > %d",
			l.column, n, l.max, table, n, l.max))
	}
	if len(parts) == 0 {
		return nil
	}
	rows, err := q.Query(ctx, strings.Join(parts, " UNION ALL ")+" ORDER BY sort, 3")
	if err != nil {
		return err
	}
	var id, user *string
	var col string
	var length, limit int
	var sort *int64
	_, err = pgx.ForEachRow(rows, []any{&id, &user, &col, &length, &limit, &sort}, func() error {
		c.notes = append(c.notes, fmt.Sprintf("legacy %s id=%s user_id=%s: %s is %d characters, over the API's limit of %d; kept as it is",
			table, deref(id), deref(user), col, length, limit))
		return nil
	})
	return err
}

func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.FormatInt(n, 10) + " " + what + "s"
}

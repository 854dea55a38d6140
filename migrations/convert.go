package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// converter is migration 00002, written in Go: on a fresh database it creates
// badges and learning_goals; on the legacy shared database (CONTRACT §6) it
// converts them in place, keeping every row and id.
//
// Every change runs in a transaction of its own under lock_timeout, retried
// when a lock is not granted in time, and each step can tell from the schema
// whether it already ran, so `migrate up` after an interruption carries on
// where it stopped. The legacy users table is only read; the one statement
// that locks it (dropping a legacy foreign key removes its triggers on users)
// is a step of its own that holds the lock for a moment.
type converter struct {
	normalize   bool
	lockTimeout time.Duration
	attempts    int
	log         io.Writer
	fsys        fs.FS // the SQL migrations
}

const convertVersion = 2

func (c *converter) migration() *goose.Migration {
	return goose.NewGoMigration(convertVersion,
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error { return withPgx(ctx, db, c.up) }},
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error { return withPgx(ctx, db, c.down) }},
	)
}

// withPgx runs fn on one pgx connection of db, for pgx's arrays and batches.
func withPgx(ctx context.Context, db *sql.DB, fn func(context.Context, *pgx.Conn) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		return fn(ctx, sc.Conn())
	})
}

func (c *converter) logf(format string, args ...any) {
	fmt.Fprintf(c.log, "migrate: "+format+"\n", args...)
}

// step runs fn in a transaction under lock_timeout. When a lock is not
// granted in time (or a deadlock is detected) the transaction is rolled back,
// which releases the lock queue behind it, and retried after a pause.
func (c *converter) step(ctx context.Context, conn *pgx.Conn, what string, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = '%dms'", max(c.lockTimeout.Milliseconds(), 1))); err != nil {
				return err
			}
			return fn(tx)
		})
		if err == nil {
			return nil
		}
		if !lockBusy(err) || attempt >= c.attempts {
			return fmt.Errorf("%s: %w", what, err)
		}
		wait := backoff(attempt)
		c.logf("%s: a lock was not granted within %s (attempt %d of %d); retrying in %s",
			what, c.lockTimeout, attempt, c.attempts, wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// lockBusy: lock_not_available (lock_timeout), deadlock_detected.
func lockBusy(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "40P01")
}

// backoff grows from 100 ms to 3 s, with jitter so retries do not fall into step with the blocker.
func backoff(attempt int) time.Duration {
	d := min(100*time.Millisecond<<min(attempt-1, 5), 3*time.Second)
	return d/2 + rand.N(d/2+1)
}

// ---------------------------------------------------------------- up

func (c *converter) up(ctx context.Context, conn *pgx.Conn) error {
	st, err := inspect(ctx, conn)
	if err != nil {
		return err
	}
	var now time.Time // "the migration's time" of CONTRACT §6, one value for every row
	if err := conn.QueryRow(ctx, "SELECT statement_timestamp()").Scan(&now); err != nil {
		return err
	}
	if st.anyLegacy() {
		if err := c.fillReferences(ctx, conn, st, now); err != nil {
			return err
		}
	}
	for _, s := range schemas {
		switch {
		case st.legacyShaped(s.name):
			if err := c.convertTable(ctx, conn, st, s, now); err != nil {
				return err
			}
		case !st.exists(s.name):
			if err := c.step(ctx, conn, "create "+s.name, func(tx pgx.Tx) error { return createTable(ctx, tx, s) }); err != nil {
				return err
			}
		}
	}
	for _, s := range schemas {
		if err := c.dropAside(ctx, conn, s.name, asideLegacy+s.name); err != nil {
			return err
		}
	}
	return nil
}

func createTable(ctx context.Context, tx pgx.Tx, s tableSchema) error {
	for _, stmt := range append([]string{s.create}, s.indexes...) {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// fillReferences creates an auth_users row for every user id the legacy
// tables use, with email and username from the legacy users table (which is
// only read: a plain SELECT takes no lock that blocks the auth-service).
func (c *converter) fillReferences(ctx context.Context, conn *pgx.Conn, st *dbState, now time.Time) error {
	var ids []string
	for _, s := range schemas {
		if st.legacyShaped(s.name) {
			ids = append(ids, "SELECT user_id FROM "+s.name)
		}
	}
	email, username, created, join := "NULL::text", "NULL::text", "$1::timestamptz", ""
	if st.legacyUsers() {
		join = "LEFT JOIN users x ON x.id = ids.user_id"
		email, username = st.column("users", "email", "text"), st.column("users", "username", "text")
		// member_since (CONTRACT §3) is the account's creation when the legacy table has it.
		if typ := st.columns["users"]["created_at"]; strings.HasPrefix(typ, "timestamp") {
			created = "COALESCE(" + st.timestampExpr("users", "created_at") + ", $1)"
		}
	}
	query := `INSERT INTO auth_users (auth_user_id, email, username, created_at, updated_at)
SELECT ids.user_id::text, ` + email + `, ` + username + `, ` + created + `, $1
FROM (` + strings.Join(ids, " UNION ") + `) ids ` + join + `
WHERE ids.user_id >= 0
ON CONFLICT (auth_user_id) DO NOTHING`
	var n int64
	err := c.step(ctx, conn, "create the references of legacy users", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, query, now)
		n = tag.RowsAffected()
		return err
	})
	if err == nil {
		c.logf("created %d auth_users references for the users of the legacy tables", n)
	}
	return err
}

// convertTable rebuilds one legacy table at the new schema in one
// transaction: the legacy table is set aside (renamed with its indexes and
// sequence), the new one is created by the same statements as on a fresh
// database, every row is copied with its id, and the identity continues
// after the highest id the legacy table ever handed out.
func (c *converter) convertTable(ctx context.Context, conn *pgx.Conn, st *dbState, s tableSchema, now time.Time) error {
	aside := asideLegacy + s.name
	var chk check
	var copied, next int64
	err := c.step(ctx, conn, "convert legacy "+s.name, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "LOCK TABLE "+s.name+" IN ACCESS EXCLUSIVE MODE"); err != nil {
			return err
		}
		// Checked again under the lock: rows may have changed since the pre-flight check.
		var err error
		if chk, err = checkTable(ctx, tx, st, s.name); err != nil {
			return err
		}
		if len(chk.findings) > 0 && (!c.normalize || !chk.fixable()) {
			return refusal(c.log, chk, c.normalize)
		}
		if err := setAside(ctx, tx, s.name, asideLegacy); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.create); err != nil {
			return err
		}
		// References for rows written since fillReferences ran; the users table is not read here.
		if _, err := tx.Exec(ctx, `INSERT INTO auth_users (auth_user_id, created_at, updated_at)
SELECT DISTINCT user_id::text, $1::timestamptz, $1::timestamptz FROM `+aside+` ON CONFLICT (auth_user_id) DO NOTHING`, now); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, copySQL(st, s.name, aside), copyArgs(s.name, now, chk)...)
		if err != nil {
			return err
		}
		copied = tag.RowsAffected()
		if next, err = continueIdentity(ctx, tx, s.name, aside); err != nil {
			return err
		}
		for _, stmt := range s.indexes {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, "ANALYZE "+s.name)
		return err
	})
	if err != nil {
		return err
	}
	for _, n := range chk.notes {
		c.logf("note: %s", n)
	}
	for _, f := range chk.findings {
		c.logf("fixed: %s", f)
	}
	c.logf("converted legacy %s: %d rows copied with their ids; new ids start at %d", s.name, copied, next+1)
	return nil
}

// refusal prints every finding and explains what to do.
func refusal(log io.Writer, chk check, normalize bool) error {
	for _, n := range chk.notes {
		fmt.Fprintf(log, "migrate: note: %s\n", n)
	}
	for _, f := range chk.findings {
		fmt.Fprintf(log, "migrate: %s\n", f)
	}
	unfixable := 0
	for _, f := range chk.findings {
		if f.fix == "" {
			unfixable++
		}
	}
	msg := fmt.Sprintf("%s, listed above with the fix for each; nothing was changed; "+
		"`usersvc migrate up --normalize-legacy` applies exactly those fixes", plural(int64(len(chk.findings)), "problem"))
	if unfixable > 0 {
		msg = fmt.Sprintf("%s, listed above; %d without an automatic fix, so nothing was changed: "+
			"correct those by hand, then migrate again", plural(int64(len(chk.findings)), "problem"), unfixable)
		if normalize {
			msg += " (--normalize-legacy fixes the others)"
		}
	}
	return fmt.Errorf("%w: %s", ErrLegacyData, msg)
}

func copySQL(st *dbState, table, aside string) string {
	col := func(name, typ string) string { return st.column(table, name, typ) }
	if table == "badges" {
		return `INSERT INTO badges (id, auth_user_id, name, description, icon_url, date_achieved, created_at)
SELECT x.id, x.user_id::text, COALESCE(f.name, ` + col("name", "text") + `), COALESCE(` + col("description", "text") + `, ''),
       ` + col("icon_url", "text") + `, COALESCE(` + st.timestampExpr(table, "date_achieved") + `, $1), $1
FROM ` + aside + ` x LEFT JOIN unnest($2::bigint[], $3::text[]) AS f(id, name) ON f.id = x.id`
	}
	return `INSERT INTO learning_goals (id, auth_user_id, title, description, status, streak_count, created_at, updated_at, completed_at, version)
SELECT x.id, x.user_id::text, COALESCE(` + col("title", "text") + `, $2), COALESCE(` + col("description", "text") + `, ''),
       s.status, LEAST(GREATEST(COALESCE(` + col("streak_count", "bigint") + `, 0), 0), $3), $1, $1,
       CASE WHEN s.status = 'completed' THEN $1::timestamptz END, 1
FROM ` + aside + ` x CROSS JOIN LATERAL (SELECT ` + statusExpr(col("status", "text")) + ` AS status) s`
}

func copyArgs(table string, now time.Time, chk check) []any {
	if table == "badges" {
		ids := make([]int64, 0, len(chk.names))
		names := make([]string, 0, len(chk.names))
		for id, name := range chk.names {
			ids, names = append(ids, id), append(names, name)
		}
		return []any{now, ids, names}
	}
	return []any{now, untitledGoal, maxStreak}
}

// setAside renames table, its indexes (and so its index-backed constraints),
// its other constraints and its sequences out of the way of the new table's names.
func setAside(ctx context.Context, tx pgx.Tx, table, prefix string) error {
	rows, err := tx.Query(ctx, `
SELECT format('ALTER INDEX %I RENAME TO %I', c.relname, $2 || 'idx_' || c.oid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass
UNION ALL
SELECT format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I', $1, k.conname, $2 || 'con_' || k.oid)
FROM pg_constraint k WHERE k.conrelid = $1::regclass AND k.conindid = 0
UNION ALL
SELECT format('ALTER SEQUENCE %I RENAME TO %I', s.relname, $2 || 'seq_' || s.oid)
FROM pg_depend d JOIN pg_class s ON s.oid = d.objid
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
  AND d.refobjid = $1::regclass AND s.relkind = 'S' AND d.deptype IN ('a', 'i')`, table, prefix)
	if err != nil {
		return err
	}
	stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s RENAME TO %s", table, prefix+table))
	for _, stmt := range stmts {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// continueIdentity makes table's id sequence continue after the highest id
// handed out so far: the highest row, or the old sequence if it went further
// (ids of deleted rows are not handed out again). It returns that id.
func continueIdentity(ctx context.Context, tx pgx.Tx, table, old string) (int64, error) {
	var hi int64
	if err := tx.QueryRow(ctx, "SELECT COALESCE(max(id), 0) FROM "+table).Scan(&hi); err != nil {
		return 0, err
	}
	var oldSeq *string
	if err := tx.QueryRow(ctx, "SELECT pg_get_serial_sequence($1, 'id')", old).Scan(&oldSeq); err != nil {
		return 0, err
	}
	if oldSeq != nil {
		var last int64
		if err := tx.QueryRow(ctx, "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM "+*oldSeq).Scan(&last); err != nil {
			return 0, err
		}
		hi = max(hi, last)
	}
	if hi >= 1 {
		if _, err := tx.Exec(ctx, "SELECT setval(pg_get_serial_sequence($1, 'id'), $2)", table, hi); err != nil {
			return 0, err
		}
	}
	return max(hi, 0), nil
}

// dropAside removes a set-aside table: first each of its foreign keys in a
// short step of its own (dropping one locks the referenced table, e.g. the
// auth-service's users, for a moment), then the table, which by then locks
// nothing but itself.
func (c *converter) dropAside(ctx context.Context, conn *pgx.Conn, table, aside string) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", aside).Scan(&exists); err != nil || !exists {
		return err
	}
	rows, err := conn.Query(ctx, `SELECT conname, confrelid::regclass::text FROM pg_constraint
WHERE conrelid = $1::regclass AND contype = 'f' ORDER BY conname`, aside)
	if err != nil {
		return err
	}
	type fk struct{ name, ref string }
	var fks []fk
	var k fk
	if _, err := pgx.ForEachRow(rows, []any{&k.name, &k.ref}, func() error { fks = append(fks, k); return nil }); err != nil {
		return err
	}
	for _, k := range fks {
		what := fmt.Sprintf("drop the old foreign key of %s to %s", table, k.ref)
		start := time.Now()
		err := c.step(ctx, conn, what, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", aside, pgx.Identifier{k.name}.Sanitize()))
			return err
		})
		if err != nil {
			return err
		}
		c.logf("dropped the old foreign key of %s to %s (%s)", table, k.ref, time.Since(start).Round(time.Millisecond))
	}
	return c.step(ctx, conn, "drop "+aside, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "DROP TABLE "+aside)
		return err
	})
}

// ---------------------------------------------------------------- down

// down undoes 00002. Where the legacy users table exists the database was (or
// shares) the legacy one: badges and learning_goals go back to the legacy
// shape with every row, user_id again an integer with its foreign key to
// users. Elsewhere they are dropped, like any rollback of a fresh database.
func (c *converter) down(ctx context.Context, conn *pgx.Conn) error {
	st, err := inspect(ctx, conn)
	if err != nil {
		return err
	}
	if !st.legacyUsers() {
		return c.step(ctx, conn, "drop badges and learning_goals", func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "DROP TABLE IF EXISTS learning_goals; DROP TABLE IF EXISTS badges")
			return err
		})
	}
	if err := refuseRestore(ctx, conn, st); err != nil {
		return err
	}
	for _, s := range schemas {
		if !st.newShaped(s.name) {
			continue
		}
		var copied int64
		err := c.step(ctx, conn, "restore the legacy shape of "+s.name, func(tx pgx.Tx) error {
			var err error
			copied, err = restoreTable(ctx, tx, s.name)
			return err
		})
		if err != nil {
			return err
		}
		c.logf("restored the legacy shape of %s: %d rows, user_id from auth_user_id", s.name, copied)
	}
	for _, s := range schemas {
		if st.exists(s.name) || st.newShaped(s.name) {
			if err := c.legacyForeignKey(ctx, conn, s.name); err != nil {
				return err
			}
		}
	}
	return nil
}

// refuseRestore: the legacy schema keys rows by an integer user_id, so every
// auth_user_id in use must be one (canonical decimal, within integer range).
func refuseRestore(ctx context.Context, conn *pgx.Conn, st *dbState) error {
	var problems []string
	for _, s := range schemas {
		if !st.newShaped(s.name) {
			continue
		}
		var n, bigIDs int64
		var examples []string
		err := conn.QueryRow(ctx, `
SELECT count(*) FILTER (WHERE NOT numeric_id), count(*) FILTER (WHERE id > 2147483647),
       COALESCE((array_agg(DISTINCT auth_user_id) FILTER (WHERE NOT numeric_id))[1:5], '{}')
FROM (SELECT id, auth_user_id,
             auth_user_id ~ '^(0|[1-9][0-9]{0,9})$' AND (length(auth_user_id) < 10 OR auth_user_id <= '2147483647') AS numeric_id
      FROM `+s.name+`) t`).Scan(&n, &bigIDs, &examples)
		if err != nil {
			return err
		}
		if n > 0 {
			problems = append(problems, fmt.Sprintf("%d %s rows belong to auth_user_ids that are not integers (e.g. %s)", n, s.name, strings.Join(examples, ", ")))
		}
		if bigIDs > 0 {
			problems = append(problems, fmt.Sprintf("%d %s rows have ids beyond the legacy integer range", bigIDs, s.name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("refusing to roll back past the conversion, the legacy schema cannot hold them: %s; nothing was changed",
			strings.Join(problems, "; "))
	}
	return nil
}

func restoreTable(ctx context.Context, tx pgx.Tx, table string) (int64, error) {
	if _, err := tx.Exec(ctx, "LOCK TABLE "+table+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		return 0, err
	}
	if err := setAside(ctx, tx, table, asideNew); err != nil {
		return 0, err
	}
	aside := asideNew + table
	if _, err := tx.Exec(ctx, legacyCreate[table]); err != nil {
		return 0, err
	}
	copySQL := `INSERT INTO badges (id, user_id, name, description, icon_url, date_achieved)
SELECT id, auth_user_id::integer, name, description, icon_url, date_achieved AT TIME ZONE 'UTC' FROM ` + aside
	if table == "learning_goals" {
		copySQL = `INSERT INTO learning_goals (id, user_id, title, description, status, streak_count)
SELECT id, auth_user_id::integer, title, description, status, streak_count FROM ` + aside
	}
	tag, err := tx.Exec(ctx, copySQL)
	if err != nil {
		return 0, err
	}
	if _, err := continueIdentity(ctx, tx, table, aside); err != nil {
		return 0, err
	}
	// The set-aside table references only auth_users, so dropping it locks nothing of the auth-service.
	_, err = tx.Exec(ctx, "DROP TABLE "+aside)
	return tag.RowsAffected(), err
}

// legacyForeignKey restores table.user_id → users(id) in two short steps:
// added NOT VALID (a brief lock on users that blocks writes, not reads), then
// validated (which blocks neither). Rows of users the legacy table does not
// know (created since the conversion) leave it NOT VALID, with a warning.
func (c *converter) legacyForeignKey(ctx context.Context, conn *pgx.Conn, table string) error {
	var name *string
	var valid bool
	err := conn.QueryRow(ctx, `SELECT conname, convalidated FROM pg_constraint
WHERE conrelid = $1::regclass AND contype = 'f' AND confrelid = 'users'::regclass`, table).Scan(&name, &valid)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	fk := table + "_user_id_fkey"
	if name == nil {
		err := c.step(ctx, conn, "add the foreign key of "+table+" to users", func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "ALTER TABLE "+table+" ADD CONSTRAINT "+fk+" FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID")
			return err
		})
		if err != nil {
			return err
		}
	} else if valid {
		return nil
	} else {
		fk = *name
	}
	err = c.step(ctx, conn, "validate the foreign key of "+table+" to users", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "ALTER TABLE "+table+" VALIDATE CONSTRAINT "+pgx.Identifier{fk}.Sanitize())
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		c.logf("warning: %s has rows of users missing from the users table; its foreign key %s stays NOT VALID (it still checks new rows)", table, fk)
		return nil
	}
	return err
}

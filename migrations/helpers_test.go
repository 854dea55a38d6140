package migrations_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"usersvc/internal/testkit/pgtest"
	"usersvc/migrations"
	"usersvc/platform/config"
)

// syncBuffer collects what the runner writes; the conversion writes from one
// goroutine, the tests read from another.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run opens a runner on url, applies action and returns its output and diagnostics.
func run(t *testing.T, url, action string, opts ...migrations.Option) (out, diag string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var d syncBuffer
	out, err = runWith(ctx, t, url, action, &d, opts...)
	return out, d.String(), err
}

// runWith is run with the caller's context and diagnostics writer.
func runWith(ctx context.Context, t *testing.T, url, action string, diag io.Writer, opts ...migrations.Option) (string, error) {
	t.Helper()
	var o syncBuffer
	r, err := migrations.Open(config.Config{DatabaseURL: url, DatabasePoolSize: 1, DatabasePoolRecycle: time.Hour}, &o,
		append([]migrations.Option{migrations.WithDiagnostics(diag)}, opts...)...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer r.Close()
	switch action {
	case "up":
		err = r.Up(ctx)
	case "down":
		err = r.Down(ctx)
	case "status":
		err = r.Status(ctx)
	default:
		t.Fatalf("unknown action %q", action)
	}
	return o.String(), err
}

func mustRun(t *testing.T, url, action string, opts ...migrations.Option) (out, diag string) {
	t.Helper()
	out, diag, err := run(t, url, action, opts...)
	if err != nil {
		t.Fatalf("migrate %s: %v\nout:\n%s\ndiagnostics:\n%s", action, err, out, diag)
	}
	return out, diag
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	// The tables change shape under the test's feet: no cached statements.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func execSQL(t *testing.T, url, sql string) {
	t.Helper()
	conn := connect(t, url)
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("exec: %v", err)
	}
}

// legacyDatabase is a fresh database holding a fixture of testdata/.
func legacyDatabase(t *testing.T, fixture string) string {
	t.Helper()
	sql, err := os.ReadFile("testdata/" + fixture)
	if err != nil {
		t.Fatal(err)
	}
	url := pgtest.NewDatabase(t)
	execSQL(t, url, string(sql))
	return url
}

// lines runs a query returning one text column and returns its rows.
func lines(t *testing.T, conn *pgx.Conn, sql string, args ...any) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("query: %v\n%s", err, sql)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("query: %v\n%s", err, sql)
	}
	return out
}

// schemaDump describes every object of the public schema that the API's code
// could notice — tables, columns (order, type, nullability, default,
// identity), constraints, indexes, sequences and what owns them, triggers —
// leaving out the auth-service's users table.
func schemaDump(t *testing.T, url string) []string {
	t.Helper()
	return lines(t, connect(t, url), `
WITH rel AS (
    SELECT c.* FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relname NOT IN ('users', 'users_id_seq', 'users_pkey'))
SELECT format('relation %s kind=%s persistence=%s', relname, relkind, relpersistence) FROM rel
UNION ALL
SELECT format('column %s.%s #%s %s notnull=%s default=%s identity=%s generated=%s collation=%s',
              c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
              pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attcollation)
FROM rel c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p')
UNION ALL
SELECT format('constraint %s.%s %s deferrable=%s validated=%s', c.relname, k.conname, pg_get_constraintdef(k.oid),
              k.condeferrable, k.convalidated)
FROM pg_constraint k JOIN rel c ON c.oid = k.conrelid
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN rel c ON c.oid = i.indrelid
UNION ALL
SELECT format('sequence %s type=%s start=%s min=%s max=%s increment=%s cycle=%s cache=%s',
              sequencename, data_type, start_value, min_value, max_value, increment_by, cycle, cache_size)
FROM pg_sequences WHERE schemaname = 'public' AND sequencename <> 'users_id_seq'
UNION ALL
SELECT format('owned %s by %s.%s deptype=%s', s.relname, t.relname, a.attname, d.deptype)
FROM pg_depend d JOIN rel s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_class t ON t.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
UNION ALL
SELECT format('trigger %s.%s %s', c.relname, tg.tgname, pg_get_triggerdef(tg.oid))
FROM pg_trigger tg JOIN rel c ON c.oid = tg.tgrelid WHERE NOT tg.tgisinternal
ORDER BY 1`)
}

// tableData is every row of a table as JSON, in id order.
func tableData(t *testing.T, conn *pgx.Conn, table string) []string {
	t.Helper()
	return lines(t, conn, "SELECT row_to_json(x)::text FROM "+pgx.Identifier{table}.Sanitize()+" x ORDER BY 1")
}

func diffLines(a, b []string) string {
	in := func(xs []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range xs {
			m[x] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, x := range a {
		if !mb[x] {
			out = append(out, "- "+x)
		}
	}
	for _, x := range b {
		if !ma[x] {
			out = append(out, "+ "+x)
		}
	}
	return strings.Join(out, "\n")
}

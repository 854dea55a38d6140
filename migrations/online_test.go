package migrations_test

import (
	"context"
	"io/fs"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"usersvc/internal/testkit/pgtest"
	"usersvc/migrations"
	"usersvc/platform/config"
)

// withTestMigrations is the embedded migrations plus files of a test's own.
func withTestMigrations(t *testing.T, extra map[string]string) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		out[path] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range extra {
		out[name] = &fstest.MapFile{Data: []byte(text)}
	}
	return out
}

// A column and an index for learning_goals as the rules of
// docs/operations.md want them: the column without a rewrite (a constant
// default), the index built concurrently in a migration of its own.
var onlineMigrations = map[string]string{
	"00100_goal_archived.sql": `-- +goose Up
ALTER TABLE learning_goals ADD COLUMN archived boolean NOT NULL DEFAULT false;
-- +goose Down
ALTER TABLE learning_goals DROP COLUMN archived;
`,
	"00101_goal_archived_idx.sql": `-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY IF NOT EXISTS learning_goals_user_archived_idx ON learning_goals (auth_user_id, archived);
-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS learning_goals_user_archived_idx;
`,
}

// hooks calls each hook's do, synchronously, the first time a line
// containing its text is written: the runner waits for it, so what do
// changes is in place before the runner's next statement.
type hooks struct {
	syncBuffer
	mu   sync.Mutex
	list []hook
}

type hook struct {
	on   string
	do   func()
	done bool
}

func (h *hooks) Write(p []byte) (int, error) {
	n, err := h.syncBuffer.Write(p)
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.list {
		if !h.list[i].done && strings.Contains(string(p), h.list[i].on) {
			h.list[i].done = true
			h.list[i].do()
			break
		}
	}
	return n, err
}

// seedGoals fills learning_goals with users×perUser rows.
func seedGoals(t *testing.T, url string, users, perUser int) {
	t.Helper()
	execSQL(t, url, `
INSERT INTO auth_users (auth_user_id) SELECT 'u' || u FROM generate_series(1, `+strconv.Itoa(users)+`) u;
INSERT INTO learning_goals (auth_user_id, title)
SELECT 'u' || (1 + g % `+strconv.Itoa(users)+`), 'goal ' || g FROM generate_series(1, `+strconv.Itoa(users*perUser)+`) g;
ANALYZE learning_goals;`)
}

// The service keeps writing learning_goals while a column and an index are
// added to it: an inserter and an updater in a loop are never kept waiting
// longer than the lock timeout (plus scheduling noise). A writer's
// transaction held open makes the ADD COLUMN give way (its exclusive lock
// would otherwise queue every writer behind it); a second one, opened as
// soon as the column is there, makes the concurrent index build give way,
// leaving an invalid index that the retry drops and builds again.
func TestMigrationsKeepLearningGoalsWritable(t *testing.T) {
	const lockTimeout = 300 * time.Millisecond
	const noise = 300 * time.Millisecond // a loaded 2-core machine under -race
	url := pgtest.NewDatabase(t)
	mustRun(t, url, "up")
	seedGoals(t, url, 1000, 100) // 100,000 goals: the build takes a while
	inserter, updater, holder1, holder2, check := connect(t, url), connect(t, url), connect(t, url), connect(t, url), connect(t, url)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	filenode := func() (n uint32) {
		if err := check.QueryRow(context.Background(), "SELECT relfilenode FROM pg_class WHERE relname = 'learning_goals'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := filenode()

	hold := func(conn *pgx.Conn, id int) pgx.Tx {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "UPDATE learning_goals SET title = title WHERE id = $1", id); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	var tx2 pgx.Tx
	tx1 := hold(holder1, 1)
	commit := func(tx *pgx.Tx) func() {
		return func() {
			if err := (*tx).Commit(context.Background()); err != nil {
				t.Errorf("commit: %v", err)
			}
		}
	}
	diag := &hooks{list: []hook{
		{on: "00100_goal_archived.sql: a lock was not granted", do: commit(&tx1)},
		{on: "00101_goal_archived_idx.sql: a lock was not granted", do: commit(&tx2)},
	}}
	out := &hooks{list: []hook{{on: "up 00100", do: func() { tx2 = hold(holder2, 2) }}}}

	var slowest, writes atomic.Int64
	record := func(d time.Duration) {
		writes.Add(1)
		for {
			old := slowest.Load()
			if int64(d) <= old || slowest.CompareAndSwap(old, int64(d)) {
				return
			}
		}
	}
	write := func(conn *pgx.Conn, sql string, arg func() any) {
		for ctx.Err() == nil {
			start := time.Now()
			_, err := conn.Exec(ctx, sql, arg())
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				t.Errorf("write: %v", err)
				return
			}
			record(time.Since(start))
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // new goals
		defer wg.Done()
		write(inserter, "INSERT INTO learning_goals (auth_user_id, title) VALUES ($1, 'new')",
			func() any { return "u" + strconv.Itoa(1+rand.N(1000)) })
	}()
	go func() { // updated goals, never the held rows
		defer wg.Done()
		write(updater, "UPDATE learning_goals SET title = title || '.', version = version + 1 WHERE id = $1",
			func() any { return 3 + rand.N(199_000) })
	}()

	r, err := migrations.Open(config.Config{DatabaseURL: url, DatabasePoolSize: 1, DatabasePoolRecycle: time.Hour}, out,
		migrations.WithSource(withTestMigrations(t, onlineMigrations)), migrations.WithDiagnostics(diag),
		migrations.WithLockTimeout(lockTimeout), migrations.WithLockAttempts(50))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	err = r.Up(runCtx)
	took := time.Since(start)
	stop()
	wg.Wait()
	if err != nil {
		t.Fatalf("up: %v\n%s\n%s", err, out.String(), diag.String())
	}
	t.Logf("migrations took %s; %d writes, the slowest %s\n%s%s", took.Round(time.Millisecond), writes.Load(),
		time.Duration(slowest.Load()).Round(time.Millisecond), out.String(), diag.String())

	for _, h := range append(diag.list, out.list...) {
		if !h.done {
			t.Errorf("never happened: %q; the test proves less than it claims", h.on)
		}
	}
	if !strings.Contains(diag.String(), "dropped the invalid index public.learning_goals_user_archived_idx") {
		t.Error("the invalid index of the failed build was not dropped before the retry")
	}
	var valid bool
	if err := check.QueryRow(context.Background(), `SELECT indisvalid FROM pg_index
WHERE indexrelid = 'learning_goals_user_archived_idx'::regclass`).Scan(&valid); err != nil || !valid {
		t.Errorf("the index is not there and valid: valid=%v err=%v", valid, err)
	}
	if after := filenode(); after != before {
		t.Error("adding the column rewrote learning_goals")
	}
	if writes.Load() == 0 {
		t.Fatal("no write completed during the migrations")
	}
	if d := time.Duration(slowest.Load()); d > lockTimeout+noise {
		t.Errorf("a write of learning_goals waited %s; the lock timeout is %s", d, lockTimeout)
	}
}

// A migration that keeps giving way stops after the attempts allowed, with
// one line that says what happened and what to do, and nothing applied.
func TestMigrationGivesUpAfterItsAttempts(t *testing.T) {
	url := pgtest.NewDatabase(t)
	mustRun(t, url, "up")
	holder := connect(t, url)
	tx, err := holder.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(context.Background(), "LOCK TABLE learning_goals IN ROW EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	_, diag, err := run(t, url, "up", migrations.WithSource(withTestMigrations(t, onlineMigrations)),
		migrations.WithLockTimeout(50*time.Millisecond), migrations.WithLockAttempts(3))
	if err == nil {
		t.Fatal("up went through while a transaction held the table")
	}
	msg := err.Error()
	for _, want := range []string{"00100_goal_archived.sql", "gave up after 3 attempts", "--lock-timeout", "55P03"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	if got := strings.Count(diag, "was not granted"); got != 2 {
		t.Errorf("%d retries announced, want 2:\n%s", got, diag)
	}
	var n int
	if err := connect(t, url).QueryRow(context.Background(),
		"SELECT count(*) FROM goose_db_version WHERE version_id >= 100").Scan(&n); err != nil || n != 0 {
		t.Errorf("test migrations recorded as applied: %d (%v)", n, err)
	}
}

package authref_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"usersvc/internal/testkit/pgtest"
	"usersvc/modules/authref"
	"usersvc/modules/authref/authclient"
	"usersvc/platform/config"
)

// logBuffer is a goroutine-safe operator log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func mustExec(t testing.TB, db *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
}

// legacyUsers adds the shared database's users table: user k (1..n) has id
// 2k+1, an email unless k%10 == 0, a non-ASCII username for k%7 == 0.
func legacyUsers(t testing.TB, db *pgxpool.Pool, n int) {
	t.Helper()
	mustExec(t, db, `CREATE TABLE users (id serial PRIMARY KEY, email varchar(255), username varchar(100),
    hashed_password varchar(255) NOT NULL DEFAULT 'secret-hash', created_at timestamp DEFAULT now())`)
	mustExec(t, db, `INSERT INTO users (id, email, username)
SELECT 2 * k + 1, CASE WHEN k % 10 = 0 THEN NULL ELSE 'u' || k || '@example.org' END,
       CASE WHEN k % 7 = 0 THEN 'Zoë_' || k || '_日本' ELSE 'user' || k END
FROM generate_series(1, $1::int) k`, n)
}

// references is auth_users as id → "email|username".
func references(t testing.TB, db *pgxpool.Pool) map[string]string {
	t.Helper()
	rows, err := db.Query(context.Background(), "SELECT auth_user_id, coalesce(email, '∅') || '|' || coalesce(username, '∅') FROM auth_users")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var id, v string
	if _, err := pgx.ForEachRow(rows, []any{&id, &v}, func() error { out[id] = v; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func count(t testing.TB, db *pgxpool.Pool, sql string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	return n
}

func legacySource(t testing.TB, db *pgxpool.Pool) *authref.LegacyUsers {
	t.Helper()
	src, err := authref.NewLegacyUsers(context.Background(), db, "test")
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// mixedReferences sets up, for 1,000 legacy users: 100 references already
// right, 50 with a stale email, 20 orphans (one with a badge), 5 tombstoned
// users, and one reference changed by an event after the page was read.
func mixedReferences(t testing.TB, db *pgxpool.Pool) {
	t.Helper()
	legacyUsers(t, db, 1000)
	mustExec(t, db, `INSERT INTO auth_users (auth_user_id, email, username)
SELECT id::text, email, username FROM users WHERE id BETWEEN 3 AND 201`) // k = 1..100
	mustExec(t, db, `INSERT INTO auth_users (auth_user_id, email, username)
SELECT id::text, 'old-' || k || '@example.org', username FROM users, LATERAL (SELECT (id - 1) / 2 AS k) x
WHERE id BETWEEN 203 AND 301`) // k = 101..150: stale
	mustExec(t, db, `INSERT INTO auth_users (auth_user_id) SELECT 'orphan-' || g FROM generate_series(1, 19) g`)
	mustExec(t, db, `INSERT INTO auth_users (auth_user_id) VALUES ('99999')`)
	mustExec(t, db, `INSERT INTO badges (auth_user_id, name) VALUES ('orphan-1', 'kept until confirmed')`)
	mustExec(t, db, `INSERT INTO auth_user_tombstones (auth_user_id, deleted_at)
SELECT id::text, now() FROM users WHERE id BETWEEN 1001 AND 1009`) // k = 500..504
	// An event refreshed this one after the backfill's snapshot: newer wins.
	mustExec(t, db, `INSERT INTO auth_users (auth_user_id, email, updated_at) VALUES ('2001', 'event@example.org', now() + interval '1 hour')`)
}

func TestBackfillFromLegacyUsers(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t, pgtest.Migrated(t))
	mixedReferences(t, db)
	var log logBuffer

	res, err := authref.Backfill(ctx, db, legacySource(t, db), authref.BackfillOptions{BatchSize: 128, Log: &log})
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, log.String())
	}
	// 1,000 listed: 100 right, 50 stale, 5 tombstoned, 1 newer by event, 844 new.
	want := authref.BackfillResult{Created: 844, Updated: 50, Unchanged: 101, Orphans: 20, Skipped: 5}
	if res != want {
		t.Errorf("result %+v, want %+v\n%s", res, want, log.String())
	}
	if got := res.Summary(); got != "created=844 updated=50 unchanged=101 orphans=20" {
		t.Errorf("summary %q", got)
	}
	refs := references(t, db)
	for k := 1; k <= 1000; k++ {
		id := strconv.Itoa(2*k + 1)
		want := "u" + strconv.Itoa(k) + "@example.org|user" + strconv.Itoa(k)
		if k%10 == 0 {
			want = "∅|" + strings.SplitN(want, "|", 2)[1]
		}
		if k%7 == 0 {
			want = strings.SplitN(want, "|", 2)[0] + "|Zoë_" + strconv.Itoa(k) + "_日本"
		}
		switch {
		case k >= 500 && k <= 504:
			if _, ok := refs[id]; ok {
				t.Errorf("tombstoned user %s came back", id)
			}
		case k == 1000:
			if refs[id] != "event@example.org|∅" {
				t.Errorf("the reference an event refreshed after the snapshot was overwritten: %q", refs[id])
			}
		default:
			if refs[id] != want {
				t.Errorf("reference %s: %q, want %q", id, refs[id], want)
			}
		}
	}
	for _, orphan := range []string{"orphan-1", "orphan-19", "99999"} {
		if _, ok := refs[orphan]; !ok || !strings.Contains(log.String(), "backfill: orphan: "+orphan+" ") {
			t.Errorf("orphan %s is not kept and listed:\n%s", orphan, log.String())
		}
	}
	if n := count(t, db, "SELECT (SELECT count(*) FROM auth_user_backfill_progress) + (SELECT count(*) FROM auth_user_backfill_seen)"); n != 0 {
		t.Errorf("a finished run left %d rows of progress", n)
	}

	// A second run finds everything as it left it.
	again, err := authref.Backfill(ctx, db, legacySource(t, db), authref.BackfillOptions{BatchSize: 1000, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if want := (authref.BackfillResult{Unchanged: 995, Orphans: 20, Skipped: 5}); again != want {
		t.Errorf("second run %+v, want %+v", again, want)
	}
}

func TestBackfillDryRunWritesNothing(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t, pgtest.Migrated(t))
	mixedReferences(t, db)
	snapshot := func() string {
		var s string
		err := db.QueryRow(ctx, `SELECT (SELECT coalesce(string_agg(row_to_json(a)::text, ',' ORDER BY auth_user_id), '') FROM auth_users a)
    || (SELECT count(*) FROM auth_user_backfill_progress) || (SELECT count(*) FROM auth_user_backfill_seen)
    || (SELECT count(*) FROM auth_user_tombstones) || (SELECT count(*) FROM badges)`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := snapshot()
	var log logBuffer
	res, err := authref.Backfill(ctx, db, legacySource(t, db), authref.BackfillOptions{BatchSize: 100, DryRun: true,
		DeleteOrphans: true, Checker: notFoundChecker{}, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if want := (authref.BackfillResult{Created: 844, Updated: 50, Unchanged: 101, Orphans: 20, Skipped: 5}); res != want {
		t.Errorf("dry run %+v, want what a real run does: %+v", res, want)
	}
	if after := snapshot(); after != before {
		t.Error("the dry run wrote to the database")
	}
	if !strings.Contains(log.String(), "dry run: no orphan deleted") {
		t.Errorf("log:\n%s", log.String())
	}
}

type notFoundChecker struct{}

func (notFoundChecker) Get(context.Context, string) (authclient.User, error) {
	return authclient.User{}, authclient.ErrNotFound
}

// countingSource counts the users a source served.
type countingSource struct {
	authref.BackfillSource
	served atomic.Int64
}

func (c *countingSource) Page(ctx context.Context, cursor string, limit int) ([]authref.BackfillUser, string, error) {
	users, next, err := c.BackfillSource.Page(ctx, cursor, limit)
	c.served.Add(int64(len(users)))
	return users, next, err
}

// stopAfter cancels the run after n batches were written.
type stopAfter struct {
	n, batches int
	cancel     func()
}

func (s *stopAfter) Start(int64, int64) {}
func (s *stopAfter) Finish()            {}
func (s *stopAfter) Add(int) {
	if s.batches++; s.batches == s.n {
		s.cancel()
	}
}

func TestBackfillResumesAfterAnInterruption(t *testing.T) {
	db := pgtest.Pool(t, pgtest.Migrated(t))
	legacyUsers(t, db, 1000)
	var log logBuffer

	ctx, cancel := context.WithCancel(context.Background())
	first := &countingSource{BackfillSource: legacySource(t, db)}
	_, err := authref.Backfill(ctx, db, first, authref.BackfillOptions{BatchSize: 100, Log: &log,
		Progress: &stopAfter{n: 3, cancel: cancel}})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "run the same command again to resume") {
		t.Fatalf("interrupted run: %v", err)
	}
	written := count(t, db, "SELECT count(*) FROM auth_users")
	if written < 300 || written >= 1000 {
		t.Fatalf("%d references after the interruption, want the batches written so far", written)
	}

	second := &countingSource{BackfillSource: legacySource(t, db)}
	res, err := authref.Backfill(context.Background(), db, second, authref.BackfillOptions{BatchSize: 100, Log: &log})
	if err != nil {
		t.Fatalf("resumed run: %v\n%s", err, log.String())
	}
	if want := (authref.BackfillResult{Created: 1000, Resumed: true}); res != want {
		t.Errorf("resumed run %+v, want %+v (the whole run's counts)", res, want)
	}
	if n := second.served.Load(); n != 1000-written {
		t.Errorf("the resumed run read %d users again; %d were left", n, 1000-written)
	}
	if n := count(t, db, "SELECT count(*) FROM auth_users"); n != 1000 {
		t.Errorf("%d references, want 1000", n)
	}
	if !strings.Contains(log.String(), "backfill: resuming the run of legacy users table in test") {
		t.Errorf("log:\n%s", log.String())
	}
}

func TestBackfillRunsOneAtATime(t *testing.T) {
	url := pgtest.Migrated(t)
	db := pgtest.Pool(t, url)
	legacyUsers(t, db, 10)
	holder, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	if _, err := holder.Exec(context.Background(), "SELECT pg_advisory_lock($1)", 0x75_73_72_62_66_69_6c); err != nil {
		t.Fatal(err)
	}
	_, err = authref.Backfill(context.Background(), db, legacySource(t, db), authref.BackfillOptions{BatchSize: 10})
	if !errors.Is(err, authref.ErrBackfillRunning) {
		t.Errorf("a second concurrent run: %v, want ErrBackfillRunning", err)
	}
}

// fakeAuthService serves CONTRACT §5's GET /users?limit&offset and GET
// /users/{id}: listed users, plus ids Get knows that the listing does not
// show, plus ids it fails on.
type fakeAuthService struct {
	listed   []map[string]any
	extra    map[string]bool // known to Get only
	failing  map[string]bool // Get answers 500
	limits   atomic.Int64    // the last limit asked
	gets     sync.Map        // id → number of Gets
	pageHits atomic.Int64
}

func (f *fakeAuthService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/users" {
		f.pageHits.Add(1)
		limit, err1 := strconv.Atoi(r.URL.Query().Get("limit"))
		offset, err2 := strconv.Atoi(r.URL.Query().Get("offset"))
		if err1 != nil || err2 != nil || limit < 1 || offset < 0 {
			http.Error(w, "bad paging", http.StatusBadRequest)
			return
		}
		f.limits.Store(int64(limit))
		limit = min(limit, 70) // the auth-service caps pages lower than asked
		page := []map[string]any{}
		if offset < len(f.listed) {
			page = f.listed[offset:min(offset+limit, len(f.listed))]
		}
		_ = json.NewEncoder(w).Encode(page)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/users/")
	n, _ := f.gets.LoadOrStore(id, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	switch {
	case f.failing[id]:
		http.Error(w, "boom", http.StatusInternalServerError)
	case f.extra[id]:
		_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "email": nil, "username": nil})
	default:
		for _, u := range f.listed {
			if fmt.Sprint(u["id"]) == id {
				_ = json.NewEncoder(w).Encode(u)
				return
			}
		}
		http.Error(w, `{"detail":"not found"}`, http.StatusNotFound)
	}
}

func (f *fakeAuthService) getsOf(id string) int64 {
	n, ok := f.gets.Load(id)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

func TestBackfillFromTheAuthService(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t, pgtest.Migrated(t))
	fake := &fakeAuthService{extra: map[string]bool{"listed-late": true}, failing: map[string]bool{"flaky": true}}
	for k := 1; k <= 500; k++ {
		u := map[string]any{"id": k, "email": fmt.Sprintf("a%d@example.org", k), "username": fmt.Sprintf("ä%d", k)}
		if k%2 == 0 {
			u["id"] = fmt.Sprintf("auth0.%d", k) // opaque string ids too
			u["username"] = nil
		}
		fake.listed = append(fake.listed, u)
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	client := authclient.New(config.Config{AuthServiceURL: srv.URL, AuthServiceTimeout: 2 * time.Second}, zap.NewNop())

	mustExec(t, db, `INSERT INTO auth_users (auth_user_id, email) VALUES ('1', 'a1@example.org'), ('3', 'stale@example.org'),
    ('gone', NULL), ('listed-late', NULL), ('flaky', NULL)`)
	mustExec(t, db, `INSERT INTO badges (auth_user_id, name) VALUES ('gone', 'First Steps'), ('flaky', 'Kept')`)
	src := authref.NewAuthServiceUsers(client, srv.URL)

	// Listing only: orphans are listed, never touched.
	var log logBuffer
	res, err := authref.Backfill(ctx, db, src, authref.BackfillOptions{BatchSize: 100, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	// '1' has no username locally while the auth-service has one: updated too.
	if want := (authref.BackfillResult{Created: 498, Updated: 2, Orphans: 3}); res != want {
		t.Errorf("result %+v, want %+v\n%s", res, want, log.String())
	}
	if fake.limits.Load() != 100 {
		t.Errorf("asked pages of %d, want the batch size", fake.limits.Load())
	}
	refs := references(t, db)
	if refs["2"] != "" || refs["auth0.2"] != "a2@example.org|∅" || refs["3"] != "a3@example.org|ä3" || len(refs) != 503 {
		t.Errorf("references: %d, auth0.2=%q 3=%q", len(refs), refs["auth0.2"], refs["3"])
	}
	for _, id := range []string{"gone", "listed-late", "flaky"} {
		if fake.getsOf(id) != 0 {
			t.Errorf("the orphan %s was looked up without --delete-orphans", id)
		}
	}

	// --delete-orphans: asks once, then deletes only what answers 404.
	asked := 0
	res, err = authref.Backfill(ctx, db, src, authref.BackfillOptions{BatchSize: 1000, Log: &log, DeleteOrphans: true,
		Checker: client, Confirm: func(n int64) (bool, error) {
			asked++
			if n != 3 {
				t.Errorf("asked to confirm %d orphans, want 3", n)
			}
			return true, nil
		}})
	if !errors.Is(err, authref.ErrOrphansUnconfirmed) {
		t.Fatalf("with an unanswered orphan: %v\n%s", err, log.String())
	}
	if want := (authref.BackfillResult{Unchanged: 500, Orphans: 3, Deleted: 1}); res != want || asked != 1 {
		t.Errorf("result %+v (asked %d times), want %+v", res, asked, want)
	}
	refs = references(t, db)
	if _, ok := refs["gone"]; ok {
		t.Error("the orphan the auth-service does not know was kept")
	}
	if _, ok := refs["listed-late"]; !ok {
		t.Error("an orphan the auth-service knows was deleted")
	}
	if _, ok := refs["flaky"]; !ok {
		t.Error("an orphan the auth-service did not answer for was deleted")
	}
	if n := count(t, db, "SELECT count(*) FROM badges WHERE auth_user_id = 'gone'"); n != 0 {
		t.Errorf("the deleted orphan's badges remain: %d", n)
	}
	if n := count(t, db, "SELECT count(*) FROM auth_user_tombstones WHERE auth_user_id = 'gone'"); n != 1 {
		t.Error("the deleted orphan left no tombstone")
	}
	for _, id := range []string{"gone", "listed-late"} {
		if fake.getsOf(id) != 1 {
			t.Errorf("orphan %s was checked %d times, want once", id, fake.getsOf(id))
		}
	}

	// Not confirmed: nothing is deleted, nothing is asked of the auth-service.
	before := fake.getsOf("listed-late")
	_, err = authref.Backfill(ctx, db, src, authref.BackfillOptions{BatchSize: 1000, Log: &log, DeleteOrphans: true,
		Checker: client, Confirm: func(int64) (bool, error) { return false, nil }})
	if err != nil || fake.getsOf("listed-late") != before {
		t.Errorf("declined deletion: %v, %d lookups", err, fake.getsOf("listed-late")-before)
	}
}

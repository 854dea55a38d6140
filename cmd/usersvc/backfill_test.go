package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"usersvc/internal/testkit/pgtest"
)

func sqlExec(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
}

func sqlCount(t *testing.T, url, sql string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	return n
}

// withLegacyUsers adds a legacy users table of n users (ids 2k+1) to url.
func withLegacyUsers(t *testing.T, url string, n int) {
	t.Helper()
	sqlExec(t, url, `CREATE TABLE users (id serial PRIMARY KEY, email varchar(255), username varchar(100),
    hashed_password varchar(255) NOT NULL DEFAULT 'never-read')`)
	sqlExec(t, url, `INSERT INTO users (id, email, username) SELECT 2 * k + 1, 'u' || k || '@example.org', 'user' || k
FROM generate_series(1, $1::int) k`, n)
}

func TestBackfillUsageErrors(t *testing.T) {
	t.Parallel()
	db := map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1:1/x?connect_timeout=2"}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		code int
		says string
	}{
		{"no source", db, []string{}, exitUsage, "--source is required"},
		{"bad source", db, []string{"--source", "ldap"}, exitUsage, `--source must be auth-service or legacy, got "ldap"`},
		{"batch too small", db, []string{"--source", "legacy", "--batch-size", "0"}, exitUsage, "--batch-size"},
		{"batch too large", db, []string{"--source", "legacy", "--batch-size", "1000000"}, exitUsage, "--batch-size"},
		{"legacy url for the auth-service", db, []string{"--source", "auth-service", "--legacy-database-url", "postgres://x@y/z"}, exitUsage, "--legacy-database-url"},
		{"auth-service without its URL", db, []string{"--source", "auth-service"}, exitUsage, "AUTH_SERVICE_URL"},
		{"delete orphans unattended", db, []string{"--source", "legacy", "--delete-orphans"}, exitUsage, "--yes"},
		{"no database", map[string]string{}, []string{"--source", "legacy"}, exitUsage, "DATABASE_URL"},
		{"unknown flag", db, []string{"--source", "legacy", "--fast"}, exitUsage, "unknown flag"},
		{"database unreachable", db, []string{"--source", "legacy"}, exitRuntime, "unreachable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.env, "", append([]string{"backfill-auth-users"}, tc.args...)...)
			if r.code != tc.code || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tc.says) || r.stdout != "" {
				t.Errorf("exit %d (want %d), stdout %q, stderr %q (want one line with %q)", r.code, tc.code, r.stdout, r.stderr, tc.says)
			}
		})
	}
}

func TestBackfillFromTheLegacyTableThroughTheCLI(t *testing.T) {
	t.Parallel()
	url := pgtest.Migrated(t)
	withLegacyUsers(t, url, 2500)
	sqlExec(t, url, "INSERT INTO auth_users (auth_user_id) VALUES ('orphan-a'), ('orphan-b')")
	env := map[string]string{"DATABASE_URL": url}

	dry := runCLI(t, env, "", "backfill-auth-users", "--source", "legacy", "--dry-run")
	if dry.code != exitOK || dry.stdout != "created=2500 updated=0 unchanged=0 orphans=2\n" {
		t.Fatalf("dry run: exit %d, stdout %q\n%s", dry.code, dry.stdout, dry.stderr)
	}
	if n := sqlCount(t, url, "SELECT count(*) FROM auth_users"); n != 2 {
		t.Errorf("the dry run wrote: %d references", n)
	}

	r := runCLI(t, env, "", "backfill-auth-users", "--source", "legacy", "--batch-size", "1000")
	if r.code != exitOK || r.stdout != "created=2500 updated=0 unchanged=0 orphans=2\n" {
		t.Fatalf("exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	// Not a terminal: plain progress lines, the orphans listed, on stderr.
	for _, want := range []string{"backfill: started 0 of 2500 users", "backfill: listed 2500 of 2500 users (100%)",
		"backfill: orphan: orphan-a", "backfill: orphan: orphan-b"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "\r") {
		t.Error("a progress bar was drawn on a non-terminal")
	}

	sqlExec(t, url, "UPDATE users SET email = 'new@example.org' WHERE id = 5")
	again := runCLI(t, env, "", "backfill-auth-users", "--source", "legacy")
	if again.code != exitOK || again.stdout != "created=0 updated=1 unchanged=2499 orphans=2\n" {
		t.Errorf("second run: exit %d, stdout %q\n%s", again.code, again.stdout, again.stderr)
	}
	if n := sqlCount(t, url, "SELECT count(*) FROM auth_users WHERE auth_user_id LIKE 'orphan-%'"); n != 2 {
		t.Errorf("orphans were deleted without --delete-orphans: %d left", n)
	}
}

func TestBackfillFromAnotherLegacyDatabase(t *testing.T) {
	t.Parallel()
	url, legacy := pgtest.Migrated(t), pgtest.NewDatabase(t)
	withLegacyUsers(t, legacy, 300)
	r := runCLI(t, map[string]string{"DATABASE_URL": url}, "", "backfill-auth-users", "--source", "legacy",
		"--legacy-database-url", legacy)
	if r.code != exitOK || r.stdout != "created=300 updated=0 unchanged=0 orphans=0\n" {
		t.Fatalf("exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if n := sqlCount(t, url, "SELECT count(*) FROM auth_users WHERE email LIKE 'u%@example.org'"); n != 300 {
		t.Errorf("%d references with their email", n)
	}
	// A database without a users table is a runtime failure, not a usage error.
	r = runCLI(t, map[string]string{"DATABASE_URL": url}, "", "backfill-auth-users", "--source", "legacy")
	if r.code != exitRuntime || !strings.Contains(r.stderr, "no legacy users table") || r.stdout != "" {
		t.Errorf("no users table: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestBackfillFromTheAuthServiceThroughTheCLI(t *testing.T) {
	t.Parallel()
	users := make([]map[string]any, 0, 250)
	for k := 1; k <= 250; k++ {
		users = append(users, map[string]any{"id": k, "email": fmt.Sprintf("a%d@example.org", k), "username": nil})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/users" {
			limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
			offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
			page := []map[string]any{}
			if offset < len(users) {
				page = users[offset:min(offset+limit, len(users))]
			}
			_ = json.NewEncoder(w).Encode(page)
			return
		}
		http.NotFound(w, r) // every orphan is gone
	}))
	defer srv.Close()
	url := pgtest.Migrated(t)
	sqlExec(t, url, "INSERT INTO auth_users (auth_user_id) VALUES ('1'), ('ghost')")
	sqlExec(t, url, "INSERT INTO learning_goals (auth_user_id, title) VALUES ('ghost', 'haunt')")
	env := map[string]string{"DATABASE_URL": url, "AUTH_SERVICE_URL": srv.URL}

	r := runCLI(t, env, "", "backfill-auth-users", "--source", "auth-service", "--batch-size", "100", "--delete-orphans", "--yes")
	if r.code != exitOK || r.stdout != "created=249 updated=1 unchanged=0 orphans=1\n" {
		t.Fatalf("exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "backfill: deleted orphan ghost: the auth-service answered 404") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if n := sqlCount(t, url, "SELECT count(*) FROM auth_users WHERE auth_user_id = 'ghost'") +
		sqlCount(t, url, "SELECT count(*) FROM learning_goals"); n != 0 {
		t.Error("the orphan or its goal is still there")
	}
}

// pagedAuthService lists n users (ids 1..n) and refuses a limit over
// maxLimit with 422, as an auth-service that caps its pages does; refuse,
// when set, is the status of every answer. It counts the listings asked.
type pagedAuthService struct {
	n, maxLimit, refuse int
	asked               atomic.Int64
}

func (a *pagedAuthService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.asked.Add(1)
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	switch {
	case a.refuse != 0:
		http.Error(w, `{"detail":"no"}`, a.refuse)
		return
	case limit < 1 || limit > a.maxLimit:
		http.Error(w, `{"detail":"limit must be 1-1000"}`, http.StatusUnprocessableEntity)
		return
	}
	page := []map[string]any{}
	for id := offset + 1; id <= min(offset+limit, a.n); id++ {
		page = append(page, map[string]any{"id": id, "email": fmt.Sprintf("p%d@example.org", id)})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(page)
}

// TestBackfillAsksTheAuthServiceForPagesOfAtMost1000: a write batch of 5000
// against an auth-service that refuses limit > 1000 completes (CONTRACT §5).
func TestBackfillAsksTheAuthServiceForPagesOfAtMost1000(t *testing.T) {
	t.Parallel()
	auth := &pagedAuthService{n: 2500, maxLimit: 1000}
	srv := httptest.NewServer(auth)
	defer srv.Close()
	env := map[string]string{"DATABASE_URL": pgtest.Migrated(t), "AUTH_SERVICE_URL": srv.URL}
	r := runCLI(t, env, "", "backfill-auth-users", "--source", "auth-service", "--batch-size", "5000")
	if r.code != exitOK || r.stdout != "created=2500 updated=0 unchanged=0 orphans=0\n" {
		t.Fatalf("exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if n := sqlCount(t, env["DATABASE_URL"], "SELECT count(*) FROM auth_users WHERE email LIKE 'p%@example.org'"); n != 2500 {
		t.Errorf("%d references, want 2500", n)
	}
}

// TestBackfillReportsAnAuthServiceRefusalOnce: a 4xx is the auth-service
// refusing the request, not an outage: one error line with its status,
// exit 1, and no second try (CONTRACT §5).
func TestBackfillReportsAnAuthServiceRefusalOnce(t *testing.T) {
	t.Parallel()
	auth := &pagedAuthService{n: 10, maxLimit: 1000, refuse: http.StatusBadRequest}
	srv := httptest.NewServer(auth)
	defer srv.Close()
	env := map[string]string{"DATABASE_URL": pgtest.Migrated(t), "AUTH_SERVICE_URL": srv.URL}
	r := runCLI(t, env, "", "backfill-auth-users", "--source", "auth-service")
	if r.code != exitRuntime || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q, want 1 and nothing\n%s", r.code, r.stdout, r.stderr)
	}
	if last := lastLine(r.stderr); countLines(r.stderr, "usersvc:") != 1 || strings.Contains(r.stderr, "attempt") ||
		!strings.Contains(last, "refused") || !strings.Contains(last, "status 400") {
		t.Errorf("stderr %q, want one error line naming the refusal and its status, no retry", r.stderr)
	}
	if n := auth.asked.Load(); n != 1 {
		t.Errorf("the auth-service was asked %d times, want once", n)
	}
}

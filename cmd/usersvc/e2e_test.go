package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"usersvc/internal/testkit/apptest"
	"usersvc/internal/testkit/pgtest"
	"usersvc/internal/testkit/proctest"
)

func migrateEnv(dbURL string) []string { return []string{"DATABASE_URL=" + dbURL} }

func countVersions(t *testing.T, dbURL string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func tableExists(t *testing.T, dbURL, table string) bool {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var ok bool
	if err := conn.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestMigrateUpDownUp(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	dir := t.TempDir()
	steps := []struct {
		args                   []string
		wantGoals, wantTracker bool
	}{
		{[]string{"migrate"}, true, true}, // migrate alone means up
		{[]string{"migrate", "up"}, true, true},
		{[]string{"migrate", "down"}, true, true},  // one step back: the hashed idempotency scopes
		{[]string{"migrate", "down"}, true, true},  // one step back: the check-in's write cost
		{[]string{"migrate", "down"}, true, true},  // the check-in function
		{[]string{"migrate", "down"}, true, true},  // one step back: the outbox's doorbell
		{[]string{"migrate", "down"}, true, true},  // the idempotency keys
		{[]string{"migrate", "down"}, true, true},  // the outbox
		{[]string{"migrate", "down"}, true, false}, // then the tracker
		{[]string{"migrate", "down"}, false, false},
		{[]string{"migrate", "up"}, true, true},
	}
	for _, s := range steps {
		r := runBinary(t, dir, migrateEnv(db), s.args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", s.args, r.code, r.stderr)
		}
		if got := tableExists(t, db, "learning_goals"); got != s.wantGoals {
			t.Fatalf("after %v learning_goals exists=%v", s.args, got)
		}
		if got := tableExists(t, db, "check_ins"); got != s.wantTracker {
			t.Fatalf("after %v check_ins exists=%v", s.args, got)
		}
	}
	r := runBinary(t, dir, migrateEnv(db), "migrate", "status")
	if r.code != 0 || strings.Contains(r.stdout, "pending") {
		t.Fatalf("status after up: %d %s", r.code, r.stdout)
	}
}

func TestConcurrentMigrateUp(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	dir := t.TempDir()
	const n = 3
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = runBinary(t, dir, migrateEnv(db), "migrate", "up")
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("run %d: exit %d: %s", i, r.code, r.stderr)
		}
	}
	// Each migration applied exactly once, whoever applied it.
	r := runBinary(t, dir, migrateEnv(db), "migrate", "status")
	applied := strings.Count(r.stdout, "applied")
	if got := countVersions(t, db); got != applied || applied == 0 {
		t.Fatalf("goose_db_version has %d rows for %d migrations", got, applied)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs `usersvc serve` on a migrated database and waits for /health.
func startServe(t *testing.T, dbURL string, extraEnv ...string) (*exec.Cmd, string, *proctest.Output) {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(binary, "serve")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + dbURL, "SECRET_KEY=" + apptest.Secret,
		"HTTP_ADDR=" + addr, "LOG_LEVEL=info"}, extraEnv...)
	logs := &proctest.Output{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd, addr, logs
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("serve did not answer /health: %s", logs.String())
	return nil, "", nil
}

// TestGracefulShutdown holds a row lock so that a PUT is in flight when
// SIGTERM arrives: the PUT must still complete, and serve must exit 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	db := pgtest.Migrated(t)
	cmd, addr, logs := startServe(t, db)
	base := "http://" + addr
	token := apptest.Token(t, "grace", nil)

	req, _ := http.NewRequest("POST", base+"/users/grace/goals", strings.NewReader(`{"title":"finish me"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: %v %v", err, resp)
	}
	loc := resp.Header.Get("Location")
	resp.Body.Close()

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM learning_goals WHERE auth_user_id = 'grace' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}

	done := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest("PUT", base+loc, strings.NewReader(`{"status":"completed"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("in-flight PUT failed: %v", err)
			done <- nil
			return
		}
		done <- resp
	}()
	waitFor(t, func() bool { return strings.Contains(activity(t, db), "UPDATE learning_goals") })

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // shutdown has begun; the PUT is still blocked
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r == nil {
		t.FailNow()
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(body), `"completed"`) {
		t.Fatalf("in-flight PUT: %d %s", r.StatusCode, body)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve did not exit 0 after SIGTERM: %v\n%s", err, logs.String())
	}
	if _, err := http.Get(base + "/health"); err == nil {
		t.Fatal("still listening after shutdown")
	}
}

func activity(t *testing.T, dbURL string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var q string
	_ = conn.QueryRow(context.Background(),
		`SELECT coalesce(string_agg(query, ';'), '') FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&q)
	return q
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not reached in time")
}

// TestServeLogsAreJSONWithRequestIDs checks the access log: one JSON line per
// request, with its request id, and never the bearer token.
func TestServeLogsAreJSONWithRequestIDs(t *testing.T) {
	t.Parallel()
	db := pgtest.Migrated(t)
	cmd, addr, logs := startServe(t, db)
	token := apptest.Token(t, "logme", nil)
	req, _ := http.NewRequest("GET", "http://"+addr+"/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Request-ID", "trace-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Request-ID") != "trace-123" {
		t.Fatalf("request id not echoed: %q", resp.Header.Get("X-Request-ID"))
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	out := logs.String()
	if strings.Contains(out, token) || strings.Contains(out, apptest.Secret) {
		t.Fatal("a token or the secret reached the log")
	}
	found := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			t.Fatalf("not a JSON line: %s", line)
		}
		found = found || strings.Contains(line, `"request_id":"trace-123"`)
	}
	if !found {
		t.Fatalf("no log line carries the request id:\n%s", out)
	}
}

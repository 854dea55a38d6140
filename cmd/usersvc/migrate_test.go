package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"usersvc/internal/testkit/pgtest"
)

// cli runs the command line in-process through run, as main does.
type cliRun struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return cliRun{code: code, stdout: out.String(), stderr: errOut.String()}
}

// lastLine is the line run writes for a failing command.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func countLines(s, prefix string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func legacyFixture(t *testing.T, name string) string {
	t.Helper()
	sql, err := os.ReadFile("../../migrations/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	url := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), string(sql)); err != nil {
		t.Fatal(err)
	}
	return url
}

func TestMigrateLegacyDatabaseThroughTheCLI(t *testing.T) {
	t.Parallel()
	url := legacyFixture(t, "legacy_dirty.sql")
	env := map[string]string{"DATABASE_URL": url}

	r := runCLI(t, env, "", "migrate")
	if r.code != exitRuntime {
		t.Fatalf("migrate on dirty legacy data: exit %d, want %d\n%s", r.code, exitRuntime, r.stderr)
	}
	if n := countLines(r.stderr, "migrate: legacy "); n != 26 {
		t.Errorf("%d rows listed, want every one of the 26:\n%s", n, r.stderr)
	}
	if last := lastLine(r.stderr); !strings.HasPrefix(last, "usersvc: migrate up: ") || !strings.Contains(last, "--normalize-legacy") ||
		!strings.Contains(last, "nothing was changed") {
		t.Errorf("last line %q", last)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q", r.stdout)
	}
	if tableExists(t, url, "auth_users") || tableExists(t, url, "goose_db_version") {
		t.Error("the refused migration created tables")
	}

	for _, bad := range [][]string{
		{"migrate", "down", "--normalize-legacy"},
		{"migrate", "status", "--normalize-legacy"},
		{"migrate", "up", "--lock-timeout", "1ms"},
		{"migrate", "up", "--lock-timeout", "soon"},
	} {
		if r := runCLI(t, env, "", bad...); r.code != exitUsage || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, want %d with one line; stderr %q", bad, r.code, exitUsage, r.stderr)
		}
	}

	r = runCLI(t, env, "", "migrate", "up", "--normalize-legacy", "--lock-timeout", "500ms")
	if r.code != exitOK {
		t.Fatalf("migrate up --normalize-legacy: exit %d\n%s", r.code, r.stderr)
	}
	if n := countLines(r.stderr, "migrate: fixed: legacy "); n != 26 {
		t.Errorf("%d fixes logged, want 26:\n%s", n, r.stderr)
	}
	if !strings.Contains(r.stdout, "migrate: up 00002") {
		t.Errorf("stdout %q", r.stdout)
	}
	if r := runCLI(t, env, "", "migrate", "up"); r.code != exitOK || !strings.Contains(r.stdout, "already up to date") {
		t.Errorf("second up: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	// down goes back one step: first the hashed idempotency scopes (00009), the check-in's write cost (00008), the
	// check-in function (00007), the outbox's doorbell (00006), the idempotency keys (00005), the outbox (00004), the
	// tracker (00003), then the conversion.
	if r := runCLI(t, env, "", "migrate", "down"); r.code != exitOK || !tableExists(t, url, "idempotency_keys") || tableExists(t, url, "idempotency_answers") {
		t.Errorf("down past the hashed idempotency scopes: exit %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, env, "", "migrate", "down"); r.code != exitOK || !tableExists(t, url, "idempotency_keys") {
		t.Errorf("down past the check-in's write cost: exit %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, env, "", "migrate", "down"); r.code != exitOK || !tableExists(t, url, "idempotency_keys") {
		t.Errorf("down past the check-in function: exit %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, env, "", "migrate", "down"); r.code != exitOK || !tableExists(t, url, "idempotency_keys") {
		t.Errorf("down past the doorbell: exit %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, env, "", "migrate", "down"); r.code != exitOK || tableExists(t, url, "idempotency_keys") || !tableExists(t, url, "outbox_events") {
		t.Errorf("down past the idempotency keys: exit %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, env, "", "migrate", "down"); r.code != exitOK || tableExists(t, url, "outbox_events") || !tableExists(t, url, "check_ins") {
		t.Errorf("down past the outbox: exit %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, env, "", "migrate", "down"); r.code != exitOK || tableExists(t, url, "check_ins") {
		t.Errorf("down past the tracker: exit %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, env, "", "migrate", "down"); r.code != exitOK || !tableExists(t, url, "badges") || !tableExists(t, url, "learning_goals") {
		t.Errorf("down: exit %d %q", r.code, r.stderr)
	}
	var userID bool
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_attribute
WHERE attrelid = 'badges'::regclass AND attname = 'user_id' AND NOT attisdropped)`).Scan(&userID); err != nil || !userID {
		t.Errorf("after down badges has no user_id again (%v)", err)
	}
}

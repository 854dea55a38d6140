package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"usersvc/internal/testkit/proctest"
)

// binary is the real usersvc, built once for the end-to-end tests of this package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "usersvc-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary, err = proctest.Build(dir, "usersvc/cmd/usersvc")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// result is a finished run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// runBinary runs usersvc with args and env (on top of a minimal environment) in dir.
func runBinary(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := "SECRET_KEY=" + strings.Repeat("k", 40)
	cases := []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr string
	}{
		{"help", nil, []string{"--help"}, 0, ""},
		{"version", nil, []string{"version"}, 0, ""},
		{"unknown command", nil, []string{"frobnicate"}, 2, "unknown command"},
		{"unknown flag", nil, []string{"serve", "--no-such-flag"}, 2, "unknown flag"},
		{"unknown root flag", nil, []string{"--no-such-flag"}, 2, "unknown flag"},
		{"unknown subcommand", nil, []string{"migrate", "up", "sideways"}, 2, "unknown command"},
		{"flag without its value", nil, []string{"gen-secret", "--length"}, 2, "flag needs an argument"},
		{"extra args", nil, []string{"version", "extra"}, 2, "unknown command"},
		{"too many args", nil, []string{"migrate", "up", "down"}, 2, "unknown command"},
		{"migrate too many actions", nil, []string{"migrate", "sideways", "up2"}, 2, "accepts at most 1 arg"},
		{"backfill extra args", nil, []string{"backfill-auth-users", "--source", "legacy", "now"}, 2, "unknown command"},
		{"backfill bad source", nil, []string{"backfill-auth-users", "--source", "nowhere"}, 2, "--source must be auth-service or legacy"},
		{"backfill no source", nil, []string{"backfill-auth-users"}, 2, "--source is required"},
		{"help of an unknown topic", nil, []string{"help", "frobnicate"}, 0, ""},
		{"gen-secret too short", nil, []string{"gen-secret", "--length", "8"}, 2, "--length"},
		{"gen-secret not a number", nil, []string{"gen-secret", "--length", "many"}, 2, "invalid argument"},
		{"serve short secret", []string{"DATABASE_URL=postgres://x@127.0.0.1:1/x", "SECRET_KEY=12345"}, []string{"serve"}, 2, "SECRET_KEY"},
		{"serve placeholder secret", []string{"DATABASE_URL=postgres://x@127.0.0.1:1/x", "SECRET_KEY=changeme"}, []string{"serve"}, 2, "placeholder"},
		{"serve without database", []string{secret}, []string{"serve"}, 2, "DATABASE_URL"},
		{"bad pool size", []string{secret, "DATABASE_URL=postgres://x@127.0.0.1:1/x", "DATABASE_POOL_SIZE=-3"}, []string{"serve"}, 2, "DATABASE_POOL_SIZE"},
		{"migrate unknown action", []string{"DATABASE_URL=postgres://x@127.0.0.1:1/x"}, []string{"migrate", "sideways"}, 2, "sideways"},
		// A runtime error whose text reads like a usage mistake is still a runtime error (the
		// old text matching answered 2 here).
		{"runtime error worded like usage", []string{"DATABASE_URL=postgres://x@127.0.0.1:1/unknown%20command?connect_timeout=2"}, []string{"migrate", "up"}, 1, "unreachable"},
		{"migrate unreachable database", []string{"DATABASE_URL=postgres://x@127.0.0.1:1/x?connect_timeout=2"}, []string{"migrate", "up"}, 1, "unreachable"},
		{"serve unreachable database", []string{secret, "DATABASE_URL=postgres://x@127.0.0.1:1/x?connect_timeout=1", "HTTP_ADDR=127.0.0.1:0"}, []string{"serve"}, 1, "database unreachable"},
		{"consume unreachable broker", []string{"DATABASE_URL=" + os.Getenv("USERSVC_TEST_DATABASE_URL"), "RABBITMQ_URL=amqp://guest:guest@127.0.0.1:1/", "CONSUMER_HEALTH_ADDR=127.0.0.1:0"}, []string{"consume"}, 1, "rabbitmq unreachable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runBinary(t, dir, tc.env, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tc.code, r.stderr)
			}
			if tc.code != 0 {
				lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
				if len(lines) != 1 || !strings.Contains(lines[0], tc.stderr) {
					t.Fatalf("want one stderr line mentioning %q, got %q", tc.stderr, r.stderr)
				}
			}
		})
	}
}

func TestHelpListsSubcommands(t *testing.T) {
	t.Parallel()
	r := runBinary(t, t.TempDir(), nil, "--help")
	for _, sub := range []string{"serve", "consume", "migrate", "backfill-auth-users", "gen-secret", "version"} {
		if !strings.Contains(r.stdout, sub) {
			t.Errorf("--help does not list %s", sub)
		}
	}
}

func TestGenSecret(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seen := map[string]bool{}
	for _, tc := range []struct {
		args   []string
		hexLen int
	}{{nil, 64}, {[]string{"--length", "32"}, 64}, {[]string{"--length", "48"}, 96}, {nil, 64}, {nil, 64}} {
		r := runBinary(t, dir, nil, append([]string{"gen-secret"}, tc.args...)...)
		out := strings.TrimSpace(r.stdout)
		if r.code != 0 || len(out) != tc.hexLen || strings.Trim(out, "0123456789abcdef") != "" {
			t.Fatalf("gen-secret %v: code %d output %q", tc.args, r.code, r.stdout)
		}
		if seen[out] {
			t.Fatalf("gen-secret repeated itself: %s", out)
		}
		seen[out] = true
	}
}

func TestDotEnvIsRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("DATABASE_URL=postgres://x@127.0.0.1:1/x\nSECRET_KEY=short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runBinary(t, dir, nil, "serve")
	if r.code != 2 || !strings.Contains(r.stderr, "SECRET_KEY: must be at least 32 bytes") {
		t.Fatalf("the .env secret was not checked: %d %q", r.code, r.stderr)
	}
}

package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"usersvc/internal/testkit/faultproxy"
	"usersvc/internal/testkit/pgtest"
)

// TestBackfillFailsWithOneLineWhenTheAuthServiceIsUnreachable: an
// auth-service that answers too late, never, or resets every connection is
// an outage: the backfill retries the page (3 attempts), then exits 1 with
// one line that says so, in bounded time.
func TestBackfillFailsWithOneLineWhenTheAuthServiceIsUnreachable(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name  string
		fault func(*faultproxy.Proxy)
	}{
		{"slow", func(p *faultproxy.Proxy) { p.Latency(5 * timeout) }},
		{"blackholed", (*faultproxy.Proxy).Blackhole},
		{"reset", (*faultproxy.Proxy).Reset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(&pagedAuthService{n: 10, maxLimit: 1000})
			t.Cleanup(srv.Close)
			proxy, authURL := faultproxy.Front(t, srv.URL)
			tc.fault(proxy)
			env := map[string]string{"DATABASE_URL": pgtest.Migrated(t), "AUTH_SERVICE_URL": authURL,
				"AUTH_SERVICE_TIMEOUT": timeout.String()}
			start := time.Now()
			r := runCLI(t, env, "", "backfill-auth-users", "--source", "auth-service")
			took := time.Since(start)
			if r.code != exitRuntime || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q, want 1 and nothing\n%s", r.code, r.stdout, r.stderr)
			}
			if last := lastLine(r.stderr); countLines(r.stderr, "usersvc:") != 1 || !strings.Contains(last, "auth-service unavailable") {
				t.Errorf("stderr %q, want one error line saying the auth-service is unavailable", r.stderr)
			}
			// Three attempts of one timeout each, 2 s and 4 s apart, and some slack.
			if limit := 3*timeout + 6*time.Second + 3*time.Second; took > limit {
				t.Errorf("took %s, limit %s", took, limit)
			}
			t.Logf("failed after %s: %s", took.Round(10*time.Millisecond), lastLine(r.stderr))
		})
	}
}

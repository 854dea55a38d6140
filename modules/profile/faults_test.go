package profile_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"usersvc/internal/testkit/apptest"
	"usersvc/internal/testkit/faultproxy"
	"usersvc/platform/config"
)

// These tests run the real app with a fault proxy between it and its
// dependencies (the shared PostgreSQL is never touched, only the proxy), and
// read the answers as a plain net/http client over TCP.

// reqDeadline is the request deadline the tests configure
// (DATABASE_POOL_TIMEOUT bounds a request's database work): short, yet long
// enough for a healthy request on a busy 2-core machine.
const reqDeadline = 3 * time.Second

// recoverWithin is how soon after a fault clears requests must succeed again.
const recoverWithin = time.Second

// answer is what a client got, and how long it waited.
type answer struct {
	status     int
	retryAfter string
	ctype      string
	body       string
	took       time.Duration
	err        error
}

var client = &http.Client{Timeout: 15 * time.Second} // far above any deadline under test

func send(method, url, token, body string) answer {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"),
		ctype: resp.Header.Get("Content-Type"), body: string(data), took: time.Since(start)}
}

// check503 fails unless a is a 503 problem with Retry-After, answered within limit.
func check503(t *testing.T, what string, a answer, limit time.Duration) {
	t.Helper()
	switch {
	case a.err != nil:
		t.Errorf("%s: transport error after %s: %v", what, a.took, a.err)
	case a.status != http.StatusServiceUnavailable || a.ctype != "application/problem+json" || a.retryAfter == "":
		t.Errorf("%s: %d %q Retry-After %q, want a 503 problem with Retry-After; body %s", what, a.status, a.ctype, a.retryAfter, a.body)
	case a.took > limit:
		t.Errorf("%s: answered after %s, limit %s", what, a.took, limit)
	}
}

// dbRequests are requests that need the database: a public read, the
// caller's own profile, a read and a write of settings.
func dbRequests(t *testing.T, base string) map[string]func() answer {
	token := apptest.Token(t, "42", nil)
	return map[string]func() answer{
		"GET /users/42":          func() answer { return send(http.MethodGet, base+"/users/42", "", "") },
		"GET /users/me":          func() answer { return send(http.MethodGet, base+"/users/me", token, "") },
		"GET /users/42/settings": func() answer { return send(http.MethodGet, base+"/users/42/settings", token, "") },
		"PUT /users/42/settings": func() answer {
			return send(http.MethodPut, base+"/users/42/settings", token, `{"timezone":"Europe/Paris"}`)
		},
	}
}

// appBehindDBProxy is the app with its pool behind a fault proxy.
func appBehindDBProxy(t *testing.T) (*apptest.App, *faultproxy.Proxy) {
	t.Helper()
	var proxy *faultproxy.Proxy
	app := newApp(t, func(c *config.Config) {
		proxy, c.DatabaseURL = faultproxy.Front(t, c.DatabaseURL)
		c.DatabasePoolTimeout = reqDeadline
	})
	app.Exec(`INSERT INTO auth_users (auth_user_id, email, username) VALUES ('42', 'ada@example.com', 'ada')`)
	// At once, so that the pool holds several connections when the fault comes.
	for what, a := range all(dbRequests(t, app.URL())) {
		if a.status != http.StatusOK {
			t.Fatalf("%s before the fault: %d %s %v", what, a.status, a.body, a.err)
		}
	}
	return app, proxy
}

// all sends every request at once, twice over, and returns the answers.
func all(reqs map[string]func() answer) map[string]answer {
	var mu sync.Mutex
	var wg sync.WaitGroup
	got := map[string]answer{}
	for name, do := range reqs {
		for i := range 2 {
			wg.Go(func() {
				a := do()
				mu.Lock()
				got[fmt.Sprintf("%s #%d", name, i)] = a
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return got
}

// TestStuckDatabaseAnswers503InTime: with PostgreSQL slow or blackholed,
// requests that need it answer 503 with Retry-After within the request
// deadline (never hang, never 500), and succeed again within a second of the
// fault clearing.
func TestStuckDatabaseAnswers503InTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault func(*faultproxy.Proxy)
	}{
		{"slow", func(p *faultproxy.Proxy) { p.Latency(2 * reqDeadline) }},
		{"blackholed", (*faultproxy.Proxy).Blackhole},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			app, proxy := appBehindDBProxy(t)
			tc.fault(proxy)
			for what, a := range all(dbRequests(t, app.URL())) {
				check503(t, what, a, reqDeadline+2*time.Second)
			}
			proxy.Heal()
			checkRecovery(t, dbRequests(t, app.URL()))
		})
	}
}

// checkRecovery sends each request again and again from the moment the fault
// has cleared, and fails unless each succeeds when sent within recoverWithin
// (judged by when the request was sent: how long a busy machine takes to
// answer is not the service's recovery), with nothing but 503s before.
func checkRecovery(t *testing.T, reqs map[string]func() answer) {
	t.Helper()
	healed := time.Now()
	var wg sync.WaitGroup
	for name, do := range reqs {
		wg.Go(func() {
			for {
				sent := time.Now()
				a := do()
				switch {
				case a.status == http.StatusOK && sent.Sub(healed) <= recoverWithin:
					return
				case a.status == http.StatusOK:
					t.Errorf("%s: first success sent %s after the fault cleared, want within %s", name, sent.Sub(healed), recoverWithin)
					return
				case a.status != http.StatusServiceUnavailable || time.Since(healed) > 10*recoverWithin:
					t.Errorf("%s %s after the fault cleared: %d %s %v", name, time.Since(healed), a.status, a.body, a.err)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
}

// TestResetDatabaseConnectionsAreReplaced: every pooled connection is reset;
// the next requests succeed (the pool opens new connections), with at most
// a 503 with Retry-After for a request that met a dead connection.
func TestResetDatabaseConnectionsAreReplaced(t *testing.T) {
	t.Parallel()
	app, proxy := appBehindDBProxy(t)
	open := proxy.Open()
	proxy.ResetOpen()
	failed := 0
	for round := range 5 {
		for what, a := range all(dbRequests(t, app.URL())) {
			if a.status == http.StatusOK {
				continue
			}
			check503(t, fmt.Sprintf("round %d %s", round, what), a, reqDeadline+2*time.Second)
			failed++
		}
	}
	if failed > open {
		t.Errorf("%d requests failed after %d connections were reset", failed, open)
	}
	for what, a := range all(dbRequests(t, app.URL())) {
		if a.status != http.StatusOK {
			t.Errorf("%s after the pool recovered: %d %s", what, a.status, a.body)
		}
	}
	t.Logf("%d connections reset; %d requests answered 503 before the pool recovered", open, failed)
}

// TestAuthServiceFaultsAnswer503InTime: with the auth-service slow,
// blackholed or resetting connections, a route that needs it (an id only it
// knows) answers 503 with Retry-After within AUTH_SERVICE_TIMEOUT, and
// /users/me degrades to the cached identity (CONTRACT §3); once the fault
// clears, the auth-service is asked again.
func TestAuthServiceFaultsAnswer503InTime(t *testing.T) {
	t.Parallel()
	const authTimeout = 500 * time.Millisecond
	for _, tc := range []struct {
		name  string
		fault func(*faultproxy.Proxy)
	}{
		{"slow", func(p *faultproxy.Proxy) { p.Latency(4 * authTimeout) }},
		{"blackholed", (*faultproxy.Proxy).Blackhole},
		{"reset", (*faultproxy.Proxy).Reset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			auth := apptest.NewFakeAuthService(t, map[string]string{
				"42":  `{"id": 42, "email": "ada@example.com", "username": "ada"}`,
				"555": `{"id": 555, "email": "bob@example.com", "username": "bob"}`,
				"556": `{"id": 556, "email": "eve@example.com", "username": "eve"}`,
			})
			var proxy *faultproxy.Proxy
			app := newApp(t, func(c *config.Config) {
				proxy, c.AuthServiceURL = faultproxy.Front(t, auth.URL)
				c.AuthServiceTimeout = authTimeout
			})
			base, token := app.URL(), apptest.Token(t, "42", nil)
			if a := send(http.MethodGet, base+"/users/me", token, ""); a.status != http.StatusOK {
				t.Fatalf("/users/me before the fault: %d %s", a.status, a.body)
			}
			tc.fault(proxy)
			limit := authTimeout + time.Second
			check503(t, "GET /users/555 (known only to the auth-service)", send(http.MethodGet, base+"/users/555", "", ""), limit)
			a := send(http.MethodGet, base+"/users/me", token, "")
			if a.status != http.StatusOK || !strings.Contains(a.body, "ada@example.com") || a.took > limit {
				t.Errorf("/users/me during the fault: %d after %s, %s; want the cached identity in time", a.status, a.took, a.body)
			}
			proxy.Heal()
			if a := send(http.MethodGet, base+"/users/556", "", ""); a.status != http.StatusOK {
				t.Errorf("GET /users/556 after the fault cleared: %d %s", a.status, a.body)
			}
		})
	}
}

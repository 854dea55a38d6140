package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"usersvc/platform/auth"
	"usersvc/platform/config"
	"usersvc/platform/metrics"
)

func testServer(t *testing.T, rateLimit string, routes []Route, checks ...Check) *Server {
	t.Helper()
	return testServerWith(t, rateLimit, routes, fakeOwners{}, checks...)
}

func testServerWith(t *testing.T, rateLimit string, routes []Route, owners Owners, checks ...Check) *Server {
	t.Helper()
	env := map[string]string{"RATE_LIMIT_PER_MINUTE": rateLimit, "HTTP_BODY_LIMIT": "1024"}
	return testServerEnv(t, env, Options{Routes: routes, Checks: checks}, owners)
}

// testServerEnv starts a server on a real listener with settings from env;
// opts gives its routes, checks and shutdown delay.
func testServerEnv(t *testing.T, env map[string]string, opts Options, owners Owners) *Server {
	t.Helper()
	cfg, err := config.Load(config.Source{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Secret: []byte("0123456789abcdef0123456789abcdef"), Algorithms: []string{"HS256"}, SubjectClaim: "sub", AdminScope: "users:admin"})
	if err != nil {
		t.Fatal(err)
	}
	guard, err := NewGuard(GuardParams{Config: cfg, Verifier: v, Owners: owners})
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry()
	opts.Name, opts.Addr, opts.Guard, opts.Registry = "test", "127.0.0.1:0", guard, reg
	s, err := New(cfg, zap.NewNop(), metrics.NewHTTP(reg), opts)
	if err != nil {
		t.Fatal(err)
	}
	// A real listener: the body limit is enforced by the HTTP server itself, before routing.
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

func do(t *testing.T, s *Server, method, target, body string, headers ...string) (int, map[string]any, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+s.Addr()+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	return resp.StatusCode, m, resp.Header.Get("Content-Type") + "|" + resp.Header.Get("Allow") + "|" + resp.Header.Get("Retry-After")
}

func TestHealth(t *testing.T) {
	s := testServer(t, "0", nil)
	status, body, _ := do(t, s, "GET", "/health", "")
	if status != 200 || body["status"] != "ok" {
		t.Fatalf("health: %d %v", status, body)
	}
}

func TestReady(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		status int
		check  string
	}{
		{"database up", nil, 200, "ok"},
		{"database down", errors.New("connection refused"), 503, "unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := testServer(t, "0", nil, Check{Name: "database", Run: func(context.Context) error { return tc.err }})
			status, body, meta := do(t, s, "GET", "/ready", "")
			checks, _ := body["checks"].(map[string]any)
			if status != tc.status || checks["database"] != tc.check {
				t.Fatalf("ready: %d %v", status, body)
			}
			if tc.status == 503 && (!strings.HasPrefix(meta, "application/problem+json") || !strings.HasSuffix(meta, "|5")) {
				t.Fatalf("503 must be a problem with Retry-After: %s", meta)
			}
		})
	}
}

func TestProblemsForRoutingAndLimits(t *testing.T) {
	echo := func(c *fiber.Ctx) error { return c.SendString("ok") }
	s := testServer(t, "0", []Route{
		{Method: "GET", Path: "/users/:auth_user_id/things", Handler: echo},
		{Method: "POST", Path: "/users/:auth_user_id/things", Access: OwnerOrAdmin, Handler: echo},
	})
	big := strings.Repeat("x", 2048)
	cases := []struct {
		name, method, target, body string
		headers                    []string
		status                     int
		allow                      string
	}{
		{"unknown route", "GET", "/nowhere", "", nil, 404, ""},
		{"trailing slash is another route", "GET", "/users/42/things/", "", nil, 404, ""},
		{"wrong method", "DELETE", "/users/42/things", "", nil, 405, "GET, HEAD, POST"},
		{"malformed user id", "GET", "/users/-42/things", "", nil, 400, ""},
		{"case-sensitive ids are valid", "GET", "/users/ME/things", "", nil, 200, ""},
		{"body too large", "POST", "/users/42/things", big, []string{"Content-Type", "application/json"}, 413, ""},
		{"too large on unknown route is 404", "POST", "/nowhere", big, nil, 404, ""},
		{"no token", "POST", "/users/42/things", "{}", nil, 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, meta := do(t, s, tc.method, tc.target, tc.body, tc.headers...)
			if status != tc.status {
				t.Fatalf("status %d, want %d (%v)", status, tc.status, body)
			}
			if status >= 400 {
				if !strings.HasPrefix(meta, "application/problem+json") || body["status"] != float64(status) || body["title"] == "" || body["type"] == "" {
					t.Fatalf("not a problem: %s %v", meta, body)
				}
			}
			if tc.allow != "" && !strings.Contains(meta, "|"+tc.allow+"|") {
				t.Fatalf("Allow: %s", meta)
			}
		})
	}
}

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	s := testServer(t, "2", []Route{{Method: "GET", Path: "/users/:auth_user_id/things", Handler: func(c *fiber.Ctx) error { return c.SendString("ok") }}})
	var last int
	var meta string
	for i := 0; i < 3; i++ {
		last, _, meta = do(t, s, "GET", "/users/1/things", "")
	}
	if last != 429 || strings.HasSuffix(meta, "|") {
		t.Fatalf("third request: %d %s", last, meta)
	}
	if status, _, _ := do(t, s, "GET", "/health", ""); status != 200 {
		t.Fatalf("health must not be rate limited: %d", status)
	}
}

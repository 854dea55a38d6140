// Package apptest builds the real API (the same fx graph `usersvc serve`
// runs) on a fresh test database, for integration tests that drive it
// through Fiber's in-memory transport.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"usersvc/internal/testkit/pgtest"
	"usersvc/platform"
	"usersvc/platform/config"
	"usersvc/platform/database"
	"usersvc/platform/httpserver"
)

// Secret is the HMAC key of test tokens.
const Secret = "apptest-secret-key-0123456789abcdef0123456789"

// Config returns the production defaults with a test database and secret.
func Config(t testing.TB, dbURL string) config.Config {
	t.Helper()
	cfg, err := config.Load(config.Source{Getenv: func(k string) string {
		switch k {
		case "DATABASE_URL":
			return dbURL
		case "SECRET_KEY":
			return Secret
		case "RATE_LIMIT_PER_MINUTE":
			return "0"
		case "DATABASE_POOL_SIZE":
			return "4"
		case "DATABASE_MAX_OVERFLOW":
			return "8"
		case "HTTP_ADDR":
			return "127.0.0.1:0" // a started app listens; tests still talk to it in memory
		}
		return ""
	}}, config.NeedDatabase, config.NeedSecret)
	if err != nil {
		t.Fatalf("apptest: config: %v", err)
	}
	return cfg
}

// App is a started API on its own database, stopped when the test ends.
type App struct {
	t      testing.TB
	server *httpserver.Server
	Fiber  *fiber.App
	DB     *pgxpool.Pool
	DBURL  string
	Config config.Config
}

// New starts the API with the given feature modules on a fresh migrated
// database, as `usersvc serve` starts it (every start hook runs, the server
// listens on a free loopback port), and stops it when the test ends, so that
// start-up and shutdown are exercised and nothing outlives the test. Requests
// go through Fiber's in-memory transport. tweak adjusts the configuration
// first (may be nil).
func New(t testing.TB, tweak func(*config.Config), modules ...fx.Option) *App {
	t.Helper()
	a, app := build(t, tweak, modules)
	app.RequireStart()
	t.Cleanup(app.RequireStop)
	return a
}

// NewUnstarted builds the API as New does but does not start it: for a
// database that is down from the start, which a starting server refuses (the
// tests of what a server answers once its database is gone). Its pool, the
// one thing it opened, is closed when the test ends.
func NewUnstarted(t testing.TB, tweak func(*config.Config), modules ...fx.Option) *App {
	t.Helper()
	var pool *database.Pool
	a, _ := build(t, tweak, modules, fx.Populate(&pool))
	t.Cleanup(pool.Close)
	return a
}

func build(t testing.TB, tweak func(*config.Config), modules []fx.Option, extra ...fx.Option) (*App, *fxtest.App) {
	t.Helper()
	dbURL := pgtest.Migrated(t)
	cfg := Config(t, dbURL)
	if tweak != nil {
		tweak(&cfg)
	}
	var server *httpserver.Server
	opts := append([]fx.Option{platform.Core(cfg, zap.NewNop()), httpserver.Module}, modules...)
	opts = append(opts, extra...)
	opts = append(opts, fx.Populate(&server), fx.NopLogger)
	app := fxtest.New(t, opts...)
	return &App{t: t, server: server, Fiber: server.App(), DB: pgtest.Pool(t, dbURL), DBURL: dbURL, Config: cfg}, app
}

// Token mints an HS256 token for sub with extra claims; exp defaults to an hour.
func Token(t testing.TB, sub any, extra map[string]any) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	for k, v := range extra {
		if v == nil {
			delete(claims, k)
			continue
		}
		claims[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(Secret))
	if err != nil {
		t.Fatalf("apptest: sign: %v", err)
	}
	return s
}

// AdminToken is a token with the default admin scope.
func AdminToken(t testing.TB) string {
	return Token(t, "service-awarder", map[string]any{"scope": "users:admin"})
}

// Response is a finished request with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test otherwise.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("apptest: body %q is not JSON: %v", r.Body, err)
	}
}

// Request options.
type Option func(*http.Request)

// Bearer sets the Authorization header.
func Bearer(token string) Option {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// Header sets any header.
func Header(name, value string) Option {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

// Do sends a request; body may be nil, a string/[]byte (sent as is) or any
// value (sent as JSON). JSON content type is set when there is a body.
func (a *App) Do(method, target string, body any, opts ...Option) Response {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			a.t.Fatalf("apptest: marshal: %v", err)
		}
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, target, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := a.Fiber.Test(req, 10_000)
	if err != nil {
		a.t.Fatalf("apptest: %s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// Exec runs SQL on the test database (fixtures and assertions).
func (a *App) Exec(sql string, args ...any) {
	a.t.Helper()
	if _, err := a.DB.Exec(context.Background(), sql, args...); err != nil {
		a.t.Fatalf("apptest: exec %q: %v", sql, err)
	}
}

// Problem is an RFC 9457 body as the API writes it.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Fields are the fields a 422 names, in order.
func (p Problem) Fields() []string {
	var fields []string
	for _, e := range p.Errors {
		fields = append(fields, e.Field)
	}
	return fields
}

// ExpectProblem fails unless r is an application/problem+json of the given
// status with a type and a title, and returns it.
func ExpectProblem(t testing.TB, r Response, status int) Problem {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p Problem
	r.JSON(t, &p)
	if p.Status != status || p.Type == "" || p.Title == "" {
		t.Fatalf("problem %s does not carry status %d, a type and a title", r.Body, status)
	}
	return p
}

// URL is the base URL of the started server's real listener, for tests that
// must see what a client receives over TCP (the in-memory transport skips
// the connection handling: draining an oversized body, keep-alive).
func (a *App) URL() string {
	return "http://" + a.server.Addr()
}

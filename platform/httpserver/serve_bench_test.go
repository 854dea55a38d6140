package httpserver

import (
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap/zapcore"

	"usersvc/platform/auth"
	"usersvc/platform/config"
	"usersvc/platform/jsonw"
	"usersvc/platform/logging"
	"usersvc/platform/metrics"
)

// BenchmarkServe measures what the service spends on a request outside the
// database: fasthttp's parsing and writing, the middleware (request id,
// security headers, metrics, the access log line as production writes it),
// the route chain (token check, path check, shared reads) and a handler that
// encodes a page of ten goal-like objects, as the goal list does. Requests
// arrive one at a time on one kept-alive connection held in memory.
//
//	go test -run '^$' -bench Serve -benchmem ./platform/httpserver/
func BenchmarkServe(b *testing.B) {
	s := benchServer(b)
	token := benchToken(b)
	for _, tc := range []struct{ name, request string }{
		{"public-list", "GET /users/u42/goals HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n"},
		{"owner-list", "GET /users/u42/owned HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer " + token + "\r\n\r\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			conn := &memConn{request: []byte(tc.request), left: b.N}
			b.ResetTimer()
			cpu := processCPU()
			if err := s.app.Server().ServeConn(conn); err != nil {
				b.Fatal(err)
			}
			// Wall time on a shared machine counts the neighbours' turns too;
			// the process's CPU time (GC included) does not.
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
			b.StopTimer()
			if conn.written < b.N*1000 {
				b.Fatalf("wrote %d bytes for %d requests: not the page", conn.written, b.N)
			}
		})
	}
}

func benchServer(b *testing.B) *Server {
	b.Helper()
	env := map[string]string{"RATE_LIMIT_PER_MINUTE": "0", "SECRET_KEY": settleSecret}
	cfg, err := config.Load(config.Source{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		b.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Secret: []byte(settleSecret), Algorithms: []string{"HS256"}, SubjectClaim: "sub", AdminScope: "users:admin"})
	if err != nil {
		b.Fatal(err)
	}
	guard, err := NewGuard(GuardParams{Config: cfg, Verifier: v, Owners: fakeOwners{}})
	if err != nil {
		b.Fatal(err)
	}
	log, err := logging.NewTo(cfg, zapcore.AddSync(io.Discard))
	if err != nil {
		b.Fatal(err)
	}
	reg := metrics.NewRegistry()
	page := benchPage()
	routes := []Route{
		{Method: fiber.MethodGet, Path: "/users/:auth_user_id/goals", Access: Public, Shared: true, Handler: page},
		{Method: fiber.MethodGet, Path: "/users/:auth_user_id/owned", Access: OwnerOrAdmin, Private: true, Handler: page},
	}
	s, err := New(cfg, log, metrics.NewHTTP(reg), Options{Name: "bench", Addr: "127.0.0.1:0", Routes: routes, Guard: guard, Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	s.app.Handler() // builds the route tree, as Listener does
	return s
}

// benchItem is shaped like a goal: a few strings, numbers and timestamps.
type benchItem struct {
	id                   int64
	title, desc, status  string
	created, updated     time.Time
	streak, longest, ver int64
}

func (it *benchItem) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = jsonw.Int(b, it.id)
	b = append(b, `,"title":`...)
	b = jsonw.String(b, it.title)
	b = append(b, `,"description":`...)
	b = jsonw.String(b, it.desc)
	b = append(b, `,"status":`...)
	b = jsonw.String(b, it.status)
	b = append(b, `,"streak":`...)
	b = jsonw.Int(b, it.streak)
	b = append(b, `,"longest_streak":`...)
	b = jsonw.Int(b, it.longest)
	b = append(b, `,"created_at":`...)
	b = jsonw.Time(b, it.created)
	b = append(b, `,"updated_at":`...)
	b = jsonw.Time(b, it.updated)
	b = append(b, `,"version":`...)
	b = jsonw.Int(b, it.ver)
	return append(b, '}')
}

func benchPage() fiber.Handler {
	at := time.Date(2026, 12, 6, 7, 8, 9, 123456000, time.UTC)
	items := make([]benchItem, 10)
	for i := range items {
		items[i] = benchItem{id: int64(1000 + i), title: "Learn Go generics, part", desc: "Read the spec and write three small programs that use type parameters.",
			status: "in-progress", created: at, updated: at.Add(time.Hour), streak: 3, longest: 9, ver: 2}
	}
	return func(c *fiber.Ctx) error {
		return SendJSON(c, fiber.StatusOK, jsonw.Array(JSONBody(c), items, (*benchItem).appendJSON))
	}
}

func benchToken(b *testing.B) string {
	claims := jwt.MapClaims{"sub": "u42", "exp": time.Now().Add(time.Hour).Unix()}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(settleSecret))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memConn is a kept-alive client connection in memory: it sends request
// left times, one at a time, and discards the answers.
type memConn struct {
	request []byte
	pos     int
	left    int
	written int
}

func (c *memConn) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.request[c.pos:])
	if c.pos += n; c.pos == len(c.request) {
		c.pos = 0
		c.left--
	}
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error)      { c.written += len(p); return len(p), nil }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8000} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

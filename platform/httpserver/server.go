// Package httpserver is the Fiber server shared by every module: it mounts
// the routes modules contribute to the "routes" value group, applies their
// Access rules, and turns every error into an RFC 9457 problem.
package httpserver

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"usersvc/platform/config"
	"usersvc/platform/logging"
	"usersvc/platform/metrics"
)

// Options configure one server; the API and the consumer's probe server differ only here.
type Options struct {
	Name   string // "api" or "consumer", for logs
	Addr   string
	Routes []Route
	Checks []Check
	// Guard enforces Access rules and the rate limit; nil means every route
	// must be Public and Unlimited.
	Guard    *Guard
	Registry *prometheus.Registry
	// ShutdownDelay is how long Stop keeps serving, /ready at 503, before it
	// closes the listener (SHUTDOWN_DELAY, CONTRACT §3).
	ShutdownDelay time.Duration
}

// Server is a Fiber app with the service's middleware, error mapping and lifecycle.
type Server struct {
	app  *fiber.App
	name string
	addr string
	log  *zap.Logger
	// access writes the one line per request; its caller would always be
	// logRequest, and finding it cost more than writing the line.
	access    *zap.Logger
	metrics   *metrics.HTTP
	routes    []Route
	guard     *Guard
	bodyLimit int
	listener  *listener
	served    chan struct{} // closed when the accept loop has returned
	// stopping turns /ready to 503; draining closes each connection after
	// its answer (CONTRACT §3).
	stopping      atomic.Bool
	draining      atomic.Bool
	shutdownDelay time.Duration
	// deadline bounds a request's database work, waiting for a pooled
	// connection included (DATABASE_POOL_TIMEOUT, then 503).
	deadline time.Duration
}

// New builds the server and mounts opts.Routes after the platform's probes.
func New(cfg config.Config, log *zap.Logger, m *metrics.HTTP, opts Options) (*Server, error) {
	s := &Server{name: opts.Name, addr: opts.Addr, log: log, access: log.WithOptions(zap.WithCaller(false)), metrics: m, guard: opts.Guard, bodyLimit: cfg.HTTPBodyLimit,
		deadline: cfg.DatabasePoolTimeout, shutdownDelay: opts.ShutdownDelay, served: make(chan struct{})}
	s.app = fiber.New(fiber.Config{
		AppName:       "usersvc",
		CaseSensitive: true, // /users/ME is the user ME
		StrictRouting: true,
		// Values from the request are copies: nothing kept past a handler
		// (cache keys, logs, goroutines) can see the next request's bytes.
		Immutable:      true,
		BodyLimit:      cfg.HTTPBodyLimit,
		ReadBufferSize: 32 << 10, // large JWTs fit in the header buffer
		// A default page of goals (~14 KB at 50 items) leaves in one write, headers
		// included (each open connection holds one: 1,000 keep-alive clients, 32 MB).
		WriteBufferSize:       32 << 10,
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          15 * time.Second,
		IdleTimeout:           90 * time.Second,
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		// The Server header says nothing; the Date header is fasthttp's cached one.
		DisableDefaultContentType: false,
	})
	s.app.Use(recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: s.logPanic}))
	s.app.Use(s.observe)
	s.app.Use(securityHeaders)
	if len(cfg.CORSAllowOrigins) > 0 {
		s.app.Use(cors.New(cors.Config{
			AllowOrigins:  strings.Join(cfg.CORSAllowOrigins, ","),
			AllowMethods:  "GET,POST,PUT,DELETE,HEAD,OPTIONS",
			AllowHeaders:  "Authorization, Content-Type, If-Match, X-Request-ID",
			ExposeHeaders: "Link, ETag, Location, Retry-After, X-Request-ID",
			MaxAge:        600,
		}))
	}
	routes := append(probeRoutes(opts.Checks, opts.Registry, s.stopping.Load), opts.Routes...)
	// Value groups arrive in random order (dig shuffles them) and Fiber
	// matches in mounting order: mount a literal segment before a parameter
	// at the same place, so /users/me wins over /users/:auth_user_id.
	slices.SortStableFunc(routes, literalsFirst)
	for _, r := range routes {
		if err := s.mount(r, opts.Guard); err != nil {
			return nil, err
		}
	}
	s.routes = routes
	srv := s.app.Server()
	srv.Handler = s.closeWhenDraining(s.rejectUnknownMethods(srv.Handler))
	srv.ErrorHandler = s.observeEarly(srv.ErrorHandler)
	return s, nil
}

func (s *Server) mount(r Route, guard *Guard) error {
	var handlers []fiber.Handler
	switch {
	case guard != nil:
		handlers = guard.chain(r)
	case r.Access != Public || !r.Unlimited || strings.Contains(r.Path, ":"):
		return errors.New("httpserver: route " + r.Method + " " + r.Path + " needs a Guard")
	}
	if !r.Unlimited && s.deadline > 0 {
		handlers = append([]fiber.Handler{s.withDeadline}, handlers...)
	}
	if r.Private {
		handlers = append([]fiber.Handler{noStore}, handlers...)
	}
	handlers = append(handlers, r.Handler)
	if r.Method == fiber.MethodGet {
		s.app.Get(r.Path, handlers...) // GET routes answer HEAD too
	} else {
		s.app.Add(r.Method, r.Path, handlers...)
	}
	return nil
}

// App exposes the Fiber app to tests (app.Test) and to benchmarks.
func (s *Server) App() *fiber.App { return s.app }

// Addr is the address the server listens on once started.
func (s *Server) Addr() string {
	if s.listener != nil {
		return s.listener.Addr().String()
	}
	return s.addr
}

// Start listens at once (so a busy port fails the start) and serves in the background.
func (s *Server) Start(context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.listener = newListener(ln)
	s.log.Info("listening", zap.String("server", s.name), zap.String("addr", ln.Addr().String()))
	go func() {
		defer close(s.served)
		if err := s.app.Listener(s.listener); err != nil {
			s.log.Error("server stopped", zap.String("server", s.name), zap.Error(err))
		}
	}()
	return nil
}

// stopBudget keeps a stop within CONTRACT §3's 25 seconds, the rest of the
// process's shutdown included.
const stopBudget = 24 * time.Second

// Stop follows CONTRACT §3: /ready answers 503 at once, the server keeps
// serving for the shutdown delay, then stops accepting and answers every
// request already received before it returns.
func (s *Server) Stop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, stopBudget)
	defer cancel()
	s.stopping.Store(true)
	s.log.Info("shutting down", zap.String("server", s.name), zap.Duration("delay", s.shutdownDelay))
	select {
	case <-time.After(s.shutdownDelay):
	case <-ctx.Done():
	}
	if s.listener == nil { // never started
		return nil
	}
	if err := s.drain(ctx); err != nil {
		s.log.Warn("connections still open at the end of the stop", zap.String("server", s.name),
			zap.Int("connections", s.listener.open()), zap.Error(err))
		s.listener.closeAll()
		return err
	}
	return s.app.ShutdownWithContext(ctx)
}

// drain stops accepting and waits until every connection is closed: each
// one answers the request it has read (a kept-alive one reads once more,
// for lastReadGrace) with Connection: close, then closes.
//
// fasthttp's own Shutdown is not enough: it closes a kept-alive connection
// it sees idle, although its client may have sent a request the server has
// not read yet; that request then goes unanswered.
func (s *Server) drain(ctx context.Context) error {
	s.draining.Store(true)
	s.listener.limitReads(time.Now().Add(lastReadGrace))
	s.listener.stopAccepting()
	select {
	case <-s.served:
	case <-ctx.Done():
	}
	_ = s.listener.Close()
	return s.listener.wait(ctx)
}

// closeWhenDraining ends each connection after its answer once the server
// stops: the client opens a new one, which the closed listener refuses.
func (s *Server) closeWhenDraining(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(fctx *fasthttp.RequestCtx) {
		next(fctx)
		if s.draining.Load() {
			fctx.Response.SetConnectionClose()
		}
	}
}

// Hook ties the server to an fx lifecycle.
func (s *Server) Hook(lc fx.Lifecycle) { lc.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop}) }

func (s *Server) logPanic(c *fiber.Ctx, e any) {
	s.log.Error("panic", zap.String("request_id", RequestID(c)), zap.Any("panic", e), zap.Stack("stack"))
}

func (s *Server) withDeadline(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(logging.WithRequestID(context.Background(), RequestID(c)), s.deadline)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

func noStore(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	return c.Next()
}

func securityHeaders(c *fiber.Ctx) error {
	setSecurityHeaders(&c.Response().Header)
	return c.Next()
}

// securityHeaderKV are the security headers, canonical and as bytes once:
// Set would copy and normalize each name on every answer.
var securityHeaderKV = [][2][]byte{
	{[]byte("X-Content-Type-Options"), []byte("nosniff")},
	{[]byte("X-Frame-Options"), []byte("DENY")},
	{[]byte("Referrer-Policy"), []byte("no-referrer")},
	{[]byte("Content-Security-Policy"), []byte("default-src 'none'; frame-ancestors 'none'")},
}

func setSecurityHeaders(h *fasthttp.ResponseHeader) {
	for _, kv := range securityHeaderKV {
		h.SetCanonical(kv[0], kv[1])
	}
}

// literalsFirst compares route patterns segment by segment, a literal
// segment before a parameter; otherwise the order is kept (stable sort).
func literalsFirst(a, b Route) int {
	as, bs := strings.Split(a.Path, "/"), strings.Split(b.Path, "/")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if ap, bp := strings.HasPrefix(as[i], ":"), strings.HasPrefix(bs[i], ":"); ap != bp {
			if ap {
				return 1
			}
			return -1
		}
	}
	return len(as) - len(bs)
}

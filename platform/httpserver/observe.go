package httpserver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"usersvc/platform/metrics"
)

const (
	headerRequestID = "X-Request-ID"
	localRequestID  = "usersvc.request_id"
)

// requestIDs are a random per-process prefix and a counter: unique, cheap,
// and they do not reveal request volume across restarts.
var (
	requestIDPrefix = newRequestIDPrefix()
	requestCounter  atomic.Uint64
)

func newRequestIDPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "-"
}

// RequestID returns the id of the request, for logs and problems.
func RequestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// validRequestID accepts a caller's id only if it is short and plain, so it
// cannot forge log lines.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			return false
		}
	}
	return true
}

// requestIDFrom keeps the caller's id when it is valid, else makes one.
func requestIDFrom(given string) string {
	if validRequestID(given) {
		return given
	}
	return requestIDPrefix + strconv.FormatUint(requestCounter.Add(1), 36)
}

// observe gives every request an id, and records its metrics and access log line.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	id := requestIDFrom(c.Get(headerRequestID))
	c.Locals(localRequestID, id)
	c.Set(headerRequestID, id)

	err := c.Next()
	if err != nil {
		// Render now so the status below is the one the client gets.
		if herr := s.app.ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	status := c.Response().StatusCode()
	route := routePattern(c)
	elapsed := time.Since(start)
	s.instruments(c, route).Done(status, elapsed.Seconds())
	s.logRequest(id, c.Method(), route, status, elapsed, callerForLog(c))
	return nil
}

func (s *Server) logRequest(id, method, route string, status int, elapsed time.Duration, user string) {
	if ce := s.access.Check(zap.InfoLevel, "request"); ce != nil {
		ce.Write(zap.String("request_id", id), zap.String("method", method), zap.String("route", route),
			zap.Int("status", status), zap.Duration("duration", elapsed), zap.String("user", user))
	}
}

// observeEarly wraps the answers fasthttp gives before any handler runs (a
// body over the limit, headers too large, a request that does not parse).
// They carry a request id and the security headers, are counted and logged
// like any other answer, and the connection discards what the client still
// sends before it closes, so the client reads the answer instead of a
// reset (CONTRACT §2).
func (s *Server) observeEarly(next func(*fasthttp.RequestCtx, error)) func(*fasthttp.RequestCtx, error) {
	return func(fctx *fasthttp.RequestCtx, err error) {
		start := time.Now()
		id := requestIDFrom(string(fctx.Request.Header.Peek(headerRequestID)))
		fctx.SetUserValue(localRequestID, id) // RequestID(c) in the error handler
		next(fctx, err)
		fctx.Response.Header.Set(headerRequestID, id)
		setSecurityHeaders(&fctx.Response.Header)
		if c, ok := fctx.Conn().(*conn); ok && !isTimeout(err) {
			c.drainOnClose() // a client that went quiet has nothing left to send
		}
		key, method, route := s.earlyRoute(fctx)
		status, elapsed := fctx.Response.StatusCode(), time.Since(start)
		s.metrics.For(key, method, route).Done(status, elapsed.Seconds())
		s.logRequest(id, method, route, status, elapsed, "")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

type earlyKey struct{ method, route string }

// earlyRoute labels an early answer like observe would have: the pattern of
// the route the request names, else "unmatched" (a chunked body over the
// limit leaves the request without its path).
func (s *Server) earlyRoute(fctx *fasthttp.RequestCtx) (key any, method, route string) {
	method, path := knownMethod(string(fctx.Method())), string(fctx.Path())
	for _, r := range s.routes {
		if r.matches(path) && (r.Method == method || method == fiber.MethodHead && r.Method == fiber.MethodGet) {
			return earlyKey{r.Method, r.Path}, r.Method, r.Path
		}
	}
	return unmatchedKey{method}, method, "unmatched"
}

// instruments are the metrics of the matched route (methods share a Fiber
// route only for HEAD, whose requests count as GET's).
func (s *Server) instruments(c *fiber.Ctx, route string) *metrics.RouteInstruments {
	if route == "unmatched" {
		m := knownMethod(c.Method())
		return s.metrics.For(unmatchedKey{m}, m, route)
	}
	r := c.Route()
	return s.metrics.For(r, r.Method, route)
}

type unmatchedKey struct{ method string }

// knownMethod bounds the label values a client can create, and returns a
// constant: the request's own text lives in a buffer the next request reuses.
func knownMethod(m string) string {
	for _, known := range []string{fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut,
		fiber.MethodPatch, fiber.MethodDelete, fiber.MethodOptions, fiber.MethodConnect, fiber.MethodTrace} {
		if m == known {
			return known
		}
	}
	return "OTHER"
}

// routePattern is the matched route's pattern (bounded label cardinality), or "unmatched".
func routePattern(c *fiber.Ctx) string {
	r := c.Route()
	if r == nil || r.Path == "/" && c.Path() != "/" {
		return "unmatched"
	}
	return r.Path
}

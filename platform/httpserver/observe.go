package httpserver

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
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

// observe gives every request an id, and records its metrics and access log line.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	id := c.Get(headerRequestID)
	if !validRequestID(id) {
		id = requestIDPrefix + strconv.FormatUint(requestCounter.Add(1), 36)
	}
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
	if ce := s.log.Check(zap.InfoLevel, "request"); ce != nil {
		ce.Write(zap.String("request_id", id), zap.String("method", c.Method()), zap.String("route", route),
			zap.Int("status", status), zap.Duration("duration", elapsed), zap.String("user", callerForLog(c)))
	}
	return nil
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

package httpserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"usersvc/platform/auth"
	"usersvc/platform/errs"
)

// ProblemContentType is the media type of every error body (RFC 9457).
const ProblemContentType = "application/problem+json"

// problem is an RFC 9457 document. It is built here and nowhere else: every
// error of every route reaches the client through toProblem.
type problem struct {
	Type   string            `json:"type"`
	Title  string            `json:"title"`
	Status int               `json:"status"`
	Detail string            `json:"detail,omitempty"`
	Errors []errs.FieldError `json:"errors,omitempty"`
	// Checks is /ready's report, kept in its 503 (CONTRACT §3).
	Checks map[string]string `json:"checks,omitempty"`

	headers map[string]string
}

// typeBase prefixes the problem type URIs (documented in docs/api.md).
const typeBase = "https://usersvc.dev/problems/"

// unavailableRetryAfter is the Retry-After of a 503, in seconds.
const unavailableRetryAfter = 5

// statusOf maps each code of platform/errs to its status and type slug.
var statusOf = map[errs.Code]struct {
	status int
	slug   string
}{
	errs.Malformed:        {http.StatusBadRequest, "bad-request"},
	errs.Invalid:          {http.StatusUnprocessableEntity, "validation-failed"},
	errs.NotFound:         {http.StatusNotFound, "not-found"},
	errs.Conflict:         {http.StatusConflict, "conflict"},
	errs.Precondition:     {http.StatusPreconditionFailed, "precondition-failed"},
	errs.Unavailable:      {http.StatusServiceUnavailable, "dependency-unavailable"},
	errs.Unauthorized:     {http.StatusUnauthorized, "unauthorized"},
	errs.Forbidden:        {http.StatusForbidden, "forbidden"},
	errs.TooLarge:         {http.StatusRequestEntityTooLarge, "body-too-large"},
	errs.UnsupportedMedia: {http.StatusUnsupportedMediaType, "unsupported-media-type"},
	errs.RateLimited:      {http.StatusTooManyRequests, "rate-limited"},
}

func newProblem(status int, slug, detail string) *problem {
	return &problem{Type: typeBase + slug, Title: http.StatusText(status), Status: status, Detail: detail}
}

func (p *problem) with(name, value string) *problem {
	if p.headers == nil {
		p.headers = make(map[string]string, 1)
	}
	p.headers[name] = value
	return p
}

// internalProblem is the one 500: it says nothing about its cause.
func internalProblem() *problem {
	return newProblem(http.StatusInternalServerError, "internal", "an unexpected error occurred")
}

// codedProblem renders an error of platform/errs; anything else is a 500.
func codedProblem(err error) *problem {
	e, ok := errs.As(err)
	m, known := statusOf[errs.CodeOf(err)]
	if !ok || !known {
		return internalProblem()
	}
	p := newProblem(m.status, m.slug, e.Message)
	p.Errors = e.Fields
	switch e.Code {
	case errs.Unauthorized:
		p.with(fiber.HeaderWWWAuthenticate, challenge(err))
	case errs.RateLimited, errs.Unavailable:
		retry := e.RetryAfter
		if retry <= 0 {
			retry = unavailableRetryAfter
		}
		p.with(fiber.HeaderRetryAfter, strconv.Itoa(retry))
	case errs.Conflict:
		if e.RetryAfter > 0 { // a conflict that passes (an Idempotency-Key in use)
			p.with(fiber.HeaderRetryAfter, strconv.Itoa(e.RetryAfter))
		}
	}
	return p
}

// challenge is the WWW-Authenticate of a 401 (RFC 6750): the verifier's
// error names what was wrong with the token; without one, a bare challenge.
func challenge(err error) string {
	var ae *auth.Error
	if errors.As(err, &ae) {
		return ae.Challenge(auth.DefaultRealm)
	}
	return auth.ErrNoToken.Challenge(auth.DefaultRealm)
}

// errorHandler renders every error as an RFC 9457 problem and logs what the
// client must not see.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	p := s.toProblem(c, err)
	if p.Status >= 500 {
		s.log.Error("request failed", zap.String("request_id", RequestID(c)), zap.Int("status", p.Status),
			zap.String("method", c.Method()), zap.String("route", routePattern(c)), zap.Error(err))
	}
	return writeProblem(c, p)
}

func writeProblem(c *fiber.Ctx, p *problem) error {
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`)
	}
	for name, value := range p.headers {
		c.Set(name, value)
	}
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, ProblemContentType)
	return c.Send(body)
}

func (s *Server) toProblem(c *fiber.Ctx, err error) *problem {
	var fe *fiber.Error
	if !errors.As(err, &fe) {
		return codedProblem(err)
	}
	switch fe.Code {
	case fiber.StatusNotFound, fiber.StatusMethodNotAllowed:
		return s.routeProblem(c)
	case fiber.StatusRequestEntityTooLarge:
		// The server refuses an oversized body before routing; an unknown route
		// still wins (CONTRACT §2 order). An oversized chunked body leaves the
		// request wiped, its path "/", where no route lives: that is a 413.
		if rp := s.routeProblem(c); rp.Status != http.StatusOK && c.Path() != "/" {
			return rp
		}
		return codedProblem(errs.New(errs.TooLarge, "the request body is larger than "+strconv.Itoa(s.bodyLimit)+" bytes"))
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return newProblem(fe.Code, "headers-too-large", "the request headers are too large")
	case fiber.StatusRequestTimeout:
		return newProblem(fe.Code, "request-timeout", "the request took too long to arrive")
	}
	if fe.Code >= 500 {
		return internalProblem()
	}
	return newProblem(fe.Code, "bad-request", "the request is malformed")
}

// routeProblem tells 404 from 405 by matching the path against the route
// table; a 200 status means the route exists for this method.
func (s *Server) routeProblem(c *fiber.Ctx) *problem {
	return s.routeProblemFor(c.Path(), c.Method())
}

func (s *Server) routeProblemFor(path, method string) *problem {
	var allow []string
	for _, r := range s.routes {
		if !r.matches(path) {
			continue
		}
		if r.Method == method || (method == fiber.MethodHead && r.Method == fiber.MethodGet) {
			return &problem{Status: http.StatusOK}
		}
		allow = append(allow, r.Method)
		if r.Method == fiber.MethodGet {
			allow = append(allow, fiber.MethodHead)
		}
	}
	if len(allow) == 0 {
		return newProblem(http.StatusNotFound, "not-found", "no resource at "+path)
	}
	sort.Strings(allow)
	return methodNotAllowed(strings.Join(slices.Compact(allow), ", "))
}

func methodNotAllowed(allow string) *problem {
	p := newProblem(http.StatusMethodNotAllowed, "method-not-allowed", "the resource does not support this method")
	if allow != "" {
		p.with(fiber.HeaderAllow, allow)
	}
	return p
}

// rejectUnknownMethods answers a method the router does not know (FOO,
// PROPFIND, …) as the contract wants every wrong method answered: a 405
// problem with Allow, or 404 where no route lives. Fiber alone would send
// a plain-text 400 before any middleware runs.
func (s *Server) rejectUnknownMethods(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	known := map[string]bool{}
	for _, m := range fiber.DefaultMethods {
		known[m] = true
	}
	return func(fctx *fasthttp.RequestCtx) {
		if known[string(fctx.Method())] {
			next(fctx)
			return
		}
		p := s.routeProblemFor(string(fctx.Path()), string(fctx.Method()))
		if p.Status == http.StatusOK { // cannot happen: no route has an unknown method
			p = methodNotAllowed("")
		}
		body, _ := json.Marshal(p)
		for name, value := range p.headers {
			fctx.Response.Header.Set(name, value)
		}
		fctx.SetStatusCode(p.Status)
		fctx.SetContentType(ProblemContentType)
		fctx.SetBody(body)
	}
}

package httpserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"usersvc/platform/problem"
)

// errorHandler renders every error as an RFC 9457 problem and logs what the
// client must not see.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	p := s.toProblem(c, err)
	if p.Status >= 500 {
		s.log.Error("request failed", zap.String("request_id", RequestID(c)), zap.Int("status", p.Status),
			zap.String("method", c.Method()), zap.String("route", routePattern(c)), zap.Error(errors.Unwrap(p)))
	}
	return WriteProblem(c, p)
}

// WriteProblem writes p as application/problem+json.
func WriteProblem(c *fiber.Ctx, p *problem.Error) error {
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`)
	}
	for name, value := range p.Headers {
		c.Set(name, value)
	}
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, problem.ContentType)
	return c.Send(body)
}

func (s *Server) toProblem(c *fiber.Ctx, err error) *problem.Error {
	var p *problem.Error
	if errors.As(err, &p) {
		return p
	}
	var fe *fiber.Error
	if !errors.As(err, &fe) {
		return problem.Internal(err)
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
		return problem.TooLarge(s.bodyLimit)
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return problem.New(fe.Code, "headers-too-large", "the request headers are too large")
	case fiber.StatusRequestTimeout:
		return problem.New(fe.Code, "request-timeout", "the request took too long to arrive")
	}
	if fe.Code >= 500 {
		return problem.Internal(err)
	}
	return problem.New(fe.Code, "bad-request", "the request is malformed")
}

// routeProblem tells 404 from 405 by matching the path against the route
// table; a 200 status means the route exists for this method.
func (s *Server) routeProblem(c *fiber.Ctx) *problem.Error {
	return s.routeProblemFor(c.Path(), c.Method())
}

func (s *Server) routeProblemFor(path, method string) *problem.Error {
	var allow []string
	for _, r := range s.routes {
		if !r.matches(path) {
			continue
		}
		if r.Method == method || (method == fiber.MethodHead && r.Method == fiber.MethodGet) {
			return &problem.Error{Status: http.StatusOK}
		}
		allow = append(allow, r.Method)
		if r.Method == fiber.MethodGet {
			allow = append(allow, fiber.MethodHead)
		}
	}
	if len(allow) == 0 {
		return problem.NotFound("no resource at " + path)
	}
	sort.Strings(allow)
	return problem.MethodNotAllowed(strings.Join(slices.Compact(allow), ", "))
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
			p = problem.MethodNotAllowed("")
		}
		body, _ := json.Marshal(p)
		for name, value := range p.Headers {
			fctx.Response.Header.Set(name, value)
		}
		fctx.SetStatusCode(p.Status)
		fctx.SetContentType(problem.ContentType)
		fctx.SetBody(body)
	}
}

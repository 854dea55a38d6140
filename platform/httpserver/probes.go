package httpserver

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"usersvc/platform/errs"
)

// Check is one readiness dependency, reported under its Name in /ready.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
	// Advisory checks are reported but never make /ready fail (a dependency
	// the service copes without, e.g. the JWK Set's last good copy).
	Advisory bool
}

const readyTimeout = 2 * time.Second

// probeRoutes are /health, /ready (503 once stopping reports true) and /metrics.
func probeRoutes(checks []Check, registry *prometheus.Registry, stopping func() bool) []Route {
	routes := []Route{
		{Method: fiber.MethodGet, Path: "/health", Unlimited: true, Handler: health},
		{Method: fiber.MethodGet, Path: "/ready", Unlimited: true, Handler: ready(checks, stopping)},
	}
	if registry != nil {
		h := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
		routes = append(routes, Route{Method: fiber.MethodGet, Path: "/metrics", Unlimited: true,
			Handler: func(c *fiber.Ctx) error { h(c.Context()); return nil }})
	}
	return routes
}

func health(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func ready(checks []Check, stopping func() bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), readyTimeout)
		defer cancel()
		results := make(map[string]string, len(checks))
		failed := false
		for _, ch := range checks {
			if err := ch.Run(ctx); err != nil {
				results[ch.Name] = "unavailable"
				failed = failed || !ch.Advisory
			} else {
				results[ch.Name] = "ok"
			}
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		if stopping() { // a load balancer stops sending before the listener closes (CONTRACT §3)
			p := codedProblem(errs.New(errs.Unavailable, "the server is shutting down"))
			p.Checks = results
			return writeProblem(c, p)
		}
		if failed {
			p := codedProblem(errs.New(errs.Unavailable, "a dependency is not ready"))
			p.Checks = results
			return writeProblem(c, p)
		}
		return c.JSON(readiness{Status: "ready", Checks: results})
	}
}

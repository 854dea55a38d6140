// Package openapi serves GET /openapi.json: the OpenAPI 3.1 description of
// every route of the API. The document is openapi.json beside this file,
// embedded as is; the tests of this package and of cmd/usersvc keep it from
// drifting (every mounted route is documented and nothing else is, and every
// response the real API gives validates against it).
package openapi

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"strings"

	"github.com/gofiber/fiber/v2"

	"usersvc/platform/httpserver"
)

// Path is where the document is served.
const Path = "/openapi.json"

//go:embed openapi.json
var document []byte

// etag is the document's strong entity tag, computed once.
var etag = func() string {
	sum := sha256.Sum256(document)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}()

// Document returns the served bytes (a copy: the served slice is shared by every response).
func Document() []byte { return append([]byte(nil), document...) }

// ETag is the strong entity tag the document is served with.
func ETag() string { return etag }

// Route is GET /openapi.json: public, not rate limited, the embedded bytes as is.
func Route() httpserver.Route {
	return httpserver.Route{Method: fiber.MethodGet, Path: Path, Access: httpserver.Public, Unlimited: true, Handler: serve}
}

// Routes is the fx provider for the "routes" group:
// fx.Provide(httpserver.AsRoutes(openapi.Routes)).
func Routes() []httpserver.Route { return []httpserver.Route{Route()} }

func serve(c *fiber.Ctx) error {
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	if noneMatch(c.Get(fiber.HeaderIfNoneMatch)) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	// SetBodyRaw: no copy; fasthttp never writes into a response body it was given.
	return c.Send(document)
}

// noneMatch reports whether If-None-Match names the current document
// (RFC 9110 §13.1.2: weak comparison, "*" matches any current representation).
func noneMatch(header string) bool {
	if header == "" {
		return false
	}
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}

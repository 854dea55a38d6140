// Package openapi serves GET /openapi.json: the OpenAPI 3.1 description of
// every route of the API. The document is assembled once, at start, from
// the platform's part (probes, problems, the security scheme) and the
// fragments each feature module adds to the "openapi" value group, built
// from the module's own rule constants so that every rule is stated once.
// The tests of cmd/usersvc keep it from drifting (every mounted route is
// documented and nothing else is, and every response the real API gives
// validates against it).
package openapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/fx"

	"usersvc/platform/httpserver"
)

// Path is where the document is served.
const Path = "/openapi.json"

// Info is the document's info object: what the service is, given by the application.
type Info struct {
	Title, Version, Summary, Description string
}

// Document is the assembled document: its bytes and their strong entity tag.
type Document struct {
	body []byte
	etag string
}

// Params are what New assembles the document from.
type Params struct {
	fx.In
	Info      Info
	Fragments []Fragment `group:"openapi"`
}

// Module provides the document and its route; the application supplies
// Info (fx.Supply) and the features their fragments (AsFragment).
var Module = fx.Module("openapi",
	fx.Provide(New, httpserver.AsRoutes(Routes)),
)

// New assembles the document from the platform's part and the fragments.
func New(p Params) (*Document, error) {
	return Build(p.Info, p.Fragments...)
}

// Build assembles the document; New is its fx form.
func Build(info Info, fragments ...Fragment) (*Document, error) {
	doc := Object{
		"openapi":    "3.1.0",
		"info":       infoObject(info),
		"tags":       []any{},
		"paths":      Object{},
		"components": Object{},
	}
	for _, f := range append([]Fragment{base()}, fragments...) {
		if err := merge(doc, f); err != nil {
			return nil, err
		}
	}
	sortTags(doc["tags"].([]any), operationsTag)
	return Encode(doc)
}

// Encode makes a served document of any JSON value: indented, HTML left
// unescaped, with the strong entity tag of its bytes.
func Encode(doc any) (*Document, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep <, > and & readable in patterns and prose
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(buf.Bytes())
	return &Document{body: buf.Bytes(), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}, nil
}

func infoObject(info Info) Object {
	o := Object{"title": info.Title, "version": info.Version}
	if info.Summary != "" {
		o["summary"] = info.Summary
	}
	if info.Description != "" {
		o["description"] = info.Description
	}
	return o
}

// Bytes returns the served bytes (a copy: the served slice is shared by every response).
func (d *Document) Bytes() []byte { return append([]byte(nil), d.body...) }

// ETag is the strong entity tag the document is served with.
func (d *Document) ETag() string { return d.etag }

// Routes is GET /openapi.json: public, not rate limited, the assembled bytes as is.
func Routes(d *Document) []httpserver.Route {
	return []httpserver.Route{{Method: fiber.MethodGet, Path: Path, Access: httpserver.Public, Unlimited: true, Handler: d.Serve}}
}

// Serve answers a GET or HEAD with the document, or 304 when If-None-Match names it.
func (d *Document) Serve(c *fiber.Ctx) error {
	c.Set(fiber.HeaderETag, d.etag)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	if d.noneMatch(c.Get(fiber.HeaderIfNoneMatch)) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	// No copy: fasthttp never writes into a response body it was given.
	return c.Send(d.body)
}

// noneMatch reports whether If-None-Match names the current document
// (RFC 9110 §13.1.2: weak comparison, "*" matches any current representation).
func (d *Document) noneMatch(header string) bool {
	if header == "" {
		return false
	}
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == d.etag {
			return true
		}
	}
	return false
}

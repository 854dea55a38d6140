// Package fuzzkit holds what the fuzz targets of the request parsers share:
// running a body decoder as the route chain does, the invariants of an
// accepted text field, and a Fiber context for a raw query string.
package fuzzkit

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"usersvc/platform/errs"
	"usersvc/platform/httpserver"
)

// Decode parses data as the route chain parses a JSON body and runs decode
// on it. It fails t unless a refusal is the client's mistake (400 for an
// unreadable body, 422 for broken fields); ok reports acceptance.
func Decode[T any](t *testing.T, data []byte, decode func(*httpserver.Body) (T, error)) (v T, ok bool) {
	t.Helper()
	b, err := httpserver.ParseBody(data)
	if err != nil {
		if !errs.Is(err, errs.Malformed) {
			t.Fatalf("body %q refused with %v, want malformed (400)", data, err)
		}
		return v, false
	}
	v, err = decode(b)
	if err != nil {
		if !errs.Is(err, errs.Invalid) {
			t.Fatalf("body %q refused with %v, want invalid (422)", data, err)
		}
		return v, false
	}
	return v, true
}

// Text fails t unless an accepted text field keeps CONTRACT §3's rule:
// trimmed, minRunes to maxRunes code points, valid UTF-8, no NUL.
func Text(t *testing.T, field, v string, minRunes, maxRunes int) {
	t.Helper()
	n := utf8.RuneCountInString(v)
	if v != strings.TrimSpace(v) || n < minRunes || n > maxRunes || strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
		t.Fatalf("%s accepted as %q", field, v)
	}
}

// Malformed fails t unless err is nil or a malformed-request error (400).
func Malformed(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && !errs.Is(err, errs.Malformed) {
		t.Fatalf("%s refused with %v, want malformed (400)", what, err)
	}
}

// Query runs fn with a Fiber context for GET /?query, as a handler sees it.
func Query(app *fiber.App, query string, fn func(c *fiber.Ctx)) {
	fctx := &fasthttp.RequestCtx{}
	fctx.Request.SetRequestURI("/?" + query)
	c := app.AcquireCtx(fctx)
	defer app.ReleaseCtx(c)
	fn(c)
}

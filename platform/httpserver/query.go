package httpserver

import (
	"github.com/gofiber/fiber/v2"

	"usersvc/platform/errs"
	"usersvc/platform/page"
)

// QueryParam reads a query parameter that may appear at most once (400 when
// repeated); an empty value counts as absent.
func QueryParam(c *fiber.Ctx, name string) (string, error) {
	values := c.Context().QueryArgs().PeekMulti(name)
	switch {
	case len(values) > 1:
		return "", errs.New(errs.Malformed, "the query parameter "+name+" is given more than once")
	case len(values) == 1:
		return string(values[0]), nil
	}
	return "", nil
}

// ReadPage reads ?limit= and ?cursor= of a list whose cursors are bound to
// scope (400 when malformed, repeated, or from another list).
func ReadPage(c *fiber.Ctx, scope string) (int, *page.Cursor, error) {
	rawLimit, err := QueryParam(c, "limit")
	if err != nil {
		return 0, nil, err
	}
	limit, err := page.ParseLimit(rawLimit)
	if err != nil {
		return 0, nil, errs.New(errs.Malformed, "the query parameter limit must be an integer from 1 to 100")
	}
	rawCursor, err := QueryParam(c, "cursor")
	if err != nil || rawCursor == "" {
		return limit, nil, err
	}
	cur, err := page.Decode(rawCursor, scope)
	if err != nil {
		return 0, nil, errs.New(errs.Malformed, "the query parameter cursor is malformed or belongs to another list; use the Link of the previous page")
	}
	return limit, &cur, nil
}

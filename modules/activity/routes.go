package activity

import (
	"net/url"
	"slices"

	"github.com/gofiber/fiber/v2"

	"usersvc/platform/errs"
	"usersvc/platform/httpserver"
	"usersvc/platform/jsonw"
	"usersvc/platform/page"
)

type handlers struct {
	store *Store
}

// NewRoutes is the module's route table: all public.
func NewRoutes(store *Store) []httpserver.Route {
	h := &handlers{store: store}
	return []httpserver.Route{
		{Method: fiber.MethodGet, Path: "/users/:auth_user_id/activity", Access: httpserver.Public, Shared: true, Handler: h.feed},
		{Method: fiber.MethodGet, Path: "/users/:auth_user_id/activity/calendar", Access: httpserver.Public, Shared: true, Handler: h.calendarJSON},
		{Method: fiber.MethodGet, Path: "/users/:auth_user_id/activity/calendar.svg", Access: httpserver.Public, Handler: h.calendarSVG},
	}
}

func (h *handlers) feed(c *fiber.Ctx) error {
	userID := httpserver.Owner(c)
	typ, err := readType(c)
	if err != nil {
		return err
	}
	scope := page.Scope(userID, typ)
	limit, after, err := httpserver.ReadPage(c, scope)
	if err != nil {
		return err
	}
	items, err := h.store.Feed(c.UserContext(), userID, typ, after, limit+1)
	if err != nil {
		return err
	}
	if len(items) > limit {
		items = items[:limit]
		last := &items[limit-1]
		keep := url.Values{}
		if typ != "" {
			keep.Set("type", typ)
		}
		cursor := page.Encode(page.Cursor{At: last.OccurredAt, ID: last.ID}, scope)
		c.Set(fiber.HeaderLink, page.NextLink("/users/"+userID+"/activity", keep, cursor, limit))
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(jsonw.Array(make([]byte, 0, 2+len(items)*160), items, (*Entry).AppendJSON))
}

// readType reads ?type=: absent is every type; empty, unknown or repeated is 400.
func readType(c *fiber.Ctx) (string, error) {
	values := c.Context().QueryArgs().PeekMulti("type")
	switch {
	case len(values) == 0:
		return "", nil
	case len(values) > 1:
		return "", errs.New(errs.Malformed, "the query parameter type is given more than once")
	case !slices.Contains(Types, string(values[0])):
		return "", errs.New(errs.Malformed, "the query parameter type must be one of badge.awarded, goal.created, goal.completed, goal.checked_in")
	}
	return string(values[0]), nil
}

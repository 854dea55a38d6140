package badges

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"usersvc/platform/database"
	"usersvc/platform/httpserver"
	"usersvc/platform/jsonw"
	"usersvc/platform/page"
	"usersvc/platform/problem"
	"usersvc/platform/userref"
)

// badgeParam names the badge in /users/:auth_user_id/badges/:badge_id.
const badgeParam = "badge_id"

// readOnly are the badge's fields a client may not send (422 when it does).
var readOnly = []string{"id", "auth_user_id", "created_at"}

type handlers struct {
	svc *Service
	now func() time.Time
}

// NewRoutes is the module's route table; the Guard applies each Access rule
// (and the path id check) before a handler runs.
func NewRoutes(svc *Service) []httpserver.Route {
	h := &handlers{svc: svc, now: time.Now}
	return []httpserver.Route{
		{Method: fiber.MethodGet, Path: "/users/:auth_user_id/badges", Access: httpserver.Public, Handler: h.list},
		{Method: fiber.MethodPost, Path: "/users/:auth_user_id/badges", Access: httpserver.OwnerOrAdmin, Handler: h.create},
		{Method: fiber.MethodGet, Path: "/users/:auth_user_id/badges/:badge_id", Access: httpserver.Public, Handler: h.get},
	}
}

func (h *handlers) list(c *fiber.Ctx) error {
	userID := c.Params(httpserver.UserParam)
	scope := page.Scope(userID)
	limit, after, err := httpserver.ReadPage(c, scope)
	if err != nil {
		return err
	}
	// One more than asked: its presence alone announces a next page.
	badges, err := h.svc.List(c.UserContext(), userID, after, limit+1)
	if err != nil {
		return toProblem(err)
	}
	if len(badges) > limit {
		badges = badges[:limit]
		last := &badges[limit-1]
		cursor := page.Encode(page.Cursor{At: last.DateAchieved, ID: last.ID}, scope)
		c.Set(fiber.HeaderLink, page.NextLink("/users/"+userID+"/badges", nil, cursor, limit))
	}
	buf := jsonw.Array(make([]byte, 0, 2+len(badges)*256), badges, (*Badge).AppendJSON)
	return sendJSON(c, fiber.StatusOK, buf)
}

func (h *handlers) get(c *fiber.Ctx) error {
	userID := c.Params(httpserver.UserParam)
	id, ok := ParseID(c.Params(badgeParam))
	if !ok {
		return problem.BadRequest("the badge id in the path is malformed: it is a positive integer")
	}
	b, err := h.svc.Get(c.UserContext(), userID, id)
	if err != nil {
		return toProblem(err)
	}
	return sendJSON(c, fiber.StatusOK, b.AppendJSON(make([]byte, 0, 256)))
}

func (h *handlers) create(c *fiber.Ctx) error {
	userID := c.Params(httpserver.UserParam)
	body, err := httpserver.ReadBody(c)
	if err != nil {
		return err
	}
	nb, invalid := decodeNewBadge(body, userID, h.now())
	if invalid != nil {
		// An unknown user (404) answers before broken fields (422): CONTRACT §2 order.
		if err := h.svc.CheckUser(c.UserContext(), userID); err != nil {
			return toProblem(err)
		}
		return invalid
	}
	b, err := h.svc.Create(c.UserContext(), nb)
	if err != nil {
		return toProblem(err)
	}
	c.Set(fiber.HeaderLocation, b.Location())
	return sendJSON(c, fiber.StatusCreated, b.AppendJSON(make([]byte, 0, 256)))
}

// decodeNewBadge applies the field rules of CONTRACT §3 "Badge" and reports
// every broken one at once.
func decodeNewBadge(b *httpserver.Body, userID string, now time.Time) (NewBadge, *problem.Error) {
	nb := NewBadge{UserID: userID}
	b.Require("name")
	nb.Name, _ = b.Text("name", 1, MaxName)
	nb.Description, _ = b.Text("description", 0, MaxDescription)
	nb.IconURL, _ = b.URL("icon_url", MaxIconURL)
	if t, ok := b.Time("date_achieved"); ok {
		t = t.Truncate(time.Microsecond) // the stored precision; the response shows what is stored
		switch {
		case TooFarInFuture(t, now):
			b.Fail("date_achieved", "must not be in the future (5 minutes of clock skew are allowed)")
		case t.Before(EarliestDate):
			b.Fail("date_achieved", "must not be before 0001-01-01T00:00:00Z")
		default:
			nb.DateAchieved = &t
		}
	}
	return nb, b.Problem(readOnly...)
}

func sendJSON(c *fiber.Ctx, status int, body []byte) error {
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}

// toProblem maps the module's errors to CONTRACT §2 statuses.
func toProblem(err error) error {
	switch {
	case errors.Is(err, ErrBadgeExists):
		return problem.Conflict("the user already has a badge with this name (names compare case-insensitively)")
	case errors.Is(err, ErrBadgeNotFound):
		return problem.NotFound("no such badge")
	case errors.Is(err, userref.ErrUnknown), errors.Is(err, userref.ErrDeleted), errors.Is(err, userref.ErrUnavailable):
		return userref.Problem(err)
	default:
		return database.Problem(err)
	}
}

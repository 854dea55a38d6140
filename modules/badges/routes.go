package badges

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"usersvc/platform/httpserver"
	"usersvc/platform/jsonw"
	"usersvc/platform/page"
)

// badgeParam names the badge in /users/:auth_user_id/badges/:badge_id.
const badgeParam = "badge_id"

// readOnly are the badge's fields a client may not send (422 when it does).
var readOnly = []string{"id", "auth_user_id", "created_at"}

// handlers serve the badge routes: decode → call the store → encode. The
// route chain (platform/httpserver) has validated the path, the caller and
// the content type, and settles an unknown user or a 422 in the contract's order.
type handlers struct {
	store *Store
	now   func() time.Time
}

// NewRoutes is the module's route table; the Guard applies each Access rule
// (and the path id check) before a handler runs.
func NewRoutes(store *Store) []httpserver.Route {
	h := &handlers{store: store, now: time.Now}
	return []httpserver.Route{
		{Method: fiber.MethodGet, Path: "/users/:auth_user_id/badges", Access: httpserver.Public, Shared: true, Handler: h.list},
		{Method: fiber.MethodPost, Path: "/users/:auth_user_id/badges", Access: httpserver.OwnerOrAdmin, Body: true, Idempotent: true, Handler: h.create},
		{Method: fiber.MethodGet, Path: "/users/:auth_user_id/badges/:badge_id", Access: httpserver.Public, Handler: h.get},
	}
}

func (h *handlers) list(c *fiber.Ctx) error {
	userID := httpserver.Owner(c)
	scope := page.Scope(userID)
	limit, after, err := httpserver.ReadPage(c, scope)
	if err != nil {
		return err
	}
	// One more than asked: its presence alone announces a next page.
	badges, err := h.store.List(c.UserContext(), userID, after, limit+1)
	if err != nil {
		return err
	}
	if len(badges) > limit {
		badges = badges[:limit]
		last := &badges[limit-1]
		cursor := page.Encode(page.Cursor{At: last.DateAchieved, ID: last.ID}, scope)
		c.Set(fiber.HeaderLink, page.NextLink("/users/"+userID+"/badges", nil, cursor, limit))
	}
	buf := jsonw.Array(httpserver.JSONBody(c), badges, (*Badge).AppendJSON)
	return sendJSON(c, fiber.StatusOK, buf)
}

func (h *handlers) get(c *fiber.Ctx) error {
	b, err := h.store.Get(c.UserContext(), httpserver.Owner(c), httpserver.PathID(c, badgeParam))
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, b.AppendJSON(httpserver.JSONBody(c)))
}

func (h *handlers) create(c *fiber.Ctx) error {
	nb, err := httpserver.Decode(c, h.decodeNewBadge)
	if err != nil {
		return err
	}
	nb.UserID = httpserver.Owner(c)
	b, err := h.store.Create(c.UserContext(), nb)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderLocation, b.Location())
	return sendJSON(c, fiber.StatusCreated, b.AppendJSON(httpserver.JSONBody(c)))
}

func (h *handlers) decodeNewBadge(b *httpserver.Body) (NewBadge, error) {
	return decodeNewBadge(b, h.now())
}

// decodeNewBadge applies the field rules of CONTRACT §3 "Badge" and reports
// every broken one at once.
func decodeNewBadge(b *httpserver.Body, now time.Time) (NewBadge, error) {
	var nb NewBadge
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
	return nb, b.Err(readOnly...)
}

func sendJSON(c *fiber.Ctx, status int, body []byte) error {
	return httpserver.SendJSON(c, status, body)
}

package goals

import (
	"net/url"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"usersvc/platform/errs"
	"usersvc/platform/httpserver"
	"usersvc/platform/jsonw"
	"usersvc/platform/page"
	"usersvc/platform/tzname"
)

// Handlers serve the goal routes: decode → call the store → encode. The
// route chain (platform/httpserver) has validated the path, the caller and
// the content type, and settles an unknown user or a 422 in the contract's order.
type Handlers struct {
	store *Store
	now   func() time.Time
}

// NewHandlers builds the handlers.
func NewHandlers(store *Store) *Handlers {
	return &Handlers{store: store, now: time.Now}
}

const (
	collectionPath = "/users/:auth_user_id/goals"
	itemPath       = "/users/:auth_user_id/goals/:goal_id"
	checkInsPath   = "/users/:auth_user_id/goals/:goal_id/check-ins"
	checkInPath    = "/users/:auth_user_id/goals/:goal_id/check-ins/:check_in_id"
	goalParam      = "goal_id"
	checkInParam   = "check_in_id"
)

// Routes is the module's route table; Access shows who may call what.
func Routes(h *Handlers) []httpserver.Route {
	return []httpserver.Route{
		{Method: fiber.MethodGet, Path: collectionPath, Access: httpserver.Public, Shared: true, Handler: h.list},
		{Method: fiber.MethodPost, Path: collectionPath, Access: httpserver.OwnerOrAdmin, Body: true, Idempotent: true, Handler: h.create},
		{Method: fiber.MethodGet, Path: itemPath, Access: httpserver.Public, Handler: h.get},
		{Method: fiber.MethodPut, Path: itemPath, Access: httpserver.OwnerOrAdmin, Body: true, Handler: h.update,
			BeforeInvalid: h.checkPrecondition},
		{Method: fiber.MethodDelete, Path: itemPath, Access: httpserver.OwnerOrAdmin, Handler: h.delete},
		// The check-in routes ignore If-Match (CONTRACT §3).
		{Method: fiber.MethodPost, Path: checkInsPath, Access: httpserver.OwnerOrAdmin, Body: true, Idempotent: true, Handler: h.checkIn,
			BeforeInvalid: h.checkGoal},
		{Method: fiber.MethodGet, Path: checkInsPath, Access: httpserver.Public, Shared: true, Handler: h.listCheckIns},
		{Method: fiber.MethodDelete, Path: checkInPath, Access: httpserver.OwnerOrAdmin, Handler: h.deleteCheckIn},
	}
}

func (h *Handlers) list(c *fiber.Ctx) error {
	q, err := parseListQuery(c, httpserver.Owner(c))
	if err != nil {
		return err
	}
	goals, err := h.store.List(c.UserContext(), q)
	if err != nil {
		return err
	}
	if len(goals) > q.Limit {
		last := goals[q.Limit-1]
		c.Set(fiber.HeaderLink, nextLink(q, page.Cursor{At: last.CreatedAt, ID: last.ID}))
		goals = goals[:q.Limit]
	}
	return httpserver.SendJSON(c, fiber.StatusOK, jsonw.Array(httpserver.JSONBody(c), goals, (*Goal).AppendJSON))
}

func parseListQuery(c *fiber.Ctx, userID string) (ListQuery, error) {
	status, err := httpserver.QueryParam(c, "status")
	if err != nil {
		return ListQuery{}, err
	}
	if status != "" && !ValidStatus(status) {
		return ListQuery{}, errs.New(errs.Malformed, "status must be one of not-started, in-progress, completed, abandoned")
	}
	limit, after, err := httpserver.ReadPage(c, page.Scope(userID, status))
	if err != nil {
		return ListQuery{}, err
	}
	return ListQuery{UserID: userID, Status: status, Limit: limit, After: after}, nil
}

func nextLink(q ListQuery, after page.Cursor) string {
	userID := q.UserID
	keep := url.Values{}
	if q.Status != "" {
		keep.Set("status", q.Status)
	}
	return page.NextLink("/users/"+userID+"/goals", keep, page.Encode(after, page.Scope(userID, q.Status)), q.Limit)
}

func (h *Handlers) get(c *fiber.Ctx) error {
	g, err := h.store.Get(c.UserContext(), httpserver.Owner(c), httpserver.PathID(c, goalParam))
	if err != nil {
		return err
	}
	return writeGoal(c, fiber.StatusOK, &g)
}

func (h *Handlers) create(c *fiber.Ctx) error {
	g, err := httpserver.Decode(c, decodeNewGoal)
	if err != nil {
		return err
	}
	g.UserID = httpserver.Owner(c)
	created, err := h.store.Create(c.UserContext(), g)
	if err != nil {
		return err
	}
	c.Location("/users/" + created.UserID + "/goals/" + strconv.FormatInt(created.ID, 10))
	return writeGoal(c, fiber.StatusCreated, &created)
}

func (h *Handlers) update(c *fiber.Ctx) error {
	patch, err := httpserver.Decode(c, decodePatch)
	if err != nil {
		return err
	}
	g, err := h.store.Update(c.UserContext(), httpserver.Owner(c), httpserver.PathID(c, goalParam), patch, ifMatch(c))
	if err != nil {
		return err
	}
	return writeGoal(c, fiber.StatusOK, &g)
}

// checkPrecondition is what a PUT with broken fields answers before its 422:
// no such goal (404) or a stale If-Match (412), per CONTRACT §2's order.
func (h *Handlers) checkPrecondition(c *fiber.Ctx) error {
	return h.store.CheckPrecondition(c.UserContext(), httpserver.Owner(c), httpserver.PathID(c, goalParam), ifMatch(c))
}

func (h *Handlers) delete(c *fiber.Ctx) error {
	if err := h.store.Delete(c.UserContext(), httpserver.Owner(c), httpserver.PathID(c, goalParam), ifMatch(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func ifMatch(c *fiber.Ctx) Precondition { return ParseIfMatch(c.Get(fiber.HeaderIfMatch)) }

func writeGoal(c *fiber.Ctx, status int, g *Goal) error {
	c.Set(fiber.HeaderETag, g.ETag())
	return httpserver.SendJSON(c, status, g.AppendJSON(httpserver.JSONBody(c)))
}

// readOnly fields may appear in what clients received but never in what they send.
var readOnly = []string{"id", "auth_user_id", "created_at", "updated_at", "completed_at", "longest_streak", "last_check_in_on"}

func decodeNewGoal(b *httpserver.Body) (Goal, error) {
	g := Goal{Status: StatusInProgress}
	b.Require("title")
	if v, ok := b.Text("title", 1, MaxTitle); ok {
		g.Title = v
	}
	if v, ok := b.Text("description", 0, MaxDescription); ok {
		g.Description = v
	}
	if v, ok := b.Enum("status", statuses...); ok {
		g.Status = v
	}
	if v, ok := b.Int("streak_count", 0, MaxStreak); ok {
		g.Streak = v
	}
	return g, b.Err(readOnly...)
}

func decodePatch(b *httpserver.Body) (Patch, error) {
	var p Patch
	if v, ok := b.Text("title", 1, MaxTitle); ok {
		p.Title = &v
	}
	if v, ok := b.Text("description", 0, MaxDescription); ok {
		p.Description = &v
	}
	if v, ok := b.Enum("status", statuses...); ok {
		p.Status = &v
	}
	if v, ok := b.Int("streak_count", 0, MaxStreak); ok {
		p.Streak = &v
	}
	if b.Len() == 0 {
		b.Fail("body", "the update must set at least one of title, description, status, streak_count")
	}
	return p, b.Err(readOnly...)
}

// checkGoal is what a check-in with broken fields answers before its 422:
// no such goal (404).
func (h *Handlers) checkGoal(c *fiber.Ctx) error {
	return h.store.CheckPrecondition(c.UserContext(), httpserver.Owner(c), httpserver.PathID(c, goalParam), Precondition{})
}

func (h *Handlers) checkIn(c *fiber.Ctx) error {
	now := h.now()
	nc, err := httpserver.Decode(c, func(b *httpserver.Body) (NewCheckIn, error) { return decodeCheckIn(b, now) })
	if err != nil {
		return err
	}
	caller, _ := httpserver.Caller(c)
	nc.History = caller.Admin
	ci, err := h.store.CheckIn(c.UserContext(), httpserver.Owner(c), httpserver.PathID(c, goalParam), nc, now)
	if err != nil {
		return err
	}
	c.Location(ci.Location())
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(fiber.StatusCreated).Send(ci.AppendJSON(make([]byte, 0, 384)))
}

// checkInReadOnly are the check-in's fields a client may not send.
var checkInReadOnly = []string{"id", "goal_id", "auth_user_id", "local_date", "streak_count", "longest_streak", "created_at"}

// decodeCheckIn applies the field rules of CONTRACT §3 "Check-ins"; every
// field is optional and only minutes may be null.
func decodeCheckIn(b *httpserver.Body, now time.Time) (NewCheckIn, error) {
	var nc NewCheckIn
	if t, ok := b.Time("occurred_at"); ok {
		t = t.Truncate(time.Microsecond)
		if t.After(now.Add(ClockSkew)) {
			b.Fail("occurred_at", "must not be in the future (5 minutes of clock skew are allowed)")
		} else {
			nc.OccurredAt = &t
		}
	}
	if v, ok := b.Text("timezone", 1, tzname.MaxLen); ok {
		if _, err := tzname.Load(v); err != nil {
			b.Fail("timezone", err.Error())
		} else {
			nc.Timezone = &v
		}
	}
	if !b.Null("minutes") {
		if v, ok := b.Int("minutes", 1, MaxMinutes); ok {
			nc.Minutes = &v
		}
	}
	nc.Note, _ = b.Text("note", 0, MaxNote)
	return nc, b.Err(checkInReadOnly...)
}

func (h *Handlers) listCheckIns(c *fiber.Ctx) error {
	userID, goalID := httpserver.Owner(c), httpserver.PathID(c, goalParam)
	scope := page.Scope(userID, strconv.FormatInt(goalID, 10))
	limit, after, err := httpserver.ReadPage(c, scope)
	if err != nil {
		return err
	}
	list, err := h.store.ListCheckIns(c.UserContext(), userID, goalID, after, limit+1)
	if err != nil {
		return err
	}
	if len(list) > limit {
		list = list[:limit]
		last := &list[limit-1]
		cursor := page.Encode(page.Cursor{At: last.OccurredAt, ID: last.ID}, scope)
		c.Set(fiber.HeaderLink, page.NextLink("/users/"+userID+"/goals/"+strconv.FormatInt(goalID, 10)+"/check-ins", nil, cursor, limit))
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(jsonw.Array(make([]byte, 0, 2+len(list)*320), list, (*CheckIn).AppendJSON))
}

func (h *Handlers) deleteCheckIn(c *fiber.Ctx) error {
	err := h.store.DeleteCheckIn(c.UserContext(), httpserver.Owner(c), httpserver.PathID(c, goalParam), httpserver.PathID(c, checkInParam))
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

package goals

import (
	"context"
	"errors"
	"net/url"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"usersvc/platform/coalesce"
	"usersvc/platform/database"
	"usersvc/platform/httpserver"
	"usersvc/platform/jsonw"
	"usersvc/platform/page"
	"usersvc/platform/problem"
	"usersvc/platform/userref"
)

// Handlers serve the goal routes: decode → call the store → encode.
type Handlers struct {
	store     *Store
	directory userref.Directory
	// lists coalesces identical concurrent list requests (see platform/coalesce).
	lists coalesce.Group[listKey, listPage]
}

// NewHandlers builds the handlers.
func NewHandlers(store *Store, directory userref.Directory) *Handlers {
	return &Handlers{store: store, directory: directory}
}

const (
	collectionPath = "/users/:auth_user_id/goals"
	itemPath       = "/users/:auth_user_id/goals/:goal_id"
)

// Routes is the module's route table; Access shows who may call what.
func Routes(h *Handlers) []httpserver.Route {
	return []httpserver.Route{
		{Method: fiber.MethodGet, Path: collectionPath, Access: httpserver.Public, Handler: h.list},
		{Method: fiber.MethodPost, Path: collectionPath, Access: httpserver.OwnerOrAdmin, Handler: h.create},
		{Method: fiber.MethodGet, Path: itemPath, Access: httpserver.Public, Handler: h.get},
		{Method: fiber.MethodPut, Path: itemPath, Access: httpserver.OwnerOrAdmin, Handler: h.update},
		{Method: fiber.MethodDelete, Path: itemPath, Access: httpserver.OwnerOrAdmin, Handler: h.delete},
	}
}

func (h *Handlers) list(c *fiber.Ctx) error {
	userID := c.Params(httpserver.UserParam)
	q, err := parseListQuery(c, userID)
	if err != nil {
		return err
	}
	result, err := h.lists.Do(c.UserContext(), q.key(), func(ctx context.Context) (listPage, error) {
		return h.listPage(ctx, q)
	})
	if err != nil {
		return goalProblem(err)
	}
	if result.link != "" {
		c.Set(fiber.HeaderLink, result.link)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Response().SetBody(result.body) // copies: the page may be shared with concurrent requests
	return nil
}

// listPage is one encoded page of goals, shareable between identical concurrent requests.
type listPage struct {
	body []byte
	link string
}

// listKey identifies a page: requests with the same key get the same answer.
type listKey struct {
	user, status string
	afterMicros  int64
	afterID      int64
	limit        int
}

func (q ListQuery) key() listKey {
	k := listKey{user: q.UserID, status: q.Status, limit: q.Limit}
	if q.After != nil {
		k.afterMicros, k.afterID = q.After.At.UnixMicro(), q.After.ID
	}
	return k
}

func (h *Handlers) listPage(ctx context.Context, q ListQuery) (listPage, error) {
	goals, err := userref.WithUser(ctx, h.directory, q.UserID, func() ([]Goal, bool, error) {
		return h.store.List(ctx, q)
	})
	if err != nil {
		return listPage{}, err
	}
	var p listPage
	if len(goals) > q.Limit {
		last := goals[q.Limit-1]
		p.link = nextLink(q, page.Cursor{At: last.CreatedAt, ID: last.ID})
		goals = goals[:q.Limit]
	}
	p.body = jsonw.Array(make([]byte, 0, 64+len(goals)*320), goals, (*Goal).AppendJSON)
	return p, nil
}

func parseListQuery(c *fiber.Ctx, userID string) (ListQuery, error) {
	status, err := httpserver.QueryParam(c, "status")
	if err != nil {
		return ListQuery{}, err
	}
	if status != "" && !ValidStatus(status) {
		return ListQuery{}, problem.BadRequest("status must be one of not-started, in-progress, completed, abandoned")
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
	userID := c.Params(httpserver.UserParam)
	id, _ := httpserver.PositiveID(c.Params("goal_id"))
	g, err := userref.WithUser(c.UserContext(), h.directory, userID, func() (Goal, bool, error) {
		return h.store.Get(c.UserContext(), userID, id)
	})
	if err != nil {
		return goalProblem(err)
	}
	return writeGoal(c, fiber.StatusOK, &g)
}

func (h *Handlers) create(c *fiber.Ctx) error {
	userID := c.Params(httpserver.UserParam)
	body, err := httpserver.ReadBody(c)
	if err != nil {
		return err
	}
	g, invalid := decodeNewGoal(body)
	if invalid != nil {
		// An unknown user is a 404 even when the body is also wrong (CONTRACT §2 order).
		if err := h.directory.Resolve(c.UserContext(), userID); err != nil {
			return goalProblem(err)
		}
		return invalid
	}
	g.UserID = userID
	created, err := userref.WithUser(c.UserContext(), h.directory, userID, func() (Goal, bool, error) {
		return h.store.Create(c.UserContext(), g)
	})
	if err != nil {
		return goalProblem(err)
	}
	c.Location("/users/" + userID + "/goals/" + strconv.FormatInt(created.ID, 10))
	return writeGoal(c, fiber.StatusCreated, &created)
}

func (h *Handlers) update(c *fiber.Ctx) error {
	userID := c.Params(httpserver.UserParam)
	id, _ := httpserver.PositiveID(c.Params("goal_id"))
	body, err := httpserver.ReadBody(c)
	if err != nil {
		return err
	}
	pre := ParseIfMatch(c.Get(fiber.HeaderIfMatch))
	patch, invalid := decodePatch(body)
	if invalid != nil {
		// 404 and 412 come before 422 (CONTRACT §2 order).
		g, err := userref.WithUser(c.UserContext(), h.directory, userID, func() (Goal, bool, error) {
			return h.store.Get(c.UserContext(), userID, id)
		})
		if err != nil {
			return goalProblem(err)
		}
		if !pre.Matches(g.Version) {
			return goalProblem(ErrPrecondition)
		}
		return invalid
	}
	g, err := userref.WithUser(c.UserContext(), h.directory, userID, func() (Goal, bool, error) {
		return h.store.Update(c.UserContext(), userID, id, patch, pre)
	})
	if err != nil {
		return goalProblem(err)
	}
	return writeGoal(c, fiber.StatusOK, &g)
}

func (h *Handlers) delete(c *fiber.Ctx) error {
	userID := c.Params(httpserver.UserParam)
	id, _ := httpserver.PositiveID(c.Params("goal_id"))
	pre := ParseIfMatch(c.Get(fiber.HeaderIfMatch))
	_, err := userref.WithUser(c.UserContext(), h.directory, userID, func() (struct{}, bool, error) {
		known, err := h.store.Delete(c.UserContext(), userID, id, pre)
		return struct{}{}, known, err
	})
	if err != nil {
		return goalProblem(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func goalProblem(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return problem.NotFound("no such goal for this user")
	case errors.Is(err, ErrPrecondition):
		return problem.PreconditionFailed("If-Match does not match the goal's current ETag")
	default:
		return database.Problem(userref.Problem(err))
	}
}

func writeGoal(c *fiber.Ctx, status int, g *Goal) error {
	c.Set(fiber.HeaderETag, g.ETag())
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(status).Send(g.AppendJSON(make([]byte, 0, 512)))
}

// readOnly fields may appear in what clients received but never in what they send.
var readOnly = []string{"id", "auth_user_id", "created_at", "updated_at", "completed_at"}

func decodeNewGoal(b *httpserver.Body) (Goal, *problem.Error) {
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
	return g, b.Problem(readOnly...)
}

func decodePatch(b *httpserver.Body) (Patch, *problem.Error) {
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
	return p, b.Problem(readOnly...)
}

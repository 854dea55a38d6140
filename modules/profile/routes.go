package profile

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"usersvc/platform/database"
	"usersvc/platform/httpserver"
	"usersvc/platform/userref"
)

type handlers struct {
	svc *Service
}

// NewRoutes is the module's route table. /users/me is the caller; the
// server mounts literal segments before parameters, so it wins over
// /users/:auth_user_id (routing is case-sensitive: /users/ME is the user "ME").
func NewRoutes(svc *Service) []httpserver.Route {
	h := &handlers{svc: svc}
	return []httpserver.Route{
		{Method: fiber.MethodGet, Path: "/users/me", Access: httpserver.Authenticated, Private: true, Handler: h.me},
		{Method: fiber.MethodGet, Path: "/users/:auth_user_id", Access: httpserver.Public, Handler: h.public},
	}
}

func (h *handlers) me(c *fiber.Ctx) error {
	caller, ok := httpserver.Caller(c)
	if !ok { // the Guard authenticates this route; never reached
		return errors.New("profile: /users/me without a verified caller")
	}
	p, err := h.svc.Me(c.UserContext(), caller.UserID)
	if err != nil {
		return toProblem(err)
	}
	return sendJSON(c, p.AppendPrivateJSON(make([]byte, 0, 256)))
}

func (h *handlers) public(c *fiber.Ctx) error {
	p, err := h.svc.Public(c.UserContext(), c.Params(httpserver.UserParam))
	if err != nil {
		return toProblem(err)
	}
	return sendJSON(c, p.AppendPublicJSON(make([]byte, 0, 256)))
}

func sendJSON(c *fiber.Ctx, body []byte) error {
	c.Status(fiber.StatusOK)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}

// toProblem maps the module's errors to CONTRACT §2 statuses.
func toProblem(err error) error {
	switch {
	case errors.Is(err, userref.ErrUnknown), errors.Is(err, userref.ErrDeleted), errors.Is(err, userref.ErrUnavailable):
		return userref.Problem(err)
	default:
		return database.Problem(err)
	}
}

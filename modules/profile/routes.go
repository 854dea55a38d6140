package profile

import (
	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"usersvc/modules/authref"
	"usersvc/platform/httpserver"
	"usersvc/platform/logging"
)

// handlers serve the profile routes: call the store → encode. The route
// chain settles an unknown user (a just-in-time reference for the caller).
type handlers struct {
	store     *Store
	refresher authref.Refresher
	log       *zap.Logger
}

// NewRoutes is the module's route table. /users/me is the caller; the
// server mounts literal segments before parameters, so it wins over
// /users/:auth_user_id (routing is case-sensitive: /users/ME is the user "ME").
func NewRoutes(store *Store, refresher authref.Refresher, log *zap.Logger) []httpserver.Route {
	h := &handlers{store: store, refresher: refresher, log: log}
	return []httpserver.Route{
		{Method: fiber.MethodGet, Path: "/users/me", Access: httpserver.Authenticated, Private: true, Handler: h.me},
		{Method: fiber.MethodGet, Path: "/users/:auth_user_id", Access: httpserver.Public, Handler: h.public},
		{Method: fiber.MethodGet, Path: settingsPath, Access: httpserver.OwnerOrAdmin, Private: true, Handler: h.settings},
		{Method: fiber.MethodPut, Path: settingsPath, Access: httpserver.OwnerOrAdmin, Private: true, Body: true, Handler: h.putSettings},
	}
}

// me is the caller's own profile. The auth-service is asked first, so its
// identity fields win and refresh the local reference; when it cannot
// answer, the cached reference is served (never an error). An admin token's
// subject is never resolved into a reference: without one, that is a 404.
func (h *handlers) me(c *fiber.Ctx) error {
	ctx, userID := c.UserContext(), httpserver.Owner(c)
	if _, err := h.refresher.Refresh(ctx, userID); err != nil {
		// Storing the fresh identity failed; the cached one still answers.
		logging.For(ctx, h.log).Warn("refreshing the caller's identity failed; serving cached data", zap.Error(err))
	}
	p, err := h.store.Get(ctx, userID)
	if err != nil {
		return err
	}
	return sendJSON(c, p.AppendPrivateJSON(httpserver.JSONBody(c)))
}

func (h *handlers) public(c *fiber.Ctx) error {
	p, err := h.store.Get(c.UserContext(), httpserver.Owner(c))
	if err != nil {
		return err
	}
	return sendJSON(c, p.AppendPublicJSON(httpserver.JSONBody(c)))
}

func sendJSON(c *fiber.Ctx, body []byte) error { return httpserver.SendJSON(c, fiber.StatusOK, body) }

const settingsPath = "/users/:auth_user_id/settings"

func (h *handlers) settings(c *fiber.Ctx) error {
	st, err := h.store.Settings(c.UserContext(), httpserver.Owner(c))
	if err != nil {
		return err
	}
	return sendJSON(c, st.AppendJSON(httpserver.JSONBody(c)))
}

func (h *handlers) putSettings(c *fiber.Ctx) error {
	p, err := httpserver.Decode(c, decodeSettingsPatch)
	if err != nil {
		return err
	}
	st, err := h.store.PutSettings(c.UserContext(), httpserver.Owner(c), p)
	if err != nil {
		return err
	}
	return sendJSON(c, st.AppendJSON(httpserver.JSONBody(c)))
}

// Package goals is the learning-goals feature: a user's goals with status,
// streaks, optimistic concurrency (ETag / If-Match) and keyset pagination.
package goals

import (
	"go.uber.org/fx"

	"usersvc/platform/httpserver"
	"usersvc/platform/openapi"
)

// Module registers the goal store, handlers and routes.
var Module = fx.Module("goals",
	fx.Provide(
		fx.Private,
		NewStore,
		NewHandlers,
	),
	fx.Provide(openapi.AsFragment(Fragment)),
	fx.Provide(httpserver.AsRoutes(Routes)),
)

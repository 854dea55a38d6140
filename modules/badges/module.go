// Package badges is the badges feature: users' badges, listed publicly and
// awarded by their owner or an admin (service-to-service) token.
package badges

import (
	"go.uber.org/fx"

	"usersvc/platform/httpserver"
	"usersvc/platform/openapi"
)

// Module registers the badge store and routes.
var Module = fx.Module("badges",
	fx.Provide(fx.Private, NewStore),
	fx.Provide(openapi.AsFragment(Fragment)),
	fx.Provide(httpserver.AsRoutes(NewRoutes)),
)

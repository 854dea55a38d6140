// Package profile is the profile feature: a user's public profile and the
// caller's private one (/users/me), each with badge and goal statistics.
package profile

import (
	"go.uber.org/fx"

	"usersvc/platform/httpserver"
	"usersvc/platform/openapi"
)

// Module registers the profile store and routes.
var Module = fx.Module("profile",
	fx.Provide(fx.Private, NewStore),
	fx.Provide(openapi.AsFragment(Fragment)),
	fx.Provide(httpserver.AsRoutes(NewRoutes)),
)

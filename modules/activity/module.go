// Package activity is the user's activity feed and calendar. The modules
// that make changes (goals, badges) write an Item through Record in their
// own transaction; this module only reads those records.
package activity

import (
	"go.uber.org/fx"

	"usersvc/platform/httpserver"
	"usersvc/platform/openapi"
)

// Module registers the feed and calendar routes.
var Module = fx.Module("activity",
	fx.Provide(fx.Private, NewStore),
	fx.Provide(openapi.AsFragment(Fragment)),
	fx.Provide(httpserver.AsRoutes(NewRoutes)),
)

// Package authref owns the local references to auth-service users: the
// resolution of ids every route shares, the just-in-time reference of an
// authenticated caller, tombstones, and the user lifecycle events.
package authref

import (
	"go.uber.org/fx"

	"usersvc/modules/authref/authclient"
	"usersvc/platform/events"
	"usersvc/platform/httpserver"
)

// Module registers the user directory and the lifecycle event handlers.
var Module = fx.Module("authref",
	authclient.Module,
	fx.Provide(
		newDirectory,
		func(d *Directory) httpserver.Owners { return d },
		func(d *Directory) Refresher { return d },
		events.AsHandler(NewLifecycleHandler),
	),
)

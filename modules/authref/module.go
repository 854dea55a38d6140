// Package authref owns the local references to auth-service users: the
// resolution of ids every route shares, the just-in-time reference of an
// authenticated caller, tombstones, and the user lifecycle events.
package authref

import (
	"go.uber.org/fx"

	"usersvc/modules/authref/authclient"
	"usersvc/platform/events"
	"usersvc/platform/openapi"
	"usersvc/platform/userref"
)

// Module registers the user directory and the lifecycle event handlers.
var Module = fx.Module("authref",
	authclient.Module,
	fx.Provide(
		NewDirectory,
		func(d *Directory) userref.Directory { return d },
		func(d *Directory) userref.Refresher { return d },
		events.AsHandler(NewLifecycleHandler),
	),
	fx.Provide(openapi.AsFragment(Fragment)),
)

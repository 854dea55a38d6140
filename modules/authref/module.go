// Package authref owns the local references to auth-service users: the
// resolution of ids every route shares, the just-in-time reference of an
// authenticated caller, tombstones, and the user lifecycle events.
package authref

import (
	"go.uber.org/fx"

	"usersvc/modules/authref/authclient"
	"usersvc/modules/authref/authevent"
	"usersvc/platform/asyncapi"
	"usersvc/platform/httpserver"
	"usersvc/platform/openapi"
)

// Module registers the user directory, the lifecycle event handler and the
// subscription that gives the consumer the auth-service's events.
var Module = fx.Module("authref",
	authclient.Module,
	fx.Provide(
		newDirectory,
		func(d *Directory) httpserver.Owners { return d },
		func(d *Directory) Refresher { return d },
		authevent.AsHandler(NewLifecycleHandler),
		authevent.NewSubscription,
	),
	fx.Provide(openapi.AsFragment(Fragment), asyncapi.AsFragment(AsyncAPI)),
)

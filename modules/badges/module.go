// Package badges is a feature module of usersvc.
package badges

import "go.uber.org/fx"

// Module registers the feature's routes and event handlers.
var Module = fx.Module("badges")

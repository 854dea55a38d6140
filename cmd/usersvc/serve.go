package main

import (
	"github.com/spf13/cobra"
	"go.uber.org/fx"

	feed "usersvc/modules/activity"
	"usersvc/modules/authref"
	"usersvc/modules/badges"
	"usersvc/modules/goals"
	"usersvc/modules/outbox"
	"usersvc/modules/profile"
	"usersvc/platform/asyncapi"
	"usersvc/platform/config"
	"usersvc/platform/httpserver"
	"usersvc/platform/openapi"
)

// features are the self-registering feature modules; adding one is one line here.
var features = fx.Options(
	authref.Module,
	profile.Module,
	badges.Module,
	goals.Module,
	feed.Module,
	openapi.Module,
	asyncapi.Module,
	outbox.DocumentModule,
	fx.Supply(apiInfo()),
)

func newServeCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, e, config.NeedDatabase, config.NeedSecret)
			if err != nil {
				return err
			}
			return runApp(cmd.Context(), cfg, httpserver.Module, features)
		},
	}
}

package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"usersvc/migrations"
	"usersvc/platform/config"
)

func newMigrateCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate [up|down|status]",
		Short: "Bring the database schema up to date (default), back one step, or show its status",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			action := "up"
			if len(args) == 1 {
				action = args[0]
			}
			return migrate(cmd, e, action)
		},
	}
	for _, action := range []string{"up", "down", "status"} {
		cmd.AddCommand(&cobra.Command{
			Use:   action,
			Short: map[string]string{"up": "Apply every pending migration", "down": "Roll back the newest migration", "status": "List migrations and whether they are applied"}[action],
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return migrate(cmd, e, action) },
		})
	}
	return cmd
}

func migrate(cmd *cobra.Command, e env, action string) error {
	if action != "up" && action != "down" && action != "status" {
		return usagef("migrate: unknown action %q (want up, down or status)", action)
	}
	cfg, err := loadConfig(cmd, e, config.NeedDatabase)
	if err != nil {
		return err
	}
	runner, err := migrations.Open(cfg, e.stdout)
	if err != nil {
		return usageError{err}
	}
	defer runner.Close()
	ctx := cmd.Context()
	if err := runner.Ping(ctx); err != nil {
		return fmt.Errorf("migrate: database unreachable: %w", err)
	}
	run := map[string]func(context.Context) error{"up": runner.Up, "down": runner.Down, "status": runner.Status}[action]
	if err := run(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", action, err)
	}
	return nil
}

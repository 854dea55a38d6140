package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"usersvc/migrations"
	"usersvc/platform/config"
)

// migrateFlags are shared by `migrate` and its subcommands.
type migrateFlags struct {
	normalizeLegacy bool
	lockTimeout     time.Duration
}

func newMigrateCmd(e env) *cobra.Command {
	var flags migrateFlags
	cmd := &cobra.Command{
		Use:   "migrate [up|down|status]",
		Short: "Bring the database schema up to date (default), back one step, or show its status",
		Long: "Bring the database schema up to date (default), back one step, or show its status.\n\n" +
			"On the legacy shared database, `up` converts badges and learning_goals in place. It first checks\n" +
			"the legacy rows: if any breaks a rule of the new schema, it lists every one with its fix, changes\n" +
			"nothing and exits 1; --normalize-legacy then applies exactly those fixes. See docs/operations.md.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			action := "up"
			if len(args) == 1 {
				action = args[0]
			}
			return migrate(cmd, e, action, flags)
		},
	}
	pf := cmd.PersistentFlags()
	pf.BoolVar(&flags.normalizeLegacy, "normalize-legacy", false, "up: apply the documented fixes to legacy rows that break the new schema's rules")
	pf.DurationVar(&flags.lockTimeout, "lock-timeout", 2*time.Second, "longest wait for a lock of any migration statement (and so the longest writers of a table, or the auth-service's users, wait behind it); a migration that gives way is retried")
	for _, action := range []string{"up", "down", "status"} {
		cmd.AddCommand(&cobra.Command{
			Use:   action,
			Short: map[string]string{"up": "Apply every pending migration", "down": "Roll back the newest migration", "status": "List migrations and whether they are applied"}[action],
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return migrate(cmd, e, action, flags) },
		})
	}
	return cmd
}

func migrate(cmd *cobra.Command, e env, action string, flags migrateFlags) error {
	if action != "up" && action != "down" && action != "status" {
		return usagef("migrate: unknown action %q (want up, down or status)", action)
	}
	if flags.normalizeLegacy && action != "up" {
		return usagef("migrate %s: --normalize-legacy applies only to migrate up", action)
	}
	if flags.lockTimeout < 10*time.Millisecond || flags.lockTimeout > time.Minute {
		return usagef("migrate: --lock-timeout must be between 10ms and 1m, got %s", flags.lockTimeout)
	}
	cfg, err := loadConfig(cmd, e, config.NeedDatabase)
	if err != nil {
		return err
	}
	runner, err := migrations.Open(cfg, e.stdout,
		migrations.WithNormalizeLegacy(flags.normalizeLegacy),
		migrations.WithLockTimeout(flags.lockTimeout),
		migrations.WithDiagnostics(e.stderr))
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

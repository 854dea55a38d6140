package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newBackfillCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backfill-auth-users",
		Short: "Fill and refresh auth_users from the auth-service or a legacy users table",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return errors.New("backfill-auth-users: not implemented yet") },
	}
	f := cmd.Flags()
	f.String("source", "", "auth-service or legacy")
	f.String("legacy-database-url", "", "database holding the legacy users table (default: DATABASE_URL)")
	f.Int("batch-size", 1000, "rows per batch")
	f.Bool("dry-run", false, "report what would change without writing")
	f.Bool("delete-orphans", false, "delete references the auth-service answers 404 for")
	f.Bool("yes", false, "do not ask for confirmation")
	return cmd
}

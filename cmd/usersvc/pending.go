package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// errPending marks commands whose work lands in a later change.
var errPending = errors.New("not implemented yet")

func newConsumeCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "consume",
		Short: "Consume auth-service events from RabbitMQ",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return errors.New("consume: " + errPending.Error()) },
	}
}

func newBackfillCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backfill-auth-users",
		Short: "Fill and refresh auth_users from the auth-service or a legacy users table",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return errors.New("backfill-auth-users: " + errPending.Error()) },
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

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"usersvc/modules/authref"
	"usersvc/modules/authref/authclient"
	"usersvc/platform"
	"usersvc/platform/config"
	"usersvc/platform/database"
)

type backfillFlags struct {
	source        string
	legacyURL     string
	batchSize     int
	dryRun        bool
	deleteOrphans bool
	yes           bool
}

func newBackfillCmd(e env) *cobra.Command {
	var flags backfillFlags
	cmd := &cobra.Command{
		Use:   "backfill-auth-users",
		Short: "Fill and refresh auth_users from the auth-service or a legacy users table",
		Long: "Fill and refresh auth_users from the auth-service or a legacy users table.\n\n" +
			"Idempotent; an interrupted run resumes when the same command runs again. Progress goes to stderr\n" +
			"(a bar on a terminal); stdout gets one line: created=N updated=N unchanged=N orphans=N.\n" +
			"Orphans (references the source does not list) are only listed, unless --delete-orphans.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return backfill(cmd, e, flags) },
	}
	f := cmd.Flags()
	f.StringVar(&flags.source, "source", "", "auth-service or legacy (required)")
	f.StringVar(&flags.legacyURL, "legacy-database-url", "", "database holding the legacy users table (default: DATABASE_URL)")
	f.IntVar(&flags.batchSize, "batch-size", 5000, fmt.Sprintf("users per batch (1–%d)", authref.MaxBackfillBatch))
	f.BoolVar(&flags.dryRun, "dry-run", false, "report what would change without writing")
	f.BoolVar(&flags.deleteOrphans, "delete-orphans", false, "delete each orphan the auth-service answers 404 for (with its badges and goals)")
	f.BoolVar(&flags.yes, "yes", false, "do not ask for confirmation (required by --delete-orphans when stdin is not a terminal)")
	return cmd
}

func backfill(cmd *cobra.Command, e env, flags backfillFlags) error {
	if err := flags.check(e); err != nil {
		return err
	}
	needs := []config.Requirement{config.NeedDatabase}
	if flags.source == "auth-service" || flags.deleteOrphans {
		needs = append(needs, config.NeedAuthURL)
	}
	cfg, err := loadConfig(cmd, e, needs...)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	db, err := openPool(ctx, cfg, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()

	var client *authclient.Client
	if cfg.AuthServiceURL != "" {
		log, err := platform.NewLogger(cfg)
		if err != nil {
			return usageError{err}
		}
		defer func() { _ = log.Sync() }()
		client = authclient.New(cfg, log)
	}
	var src authref.BackfillSource
	switch flags.source {
	case "legacy":
		legacy := db
		if flags.legacyURL != "" && flags.legacyURL != cfg.DatabaseURL {
			if legacy, err = openPool(ctx, cfg, flags.legacyURL); err != nil {
				return err
			}
			defer legacy.Close()
		}
		c := legacy.Config().ConnConfig
		if src, err = authref.NewLegacyUsers(ctx, legacy, fmt.Sprintf("%s:%d/%s", c.Host, c.Port, c.Database)); err != nil {
			return fmt.Errorf("backfill-auth-users: %w", err)
		}
	case "auth-service":
		src = authref.NewAuthServiceUsers(client, cfg.AuthServiceURL)
	}

	opts := authref.BackfillOptions{
		BatchSize:     flags.batchSize,
		DryRun:        flags.dryRun,
		DeleteOrphans: flags.deleteOrphans,
		Log:           e.stderr,
		Progress:      authref.NewBackfillLog(e.stderr, 5*time.Second),
	}
	if isTerminal(e.stderr) {
		opts.Progress = authref.NewBackfillBar(e.stderr)
	}
	if flags.deleteOrphans {
		opts.Checker = client
		if !flags.yes {
			opts.Confirm = confirmDeletion(e)
		}
	}
	res, err := authref.Backfill(ctx, db, src, opts)
	if err == nil || errors.Is(err, authref.ErrOrphansUnconfirmed) {
		fmt.Fprintln(e.stdout, res.Summary())
	}
	if err != nil {
		return fmt.Errorf("backfill-auth-users: %w", err)
	}
	return nil
}

func (f backfillFlags) check(e env) error {
	switch f.source {
	case "auth-service", "legacy":
	case "":
		return usagef("backfill-auth-users: --source is required (auth-service or legacy)")
	default:
		return usagef("backfill-auth-users: --source must be auth-service or legacy, got %q", f.source)
	}
	if f.batchSize < 1 || f.batchSize > authref.MaxBackfillBatch {
		return usagef("backfill-auth-users: --batch-size must be between 1 and %d, got %d", authref.MaxBackfillBatch, f.batchSize)
	}
	if f.legacyURL != "" && f.source != "legacy" {
		return usagef("backfill-auth-users: --legacy-database-url applies only to --source legacy")
	}
	if f.deleteOrphans && !f.yes && !f.dryRun && !isTerminal(e.stdin) {
		return usagef("backfill-auth-users: --delete-orphans asks for confirmation on a terminal; pass --yes to run it elsewhere")
	}
	return nil
}

// openPool opens a small pool on url with the service's connection settings.
func openPool(ctx context.Context, cfg config.Config, url string) (*pgxpool.Pool, error) {
	c := cfg
	c.DatabaseURL = url
	pc, err := database.PoolConfig(c)
	if err != nil {
		return nil, usageError{err}
	}
	pc.MinConns, pc.MaxConns = 0, 4
	db, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, usageError{err}
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.Ping(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("backfill-auth-users: database %s:%d/%s unreachable: %w",
			pc.ConnConfig.Host, pc.ConnConfig.Port, pc.ConnConfig.Database, err)
	}
	return db, nil
}

// confirmDeletion asks on the terminal before orphans are deleted.
func confirmDeletion(e env) func(int64) (bool, error) {
	return func(n int64) (bool, error) {
		fmt.Fprintf(e.stderr, "Delete the %d orphans listed above, with their badges and goals, each only after the auth-service answers 404 for it? [y/N] ", n)
		answer, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		answer = strings.ToLower(strings.TrimSpace(answer))
		return answer == "y" || answer == "yes", nil
	}
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

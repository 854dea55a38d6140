package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"usersvc/platform/config"
	"usersvc/platform/database"
)

// lockID is the advisory lock that makes concurrent `migrate` runs take turns.
const lockID = 0x75_73_65_72_73_76_63 // "usersvc"

// Runner applies the embedded migrations to one database.
type Runner struct {
	db       *sql.DB
	provider *goose.Provider
	out      io.Writer
}

// Open connects to the database of cfg and prepares goose under a session lock.
func Open(cfg config.Config, out io.Writer) (*Runner, error) {
	pc, err := database.PoolConfig(cfg)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*pc.ConnConfig)
	db.SetMaxOpenConns(2)
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(1, 600))
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, FS,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Runner{db: db, provider: provider, out: out}, nil
}

// Close releases the connection.
func (r *Runner) Close() error { return r.provider.Close() }

// Ping fails fast when the database is unreachable.
func (r *Runner) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return r.db.PingContext(ctx)
}

// Up applies every pending migration.
func (r *Runner) Up(ctx context.Context) error {
	results, err := r.provider.Up(ctx)
	r.report(results)
	if err != nil {
		return unwrapPartial(err)
	}
	if len(results) == 0 {
		fmt.Fprintln(r.out, "migrate: already up to date")
	}
	return nil
}

// Down rolls back the newest applied migration.
func (r *Runner) Down(ctx context.Context) error {
	result, err := r.provider.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		fmt.Fprintln(r.out, "migrate: nothing to roll back")
		return nil
	}
	if result != nil {
		r.report([]*goose.MigrationResult{result})
	}
	return unwrapPartial(err)
}

// Status prints every migration and whether it is applied.
func (r *Runner) Status(ctx context.Context) error {
	statuses, err := r.provider.Status(ctx)
	if err != nil {
		return err
	}
	for _, s := range statuses {
		applied := "pending"
		if s.State == goose.StateApplied {
			applied = "applied " + s.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(r.out, "%05d  %-40s %s\n", s.Source.Version, s.Source.Path, applied)
	}
	return nil
}

func (r *Runner) report(results []*goose.MigrationResult) {
	for _, res := range results {
		if res.Error != nil {
			continue
		}
		fmt.Fprintf(r.out, "migrate: %s %05d %s (%s)\n", res.Direction, res.Source.Version, res.Source.Path,
			res.Duration.Round(time.Millisecond))
	}
}

// unwrapPartial keeps the failing migration's own error, which names the file and statement.
func unwrapPartial(err error) error {
	var partial *goose.PartialError
	if errors.As(err, &partial) && partial.Failed != nil {
		return fmt.Errorf("%s: %w", partial.Failed.Source.Path, partial.Err)
	}
	return err
}

package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
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
	fsys     fs.FS
	out      io.Writer
	conv     *converter
}

// Option changes how the migrations run.
type Option func(*converter)

// WithSource replaces the embedded SQL migrations (tests run their own set,
// which usually includes FS's files); 00002 stays the Go conversion.
func WithSource(fsys fs.FS) Option { return func(c *converter) { c.fsys = fsys } }

// WithNormalizeLegacy applies the documented fixes to legacy rows that break
// the new schema's rules instead of refusing (`migrate up --normalize-legacy`).
func WithNormalizeLegacy(on bool) Option { return func(c *converter) { c.normalize = on } }

// WithLockTimeout bounds how long one statement of any migration (one step
// of the conversion) waits for a lock, and so how long the service's and the
// auth-service's queries can be kept waiting behind it (default 2s).
func WithLockTimeout(d time.Duration) Option { return func(c *converter) { c.lockTimeout = d } }

// WithLockAttempts is how often a migration (a step of the conversion) is
// tried when its locks are busy (default 20).
func WithLockAttempts(n int) Option { return func(c *converter) { c.attempts = max(n, 1) } }

// WithDiagnostics sends the pre-flight findings, the fixes applied, notes and
// retries to w (default: the output writer).
func WithDiagnostics(w io.Writer) Option { return func(c *converter) { c.log = w } }

// Open connects to the database of cfg and prepares goose under a session lock.
func Open(cfg config.Config, out io.Writer, opts ...Option) (*Runner, error) {
	conv := &converter{lockTimeout: 2 * time.Second, attempts: 20, log: out, fsys: FS}
	for _, o := range opts {
		o(conv)
	}
	pc, err := database.PoolConfig(cfg)
	if err != nil {
		return nil, err
	}
	onlineSettings(pc.ConnConfig, conv.lockTimeout)
	db := stdlib.OpenDB(*pc.ConnConfig)
	// One connection holds goose's session lock, one the run's (hold); the Go
	// migration works on another.
	db.SetMaxOpenConns(4)
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(1, 600))
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, conv.fsys,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(conv.migration()))
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Runner{db: db, provider: provider, fsys: conv.fsys, out: out, conv: conv}, nil
}

// Close releases the connection.
func (r *Runner) Close() error { return r.provider.Close() }

// Ping fails fast when the database is unreachable.
func (r *Runner) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return r.db.PingContext(ctx)
}

// Up applies every pending migration. On a legacy database it first checks
// the legacy rows and, when any breaks a rule of the new schema, lists them
// all and returns ErrLegacyData before anything is changed.
func (r *Runner) Up(ctx context.Context) error {
	if err := r.preflight(ctx); err != nil {
		return err
	}
	release, err := r.hold(ctx)
	if err != nil {
		return err
	}
	defer release()
	applied := 0
	for ; ; applied++ {
		src, err := r.pending(ctx)
		if err != nil || src == nil {
			if err == nil && applied == 0 {
				fmt.Fprintln(r.out, "migrate: already up to date")
			}
			return err
		}
		// One at a time, each under the lock timeout and retried on its own,
		// and each reported as soon as it is applied.
		result, err := r.withRetries(ctx, *src, r.provider.UpByOne)
		if err != nil {
			return err
		}
		r.report([]*goose.MigrationResult{result})
	}
}

// Down rolls back the newest applied migration.
func (r *Runner) Down(ctx context.Context) error {
	release, err := r.hold(ctx)
	if err != nil {
		return err
	}
	defer release()
	src, err := r.newest(ctx)
	if err != nil {
		return err
	}
	if src == nil {
		fmt.Fprintln(r.out, "migrate: nothing to roll back")
		return nil
	}
	result, err := r.withRetries(ctx, *src, r.provider.Down)
	if err != nil {
		return err
	}
	r.report([]*goose.MigrationResult{result})
	return nil
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
		fmt.Fprintf(r.out, "%05d  %-40s %s\n", s.Source.Version, name(*s.Source), applied)
	}
	return nil
}

// preflight only reads; the conversion checks again under its locks.
func (r *Runner) preflight(ctx context.Context) error {
	return withPgx(ctx, r.db, func(ctx context.Context, conn *pgx.Conn) error {
		st, err := inspect(ctx, conn)
		if err != nil || !st.anyLegacy() {
			return err
		}
		chk, err := checkLegacy(ctx, conn, st)
		if err != nil {
			return err
		}
		if len(chk.findings) == 0 || (r.conv.normalize && chk.fixable()) {
			return nil
		}
		return refusal(r.conv.log, chk, r.conv.normalize)
	})
}

// name is what a migration is called in reports; Go migrations have no file.
func name(s goose.Source) string {
	if s.Path != "" {
		return s.Path
	}
	if s.Version == convertVersion {
		return "badges_goals (Go: create, or convert the legacy tables)"
	}
	return fmt.Sprintf("%05d (Go)", s.Version)
}

func (r *Runner) report(results []*goose.MigrationResult) {
	for _, res := range results {
		if res.Error != nil {
			continue
		}
		fmt.Fprintf(r.out, "migrate: %s %05d %s (%s)\n", res.Direction, res.Source.Version, name(*res.Source),
			res.Duration.Round(time.Millisecond))
	}
}

// unwrapPartial keeps the failing migration's own error, which names the file and statement.
func unwrapPartial(err error) error {
	var partial *goose.PartialError
	if errors.As(err, &partial) && partial.Failed != nil {
		return fmt.Errorf("%s: %w", name(*partial.Failed.Source), partial.Err)
	}
	return err
}

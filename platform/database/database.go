// Package database owns the PostgreSQL connection pool, the shared read
// and write pipelines, and the classification of driver errors into the codes of
// platform/errs.
package database

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"usersvc/platform/config"
	"usersvc/platform/errs"
)

// Module provides the *pgxpool.Pool and closes it on stop.
var Module = fx.Module("database", fx.Provide(NewPool, newPipeline, newWritePipeline), fx.Invoke(RegisterMetrics, requireAtStart))

// StartupWait bounds how long a starting command waits for the database
// before it gives up with exit status 1 (CONTRACT §7: a dependency unreachable).
const StartupWait = 10 * time.Second

// requireAtStart makes a command that cannot reach its database fail at start,
// instead of serving nothing but 503s; later outages are ridden out.
func requireAtStart(lc fx.Lifecycle, pool *Pool) {
	lc.Append(fx.Hook{OnStart: func(ctx context.Context) error {
		return WaitReachable(ctx, "database", StartupWait, func(ctx context.Context) error { return pool.Ping(ctx, 2*time.Second) })
	}})
}

// WaitReachable retries ping until it succeeds or wait has passed; what names
// the dependency in the error.
func WaitReachable(ctx context.Context, what string, wait time.Duration, ping func(context.Context) error) error {
	deadline := time.Now().Add(wait)
	for {
		err := ping(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s unreachable: %w", what, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// newPipeline and newWritePipeline tie the pipelines to the lifecycle:
// their lanes start with the graph and stop before the pool closes (hooks
// stop in reverse order).
func newPipeline(lc fx.Lifecycle, pool *Pool) *Pipeline {
	p := NewPipeline(pool.Pool, pool.acquireTimeout)
	runWithGraph(lc, p)
	return p
}

func newWritePipeline(lc fx.Lifecycle, pool *Pool) *WritePipeline {
	w := NewWritePipeline(pool.Pool, pool.acquireTimeout)
	runWithGraph(lc, w)
	return w
}

func runWithGraph(lc fx.Lifecycle, lanes interface {
	Start()
	Close(context.Context)
}) {
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { lanes.Start(); return nil },
		OnStop:  func(ctx context.Context) error { lanes.Close(ctx); return nil },
	})
}

// PoolConfig maps the DATABASE_POOL_* settings onto pgxpool's.
func PoolConfig(cfg config.Config) (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	// DATABASE_POOL_SIZE connections are kept (CONTRACT §7): pgxpool opens
	// them in the background at start and never closes them for idleness, so
	// a burst after a quiet spell finds warm backends instead of forking
	// cold ones on the request path. A recycled one is replaced in the
	// background too.
	pc.MinConns = int32(cfg.DatabasePoolSize)
	pc.MaxConns = int32(cfg.DatabasePoolSize + cfg.DatabaseMaxOverflow)
	pc.MaxConnLifetime = cfg.DatabasePoolRecycle
	pc.MaxConnLifetimeJitter = cfg.DatabasePoolRecycle / 10
	// Overflow connections, above the kept size, close once idle this long.
	pc.MaxConnIdleTime = time.Minute
	if pc.ConnConfig.RuntimeParams == nil {
		pc.ConnConfig.RuntimeParams = map[string]string{}
	}
	pc.ConnConfig.RuntimeParams["application_name"] = "usersvc"
	pc.ConnConfig.RuntimeParams["timezone"] = "UTC"
	return pc, nil
}

// Pool wraps pgxpool.Pool with the DATABASE_POOL_TIMEOUT it was configured
// with. pgxpool itself waits for a connection as long as the context allows:
// the bound is the deadline the HTTP server puts on each request's context
// (and the pipeline on each batch), after which Classify makes it a 503.
type Pool struct {
	*pgxpool.Pool
	acquireTimeout time.Duration
}

// NewPool opens the pool; it does not wait for the database (the kept
// connections open in the background), so /health answers while the
// database is down and /ready tells the truth.
func NewPool(lc fx.Lifecycle, cfg config.Config, log *zap.Logger) (*Pool, error) {
	pc, err := PoolConfig(cfg)
	if err != nil {
		return nil, err
	}
	p, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, err
	}
	pool := &Pool{Pool: p, acquireTimeout: cfg.DatabasePoolTimeout}
	lc.Append(fx.Hook{OnStop: func(context.Context) error {
		log.Debug("closing database pool")
		p.Close()
		return nil
	}})
	return pool, nil
}

// AcquireTimeout is how long a request may wait for a connection.
func (p *Pool) AcquireTimeout() time.Duration { return p.acquireTimeout }

// Ping checks that the database answers within d.
func (p *Pool) Ping(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return p.Pool.Ping(ctx)
}

// IsUnavailable reports whether err means the database could not be used at
// all (down, unreachable, out of connections, shutting down) rather than that
// it refused a statement.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return IsTransientCode(pgErr.Code)
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return true // the connection died under the query
	}
	var connErr *pgconn.ConnectError
	return errors.As(err, &connErr) || pgconn.SafeToRetry(err) || errors.Is(err, puddle.ErrClosedPool) ||
		errors.Is(err, ErrPipelineClosed)
}

// IsTransientCode is true for SQLSTATE classes 08 (connection), 53
// (insufficient resources) and 57P (operator intervention, e.g. shutdown).
func IsTransientCode(code string) bool {
	return len(code) == 5 && (code[:2] == "08" || code[:2] == "53" || code[:3] == "57P")
}

// IsDataError is true for SQLSTATE classes 22 (data exception) and 23
// (integrity constraint violation): the statement, not the database, is wrong.
func IsDataError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && len(pgErr.Code) == 5 && (pgErr.Code[:2] == "22" || pgErr.Code[:2] == "23")
}

// ConstraintName returns the name of the constraint err violated, or "".
func ConstraintName(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.ConstraintName
	}
	return ""
}

// Classify gives a driver error its code: a database that cannot be used at
// all is Unavailable (503 with Retry-After), anything else it refused is
// Internal (its SQL and detail stay in the log). Errors that already carry
// a code, and nil, pass through.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errs.As(err); ok {
		return err
	}
	if IsUnavailable(err) {
		return errs.Wrap(errs.Unavailable, "the database is unavailable", err)
	}
	return errs.Wrap(errs.Internal, "database error", err)
}

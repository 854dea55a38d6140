package migrations

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"
)

// Migrations run while the service and the auth-service keep writing
// (docs/operations.md, "Writing a migration"). Every connection of the
// runner waits at most lockTimeout for a lock: a statement that needs an
// exclusive lock behind a long transaction gives way instead of making
// every query on the table queue behind it. A migration that gave way is
// tried again, whole, after a pause. statement_timeout is off: a long index
// build (CREATE INDEX CONCURRENTLY) blocks nobody and must not be cut off by
// a timeout meant for the service's queries (a role's or the URL's).
func onlineSettings(cc *pgx.ConnConfig, lockTimeout time.Duration) {
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["lock_timeout"] = fmt.Sprintf("%dms", max(lockTimeout.Milliseconds(), 1))
	cc.RuntimeParams["statement_timeout"] = "0"
}

// runLockID makes concurrent `migrate` runs take turns for a whole Up or
// Down: goose's own lock (lockID) is held only during each of its calls,
// and between two of them (which migration is next, the invalid indexes of
// a pending one) another run must not be at work.
const runLockID = lockID + 1

// hold waits, without a lock timeout (another run may take minutes), until
// this run is the only one, and returns what ends that.
func (r *Runner) hold(ctx context.Context) (release func(), err error) {
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	_, err = conn.ExecContext(ctx, "SET lock_timeout = 0")
	if err == nil {
		_, err = conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(runLockID))
	}
	if err == nil { // back to the runner's lock timeout: the connection returns to the pool
		_, err = conn.ExecContext(ctx, "RESET lock_timeout")
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("wait for other migrate runs: %w", err)
	}
	return func() {
		// Closing the session would release the lock too; unlocking first
		// keeps it from outliving us when the pool keeps the connection.
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(runLockID))
		_ = conn.Close()
	}, nil
}

// pending is the first migration not applied yet, nil when none is.
func (r *Runner) pending(ctx context.Context) (*goose.Source, error) {
	statuses, err := r.provider.Status(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range statuses {
		if s.State == goose.StatePending {
			return s.Source, nil
		}
	}
	return nil, nil
}

// newest is the migration a Down rolls back, nil when none is applied.
func (r *Runner) newest(ctx context.Context) (*goose.Source, error) {
	statuses, err := r.provider.Status(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(statuses) - 1; i >= 0; i-- {
		if statuses[i].State == goose.StateApplied {
			return statuses[i].Source, nil
		}
	}
	return nil, nil
}

// withRetries applies one migration (run is UpByOne or Down) until it
// goes through, fails for another reason than a busy lock, or has given way
// attempts times. The conversion (00002) retries each of its steps itself.
func (r *Runner) withRetries(ctx context.Context, src goose.Source, run func(context.Context) (*goose.MigrationResult, error)) (*goose.MigrationResult, error) {
	c := r.conv
	for attempt := 1; ; attempt++ {
		if err := r.dropInvalidIndexes(ctx, src); err != nil {
			return nil, fmt.Errorf("%s: %w", name(src), err)
		}
		result, err := run(ctx)
		if err == nil {
			return result, nil
		}
		err = unwrapPartial(err)
		if !lockBusy(err) || src.Version == convertVersion {
			return nil, err
		}
		if attempt >= c.attempts {
			return nil, fmt.Errorf("gave up after %d attempts, each waiting %s for a lock that a long transaction held "+
				"(see pg_stat_activity); running it again is safe: do so later, or raise --lock-timeout: %w",
				attempt, c.lockTimeout, err)
		}
		wait := backoff(attempt)
		c.logf("%s: a lock was not granted within %s (attempt %d of %d); retrying in %s",
			name(src), c.lockTimeout, attempt, c.attempts, wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// concurrentIndex finds the indexes a migration builds with CREATE INDEX CONCURRENTLY.
var concurrentIndex = regexp.MustCompile(`(?i)\bCREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?("[^"]+"|[a-z_][a-z0-9_$]*)`)

// dropInvalidIndexes: a CREATE INDEX CONCURRENTLY that failed (a lock
// timeout, a duplicate, an interrupted run) leaves its index behind,
// invalid: never used by queries, yet maintained by every write, and in the
// way of the next attempt (IF NOT EXISTS would even keep it). Before each
// attempt of a pending migration, the invalid indexes of that migration's
// names are dropped, concurrently, so the build starts afresh.
func (r *Runner) dropInvalidIndexes(ctx context.Context, src goose.Source) error {
	if src.Type != goose.TypeSQL || src.Path == "" {
		return nil
	}
	if applied, err := r.isApplied(ctx, src.Version); err != nil || applied {
		return err
	}
	text, err := fs.ReadFile(r.fsys, src.Path)
	if err != nil {
		return err
	}
	var names []string
	for _, m := range concurrentIndex.FindAllStringSubmatch(string(text), -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		return nil
	}
	return withPgx(ctx, r.db, func(ctx context.Context, conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid AND n.nspname = current_schema()
  AND c.relname = ANY (SELECT trim(both '"' FROM x) FROM unnest($1::text[]) x)`, names)
		if err != nil {
			return err
		}
		invalid, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, idx := range invalid {
			if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+idx); err != nil {
				return fmt.Errorf("drop the invalid index %s left by an interrupted build: %w", idx, err)
			}
			r.conv.logf("%s: dropped the invalid index %s left by an interrupted build; building it again", name(src), idx)
		}
		return nil
	})
}

func (r *Runner) isApplied(ctx context.Context, version int64) (bool, error) {
	statuses, err := r.provider.Status(ctx)
	if err != nil {
		return false, err
	}
	for _, s := range statuses {
		if s.Source.Version == version {
			return s.State == goose.StateApplied, nil
		}
	}
	return false, errors.New("unknown migration")
}

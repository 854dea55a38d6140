package database

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrCommitRolledBack is a COMMIT the server answered with ROLLBACK.
var ErrCommitRolledBack = errors.New("commit unexpectedly resulted in rollback")

// WriteTx runs a write transaction in two round trips instead of one per
// statement: BEGIN travels with the statements first queues, COMMIT with
// those then queues (then may use what first's statements returned, through
// their QueryRow/Exec callbacks). An error from either stage rolls back.
// Within a transaction db already is (WithTx/ConnOf), it runs in a savepoint
// of that one, as pgx.BeginFunc would; within a Tx, the savepoint and the
// deferred statements go with first's, then's wait for the Tx's COMMIT.
// A nil then has nothing to add: on a pool, when no statement of first's
// has a callback (whose error must still be able to roll back), COMMIT
// travels with them and the whole transaction is one round trip.
func WriteTx(ctx context.Context, db Conn, first func(*pgx.Batch), then func(*pgx.Batch) error) error {
	nothingThen := then == nil
	if nothingThen {
		then = func(*pgx.Batch) error { return nil }
	}
	if tx, ok := db.(writer); ok {
		return tx.write(ctx, first, then)
	}
	pool, ok := db.(acquirer)
	if !ok {
		return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			first(b)
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
			b = &pgx.Batch{}
			if err := then(b); err != nil {
				return err
			}
			return tx.SendBatch(ctx, b).Close()
		})
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	first(b)
	if !nothingThen || hasCallbacks(b) {
		if err := conn.SendBatch(ctx, b).Close(); err != nil {
			return rollback(conn.Conn(), err)
		}
		b = &pgx.Batch{}
		if err := then(b); err != nil {
			return rollback(conn.Conn(), err)
		}
	}
	b.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" {
			return ErrCommitRolledBack
		}
		return nil
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return rollback(conn.Conn(), err)
	}
	return nil
}

// hasCallbacks: a statement of b hands its result to a callback.
func hasCallbacks(b *pgx.Batch) bool {
	for _, q := range b.QueuedQueries {
		if q.Fn != nil {
			return true
		}
	}
	return false
}

// writer is a Tx, or a savepoint of one.
type writer interface {
	write(ctx context.Context, first func(*pgx.Batch), then func(*pgx.Batch) error) error
}

// acquirer is a pool (Pool or a bare pgxpool.Pool), as opposed to a transaction.
type acquirer interface {
	Acquire(ctx context.Context) (*pgxpool.Conn, error)
}

// rollback ends the failed transaction so the connection can go back to the
// pool; a connection that cannot is closed (the pool then drops it).
func rollback(conn *pgx.Conn, cause error) error {
	if conn.IsClosed() || conn.PgConn().TxStatus() == 'I' {
		return cause
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		_ = conn.Close(ctx)
	}
	return cause
}

package database

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Conn is what a store's writes need; both a pool and a transaction are one.
// pgx.BeginFunc on a transaction opens a savepoint, so a store that opens its
// own transaction nests inside one its caller carries.
type Conn interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

type txKey struct{}

// WithTx makes ctx carry tx: the writes a request makes through
// ConnOf(ctx, …) then commit or roll back with it (an idempotent request
// stores its answer in the same transaction as its effect).
func WithTx(ctx context.Context, tx pgx.Tx) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

// ConnOf is the transaction ctx carries, else the pool.
func ConnOf(ctx context.Context, pool *Pool) Conn {
	if tx, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		return tx
	}
	return pool
}

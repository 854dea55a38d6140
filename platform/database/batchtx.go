package database

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Tx is a transaction whose BEGIN and COMMIT cost no round trip of their
// own: BEGIN travels with the statements BeginWith sends first, and
// statements deferred (then's statements of a WriteTx run in it, Defer's,
// a released savepoint) travel with COMMIT. Any other statement sends the
// deferred ones first, in order, so the database sees the order they were
// queued in. A deferred statement's callback runs when it is sent, and its
// error fails whatever sends it (at the latest, Commit).
type Tx struct {
	conn       *pgxpool.Conn
	tail       []*pgx.QueuedQuery
	savepoints int
	closed     bool
	// failed is the error of a send that carried deferred statements: they
	// may not have run, so the transaction must not commit without them.
	failed error
	flat   bool // see Flat
}

var _ pgx.Tx = (*Tx)(nil)

// BeginWith opens a READ COMMITTED transaction on a connection of pool and
// sends BEGIN with first's statements, in one round trip. The level is
// explicit, whatever the server's default: each statement then sees every
// transaction committed before it started (its own snapshot), even one
// queued in the same batch. An error rolls back and returns the connection.
func BeginWith(ctx context.Context, pool *Pool, first func(*pgx.Batch)) (*Tx, error) {
	tx, err := BeginDeferred(ctx, pool, first)
	if err != nil {
		return nil, err
	}
	if err := tx.Send(ctx); err != nil {
		_ = tx.Rollback(ctx)
		return nil, err
	}
	return tx, nil
}

// BeginDeferred is BeginWith without a round trip of its own: BEGIN and
// first's statements travel with the transaction's first statement (at the
// latest with COMMIT, or Send). A failure of first's statements fails that
// send, and PostgreSQL skips what follows them in it.
func BeginDeferred(ctx context.Context, pool *Pool, first func(*pgx.Batch)) (*Tx, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	first(b)
	return &Tx{conn: conn, tail: b.QueuedQueries}, nil
}

// Flat makes WriteTx within t write straight into t rather than in a
// savepoint, for an owner that rolls t back after any failed write: the
// savepoint's two statements and subtransaction would buy it nothing. A
// failed write then fails t (every later statement and Commit).
func (t *Tx) Flat() { t.flat = true }

// Send sends the deferred statements now, if any.
func (t *Tx) Send(ctx context.Context) error { return t.flush(ctx) }

// Defer queues b's statements to be sent with the next statement, at the
// latest with COMMIT.
func (t *Tx) Defer(b *pgx.Batch) { t.tail = append(t.tail, b.QueuedQueries...) }

// takeTail returns a batch holding the deferred statements and forgets them.
func (t *Tx) takeTail() *pgx.Batch {
	b := &pgx.Batch{QueuedQueries: t.tail}
	t.tail = nil
	return b
}

func (t *Tx) flush(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	if t.failed != nil {
		return t.failed
	}
	if len(t.tail) == 0 {
		return nil
	}
	if err := t.conn.SendBatch(ctx, t.takeTail()).Close(); err != nil {
		t.failed = err
		return err
	}
	return nil
}

// Commit sends the deferred statements and COMMIT in one round trip, and
// returns the connection to the pool.
func (t *Tx) Commit(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	t.closed = true
	defer t.conn.Release()
	if t.failed != nil {
		return rollback(t.conn.Conn(), t.failed)
	}
	b := t.takeTail()
	b.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" {
			return ErrCommitRolledBack
		}
		return nil
	})
	if err := t.conn.SendBatch(ctx, b).Close(); err != nil {
		return rollback(t.conn.Conn(), err)
	}
	return nil
}

// Rollback drops the deferred statements, rolls back and returns the
// connection; after Commit it does nothing (pgx.ErrTxClosed).
func (t *Tx) Rollback(context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	t.closed = true
	t.tail = nil
	_ = rollback(t.conn.Conn(), nil)
	t.conn.Release()
	return nil
}

func (t *Tx) nextSavepoint() string {
	t.savepoints++
	return "usersvc_sp_" + strconv.Itoa(t.savepoints)
}

// Begin opens a savepoint, as pgx.Tx's Begin does.
func (t *Tx) Begin(ctx context.Context) (pgx.Tx, error) {
	name := t.nextSavepoint()
	if _, err := t.Exec(ctx, "SAVEPOINT "+name); err != nil {
		return nil, err
	}
	return &savepoint{Tx: t, name: name}, nil
}

// write is WriteTx within t, in a savepoint so a failure of first leaves
// t usable, as it would a pgx.Tx: the deferred statements, SAVEPOINT and
// first's statements go in one round trip; then's statements and the
// savepoint's release are deferred to travel with COMMIT.
func (t *Tx) write(ctx context.Context, first func(*pgx.Batch), then func(*pgx.Batch) error) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	if t.failed != nil {
		return t.failed
	}
	if t.flat {
		return t.writeFlat(ctx, first, then)
	}
	name := t.nextSavepoint()
	b := t.takeTail()
	carried := len(b.QueuedQueries) > 0
	b.Queue("SAVEPOINT " + name)
	first(b)
	if err := t.conn.SendBatch(ctx, b).Close(); err != nil {
		if carried {
			t.failed = err // the deferred statements went with it: the savepoint cannot undo them
		}
		return t.rollbackTo(ctx, name, err)
	}
	b = &pgx.Batch{}
	if err := then(b); err != nil {
		return t.rollbackTo(ctx, name, err)
	}
	b.Queue("RELEASE SAVEPOINT " + name)
	t.Defer(b)
	return nil
}

// writeFlat is write without the savepoint (Flat).
func (t *Tx) writeFlat(ctx context.Context, first func(*pgx.Batch), then func(*pgx.Batch) error) error {
	b := t.takeTail()
	first(b)
	if err := t.conn.SendBatch(ctx, b).Close(); err != nil {
		t.failed = err
		return err
	}
	b = &pgx.Batch{}
	if err := then(b); err != nil {
		t.failed = err
		return err
	}
	t.Defer(b)
	return nil
}

// rollbackTo undoes what followed savepoint name; cause stays the error
// (if the savepoint itself was never made, the transaction stays failed and
// its Commit fails).
func (t *Tx) rollbackTo(ctx context.Context, name string, cause error) error {
	_, _ = t.conn.Exec(ctx, "ROLLBACK TO SAVEPOINT "+name)
	return cause
}

// Exec sends the deferred statements, then sql.
func (t *Tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.flush(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.conn.Exec(ctx, sql, args...)
}

// Query sends the deferred statements, then sql.
func (t *Tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.conn.Query(ctx, sql, args...)
}

// QueryRow sends the deferred statements, then sql.
func (t *Tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.flush(ctx); err != nil {
		return errRow{err}
	}
	return t.conn.QueryRow(ctx, sql, args...)
}

// SendBatch sends the deferred statements, then b.
func (t *Tx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := t.flush(ctx); err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	return t.conn.SendBatch(ctx, b)
}

// CopyFrom sends the deferred statements, then the copy.
func (t *Tx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.flush(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

// Prepare sends the deferred statements, then prepares sql.
func (t *Tx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.conn.Conn().Prepare(ctx, name, sql)
}

// LargeObjects is not supported: its zero value refuses every use.
func (t *Tx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

// Conn is the transaction's connection.
func (t *Tx) Conn() *pgx.Conn { return t.conn.Conn() }

// savepoint is a Tx's nested transaction; its release is deferred.
type savepoint struct {
	*Tx
	name   string
	closed bool
}

func (s *savepoint) Commit(context.Context) error {
	if s.closed || s.Tx.closed {
		return pgx.ErrTxClosed
	}
	s.closed = true
	b := &pgx.Batch{}
	b.Queue("RELEASE SAVEPOINT " + s.name)
	s.Defer(b)
	return nil
}

// Rollback drops what was deferred within the savepoint (Begin sent all
// that was deferred before it) and rolls back to it.
func (s *savepoint) Rollback(ctx context.Context) error {
	if s.closed || s.Tx.closed {
		return pgx.ErrTxClosed
	}
	s.closed = true
	s.tail = nil
	_, err := s.conn.Exec(ctx, "ROLLBACK TO SAVEPOINT "+s.name)
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

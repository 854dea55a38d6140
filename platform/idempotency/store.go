package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"usersvc/platform/database"
	"usersvc/platform/errs"
)

// Retention is how long a stored answer is replayed (CONTRACT §3).
const Retention = 24 * time.Hour

// The refusals of a repeated key. Neither is a replay.
var (
	ErrInProgress = &errs.Error{Code: errs.Conflict, RetryAfter: 1,
		Message: "a request with this Idempotency-Key is still in progress; retry later"}
	// ErrReused names the header as its one broken rule: a 422 always lists one.
	ErrReused = &errs.Error{Code: errs.Invalid, Message: "this Idempotency-Key was used for a different request",
		Fields: []errs.FieldError{{Field: Header, Message: "was used for a different request body"}}}
)

// Scope names one keyed request: keys are the caller's own, per method and path.
type Scope struct {
	Caller, Method, Path, Key string
}

// ID is the scope's stored key: the SHA-256 of its four parts, each
// prefixed with its length in bytes and a colon, so no two scopes share the
// input whatever their parts hold (migration 00009 computes the same).
func (s Scope) ID() []byte {
	h := sha256.New()
	for _, part := range [...]string{s.Caller, s.Method, s.Path, s.Key} {
		h.Write(strconv.AppendInt(nil, int64(len(part)), 10))
		h.Write([]byte{':'})
		h.Write([]byte(part))
	}
	return h.Sum(nil)
}

// lockKey is the scope's advisory lock, in the one-bigint key space: the
// other advisory locks of the service use the two-int4 form (a space of its
// own) except the backfill's one constant, which a scope meets with odds of
// 2^-64 — and a shared lock would only answer a spurious 409.
func lockKey(id []byte) int64 { return int64(binary.BigEndian.Uint64(id)) }

// Answer is what a successful request answered, replayed as is.
type Answer struct {
	Status                      int
	ContentType, Location, ETag string
	Body                        []byte
}

// Succeeded is true for a 2xx, the only answers stored.
func (a Answer) Succeeded() bool { return a.Status >= 200 && a.Status < 300 }

// Store keeps the answers in the database.
type Store struct {
	db *database.Pool
}

// NewStore builds the store over the pool.
func NewStore(db *database.Pool) *Store { return &Store{db: db} }

const (
	// The key's lock is taken without waiting: a second request with the key
	// while the first runs is answered at once (409), never queued behind it.
	tryLockSQL = `SELECT pg_try_advisory_xact_lock($1::bigint)`
	lookupSQL  = `SELECT fingerprint, status, content_type, location, etag, body FROM idempotency_answers
WHERE scope = $1 AND created_at > now() - $2::interval`
	// An expired answer the purge has not reached yet is replaced.
	saveSQL = `INSERT INTO idempotency_answers (scope, fingerprint, status, content_type, location, etag, body)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (scope) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status,
  content_type = EXCLUDED.content_type, location = EXCLUDED.location, etag = EXCLUDED.etag, body = EXCLUDED.body, created_at = now()`
)

// Run runs the request of scope once: a stored answer of the same request
// is returned as the replay (do does not run); another request with the key
// is ErrReused, one still running ErrInProgress. Otherwise do runs with ctx
// carrying the transaction (database.WithTx), and a successful answer is
// stored and committed with its effect; anything else rolls both back.
//
// A first-time key costs one round trip more than the request without it:
// BEGIN, the key's lock and the lookup travel together (database.BeginWith),
// and the stored answer with the effect's last statements and COMMIT.
func (s *Store) Run(ctx context.Context, scope Scope, fingerprint []byte,
	do func(context.Context) (Answer, error)) (replay *Answer, err error) {
	var c claim
	id := scope.ID()
	tx, err := database.BeginWith(ctx, s.db, func(b *pgx.Batch) { c.queue(b, id) })
	if err != nil {
		return nil, database.Classify(fmt.Errorf("claim the idempotency key: %w", err))
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op after Commit
	switch {
	case !c.locked:
		return nil, ErrInProgress
	case c.found && !bytes.Equal(c.fingerprint, fingerprint):
		return nil, ErrReused
	case c.found:
		return &c.stored, nil
	}
	answer, err := do(database.WithTx(ctx, tx))
	if err != nil || !answer.Succeeded() {
		return nil, err
	}
	save := &pgx.Batch{}
	save.Queue(saveSQL, id, fingerprint, answer.Status, answer.ContentType, answer.Location, answer.ETag, answer.Body)
	tx.Defer(save)
	if err := tx.Commit(ctx); err != nil {
		return nil, database.Classify(fmt.Errorf("commit the request with its idempotent answer: %w", err))
	}
	return nil, nil
}

// claim is what the key's lock and lookup found.
type claim struct {
	locked, found bool
	fingerprint   []byte
	stored        Answer
}

// queue queues the try-lock, then the lookup, as two statements. Under READ
// COMMITTED (BeginWith's level) the lookup takes its snapshot when it
// starts, after the lock is held, so it sees the answer of a first request
// that held the lock and committed just before. One statement doing both
// (SELECT … WHERE pg_try_advisory_xact_lock(…)) would take its snapshot
// before the lock, miss that answer, and run the request twice.
func (c *claim) queue(b *pgx.Batch, id []byte) {
	b.Queue(tryLockSQL, lockKey(id)).QueryRow(func(row pgx.Row) error {
		return row.Scan(&c.locked)
	})
	b.Queue(lookupSQL, id, Retention).QueryRow(func(row pgx.Row) error {
		a := &c.stored
		err := row.Scan(&c.fingerprint, &a.Status, &a.ContentType, &a.Location, &a.ETag, &a.Body)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		c.found = err == nil
		return err
	})
}

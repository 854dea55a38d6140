package idempotency

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
	// idempotency_claim (migration 00009) takes the key's lock without
	// waiting — a second request with the key while the first runs is
	// answered at once (409), never queued behind it — then looks for a
	// stored answer. It returns nothing when the request may run and raises
	// otherwise, so that no statement of the request runs after it; a
	// replay, rare, then reads the answer in a round trip of its own.
	claimSQL = `SELECT idempotency_claim($1, $2, $3, $4)`
	// The answer of a replay: the claim saw it, unexpired, and the same request's.
	storedSQL = `SELECT status, content_type, location, etag, body FROM idempotency_answers
WHERE scope = $1 AND fingerprint = $2`
	// The claim deleted an expired answer the purge had not reached, under the key's lock.
	saveSQL = `INSERT INTO idempotency_answers (scope, fingerprint, status, content_type, location, etag, body)
VALUES ($1, $2, $3, $4, $5, $6, $7)`
)

// Run runs the request of scope once: a stored answer of the same request
// is returned as the replay; another request with the key is ErrReused, one
// still running ErrInProgress. Otherwise do's effect, made through ctx's
// transaction (database.WithTx), is stored with its successful answer and
// committed together; anything else rolls both back.
//
// The key costs no round trip of its own: its claim travels with do's
// first statement, and the stored answer with do's last ones and COMMIT.
// A refused claim aborts the transaction before do's statements run, so do
// may be called for a request that is then refused or replayed: it fails
// there (its first statement's error), and nothing it did remains. do must
// make its effect through the transaction before writing its answer.
func (s *Store) Run(ctx context.Context, scope Scope, fingerprint []byte,
	do func(context.Context) (Answer, error)) (replay *Answer, err error) {
	id := scope.ID()
	c := claim{id: id}
	tx, err := database.BeginDeferred(ctx, s.db, func(b *pgx.Batch) { c.queue(b, fingerprint) })
	if err != nil {
		return nil, database.Classify(fmt.Errorf("claim the idempotency key: %w", err))
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op after Commit
	tx.Flat()                                                      // any failure of do rolls everything back
	answer, err := do(database.WithTx(ctx, tx))
	if !c.sent {
		// do failed before its first statement, or made none: the claim still decides first.
		if sendErr := tx.Send(ctx); !c.sent {
			return nil, database.Classify(fmt.Errorf("claim the idempotency key: %w", cmp.Or(sendErr, err)))
		}
	}
	switch c.refusal {
	case inProgress:
		return nil, ErrInProgress
	case reused:
		return nil, ErrReused
	case answered:
		_ = tx.Rollback(ctx) // aborted by the claim; the connection goes back before the read
		return s.stored(ctx, id, fingerprint)
	}
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

// stored reads the answer a replay returns. Should it have gone since the
// claim saw it (the purge, at the very end of its retention), the request
// is told to retry, and then runs as a new one.
func (s *Store) stored(ctx context.Context, id, fingerprint []byte) (*Answer, error) {
	var a Answer
	err := s.db.QueryRow(ctx, storedSQL, id, fingerprint).Scan(&a.Status, &a.ContentType, &a.Location, &a.ETag, &a.Body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrInProgress
	}
	if err != nil {
		return nil, database.Classify(fmt.Errorf("read the idempotent answer: %w", err))
	}
	return &a, nil
}

// claim is what the key's claim found.
type claim struct {
	id      []byte
	sent    bool // the claim ran, refusal says how
	refusal refusal
}

type refusal int

const (
	claimed    refusal = iota
	inProgress         // UIK09
	answered           // UIK00: an answer of the same request is stored
	reused             // UIK22: an answer of another request is stored
)

// refusals maps the SQLSTATEs idempotency_claim raises.
var refusals = map[string]refusal{"UIK09": inProgress, "UIK00": answered, "UIK22": reused}

// queue queues the claim; its outcome is known once it was sent.
func (c *claim) queue(b *pgx.Batch, fingerprint []byte) {
	q := b.Queue(claimSQL, lockKey(c.id), c.id, fingerprint, Retention)
	q.Fn = func(br pgx.BatchResults) error { // Exec's callback would not see the refusal
		_, err := br.Exec()
		err = c.refused(err)
		c.sent = c.sent || err == nil
		return err
	}
}

// refused records the refusal err carries, if any, and returns err.
func (c *claim) refused(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if r, ok := refusals[pgErr.Code]; ok {
			c.refusal, c.sent = r, true
		}
	}
	return err
}

package authref

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"usersvc/modules/authref/authevent"
	"usersvc/platform/amqp"
	"usersvc/platform/database"
)

// NewLifecycleHandler is the fx constructor of the user lifecycle handler.
func NewLifecycleHandler(db *database.Pool) authevent.Handler { return LifecycleHandler(db.Pool) }

// LifecycleHandler applies the auth-service's UserCreated, UserUpdated and
// UserDeleted events to the local references (CONTRACT §1 and §4):
//
//   - Each reference remembers the occurred_at of the last event applied
//     (last_event_at); an event strictly older changes nothing, so
//     redeliveries and out-of-order arrivals are harmless. An event without
//     occurred_at is applied in arrival order and leaves last_event_at as it is.
//   - Created inserts or refreshes the reference; Updated does the same for
//     a known or unknown id, but never for a tombstoned one. Only the fields
//     an event carries change (a null clears one).
//   - Deleted deletes the reference (its badges and goals go by cascade) and
//     leaves a tombstone at occurred_at (or now); only a Created that
//     happened after that brings the id back, removing the tombstone.
//
// A batch is one transaction, sent with its BEGIN and COMMIT in one round trip.
func LifecycleHandler(pool *pgxpool.Pool) authevent.Handler {
	l := &lifecycle{pool: pool}
	return authevent.Handler{
		Name:        "authref.lifecycle",
		Types:       []string{string(authevent.UserCreated), string(authevent.UserUpdated), string(authevent.UserDeleted)},
		Handle:      func(ctx context.Context, e authevent.Event) error { return l.apply(ctx, []authevent.Event{e}) },
		HandleBatch: l.apply,
	}
}

type lifecycle struct{ pool *pgxpool.Pool }

// lockUserSQL serializes the events of one user across consumers (held to
// the end of the transaction), so a Created and a Deleted of the same id
// never interleave. The first key namespaces authref's advisory locks.
const lockUserSQL = `SELECT pg_advisory_xact_lock(1095062086, hashtext($1))`

// refreshSet is the shared update of Created and Updated: only present
// fields, never backwards in time, and no write at all when nothing differs
// (a redelivery leaves even updated_at alone).
const refreshSet = `
ON CONFLICT (auth_user_id) DO UPDATE SET
    email         = CASE WHEN $3 THEN EXCLUDED.email ELSE u.email END,
    username      = CASE WHEN $5 THEN EXCLUDED.username ELSE u.username END,
    last_event_at = GREATEST(u.last_event_at, EXCLUDED.last_event_at),
    updated_at    = now()
WHERE (EXCLUDED.last_event_at IS NULL OR u.last_event_at IS NULL OR EXCLUDED.last_event_at >= u.last_event_at)
  AND (($3 AND u.email IS DISTINCT FROM EXCLUDED.email)
    OR ($5 AND u.username IS DISTINCT FROM EXCLUDED.username)
    OR u.last_event_at IS DISTINCT FROM GREATEST(u.last_event_at, EXCLUDED.last_event_at))`

// createdSQL: $1 id, $2 email, $3 email present, $4 username, $5 username
// present, $6 occurred_at (NULL: arrival order). A tombstone older than the
// event (or any, for an event without time) is removed and the id comes back.
const createdSQL = `
WITH revived AS (
    DELETE FROM auth_user_tombstones
    WHERE auth_user_id = $1 AND ($6::timestamptz IS NULL OR deleted_at < $6::timestamptz)
    RETURNING 1)
INSERT INTO auth_users AS u (auth_user_id, email, username, last_event_at)
SELECT $1::text, $2::text, $4::text, $6::timestamptz
WHERE NOT EXISTS (
    SELECT 1 FROM auth_user_tombstones
    WHERE auth_user_id = $1 AND $6::timestamptz IS NOT NULL AND deleted_at >= $6::timestamptz)` + refreshSet

// updatedSQL has createdSQL's parameters; a tombstoned id stays deleted.
const updatedSQL = `
INSERT INTO auth_users AS u (auth_user_id, email, username, last_event_at)
SELECT $1::text, $2::text, $4::text, $6::timestamptz
WHERE NOT EXISTS (SELECT 1 FROM auth_user_tombstones WHERE auth_user_id = $1)` + refreshSet

// deletedSQL: $1 id, $2 occurred_at. A delete older than the reference's
// last event changes nothing; a repeated one keeps the latest deletion time.
const deletedSQL = `
WITH stale AS (
    SELECT 1 FROM auth_users
    WHERE auth_user_id = $1 AND $2::timestamptz IS NOT NULL AND last_event_at > $2::timestamptz),
gone AS (
    DELETE FROM auth_users
    WHERE auth_user_id = $1 AND NOT EXISTS (SELECT 1 FROM stale)
    RETURNING 1)
INSERT INTO auth_user_tombstones AS t (auth_user_id, deleted_at)
SELECT $1::text, COALESCE($2::timestamptz, now())
WHERE NOT EXISTS (SELECT 1 FROM stale)
ON CONFLICT (auth_user_id) DO UPDATE SET deleted_at = GREATEST(t.deleted_at, $2::timestamptz)
WHERE t.deleted_at < $2::timestamptz`

func (l *lifecycle) apply(ctx context.Context, es []authevent.Event) error {
	for _, e := range es {
		if !slices.Contains(lifecycleTypes, e.Type) {
			return amqp.Poison(fmt.Errorf("authref: no rule for event type %q", e.Type))
		}
	}
	// BEGIN, the statements and COMMIT in one round trip: the consumer waits
	// for each batch, so its round trips, not the statements, set the pace.
	return database.WriteTx(ctx, l.pool, func(b *pgx.Batch) {
		for _, e := range es {
			b.Queue(lockUserSQL, e.UserID)
			at := occurredAt(e)
			switch e.Type {
			case authevent.UserCreated:
				b.Queue(createdSQL, e.UserID, e.Email.Value, e.Email.Present, e.Username.Value, e.Username.Present, at)
			case authevent.UserUpdated:
				b.Queue(updatedSQL, e.UserID, e.Email.Value, e.Email.Present, e.Username.Value, e.Username.Present, at)
			case authevent.UserDeleted:
				b.Queue(deletedSQL, e.UserID, at)
			}
		}
	}, nil)
}

var lifecycleTypes = []authevent.Type{authevent.UserCreated, authevent.UserUpdated, authevent.UserDeleted}

// occurredAt is the event's time, or nil (SQL NULL) when it has none.
func occurredAt(e authevent.Event) any {
	if !e.HasOccurredAt() {
		return nil
	}
	return e.OccurredAt
}

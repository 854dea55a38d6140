package authref

import (
	"context"
	"fmt"
	"slices"
	"time"

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

// createdBatchSQL is createdSQL for many Created events of distinct ids that
// all carry (or all lack) email, and likewise username: $1 ids, $2 emails,
// $3 email present, $4 usernames, $5 username present, $6 occurred_at (an
// element NULL: arrival order). One statement instead of one an event: the
// bulk of a backlog of sign-ups costs PostgreSQL and the consumer less.
const createdBatchSQL = `
WITH ev AS (
    SELECT * FROM unnest($1::text[], $2::text[], $4::text[], $6::timestamptz[]) AS e(id, email, username, at)),
revived AS (
    DELETE FROM auth_user_tombstones t USING ev
    WHERE t.auth_user_id = ev.id AND (ev.at IS NULL OR t.deleted_at < ev.at)
    RETURNING 1)
INSERT INTO auth_users AS u (auth_user_id, email, username, last_event_at)
SELECT ev.id, ev.email, ev.username, ev.at FROM ev
WHERE NOT EXISTS (
    SELECT 1 FROM auth_user_tombstones t
    WHERE t.auth_user_id = ev.id AND ev.at IS NOT NULL AND t.deleted_at >= ev.at)` + refreshSet

// lockUsersSQL is lockUserSQL for many ids, taken in the order given.
const lockUsersSQL = `SELECT pg_advisory_xact_lock(1095062086, hashtext(id)) FROM unnest($1::text[]) WITH ORDINALITY AS x(id, n) ORDER BY n`

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
		if uniformCreated(es) {
			queueCreatedBatch(b, es)
			return
		}
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

// uniformCreated: more than one event, all Created, of distinct ids (one
// statement cannot update a row twice), all with the same fields present.
func uniformCreated(es []authevent.Event) bool {
	if len(es) < 2 {
		return false
	}
	seen := make(map[string]bool, len(es))
	for _, e := range es {
		if e.Type != authevent.UserCreated || seen[e.UserID] ||
			e.Email.Present != es[0].Email.Present || e.Username.Present != es[0].Username.Present {
			return false
		}
		seen[e.UserID] = true
	}
	return true
}

func queueCreatedBatch(b *pgx.Batch, es []authevent.Event) {
	ids := make([]string, len(es))
	emails, usernames := make([]*string, len(es)), make([]*string, len(es))
	ats := make([]*time.Time, len(es))
	for i, e := range es {
		ids[i], emails[i], usernames[i] = e.UserID, e.Email.Value, e.Username.Value
		if e.HasOccurredAt() {
			ats[i] = &es[i].OccurredAt
		}
	}
	b.Queue(lockUsersSQL, ids)
	b.Queue(createdBatchSQL, ids, emails, es[0].Email.Present, usernames, es[0].Username.Present, ats)
}

var lifecycleTypes = []authevent.Type{authevent.UserCreated, authevent.UserUpdated, authevent.UserDeleted}

// occurredAt is the event's time, or nil (SQL NULL) when it has none.
func occurredAt(e authevent.Event) any {
	if !e.HasOccurredAt() {
		return nil
	}
	return e.OccurredAt
}

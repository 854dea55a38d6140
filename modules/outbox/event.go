// Package outbox is the transactional outbox of the events usersvc
// publishes (CONTRACT §4b): the modules that make changes record an Event in
// the change's own transaction (Record, Queue); the Relay, run by
// `usersvc consume`, publishes committed events to USERSVC_EVENTS_EXCHANGE.
package outbox

import (
	"context"

	"github.com/jackc/pgx/v5"

	"usersvc/platform/database"
	"usersvc/platform/jsonw"
)

// The routing keys of CONTRACT §4b.
const (
	BadgeAwarded  = "badge.awarded"
	GoalCreated   = "goal.created"
	GoalUpdated   = "goal.updated"
	GoalCompleted = "goal.completed"
	GoalDeleted   = "goal.deleted"
	GoalCheckedIn = "goal.checked_in"
)

// eventTypes gives each routing key its event_type.
var eventTypes = map[string]string{
	BadgeAwarded:  "BadgeAwarded",
	GoalCreated:   "GoalCreated",
	GoalUpdated:   "GoalUpdated",
	GoalCompleted: "GoalCompleted",
	GoalDeleted:   "GoalDeleted",
	GoalCheckedIn: "GoalCheckedIn",
}

// Keys lists the routing keys in the order the contract gives them.
var Keys = []string{BadgeAwarded, GoalCreated, GoalUpdated, GoalCompleted, GoalDeleted, GoalCheckedIn}

// EventType is the event_type of a routing key ("" for none of ours).
func EventType(key string) string { return eventTypes[key] }

// Event is one change to publish: its routing key, the owner of what
// changed, and the envelope's data object as JSON.
type Event struct {
	Key    string
	UserID string
	Data   []byte
}

// Object is the event of a change to one thing: data is
// {"auth_user_id": userID, name: <object as the API returns it>}.
func Object(key, userID, name string, object []byte) Event {
	b := make([]byte, 0, len(object)+len(userID)+len(name)+24)
	b = append(b, `{"auth_user_id":`...)
	b = jsonw.String(b, userID)
	b = append(b, ',')
	b = jsonw.String(b, name)
	b = append(b, ':')
	b = append(b, object...)
	return Event{Key: key, UserID: userID, Data: append(b, '}')}
}

// Deleted is goal.deleted: data is {"auth_user_id": userID, "goal_id": id}.
func Deleted(userID string, goalID int64) Event {
	b := append([]byte(`{"auth_user_id":`), jsonw.String(nil, userID)...)
	b = append(b, `,"goal_id":`...)
	b = jsonw.Int(b, goalID)
	return Event{Key: GoalDeleted, UserID: userID, Data: append(b, '}')}
}

// insertSQL first takes the user's transaction-scoped event lock, so the
// ids (taken after it) of one user's events follow the order of their
// commits: the relay publishes each user's events in id order.
const insertSQL = `WITH lock AS (SELECT pg_advisory_xact_lock(` + userLockClass + `, hashtext($1)))
INSERT INTO outbox_events (auth_user_id, routing_key, event_type, data)
SELECT $1, $2, $3, $4::json FROM lock`

// userLockClass keeps the event lock apart from other advisory locks.
const userLockClass = "1869574002" // "outb"

// Record writes e in tx, so the event commits or rolls back with its change.
func Record(ctx context.Context, tx pgx.Tx, e Event) error {
	_, err := tx.Exec(ctx, insertSQL, e.UserID, e.Key, EventType(e.Key), string(e.Data))
	return database.Classify(err)
}

// Queue adds the same write to a batch that runs in the change's transaction.
func Queue(b *pgx.Batch, e Event) {
	b.Queue(insertSQL, e.UserID, e.Key, EventType(e.Key), string(e.Data))
}

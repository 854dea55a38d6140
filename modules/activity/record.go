package activity

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"usersvc/platform/database"
)

// The types of activity (CONTRACT §3 "Activity"); the database enforces the same list.
const (
	BadgeAwarded  = "badge.awarded"
	GoalCreated   = "goal.created"
	GoalCompleted = "goal.completed"
	GoalCheckedIn = "goal.checked_in"
)

// Types lists every type, in the order the documentation gives them.
var Types = []string{BadgeAwarded, GoalCreated, GoalCompleted, GoalCheckedIn}

// Item is one record of a change, written by the module that made the
// change, inside the change's own transaction (Record). It names what
// changed (goal, badge, check-in): deleting that thing deletes the record
// (foreign keys, ON DELETE CASCADE). It is the one record of a change:
// the feed and the calendar read it, and the events-out publisher (§4b)
// is meant to take the same record from the same call.
type Item struct {
	UserID     string
	Type       string
	OccurredAt time.Time
	GoalID     *int64
	BadgeID    *int64
	CheckInID  *int64
	Title      string
	Streak     *int64     // goal.checked_in only: the streak right after it
	LocalDate  *time.Time // goal.checked_in only, for the calendar
	Minutes    *int64     // goal.checked_in only, for the calendar
}

const insertSQL = `INSERT INTO activity_items
    (auth_user_id, type, occurred_at, goal_id, badge_id, check_in_id, title, streak_count, local_date, minutes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

// Record writes it in tx, so the record commits or rolls back with its change.
func Record(ctx context.Context, tx pgx.Tx, it Item) error {
	_, err := tx.Exec(ctx, insertSQL, it.UserID, it.Type, it.OccurredAt, it.GoalID, it.BadgeID, it.CheckInID,
		it.Title, it.Streak, it.LocalDate, it.Minutes)
	return database.Classify(err)
}

// Queue adds the same write to a batch that runs in the change's
// transaction, for a change that sends its statements in one round trip.
func Queue(b *pgx.Batch, it Item) {
	b.Queue(insertSQL, it.UserID, it.Type, it.OccurredAt, it.GoalID, it.BadgeID, it.CheckInID,
		it.Title, it.Streak, it.LocalDate, it.Minutes)
}

package goals

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"usersvc/modules/activity"
	"usersvc/modules/goals/streak"
	"usersvc/modules/outbox"
	"usersvc/platform/database"
	"usersvc/platform/errs"
	"usersvc/platform/jsonw"
	"usersvc/platform/page"
	"usersvc/platform/tzname"
)

// The check-in store's own answers.
var (
	ErrCheckInNotFound = errs.New(errs.NotFound, "no such check-in on this goal")
	ErrGoalClosed      = errs.New(errs.Conflict, "the goal is completed or abandoned: it takes no more check-ins")
	errTooOld          = errs.InvalidFields(errs.FieldError{Field: "occurred_at",
		Message: "must be today or yesterday in its time zone (only an admin token records older history)"})
)

// lockGoalSQL locks the goal for the rest of the transaction, so concurrent
// check-ins and deletions of one goal take turns, and reads the user's
// settings (absent: UTC, 0).
const lockGoalSQL = `SELECT g.status, g.title, g.streak_count, g.streak_set_on,
    COALESCE(s.timezone, 'UTC'), COALESCE(s.day_start_hour, 0)
FROM learning_goals g LEFT JOIN user_settings s ON s.auth_user_id = g.auth_user_id
WHERE g.id = $1 AND g.auth_user_id = $2
FOR UPDATE OF g`

// lockedGoal is what a check-in write needs of its goal.
type lockedGoal struct {
	status, title string
	base          streak.Base
	zone          *time.Location
	dayStartHour  int
}

func (s *Store) lockGoal(ctx context.Context, tx pgx.Tx, userID string, goalID int64) (lockedGoal, error) {
	var (
		g        lockedGoal
		baseDays int
		zoneName string
	)
	err := tx.QueryRow(ctx, lockGoalSQL, goalID, userID).
		Scan(&g.status, &g.title, &baseDays, &g.base.On, &zoneName, &g.dayStartHour)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, s.goalMissing(ctx, userID)
	}
	if err != nil {
		return g, err
	}
	g.base.Days = baseDays
	if g.zone, err = tzname.Load(zoneName); err != nil {
		g.zone = time.UTC // a zone the database holds was valid when written; UTC rather than a failure
	}
	return g, nil
}

// goalMissing tells an unknown user from a missing goal.
func (s *Store) goalMissing(ctx context.Context, userID string) error {
	var known bool
	if err := database.ConnOf(ctx, s.db).QueryRow(ctx, userExistsSQL, userID).Scan(&known); err != nil {
		return database.Classify(err)
	}
	if !known {
		return errs.ErrOwnerUnknown
	}
	return ErrNotFound
}

const (
	// nextCheckInIDSQL takes the new check-in's id first, so that every
	// write of the check-in's transaction can go in one batch.
	nextCheckInIDSQL = `SELECT nextval(pg_get_serial_sequence('check_ins', 'id'))`
	insertCheckInSQL = `INSERT INTO check_ins
    (id, goal_id, auth_user_id, occurred_at, local_date, timezone, utc_offset, minutes, note, streak_count, longest_streak)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING created_at`
)

// CheckIn records a check-in on the goal: its local date is computed once,
// here; the goal's streak state, version and updated_at change in the same
// transaction as the user's own streak, the activity item and the event.
// The common case (a date that extends or repeats the latest active day)
// is one statement, one round trip (checkInFast); the rest, and every
// refusal, takes the Go path (checkInFromHistory).
func (s *Store) CheckIn(ctx context.Context, userID string, goalID int64, nc NewCheckIn, now time.Time) (CheckIn, error) {
	c := CheckIn{GoalID: goalID, UserID: userID, Minutes: nc.Minutes, Note: nc.Note}
	c.OccurredAt = now.Truncate(time.Microsecond)
	if nc.OccurredAt != nil {
		c.OccurredAt = *nc.OccurredAt
	}
	done, err := s.checkInFast(ctx, &c, nc, now)
	if err != nil || done {
		return c, database.Classify(err)
	}
	return s.checkInFromHistory(ctx, c, nc, now)
}

// checkInFastSQL calls check_in_fast (migrations/00007_check_in_function.sql),
// which folds the check-in into the kept streak states without reading the
// history, or returns no row, having written nothing, when it cannot.
const checkInFastSQL = `SELECT id, local_date, timezone, streak_count, longest_streak, created_at
FROM check_in_fast($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`

// checkInFast runs check_in_fast; done is false when the Go path must decide.
// Without a caller's transaction it goes through the write pipeline, keyed
// by the user (check_in_fast locks only the user's goal, streak and event
// order, in that order), and commits with other users' concurrent
// check-ins; inside one (an idempotent request) it runs in a savepoint, so
// that a zone the database does not know leaves that transaction usable.
func (s *Store) checkInFast(ctx context.Context, c *CheckIn, nc NewCheckIn, now time.Time) (done bool, err error) {
	args := []any{c.GoalID, c.UserID, now, c.OccurredAt, nc.Timezone, c.Minutes, c.Note,
		nc.History, activity.GoalCheckedIn, outbox.GoalCheckedIn, outbox.EventType(outbox.GoalCheckedIn),
		string(jsonw.String(nil, c.UserID)), string(jsonw.String(nil, c.Note))}
	// scan may run twice (a batch rolled back runs each write again alone).
	scan := func(rows pgx.Rows) error {
		done = rows.Next()
		if !done {
			return nil
		}
		return rows.Scan(&c.ID, &c.LocalDate, &c.Timezone, &c.Streak, &c.Longest, &c.CreatedAt)
	}
	tx, inTx := database.ConnOf(ctx, s.db).(pgx.Tx)
	if !inTx {
		err = s.writes.Write(ctx, c.UserID, checkInFastSQL, args, scan)
	} else {
		err = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
			if err := database.QueryScan(ctx, sp, checkInFastSQL, args, scan); err != nil || done {
				return err
			}
			return errNotDone
		})
	}
	if errors.Is(err, errNotDone) || isUnknownZone(err) {
		return false, nil
	}
	return done, err
}

// errNotDone rolls back check_in_fast's savepoint when it left the check-in to the Go path.
var errNotDone = errors.New("check-in left to the Go path")

// isUnknownZone: PostgreSQL refused a zone name that Go's zone database
// accepted (the Go path, which computes dates in Go, then records it).
func isUnknownZone(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "22023" // invalid_parameter_value
}

// checkInFromHistory is the general check-in: the goal's lock, one batch of
// reads (the goal's and the user's active days, the user's streak lock),
// the new states computed in Go, one batch of writes.
func (s *Store) checkInFromHistory(ctx context.Context, c CheckIn, nc NewCheckIn, now time.Time) (CheckIn, error) {
	userID, goalID := c.UserID, c.GoalID
	err := pgx.BeginFunc(ctx, database.ConnOf(ctx, s.db), func(tx pgx.Tx) error {
		g, err := s.lockGoal(ctx, tx, userID, goalID)
		if err != nil {
			return err
		}
		zone := g.zone
		c.Timezone = zone.String()
		if nc.Timezone != nil { // validated by the decoder
			if zone, err = tzname.Load(*nc.Timezone); err != nil {
				return errs.InvalidFields(errs.FieldError{Field: "timezone", Message: err.Error()})
			}
			c.Timezone = *nc.Timezone
		}
		c.LocalDate = streak.LocalDate(c.OccurredAt, zone, g.dayStartHour)
		if !nc.History && c.LocalDate.Before(streak.LocalDate(now, zone, g.dayStartHour).AddDate(0, 0, -1)) {
			return errTooOld
		}
		if g.status == StatusCompleted || g.status == StatusAbandoned {
			return ErrGoalClosed
		}
		offset := streak.Offset(c.OccurredAt, zone)

		// Reads: the state before this check-in, which is then folded in.
		var goalDays, userDays []streak.Day
		// The id is taken under the user's streak lock, so it is higher
		// than that of every check-in of the user already committed (the
		// tie-break of streak.Add).
		reads := &pgx.Batch{}
		reads.Queue(lockUserStreakSQL, userID)
		reads.Queue(nextCheckInIDSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&c.ID) })
		// The transaction's now(), which the insert gives created_at, for the event.
		reads.Queue(`SELECT now()`).QueryRow(func(row pgx.Row) error { return row.Scan(&c.CreatedAt) })
		queueDays(reads, goalDaysSQL, goalID, &goalDays)
		queueDays(reads, userDaysSQL, userID, &userDays)
		if err := tx.SendBatch(ctx, reads).Close(); err != nil {
			return err
		}
		added := streak.CheckIn{Date: c.LocalDate, Offset: offset, At: c.OccurredAt, ID: c.ID}
		goalDays, userDays = streak.Add(goalDays, added), streak.Add(userDays, added)
		goalState, userState := streak.Compute(goalDays, g.base), streak.Compute(userDays, streak.Base{})
		today := streak.LocalDate(now, g.zone, g.dayStartHour)
		c.Streak, c.Longest = int64(goalState.Current(today)), int64(goalState.LongestShown(today))

		// Writes, in one round trip.
		writes := &pgx.Batch{}
		writes.Queue(insertCheckInSQL, c.ID, goalID, userID, c.OccurredAt, c.LocalDate, c.Timezone, offset, c.Minutes, c.Note,
			c.Streak, c.Longest).QueryRow(func(row pgx.Row) error { return row.Scan(&c.CreatedAt) })
		writes.Queue(setGoalStreakSQL, goalID, goalState.RunEnd, goalState.RunDays, goalState.Longest,
			&goalDays[len(goalDays)-1].Date, true)
		writes.Queue(setUserStreakSQL, userID, userState.RunEnd, userState.RunDays, userState.Longest)
		local, streakNow, id := c.LocalDate, c.Streak, c.ID
		activity.Queue(writes, activity.Item{
			UserID: userID, Type: activity.GoalCheckedIn, OccurredAt: c.OccurredAt, GoalID: &goalID, CheckInID: &id,
			Title: g.title, Streak: &streakNow, LocalDate: &local, Minutes: c.Minutes,
		})
		outbox.Queue(writes, outbox.Object(outbox.GoalCheckedIn, userID, "check_in", c.AppendJSON(nil)))
		return tx.SendBatch(ctx, writes).Close()
	})
	return c, database.Classify(err)
}

// queueDays reads active days in a batch into *into.
func queueDays(b *pgx.Batch, query string, arg any, into *[]streak.Day) {
	b.Queue(query, arg).Query(func(rows pgx.Rows) error {
		days, err := scanDays(rows)
		*into = days
		return err
	})
}

const deleteCheckInSQL = `DELETE FROM check_ins WHERE id = $1 AND goal_id = $2`

// DeleteCheckIn removes a check-in (its activity item goes by cascade) and
// recomputes the goal's and the user's streaks in the same transaction.
func (s *Store) DeleteCheckIn(ctx context.Context, userID string, goalID, checkInID int64) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		g, err := s.lockGoal(ctx, tx, userID, goalID)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, deleteCheckInSQL, checkInID, goalID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrCheckInNotFound
		}
		if _, err := updateGoalStreak(ctx, tx, goalID, g.base, false); err != nil {
			return err
		}
		if err := updateUserStreak(ctx, tx, userID); err != nil {
			return err
		}
		// The goal's streak changed: goal.updated with the goal as it is now.
		after, err := scanNullableGoal(tx.QueryRow(ctx, getSQL, goalID, userID), userID)
		if err != nil {
			return err
		}
		return outbox.Record(ctx, tx, goalEvent(outbox.GoalUpdated, &after))
	})
	return database.Classify(err)
}

// goalDaysSQL and userDaysSQL fold check-ins into active days with the UTC
// offsets of each date's first and last check-in (the date-line rule).
const (
	goalDaysSQL = `SELECT local_date, (array_agg(utc_offset ORDER BY occurred_at, id))[1],
    (array_agg(utc_offset ORDER BY occurred_at DESC, id DESC))[1], min(occurred_at), max(occurred_at)
FROM check_ins WHERE goal_id = $1 GROUP BY local_date ORDER BY local_date`
	userDaysSQL = `SELECT local_date, (array_agg(utc_offset ORDER BY occurred_at, id))[1],
    (array_agg(utc_offset ORDER BY occurred_at DESC, id DESC))[1], min(occurred_at), max(occurred_at)
FROM check_ins WHERE auth_user_id = $1 GROUP BY local_date ORDER BY local_date`
)

func activeDays(ctx context.Context, tx pgx.Tx, query string, arg any) ([]streak.Day, error) {
	rows, err := tx.Query(ctx, query, arg)
	if err != nil {
		return nil, err
	}
	return scanDays(rows)
}

func scanDays(rows pgx.Rows) ([]streak.Day, error) {
	var days []streak.Day
	d := streak.Day{HasOffsets: true}
	_, err := pgx.ForEachRow(rows, []any{&d.Date, &d.First, &d.Last, &d.FirstAt, &d.LastAt}, func() error {
		days = append(days, d)
		return nil
	})
	return days, err
}

// setGoalStreakSQL stores a goal's streak state after a check-in write; a
// check-in ($6) moves a not-started goal to in-progress.
const setGoalStreakSQL = `UPDATE learning_goals SET
    streak_run_end = $2, streak_run_days = $3, longest_streak = $4, last_check_in_on = $5,
    status = CASE WHEN $6 AND status = 'not-started' THEN 'in-progress' ELSE status END,
    updated_at = now(), version = version + 1
WHERE id = $1`

// updateGoalStreak recomputes the goal's state from its check-ins and base
// (the goal row is locked) and stores it with a new version.
func updateGoalStreak(ctx context.Context, tx pgx.Tx, goalID int64, base streak.Base, checkIn bool) (streak.State, error) {
	days, err := activeDays(ctx, tx, goalDaysSQL, goalID)
	if err != nil {
		return streak.State{}, err
	}
	st := streak.Compute(days, base)
	var last *time.Time
	if n := len(days); n > 0 {
		last = &days[n-1].Date
	}
	_, err = tx.Exec(ctx, setGoalStreakSQL, goalID, st.RunEnd, st.RunDays, st.Longest, last, checkIn)
	return st, err
}

// lockUserStreakSQL creates or locks the user's streak row: concurrent
// check-ins on different goals of one user take turns here (goal rows are
// always locked first, so the order is the same everywhere).
const (
	lockUserStreakSQL = `INSERT INTO user_streaks (auth_user_id) VALUES ($1)
ON CONFLICT (auth_user_id) DO UPDATE SET streak_run_days = user_streaks.streak_run_days`
	setUserStreakSQL = `UPDATE user_streaks SET streak_run_end = $2, streak_run_days = $3, longest_streak = $4
WHERE auth_user_id = $1`
)

// updateUserStreak recomputes the user's own streak from all the user's
// check-ins (hand-written goal streaks do not count there).
func updateUserStreak(ctx context.Context, tx pgx.Tx, userID string) error {
	if _, err := tx.Exec(ctx, lockUserStreakSQL, userID); err != nil {
		return err
	}
	days, err := activeDays(ctx, tx, userDaysSQL, userID)
	if err != nil {
		return err
	}
	st := streak.Compute(days, streak.Base{})
	_, err = tx.Exec(ctx, setUserStreakSQL, userID, st.RunEnd, st.RunDays, st.Longest)
	return err
}

// listCheckInsSQL: no row = unknown user; a row with a NULL goal = no such
// goal; a row with a NULL check-in = a goal without check-ins (on this page).
func listCheckInsSQL(afterCursor bool) string {
	cursor := ""
	if afterCursor {
		cursor = " AND (c.occurred_at, c.id) < ($4, $5)"
	}
	return `SELECT g.id, c.id, c.occurred_at, c.local_date, c.timezone, c.minutes, c.note, c.streak_count, c.longest_streak, c.created_at
FROM auth_users u
LEFT JOIN learning_goals g ON g.auth_user_id = u.auth_user_id AND g.id = $2
LEFT JOIN LATERAL (
    SELECT c.* FROM check_ins c WHERE c.goal_id = g.id` + cursor + `
    ORDER BY c.occurred_at DESC, c.id DESC LIMIT $3) c ON true
WHERE u.auth_user_id = $1
ORDER BY c.occurred_at DESC, c.id DESC`
}

var listCheckInsFirst, listCheckInsAfter = listCheckInsSQL(false), listCheckInsSQL(true)

// ListCheckIns returns up to limit check-ins of the goal, newest first.
func (s *Store) ListCheckIns(ctx context.Context, userID string, goalID int64, after *page.Cursor, limit int) ([]CheckIn, error) {
	query, args := listCheckInsFirst, []any{userID, goalID, limit}
	if after != nil {
		query, args = listCheckInsAfter, append(args, after.At, after.ID)
	}
	var (
		out          []CheckIn
		userFound    bool
		goalFound    bool
		gid, id      pgtype.Int8
		occurred     pgtype.Timestamptz
		local        pgtype.Date
		zone, note   pgtype.Text
		minutes      *int64
		streakN, lng pgtype.Int8
		created      pgtype.Timestamptz
	)
	err := s.reads.Query(ctx, query, args, func(rows pgx.Rows) error {
		for rows.Next() {
			userFound = true
			if err := rows.Scan(&gid, &id, &occurred, &local, &zone, &minutes, &note, &streakN, &lng, &created); err != nil {
				return err
			}
			goalFound = gid.Valid
			if !id.Valid {
				continue
			}
			out = append(out, CheckIn{
				ID: id.Int64, GoalID: goalID, UserID: userID, OccurredAt: occurred.Time, LocalDate: local.Time,
				Timezone: zone.String, Minutes: minutes, Note: note.String, Streak: streakN.Int64, Longest: lng.Int64,
				CreatedAt: created.Time,
			})
			minutes = nil
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, database.Classify(err)
	case !userFound:
		return nil, errs.ErrOwnerUnknown
	case !goalFound:
		return nil, ErrNotFound
	}
	return out, nil
}

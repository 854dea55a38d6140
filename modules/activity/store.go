package activity

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"usersvc/platform/database"
	"usersvc/platform/errs"
	"usersvc/platform/jsonw"
	"usersvc/platform/page"
)

// Store reads the activity records.
type Store struct {
	db    *database.Pool
	reads *database.Pipeline
}

// NewStore builds the store over the pool.
func NewStore(db *database.Pool, reads *database.Pipeline) *Store {
	return &Store{db: db, reads: reads}
}

// Entry is one item of the feed as clients see it.
type Entry struct {
	ID         int64
	Type       string
	OccurredAt time.Time
	GoalID     *int64
	BadgeID    *int64
	Title      string
	Streak     *int64
}

// AppendJSON appends the item's representation; exactly these fields.
func (e *Entry) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = jsonw.Int(b, e.ID)
	b = append(b, `,"type":`...)
	b = jsonw.String(b, e.Type)
	b = append(b, `,"occurred_at":`...)
	b = jsonw.Time(b, e.OccurredAt)
	b = append(b, `,"goal_id":`...)
	b = nullableInt(b, e.GoalID)
	b = append(b, `,"badge_id":`...)
	b = nullableInt(b, e.BadgeID)
	b = append(b, `,"title":`...)
	b = jsonw.String(b, e.Title)
	b = append(b, `,"streak_count":`...)
	b = nullableInt(b, e.Streak)
	return append(b, '}')
}

func nullableInt(b []byte, n *int64) []byte {
	if n == nil {
		return append(b, "null"...)
	}
	return jsonw.Int(b, *n)
}

// feedSQL[withType][withCursor]: one page off activity_items_user_[type_]occurred_idx;
// no row = unknown user, a row of NULLs = nothing (more) to show.
var feedSQL = [2][2]string{{buildFeed(false, false), buildFeed(false, true)}, {buildFeed(true, false), buildFeed(true, true)}}

// FeedSQL is the statement of a feed page, as the store sends it (the load
// run gives pgbench the very same one).
func FeedSQL(withType, withCursor bool) string { return feedSQL[b2i(withType)][b2i(withCursor)] }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func buildFeed(withType, withCursor bool) string {
	where, n := "", 3
	if withType {
		where += " AND a.type = $" + strconv.Itoa(n)
		n++
	}
	if withCursor {
		where += " AND (a.occurred_at, a.id) < ($" + strconv.Itoa(n) + ", $" + strconv.Itoa(n+1) + ")"
	}
	return `SELECT a.id, a.type, a.occurred_at, a.goal_id, a.badge_id, a.title, a.streak_count
FROM auth_users u
LEFT JOIN LATERAL (
    SELECT a.* FROM activity_items a WHERE a.auth_user_id = u.auth_user_id` + where + `
    ORDER BY a.occurred_at DESC, a.id DESC LIMIT $2) a ON true
WHERE u.auth_user_id = $1
ORDER BY a.occurred_at DESC, a.id DESC`
}

// Feed returns up to limit items of the user's feed, newest first.
func (s *Store) Feed(ctx context.Context, userID, typ string, after *page.Cursor, limit int) ([]Entry, error) {
	args := []any{userID, limit}
	withType, withCursor := 0, 0
	if typ != "" {
		args, withType = append(args, typ), 1
	}
	if after != nil {
		args, withCursor = append(args, after.At, after.ID), 1
	}
	var (
		out   []Entry
		found bool
		id    pgtype.Int8
		kind  pgtype.Text
		at    pgtype.Timestamptz
		title pgtype.Text
	)
	err := s.reads.Query(ctx, feedSQL[withType][withCursor], args, func(rows pgx.Rows) error {
		for rows.Next() {
			found = true
			var goal, badge, streak *int64
			if err := rows.Scan(&id, &kind, &at, &goal, &badge, &title, &streak); err != nil {
				return err
			}
			if id.Valid {
				out = append(out, Entry{ID: id.Int64, Type: kind.String, OccurredAt: at.Time, GoalID: goal, BadgeID: badge,
					Title: title.String, Streak: streak})
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, database.Classify(err)
	case !found:
		return nil, errs.ErrOwnerUnknown
	}
	return out, nil
}

// userDaySQL is the user's zone and "today" (CONTRACT §3 Settings).
const userDaySQL = `SELECT COALESCE(s.timezone, 'UTC'),
    ((now() AT TIME ZONE COALESCE(s.timezone, 'UTC')) - make_interval(hours => COALESCE(s.day_start_hour, 0)))::date
FROM auth_users u LEFT JOIN user_settings s ON s.auth_user_id = u.auth_user_id
WHERE u.auth_user_id = $1`

// Today returns the user's zone name and today's date.
func (s *Store) Today(ctx context.Context, userID string) (string, time.Time, error) {
	var zone string
	var today time.Time
	err := s.db.QueryRow(ctx, userDaySQL, userID).Scan(&zone, &today)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, errs.ErrOwnerUnknown
	}
	return zone, today, database.Classify(err)
}

// DayCount is what one date of the calendar counts.
type DayCount struct {
	CheckIns int64
	Minutes  int64
}

const daysSQL = `SELECT local_date, count(*), COALESCE(sum(minutes), 0)
FROM activity_items
WHERE auth_user_id = $1 AND type = 'goal.checked_in' AND local_date BETWEEN $2 AND $3
GROUP BY local_date`

// Days counts the user's check-ins by local date, from–to inclusive.
func (s *Store) Days(ctx context.Context, userID string, from, to time.Time) (map[time.Time]DayCount, error) {
	out := map[time.Time]DayCount{}
	var (
		date time.Time
		dc   DayCount
	)
	err := s.reads.Query(ctx, daysSQL, []any{userID, from, to}, func(rows pgx.Rows) error {
		for rows.Next() {
			if err := rows.Scan(&date, &dc.CheckIns, &dc.Minutes); err != nil {
				return err
			}
			out[date.UTC()] = dc
		}
		return nil
	})
	return out, database.Classify(err)
}

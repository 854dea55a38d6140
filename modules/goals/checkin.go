package goals

import (
	"strconv"
	"time"

	"usersvc/platform/jsonw"
)

// Field rules of a check-in (CONTRACT §3 "Check-ins and streaks").
const (
	MaxMinutes = 1440
	MaxNote    = 500
	// ClockSkew is how far in the future an occurred_at may lie.
	ClockSkew = 5 * time.Minute
)

// CheckIn records that the user worked on a goal.
type CheckIn struct {
	ID         int64
	GoalID     int64
	UserID     string
	OccurredAt time.Time
	LocalDate  time.Time // computed once, at write time
	Timezone   string
	Minutes    *int64
	Note       string
	Streak     int64 // the goal's streak right after this check-in
	Longest    int64
	CreatedAt  time.Time
}

// NewCheckIn is a check-in as the client sent it; nil means the default.
type NewCheckIn struct {
	OccurredAt *time.Time
	Timezone   *string
	Minutes    *int64
	Note       string
	// History lets an admin token record any past time (an import).
	History bool
}

// Location is the check-in's address.
func (c *CheckIn) Location() string {
	return "/users/" + c.UserID + "/goals/" + strconv.FormatInt(c.GoalID, 10) + "/check-ins/" + strconv.FormatInt(c.ID, 10)
}

// AppendJSON appends the check-in's representation; exactly these fields.
func (c *CheckIn) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = jsonw.Int(b, c.ID)
	b = append(b, `,"goal_id":`...)
	b = jsonw.Int(b, c.GoalID)
	b = append(b, `,"auth_user_id":`...)
	b = jsonw.String(b, c.UserID)
	b = append(b, `,"occurred_at":`...)
	b = jsonw.Time(b, c.OccurredAt)
	b = append(b, `,"local_date":`...)
	b = appendDate(b, c.LocalDate)
	b = append(b, `,"timezone":`...)
	b = jsonw.String(b, c.Timezone)
	b = append(b, `,"minutes":`...)
	if c.Minutes == nil {
		b = append(b, "null"...)
	} else {
		b = jsonw.Int(b, *c.Minutes)
	}
	b = append(b, `,"note":`...)
	b = jsonw.String(b, c.Note)
	b = append(b, `,"streak_count":`...)
	b = jsonw.Int(b, c.Streak)
	b = append(b, `,"longest_streak":`...)
	b = jsonw.Int(b, c.Longest)
	b = append(b, `,"created_at":`...)
	b = jsonw.Time(b, c.CreatedAt)
	return append(b, '}')
}

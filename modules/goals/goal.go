package goals

import (
	"strconv"
	"strings"
	"time"

	"usersvc/platform/jsonw"
)

// Statuses a goal may have; the database enforces the same list.
const (
	StatusNotStarted = "not-started"
	StatusInProgress = "in-progress"
	StatusCompleted  = "completed"
	StatusAbandoned  = "abandoned"
)

var statuses = []string{StatusNotStarted, StatusInProgress, StatusCompleted, StatusAbandoned}

// ValidStatus reports whether s is one of the four statuses.
func ValidStatus(s string) bool {
	for _, v := range statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Field rules of CONTRACT §3.
const (
	MaxTitle       = 200
	MaxDescription = 2000
	MaxStreak      = 1_000_000
)

// Goal is one learning goal.
type Goal struct {
	ID          int64
	UserID      string
	Title       string
	Description string
	Status      string
	Streak      int64      // the current streak as of the read (CONTRACT §3 "Streaks")
	Longest     int64      // the longest streak, at least Streak
	LastCheckIn *time.Time // the latest local_date among its check-ins (a date)
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt *time.Time
	Version     int64
}

// ETag is the goal's strong entity tag, backed by its version column.
func (g *Goal) ETag() string { return `"` + strconv.FormatInt(g.Version, 10) + `"` }

// AppendJSON appends the goal's representation; objects carry exactly these fields.
func (g *Goal) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = jsonw.Int(b, g.ID)
	b = append(b, `,"auth_user_id":`...)
	b = jsonw.String(b, g.UserID)
	b = append(b, `,"title":`...)
	b = jsonw.String(b, g.Title)
	b = append(b, `,"description":`...)
	b = jsonw.String(b, g.Description)
	b = append(b, `,"status":`...)
	b = jsonw.String(b, g.Status)
	b = append(b, `,"streak_count":`...)
	b = jsonw.Int(b, g.Streak)
	b = append(b, `,"longest_streak":`...)
	b = jsonw.Int(b, g.Longest)
	b = append(b, `,"last_check_in_on":`...)
	b = appendNullableDate(b, g.LastCheckIn)
	b = append(b, `,"created_at":`...)
	b = jsonw.Time(b, g.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = jsonw.Time(b, g.UpdatedAt)
	b = append(b, `,"completed_at":`...)
	b = jsonw.NullableTime(b, g.CompletedAt)
	return append(b, '}')
}

// Patch is a partial update; nil fields stay as they are.
type Patch struct {
	Title       *string
	Description *string
	Status      *string
	Streak      *int64
}

// Precondition is a parsed If-Match header.
type Precondition struct {
	Present  bool    // the header was sent
	Any      bool    // If-Match: *
	Versions []int64 // versions of the strong ETags listed that are ours, spelled exactly as we spell them
}

// ParseIfMatch reads If-Match (RFC 9110 §13.1.1): "*" or a list of entity
// tags. Weak tags and tags that are not ours can never match (strong comparison).
func ParseIfMatch(h string) Precondition {
	h = strings.TrimSpace(h)
	if h == "" {
		return Precondition{}
	}
	p := Precondition{Present: true}
	if h == "*" {
		p.Any = true
		return p
	}
	for _, tag := range strings.Split(h, ",") {
		tag = strings.TrimSpace(tag)
		if len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
			continue
		}
		// Strong comparison: "05" or "+5" is not the tag "5".
		opaque := tag[1 : len(tag)-1]
		if v, err := strconv.ParseInt(opaque, 10, 64); err == nil && v > 0 && strconv.FormatInt(v, 10) == opaque {
			p.Versions = append(p.Versions, v)
		}
	}
	return p
}

// Matches applies the precondition to a current version.
func (p Precondition) Matches(version int64) bool {
	if !p.Present || p.Any {
		return true
	}
	for _, v := range p.Versions {
		if v == version {
			return true
		}
	}
	return false
}

// appendNullableDate writes a civil date as "YYYY-MM-DD", or null.
func appendNullableDate(b []byte, d *time.Time) []byte {
	if d == nil {
		return append(b, "null"...)
	}
	return appendDate(b, *d)
}

func appendDate(b []byte, d time.Time) []byte {
	b = append(b, '"')
	b = d.AppendFormat(b, time.DateOnly)
	return append(b, '"')
}

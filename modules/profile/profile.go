package profile

import (
	"time"

	"usersvc/platform/jsonw"
)

// Profile is a user's identity and activity summary. The profile module is a
// read-only aggregate view over auth_users (owned by authref), badges and
// learning_goals (owned by their modules): it reads their tables in one query
// and never writes them, which keeps GET /users/{id} to one round trip.
type Profile struct {
	UserID      string
	Username    *string
	Email       *string // shown on /users/me only
	MemberSince time.Time
	Stats       Stats
	Settings    Settings // shown on /users/me only
}

// Stats summarise the user's badges and goals.
type Stats struct {
	Badges         int64
	GoalsTotal     int64
	GoalsCompleted int64
	BestStreak     int64 // the highest streak_count among the goals, 0 without goals
	CurrentStreak  int64 // the user's own streak: check-ins of all goals, no hand-written streaks
	LongestStreak  int64
}

// AppendPublicJSON appends the public profile; objects carry exactly these fields.
func (p *Profile) AppendPublicJSON(b []byte) []byte { return p.appendJSON(b, false) }

// AppendPrivateJSON appends the caller's own profile: the public one plus email and settings.
func (p *Profile) AppendPrivateJSON(b []byte) []byte { return p.appendJSON(b, true) }

func (p *Profile) appendJSON(b []byte, private bool) []byte {
	b = append(b, `{"auth_user_id":`...)
	b = jsonw.String(b, p.UserID)
	b = append(b, `,"username":`...)
	b = jsonw.NullableString(b, p.Username)
	if private {
		b = append(b, `,"email":`...)
		b = jsonw.NullableString(b, p.Email)
	}
	b = append(b, `,"member_since":`...)
	b = jsonw.Time(b, p.MemberSince)
	b = append(b, `,"stats":{"badges":`...)
	b = jsonw.Int(b, p.Stats.Badges)
	b = append(b, `,"goals_total":`...)
	b = jsonw.Int(b, p.Stats.GoalsTotal)
	b = append(b, `,"goals_completed":`...)
	b = jsonw.Int(b, p.Stats.GoalsCompleted)
	b = append(b, `,"best_streak":`...)
	b = jsonw.Int(b, p.Stats.BestStreak)
	b = append(b, `,"current_streak":`...)
	b = jsonw.Int(b, p.Stats.CurrentStreak)
	b = append(b, `,"longest_streak":`...)
	b = jsonw.Int(b, p.Stats.LongestStreak)
	b = append(b, '}')
	if private {
		b = append(b, `,"settings":`...)
		b = p.Settings.AppendJSON(b)
	}
	return append(b, '}')
}

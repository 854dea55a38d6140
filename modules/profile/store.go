package profile

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"usersvc/platform/database"
	"usersvc/platform/errs"
)

// Store reads profiles. The SQL is built once at package initialisation, so
// every request sends the same text; every value is a bound parameter.
type Store struct {
	db *database.Pool
	// reads carries the profile read, pipelined with other concurrent reads:
	// a burst of profiles uses the pipeline's few warm connections instead
	// of opening a cold backend per request (docs/performance.md).
	reads *database.Pipeline
}

// NewStore builds the store over the pool.
func NewStore(db *database.Pool, reads *database.Pipeline) *Store {
	return &Store{db: db, reads: reads}
}

// completed is the goal status counted by goals_completed.
const completed = "completed"

// todaySQL is the user's "today" (CONTRACT §3 Settings) from the joined settings s.
const todaySQL = `((now() AT TIME ZONE COALESCE(s.timezone, 'UTC')) - make_interval(hours => COALESCE(s.day_start_hour, 0)))::date`

// goalStreakSQL is a goal's streak as a read of it shows (modules/goals
// keeps the state; liveness is applied here, at read time).
const goalStreakSQL = `CASE WHEN g.last_check_in_on IS NULL
     THEN CASE WHEN g.streak_set_on >= d.today - 1 THEN g.streak_count ELSE 0 END
     WHEN g.streak_run_end >= d.today - 1 THEN g.streak_run_days ELSE 0 END`

// profileSQL is the identity, the settings and every stat in one round
// trip: a scalar subquery counts badges, one lateral aggregate scans the
// user's goals once, the user's own streak is one row of user_streaks.
// $1 the completed status, $2 the user.
const profileSQL = `SELECT u.username, u.email, u.created_at,
    (SELECT count(*) FROM badges b WHERE b.auth_user_id = u.auth_user_id),
    gs.total, gs.completed, gs.best_streak,
    CASE WHEN us.streak_run_end >= d.today - 1 THEN us.streak_run_days ELSE 0 END,
    COALESCE(us.longest_streak, 0),
    COALESCE(s.timezone, 'UTC'), COALESCE(s.day_start_hour, 0)
FROM auth_users u
LEFT JOIN user_settings s ON s.auth_user_id = u.auth_user_id
LEFT JOIN user_streaks us ON us.auth_user_id = u.auth_user_id
CROSS JOIN LATERAL (SELECT ` + todaySQL + ` AS today) d
CROSS JOIN LATERAL (
    SELECT count(*) AS total, count(*) FILTER (WHERE g.status = $1) AS completed,
           COALESCE(max(` + goalStreakSQL + `), 0) AS best_streak
    FROM learning_goals g WHERE g.auth_user_id = u.auth_user_id) gs
WHERE u.auth_user_id = $2`

// Get reads the profile (errs.ErrOwnerUnknown when the user has no local reference).
func (s *Store) Get(ctx context.Context, userID string) (Profile, error) {
	p := Profile{UserID: userID}
	found := false
	err := s.reads.Query(ctx, profileSQL, []any{completed, userID}, func(rows pgx.Rows) error {
		if !rows.Next() {
			return nil
		}
		found = true
		return rows.Scan(&p.Username, &p.Email, &p.MemberSince,
			&p.Stats.Badges, &p.Stats.GoalsTotal, &p.Stats.GoalsCompleted, &p.Stats.BestStreak,
			&p.Stats.CurrentStreak, &p.Stats.LongestStreak, &p.Settings.Timezone, &p.Settings.DayStartHour)
	})
	switch {
	case err != nil:
		return Profile{}, database.Classify(fmt.Errorf("get profile: %w", err))
	case !found:
		return Profile{}, errs.ErrOwnerUnknown
	}
	return p, nil
}

const getSettingsSQL = `SELECT COALESCE(s.timezone, 'UTC'), COALESCE(s.day_start_hour, 0)
FROM auth_users u LEFT JOIN user_settings s ON s.auth_user_id = u.auth_user_id
WHERE u.auth_user_id = $1`

// Settings reads the user's settings (the defaults when never written).
func (s *Store) Settings(ctx context.Context, userID string) (Settings, error) {
	var st Settings
	err := s.db.QueryRow(ctx, getSettingsSQL, userID).Scan(&st.Timezone, &st.DayStartHour)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, errs.ErrOwnerUnknown
	}
	return st, database.Classify(err)
}

// putSettingsSQL writes only for a known user; unsent fields keep their value.
const putSettingsSQL = `INSERT INTO user_settings (auth_user_id, timezone, day_start_hour)
SELECT $1, COALESCE($2, 'UTC'), COALESCE($3::smallint, 0)
WHERE EXISTS (SELECT 1 FROM auth_users WHERE auth_user_id = $1)
ON CONFLICT (auth_user_id) DO UPDATE SET
    timezone = COALESCE($2, user_settings.timezone),
    day_start_hour = COALESCE($3::smallint, user_settings.day_start_hour),
    updated_at = now()
RETURNING timezone, day_start_hour`

// PutSettings applies p and returns the whole settings.
func (s *Store) PutSettings(ctx context.Context, userID string, p SettingsPatch) (Settings, error) {
	var st Settings
	err := s.db.QueryRow(ctx, putSettingsSQL, userID, p.Timezone, p.DayStartHour).Scan(&st.Timezone, &st.DayStartHour)
	if errors.Is(err, pgx.ErrNoRows) || database.ConstraintName(err) == "user_settings_auth_user_id_fkey" {
		return st, errs.ErrOwnerUnknown
	}
	return st, database.Classify(err)
}

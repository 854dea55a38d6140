package profile

import (
	"context"
	"errors"
	"fmt"

	sq "github.com/Masterminds/squirrel"
	"github.com/jackc/pgx/v5"

	"usersvc/platform/database"
	"usersvc/platform/errs"
)

// Store reads profiles. The SQL is built once at package initialisation, so
// every request sends the same text; every value is a bound parameter.
type Store struct {
	db *database.Pool
}

// NewStore builds the store over the pool.
func NewStore(db *database.Pool) *Store { return &Store{db: db} }

// completed is the goal status counted by goals_completed.
const completed = "completed"

// profileSQL is the identity and every stat in one round trip: a scalar
// subquery counts badges, one lateral aggregate scans the user's goals once.
// $1 the completed status, $2 the user.
var profileSQL = func() string {
	badgeCount := sq.Select("count(*)").From("badges b").Where("b.auth_user_id = u.auth_user_id")
	goalStats := sq.Select(
		"count(*) AS total",
		"COALESCE(max(g.streak_count), 0) AS best_streak",
	).
		Column("count(*) FILTER (WHERE g.status = ?) AS completed", nil).
		From("learning_goals g").
		Where("g.auth_user_id = u.auth_user_id")
	sql, _, err := sq.StatementBuilder.PlaceholderFormat(sq.Dollar).
		Select("u.username", "u.email", "u.created_at").
		Column(sq.Alias(badgeCount, "badges")).
		Columns("gs.total", "gs.completed", "gs.best_streak").
		From("auth_users u").
		JoinClause(sq.ConcatExpr("CROSS JOIN LATERAL (", goalStats, ") gs")).
		Where("u.auth_user_id = ?", nil).
		ToSql()
	if err != nil {
		panic(err)
	}
	return sql
}()

// Get reads the profile (errs.ErrOwnerUnknown when the user has no local reference).
func (s *Store) Get(ctx context.Context, userID string) (Profile, error) {
	p := Profile{UserID: userID}
	err := s.db.QueryRow(ctx, profileSQL, completed, userID).Scan(
		&p.Username, &p.Email, &p.MemberSince,
		&p.Stats.Badges, &p.Stats.GoalsTotal, &p.Stats.GoalsCompleted, &p.Stats.BestStreak)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Profile{}, errs.ErrOwnerUnknown
	case err != nil:
		return Profile{}, database.Classify(fmt.Errorf("get profile: %w", err))
	}
	return p, nil
}

package badges

import (
	"context"
	"errors"
	"fmt"

	sq "github.com/Masterminds/squirrel"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"usersvc/modules/activity"
	"usersvc/modules/outbox"
	"usersvc/platform/database"
	"usersvc/platform/errs"
	"usersvc/platform/page"
)

// Store runs the badge queries. Each query's SQL is built once, at package
// initialisation, so every request of a shape sends the same text (and hits
// pgx's statement cache); every value is a bound parameter.
//
// Every read starts from auth_users with a LEFT JOIN, so one round trip tells
// "unknown user" (no row) from "known user without badges" (one row of NULLs).
type Store struct {
	db *database.Pool
	// reads carries the list queries, pipelined with other concurrent reads.
	reads *database.Pipeline
}

// NewStore builds the store over the pool.
func NewStore(db *database.Pool, reads *database.Pipeline) *Store {
	return &Store{db: db, reads: reads}
}

// uniqueName is the index behind "names are unique per user, as lower() compares them".
const uniqueName = "badges_user_name_key"

// SQLSTATE codes the store tells apart.
const (
	foreignKeyViolation = "23503"
	uniqueViolation     = "23505"
)

var psql = sq.StatementBuilder.PlaceholderFormat(sq.Dollar)

var (
	// $1 limit, $2 user.
	listFirstSQL = mustSQL(listQuery(false))
	// $1 date_achieved, $2 id of the cursor, $3 limit, $4 user.
	listAfterSQL = mustSQL(listQuery(true))
	// $1 badge id, $2 user.
	getSQL = mustSQL(psql.
		Select("b.id", "b.name", "b.description", "b.icon_url", "b.date_achieved", "b.created_at").
		From("auth_users u").
		LeftJoin("badges b ON b.auth_user_id = u.auth_user_id AND b.id = ?", nil).
		Where("u.auth_user_id = ?", nil))
	// $1 user, $2 name, $3 description, $4 icon_url, $5 date_achieved (NULL: now).
	// A missing user fails the foreign key; a duplicate name fails uniqueName.
	insertSQL = mustSQL(psql.
			Insert("badges").
			Columns("auth_user_id", "name", "description", "icon_url", "date_achieved").
			Values(nil, nil, nil, nil, sq.Expr("COALESCE(?::timestamptz, now())", nil)).
			Suffix("RETURNING id, date_achieved, created_at"))
)

// listQuery is one page of a user's badges, newest first; the lateral
// subquery walks badges_user_date_idx and stops after LIMIT rows.
func listQuery(afterCursor bool) sq.SelectBuilder {
	inner := sq.Select("id", "name", "description", "icon_url", "date_achieved", "created_at").
		From("badges").
		Where("auth_user_id = u.auth_user_id")
	if afterCursor {
		inner = inner.Where("(date_achieved, id) < (?, ?)", nil, nil)
	}
	inner = inner.OrderBy("date_achieved DESC", "id DESC").Suffix("LIMIT ?", nil)
	return psql.
		Select("b.id", "b.name", "b.description", "b.icon_url", "b.date_achieved", "b.created_at").
		From("auth_users u").
		JoinClause(sq.ConcatExpr("LEFT JOIN LATERAL (", inner, ") b ON true")).
		Where("u.auth_user_id = ?", nil).
		OrderBy("b.date_achieved DESC", "b.id DESC")
}

func mustSQL(q sq.Sqlizer) string {
	sql, _, err := q.ToSql()
	if err != nil {
		panic(err)
	}
	return sql
}

// row scans a badge that may be absent (the NULL side of a LEFT JOIN).
type row struct {
	id           pgtype.Int8
	name         pgtype.Text
	description  pgtype.Text
	iconURL      pgtype.Text
	dateAchieved pgtype.Timestamptz
	createdAt    pgtype.Timestamptz
}

func (r *row) dest() []any {
	return []any{&r.id, &r.name, &r.description, &r.iconURL, &r.dateAchieved, &r.createdAt}
}

func (r *row) badge(userID string) Badge {
	b := Badge{
		ID: r.id.Int64, UserID: userID, Name: r.name.String, Description: r.description.String,
		DateAchieved: r.dateAchieved.Time, CreatedAt: r.createdAt.Time,
	}
	if r.iconURL.Valid {
		icon := r.iconURL.String
		b.IconURL = &icon
	}
	return b
}

// List returns at most limit badges of the user, newest first, after the
// cursor when there is one.
func (s *Store) List(ctx context.Context, userID string, after *page.Cursor, limit int) ([]Badge, error) {
	sql, args := listFirstSQL, []any{limit, userID}
	if after != nil {
		sql, args = listAfterSQL, []any{after.At, after.ID, limit, userID}
	}
	badges := make([]Badge, 0, min(limit, 16))
	found := false
	err := s.reads.Query(ctx, sql, args, func(rows pgx.Rows) error {
		var r row
		dest := r.dest()
		for rows.Next() {
			found = true
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			if r.id.Valid {
				badges = append(badges, r.badge(userID))
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, database.Classify(fmt.Errorf("list badges: %w", err))
	case !found:
		return nil, errs.ErrOwnerUnknown
	}
	return badges, nil
}

// Get returns one badge of the user: ErrBadgeNotFound when the user has no
// such badge (another user's badge included).
func (s *Store) Get(ctx context.Context, userID string, id int64) (Badge, error) {
	var r row
	switch err := s.db.QueryRow(ctx, getSQL, id, userID).Scan(r.dest()...); {
	case errors.Is(err, pgx.ErrNoRows):
		return Badge{}, errs.ErrOwnerUnknown
	case err != nil:
		return Badge{}, database.Classify(fmt.Errorf("get badge: %w", err))
	case !r.id.Valid:
		return Badge{}, ErrBadgeNotFound
	}
	return r.badge(userID), nil
}

// Create inserts the badge: ErrBadgeExists when the user already has the
// name (the unique index decides, so concurrent requests cannot both win).
func (s *Store) Create(ctx context.Context, nb NewBadge) (Badge, error) {
	b := Badge{UserID: nb.UserID, Name: nb.Name, Description: nb.Description, IconURL: nb.IconURL}
	// Two round trips (database.WriteTx); the feed's record of the award
	// and its event commit with it.
	err := database.WriteTx(ctx, database.ConnOf(ctx, s.db), func(q *pgx.Batch) {
		q.Queue(insertSQL, nb.UserID, nb.Name, nb.Description, nb.IconURL, nb.DateAchieved).QueryRow(func(row pgx.Row) error {
			return row.Scan(&b.ID, &b.DateAchieved, &b.CreatedAt)
		})
	}, func(q *pgx.Batch) error {
		id := b.ID
		activity.Queue(q, activity.Item{UserID: b.UserID, Type: activity.BadgeAwarded,
			OccurredAt: b.DateAchieved, BadgeID: &id, Title: b.Name})
		outbox.Queue(q, outbox.Object(outbox.BadgeAwarded, b.UserID, "badge", b.AppendJSON(nil)))
		return nil
	})
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return b, nil
	case errors.As(err, &pgErr) && pgErr.Code == uniqueViolation && pgErr.ConstraintName == uniqueName:
		return Badge{}, ErrBadgeExists
	case errors.As(err, &pgErr) && pgErr.Code == foreignKeyViolation:
		return Badge{}, errs.ErrOwnerUnknown
	default:
		return Badge{}, database.Classify(fmt.Errorf("create badge: %w", err))
	}
}

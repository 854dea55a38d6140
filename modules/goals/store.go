package goals

import (
	"context"
	"errors"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/jackc/pgx/v5"

	"usersvc/platform/database"
	"usersvc/platform/errs"
	"usersvc/platform/page"
)

// Store runs the goal queries. Each query's SQL is built once, at package
// initialisation, so every request of a shape sends the same text and hits
// pgx's prepared-statement cache; all values are bound parameters.
type Store struct {
	db *database.Pool
	// reads carries list queries, pipelined with other concurrent reads.
	reads *database.Pipeline
}

// NewStore builds the store over the pool.
func NewStore(db *database.Pool, reads *database.Pipeline) *Store {
	return &Store{db: db, reads: reads}
}

var psql = sq.StatementBuilder.PlaceholderFormat(sq.Dollar)

const goalColumns = "g.id, g.title, g.description, g.status, g.streak_count, g.created_at, g.updated_at, g.completed_at, g.version"

// sqlOf renders a builder's SQL once; a malformed builder is a programming error.
func sqlOf(b sq.Sqlizer) string {
	query, _, err := b.ToSql()
	if err != nil {
		panic(err)
	}
	return query
}

// The store's answers besides success; compare with errors.Is. An unknown
// user is errs.ErrOwnerUnknown; a database failure is classified by
// database.Classify.
var (
	ErrNotFound     = errs.New(errs.NotFound, "no such goal for this user")
	ErrPrecondition = errs.New(errs.Precondition, "If-Match does not match the goal's current ETag")
)

// ListQuery selects one page of a user's goals.
type ListQuery struct {
	UserID string
	Status string       // "" for all
	After  *page.Cursor // nil for the first page
	Limit  int          // items wanted; one more is fetched to know if a next page exists
}

// listSQL[withStatus][withCursor]: the page itself, straight off the
// (auth_user_id, [status,] created_at DESC, id DESC) index. An empty page is
// the rare case that needs a second look, to tell "no goals" from "unknown user".
var listSQL = [2][2]string{
	{buildList(false, false), buildList(false, true)},
	{buildList(true, false), buildList(true, true)},
}

func buildList(withStatus, withCursor bool) string {
	q := psql.Select(goalColumns).From("learning_goals g").Where("g.auth_user_id = ?", "")
	if withStatus {
		q = q.Where("g.status = ?", "")
	}
	if withCursor {
		q = q.Where("(g.created_at, g.id) < (?, ?)", nil, nil)
	}
	return sqlOf(q.OrderBy("g.created_at DESC", "g.id DESC").Suffix("LIMIT ?", 0))
}

var userExistsSQL = sqlOf(psql.Select("EXISTS (SELECT 1 FROM auth_users WHERE auth_user_id = ?)", ""))

// List returns up to q.Limit+1 goals, newest first.
func (s *Store) List(ctx context.Context, q ListQuery) ([]Goal, error) {
	args := make([]any, 1, 5)
	args[0] = q.UserID
	withStatus, withCursor := 0, 0
	if q.Status != "" {
		args = append(args, q.Status)
		withStatus = 1
	}
	if q.After != nil {
		args = append(args, q.After.At, q.After.ID)
		withCursor = 1
	}
	args = append(args, q.Limit+1)
	goals := make([]Goal, 0, q.Limit+1)
	err := s.reads.Query(ctx, listSQL[withStatus][withCursor], args, func(rows pgx.Rows) error {
		for rows.Next() {
			g := Goal{UserID: q.UserID}
			if err := rows.Scan(&g.ID, &g.Title, &g.Description, &g.Status, &g.Streak, &g.CreatedAt, &g.UpdatedAt, &g.CompletedAt, &g.Version); err != nil {
				return err
			}
			goals = append(goals, g)
		}
		return nil
	})
	if err != nil {
		return nil, database.Classify(err)
	}
	if len(goals) == 0 {
		var known bool
		if err := s.db.QueryRow(ctx, userExistsSQL, q.UserID).Scan(&known); err != nil {
			return nil, database.Classify(err)
		}
		if !known {
			return nil, errs.ErrOwnerUnknown
		}
	}
	return goals, nil
}

// getSQL: no row = unknown user; a row with NULL id = no such goal.
var getSQL = sqlOf(psql.Select(goalColumns).From("auth_users u").
	JoinClause("LEFT JOIN learning_goals g ON g.auth_user_id = u.auth_user_id AND g.id = ?", int64(0)).
	Where("u.auth_user_id = ?", ""))

// Get returns one goal of a user (ErrNotFound).
func (s *Store) Get(ctx context.Context, userID string, id int64) (Goal, error) {
	g, err := scanNullableGoal(s.db.QueryRow(ctx, getSQL, id, userID), userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Goal{}, errs.ErrOwnerUnknown
	}
	return g, err
}

func scanNullableGoal(row pgx.Row, userID string) (Goal, error) {
	var (
		id, streak, version *int64
		title, desc, status *string
		created, updated    *time.Time
	)
	g := Goal{UserID: userID}
	if err := row.Scan(&id, &title, &desc, &status, &streak, &created, &updated, &g.CompletedAt, &version); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return Goal{}, err
		}
		return Goal{}, database.Classify(err)
	}
	if id == nil {
		return Goal{}, ErrNotFound
	}
	g.ID, g.Title, g.Description, g.Status, g.Streak = *id, *title, *desc, *status, *streak
	g.CreatedAt, g.UpdatedAt, g.Version = *created, *updated, *version
	return g, nil
}

// returning lists the columns every write gives back (unqualified: RETURNING has no alias).
const returning = "RETURNING id, title, description, status, streak_count, created_at, updated_at, completed_at, version"

// createSQL inserts only for a known user, so one statement tells the two apart.
var createSQL = sqlOf(psql.Insert("learning_goals").
	Columns("auth_user_id", "title", "description", "status", "streak_count", "completed_at").
	Select(sq.Select().Column("?, ?, ?, ?::text, ?, CASE WHEN ?::text = 'completed' THEN now() END", "", "", "", "", 0, "").
		Where("EXISTS (SELECT 1 FROM auth_users WHERE auth_user_id = ?)", "")).
	Suffix(returning))

// Create inserts a goal.
func (s *Store) Create(ctx context.Context, g Goal) (Goal, error) {
	out, err := scanGoal(s.db.QueryRow(ctx, createSQL, g.UserID, g.Title, g.Description, g.Status, g.Streak, g.Status, g.UserID), g.UserID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Goal{}, errs.ErrOwnerUnknown
	}
	return out, err
}

func scanGoal(row pgx.Row, userID string) (Goal, error) {
	g := Goal{UserID: userID}
	err := row.Scan(&g.ID, &g.Title, &g.Description, &g.Status, &g.Streak, &g.CreatedAt, &g.UpdatedAt, &g.CompletedAt, &g.Version)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Goal{}, database.Classify(err)
	}
	return g, err
}

// updateSQL applies a patch and the If-Match versions in one statement: the
// row lock makes concurrent conditional updates take turns, so exactly one
// of several PUTs carrying the same ETag wins. completed_at is set when the
// goal becomes completed and cleared when it leaves that status.
var updateSQL = sqlOf(psql.Update("learning_goals").
	Set("title", sq.Expr("COALESCE(?, title)", "")).
	Set("description", sq.Expr("COALESCE(?, description)", "")).
	Set("status", sq.Expr("COALESCE(?, status)", "")).
	Set("streak_count", sq.Expr("COALESCE(?, streak_count)", 0)).
	Set("completed_at", sq.Expr(`CASE WHEN COALESCE(?, status) <> 'completed' THEN NULL
	                                  WHEN status = 'completed' THEN completed_at
	                                  ELSE now() END`, "")).
	Set("updated_at", sq.Expr("now()")).
	Set("version", sq.Expr("version + 1")).
	Where("id = ? AND auth_user_id = ?", 0, "").
	Where("(?::bigint[] IS NULL OR version = ANY(?::bigint[]))", nil, nil).
	Suffix(returning))

// Update applies p to the goal if pre holds (else ErrNotFound or ErrPrecondition).
func (s *Store) Update(ctx context.Context, userID string, id int64, p Patch, pre Precondition) (Goal, error) {
	versions := preconditionVersions(pre)
	g, err := scanGoal(s.db.QueryRow(ctx, updateSQL, p.Title, p.Description, p.Status, p.Streak, p.Status, id, userID, versions, versions), userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Goal{}, s.whyNoRow(ctx, userID, id)
	}
	return g, err
}

var deleteSQL = sqlOf(psql.Delete("learning_goals").
	Where("id = ? AND auth_user_id = ?", 0, "").
	Where("(?::bigint[] IS NULL OR version = ANY(?::bigint[]))", nil, nil))

// Delete removes the goal if pre holds (else ErrNotFound or ErrPrecondition).
func (s *Store) Delete(ctx context.Context, userID string, id int64, pre Precondition) error {
	versions := preconditionVersions(pre)
	tag, err := s.db.Exec(ctx, deleteSQL, id, userID, versions, versions)
	if err != nil {
		return database.Classify(err)
	}
	if tag.RowsAffected() == 0 {
		return s.whyNoRow(ctx, userID, id)
	}
	return nil
}

// preconditionVersions is nil (no condition) or the versions that may match;
// an If-Match with no usable tag becomes an empty list, which matches nothing.
func preconditionVersions(pre Precondition) []int64 {
	if !pre.Present || pre.Any {
		return nil
	}
	if pre.Versions == nil {
		return []int64{}
	}
	return pre.Versions
}

// whyNoRow explains a write that touched nothing (the rare path: a second
// round trip): an unknown user, no such goal, or a failed precondition —
// also when the goal changed between the write and this look.
func (s *Store) whyNoRow(ctx context.Context, userID string, id int64) error {
	if _, err := s.Get(ctx, userID, id); err != nil {
		return err
	}
	return ErrPrecondition
}

// CheckPrecondition answers what a conditional write of the goal would:
// ErrOwnerUnknown, ErrNotFound, ErrPrecondition, or nil.
func (s *Store) CheckPrecondition(ctx context.Context, userID string, id int64, pre Precondition) error {
	g, err := s.Get(ctx, userID, id)
	if err != nil {
		return err
	}
	if !pre.Matches(g.Version) {
		return ErrPrecondition
	}
	return nil
}

// ListSQL exposes a list statement to the load run, which replays it in pgbench.
func ListSQL(withStatus, withCursor bool) string {
	return listSQL[b2i(withStatus)][b2i(withCursor)]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

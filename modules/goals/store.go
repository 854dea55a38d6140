package goals

import (
	"context"
	"errors"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/jackc/pgx/v5"

	"usersvc/modules/activity"
	"usersvc/modules/outbox"
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
	// writes carries check-ins, committed together with other concurrent writes.
	writes *database.WritePipeline
}

// NewStore builds the store over the pool.
func NewStore(db *database.Pool, reads *database.Pipeline, writes *database.WritePipeline) *Store {
	return &Store{db: db, reads: reads, writes: writes}
}

var psql = sq.StatementBuilder.PlaceholderFormat(sq.Dollar)

// todaySQL is the user's "today" (CONTRACT §3 Settings) in SQL, for the
// user id expression user: the local date of now in the user's zone, minus
// day_start_hour hours of wall clock; a user without settings is in UTC.
// streak.LocalDate is the same rule in Go.
func todaySQL(user string) string {
	return `COALESCE((SELECT ((now() AT TIME ZONE s.timezone) - make_interval(hours => s.day_start_hour))::date
	FROM user_settings s WHERE s.auth_user_id = ` + user + `), (now() AT TIME ZONE 'UTC')::date)`
}

// goalColumns reads goal t with its streak as of today (liveness is applied
// at read time: a run that ended before yesterday shows 0). Without a
// check-in the streak is the one written by hand: streak_count days ending
// on streak_set_on; with one, the state the last check-in write stored.
func goalColumns(t, today string) string {
	return t + `.id, ` + t + `.title, ` + t + `.description, ` + t + `.status,
	CASE WHEN ` + t + `.last_check_in_on IS NULL
	     THEN CASE WHEN ` + t + `.streak_set_on >= ` + today + ` - 1 THEN ` + t + `.streak_count ELSE 0 END
	     WHEN ` + t + `.streak_run_end >= ` + today + ` - 1 THEN ` + t + `.streak_run_days ELSE 0 END,
	CASE WHEN ` + t + `.last_check_in_on IS NULL THEN ` + t + `.streak_count ELSE ` + t + `.longest_streak END,
	` + t + `.last_check_in_on, ` + t + `.created_at, ` + t + `.updated_at, ` + t + `.completed_at, ` + t + `.version`
}

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
	// ErrStreakDerived: once a goal has a check-in its streak is derived (CONTRACT §3).
	ErrStreakDerived = errs.InvalidFields(errs.FieldError{Field: "streak_count",
		Message: "can no longer be written: the goal has check-ins, and its streak is derived from them"})
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
// The user's today is computed once per query ($1 is the user).
var listSQL = [2][2]string{
	{buildList(false, false), buildList(false, true)},
	{buildList(true, false), buildList(true, true)},
}

func buildList(withStatus, withCursor bool) string {
	q := psql.Select(goalColumns("g", "d.today")).From("learning_goals g").
		JoinClause("CROSS JOIN (SELECT "+todaySQL("$1")+" AS today) d").
		Where("g.auth_user_id = ?", "")
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
	// A default page is 51 goals wide but users hold a few: a full-width
	// slice was 8.7 KB zeroed per request (6% of serve's CPU); append grows.
	goals := make([]Goal, 0, min(q.Limit+1, 16))
	err := s.reads.Query(ctx, listSQL[withStatus][withCursor], args, func(rows pgx.Rows) error {
		// One row buffer and one list of its fields for the whole page: a
		// Goal and its []any per row were a fifth of a page's allocations.
		var g Goal
		dest := g.dest()
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			g.UserID = q.UserID
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

func (g *Goal) dest() []any {
	return []any{&g.ID, &g.Title, &g.Description, &g.Status, &g.Streak, &g.Longest, &g.LastCheckIn,
		&g.CreatedAt, &g.UpdatedAt, &g.CompletedAt, &g.Version}
}

// getSQL: no row = unknown user; a row with NULL id = no such goal.
var getSQL = `SELECT ` + goalColumns("g", "d.today") + `
FROM auth_users u
LEFT JOIN learning_goals g ON g.auth_user_id = u.auth_user_id AND g.id = $1
CROSS JOIN LATERAL (SELECT ` + todaySQL("u.auth_user_id") + ` AS today) d
WHERE u.auth_user_id = $2`

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
		id, streak, longest, version *int64
		title, desc, status          *string
		created, updated             *time.Time
	)
	g := Goal{UserID: userID}
	if err := row.Scan(&id, &title, &desc, &status, &streak, &longest, &g.LastCheckIn, &created, &updated, &g.CompletedAt, &version); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return Goal{}, err
		}
		return Goal{}, database.Classify(err)
	}
	if id == nil {
		return Goal{}, ErrNotFound
	}
	g.ID, g.Title, g.Description, g.Status, g.Streak, g.Longest = *id, *title, *desc, *status, *streak, *longest
	g.CreatedAt, g.UpdatedAt, g.Version = *created, *updated, *version
	return g, nil
}

// returning lists the columns every write gives back (RETURNING has no
// alias; user is the owner's id expression).
func returning(user string) string {
	return "RETURNING " + goalColumns("learning_goals", todaySQL(user))
}

// createSQL inserts only for a known user, so one statement tells the two
// apart. A streak written by hand is dated the user's today.
var createSQL = `INSERT INTO learning_goals (auth_user_id, title, description, status, streak_count, streak_set_on, completed_at)
SELECT $1, $2, $3, $4::text, $5, ` + todaySQL("$1") + `, CASE WHEN $4::text = 'completed' THEN now() END
WHERE EXISTS (SELECT 1 FROM auth_users WHERE auth_user_id = $1)
` + returning("$1")

// Create inserts a goal and records its activity and event in the same
// transaction, in two round trips (database.WriteTx).
func (s *Store) Create(ctx context.Context, g Goal) (Goal, error) {
	var out Goal
	err := database.WriteTx(ctx, database.ConnOf(ctx, s.db), func(b *pgx.Batch) {
		b.Queue(createSQL, g.UserID, g.Title, g.Description, g.Status, g.Streak).QueryRow(func(row pgx.Row) error {
			var err error
			out, err = scanGoal(row, g.UserID)
			return err
		})
	}, func(b *pgx.Batch) error {
		activity.Queue(b, goalItem(&out, activity.GoalCreated, out.CreatedAt))
		outbox.Queue(b, goalEvent(outbox.GoalCreated, &out))
		queueCompletion(b, &out)
		return nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Goal{}, errs.ErrOwnerUnknown
	}
	return out, database.Classify(err)
}

// queueCompletion queues goal.completed when the write just made g
// completed: completed_at is set to the write's now(), as updated_at is.
func queueCompletion(b *pgx.Batch, g *Goal) {
	if g.Status != StatusCompleted || g.CompletedAt == nil || !g.CompletedAt.Equal(g.UpdatedAt) {
		return
	}
	activity.Queue(b, goalItem(g, activity.GoalCompleted, *g.CompletedAt))
	outbox.Queue(b, goalEvent(outbox.GoalCompleted, g))
}

// goalEvent is the event of a change to g, carrying g as the API returns it.
func goalEvent(key string, g *Goal) outbox.Event {
	return outbox.Object(key, g.UserID, "goal", g.AppendJSON(nil))
}

func goalItem(g *Goal, typ string, at time.Time) activity.Item {
	id := g.ID
	return activity.Item{UserID: g.UserID, Type: typ, OccurredAt: at, GoalID: &id, Title: g.Title}
}

func scanGoal(row pgx.Row, userID string) (Goal, error) {
	g := Goal{UserID: userID}
	err := row.Scan(g.dest()...)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Goal{}, database.Classify(err)
	}
	return g, err
}

// updateSQL applies a patch and the If-Match versions in one statement: the
// row lock makes concurrent conditional updates take turns, so exactly one
// of several PUTs carrying the same ETag wins. completed_at is set when the
// goal becomes completed and cleared when it leaves that status. streak_count
// is written only while the goal has no check-in, and dated the user's today.
var updateSQL = `UPDATE learning_goals SET
    title = COALESCE($1, title),
    description = COALESCE($2, description),
    status = COALESCE($3, status),
    streak_count = COALESCE($4, streak_count),
    streak_set_on = CASE WHEN $4::integer IS NULL THEN streak_set_on ELSE ` + todaySQL("$6") + ` END,
    completed_at = CASE WHEN COALESCE($3, status) <> 'completed' THEN NULL
                        WHEN status = 'completed' THEN completed_at
                        ELSE now() END,
    updated_at = now(),
    version = version + 1
WHERE id = $5 AND auth_user_id = $6
  AND ($7::bigint[] IS NULL OR version = ANY($7::bigint[]))
  AND ($4::integer IS NULL OR last_check_in_on IS NULL)
` + returning("$6")

// Update applies p to the goal if pre holds (else ErrNotFound,
// ErrPrecondition or ErrStreakDerived), recording a completion with it, in
// two round trips (database.WriteTx).
func (s *Store) Update(ctx context.Context, userID string, id int64, p Patch, pre Precondition) (Goal, error) {
	versions := preconditionVersions(pre)
	var g Goal
	err := database.WriteTx(ctx, s.db, func(b *pgx.Batch) {
		b.Queue(updateSQL, p.Title, p.Description, p.Status, p.Streak, id, userID, versions).QueryRow(func(row pgx.Row) error {
			var err error
			g, err = scanGoal(row, userID)
			return err
		})
	}, func(b *pgx.Batch) error {
		outbox.Queue(b, goalEvent(outbox.GoalUpdated, &g))
		queueCompletion(b, &g)
		return nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Goal{}, s.whyNoRow(ctx, userID, id, pre, p.Streak != nil)
	}
	return g, database.Classify(err)
}

// deleteSQL tells whether the goal had check-ins: then the user's own streak changes.
var deleteSQL = `DELETE FROM learning_goals
WHERE id = $1 AND auth_user_id = $2 AND ($3::bigint[] IS NULL OR version = ANY($3::bigint[]))
RETURNING last_check_in_on IS NOT NULL`

// Delete removes the goal if pre holds (else ErrNotFound or ErrPrecondition);
// its check-ins and activity go with it (cascade), and the user's own streak
// is recomputed in the same transaction.
func (s *Store) Delete(ctx context.Context, userID string, id int64, pre Precondition) error {
	versions := preconditionVersions(pre)
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var hadCheckIns bool
		if err := tx.QueryRow(ctx, deleteSQL, id, userID, versions).Scan(&hadCheckIns); err != nil {
			return err
		}
		// The user's streak row before the user's event lock, the order every
		// check-in takes them in: the other order deadlocks with a check-in on
		// another of the user's goals.
		if hadCheckIns {
			if err := updateUserStreak(ctx, tx, userID); err != nil {
				return err
			}
		}
		return outbox.Record(ctx, tx, outbox.Deleted(userID, id))
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return s.whyNoRow(ctx, userID, id, pre, false)
	}
	return database.Classify(err)
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
// round trip): an unknown user, no such goal, a failed precondition, a
// streak that can no longer be written — or a goal that changed between
// the write and this look (a failed precondition too).
func (s *Store) whyNoRow(ctx context.Context, userID string, id int64, pre Precondition, writesStreak bool) error {
	g, err := s.Get(ctx, userID, id)
	switch {
	case err != nil:
		return err
	case pre.Matches(g.Version) && writesStreak && g.LastCheckIn != nil:
		return ErrStreakDerived
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

package authref

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"usersvc/modules/authref/authclient"
)

// LegacyUsers lists the legacy shared database's users table (CONTRACT §6)
// in id order, a page at a time (keyset on the primary key, so every page
// costs the same however far the run is). It reads id, email and username:
// never hashed_password or anything else.
type LegacyUsers struct {
	db       *pgxpool.Pool
	describe string
	query    string
}

// ErrNoLegacyUsers: the database has no users table with an integer id.
var ErrNoLegacyUsers = errors.New("no legacy users table (with an integer id) in that database")

// NewLegacyUsers checks the users table of db; where is how the operator
// names that database (host/name, no credentials).
func NewLegacyUsers(ctx context.Context, db *pgxpool.Pool, where string) (*LegacyUsers, error) {
	rows, err := db.Query(ctx, `
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = to_regclass('users') AND a.attnum > 0 AND NOT a.attisdropped
  AND a.attname IN ('id', 'email', 'username')`)
	if err != nil {
		return nil, err
	}
	cols := map[string]string{}
	var name, typ string
	if _, err := pgx.ForEachRow(rows, []any{&name, &typ}, func() error { cols[name] = typ; return nil }); err != nil {
		return nil, err
	}
	if t := cols["id"]; t != "integer" && t != "bigint" && t != "smallint" {
		return nil, fmt.Errorf("%w (%s)", ErrNoLegacyUsers, where)
	}
	column := func(c string) string {
		if _, ok := cols[strings.TrimPrefix(c, "u.")]; ok {
			return c + "::text"
		}
		return "NULL::text"
	}
	return &LegacyUsers{
		db:       db,
		describe: "legacy users table in " + where,
		// Ordered by the integer column, not by the text it is output as.
		query: "SELECT u.id::text AS auth_user_id, " + column("u.email") + ", " + column("u.username") +
			" FROM users u WHERE u.id > $1::bigint ORDER BY u.id LIMIT $2",
	}, nil
}

// Describe implements BackfillSource.
func (l *LegacyUsers) Describe() string { return l.describe }

// Count implements BackfillSource.
func (l *LegacyUsers) Count(ctx context.Context) (int64, error) {
	var n int64
	err := l.db.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n)
	return n, err
}

// Page implements BackfillSource; the cursor is the last id listed.
func (l *LegacyUsers) Page(ctx context.Context, cursor string, limit int) ([]BackfillUser, string, error) {
	after := int64(math.MinInt64)
	if cursor != "" {
		var err error
		if after, err = strconv.ParseInt(cursor, 10, 64); err != nil {
			return nil, "", fmt.Errorf("bad cursor %q", cursor)
		}
	}
	rows, err := l.db.Query(ctx, l.query, after, limit)
	if err != nil {
		return nil, "", err
	}
	users := make([]BackfillUser, 0, limit)
	var u BackfillUser
	if _, err := pgx.ForEachRow(rows, []any{&u.ID, &u.Email, &u.Username}, func() error {
		users = append(users, u)
		return nil
	}); err != nil {
		return nil, "", err
	}
	if len(users) == 0 {
		return nil, cursor, nil
	}
	return users, users[len(users)-1].ID, nil
}

// AuthServiceLister is the part of the auth-service client the backfill lists with.
type AuthServiceLister interface {
	List(ctx context.Context, limit, offset int) ([]authclient.User, error)
}

// AuthServiceUsers lists the auth-service's users (`GET /users?limit&offset`,
// CONTRACT §5) in its own order; the cursor is the offset. Users added or
// removed during a run shift the offsets: a user listed twice is harmless, a
// user missed is listed as an orphan, which is only deleted after the
// auth-service answers 404 for it.
type AuthServiceUsers struct {
	client   AuthServiceLister
	describe string
}

// NewAuthServiceUsers lists through client; where is the auth-service's URL.
func NewAuthServiceUsers(client AuthServiceLister, where string) *AuthServiceUsers {
	return &AuthServiceUsers{client: client, describe: "auth-service at " + where}
}

// Describe implements BackfillSource.
func (a *AuthServiceUsers) Describe() string { return a.describe }

// Count implements BackfillSource: the listing does not tell.
func (a *AuthServiceUsers) Count(context.Context) (int64, error) { return -1, nil }

// MaxAuthServicePage is the most users the backfill asks the auth-service for
// at once, whatever its write batch: auth-services cap their pages (CONTRACT §5).
const MaxAuthServicePage = 1000

// Page implements BackfillSource.
func (a *AuthServiceUsers) Page(ctx context.Context, cursor string, limit int) ([]BackfillUser, string, error) {
	limit = min(limit, MaxAuthServicePage)
	offset := 0
	if cursor != "" {
		var err error
		if offset, err = strconv.Atoi(cursor); err != nil || offset < 0 {
			return nil, "", fmt.Errorf("bad cursor %q", cursor)
		}
	}
	list, err := a.client.List(ctx, limit, offset)
	if err != nil {
		return nil, "", err
	}
	users := make([]BackfillUser, len(list))
	for i, u := range list {
		users[i] = BackfillUser{ID: u.ID, Email: u.Email, Username: u.Username}
	}
	// The next page starts after what this one held, even if the auth-service caps limit lower.
	return users, strconv.Itoa(offset + len(list)), nil
}

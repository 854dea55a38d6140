package migrations_test

import (
	"context"
	"testing"

	"usersvc/internal/testkit/pgtest"
	"usersvc/platform/database"
	"usersvc/platform/idempotency"
)

// 00009 hashes the stored answers' scopes: an answer stored before it is
// still replayed after it (the migration's hash is the store's, even for a
// caller holding the separators), and its down step gives back the
// four-column table, empty.
func TestIdempotencyAnswersSurviveTheScopeHash(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	mustRun(t, url, "up")
	mustRun(t, url, "down")
	scope := idempotency.Scope{Caller: "ada\n3:", Method: "POST", Path: "/users/ada/goals", Key: "k-1"}
	fp, _ := idempotency.Fingerprint([]byte(`{"title":"Learn Go"}`))
	conn := connect(t, url)
	if _, err := conn.Exec(t.Context(), `INSERT INTO idempotency_keys (caller, method, path, key, fingerprint, status, content_type, location, etag, body)
VALUES ($1, $2, $3, $4, $5, 201, 'application/json', '/users/ada/goals/7', '"1"', '{"id":7}')`,
		scope.Caller, scope.Method, scope.Path, scope.Key, fp); err != nil {
		t.Fatal(err)
	}
	mustRun(t, url, "up")

	pool := &database.Pool{Pool: pgtest.Pool(t, url)}
	replay, err := idempotency.NewStore(pool).Run(t.Context(), scope, fp, func(ctx context.Context) (idempotency.Answer, error) {
		_, err := database.ConnOf(ctx, pool).Exec(ctx, `INSERT INTO auth_users (auth_user_id) VALUES ('effect')`)
		return idempotency.Answer{Status: 201}, err
	})
	if err != nil || replay == nil || replay.Location != "/users/ada/goals/7" || string(replay.Body) != `{"id":7}` {
		t.Fatalf("after 00009: replay %+v, %v; want the answer stored before it", replay, err)
	}
	var effects int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM auth_users`).Scan(&effects); err != nil || effects != 0 {
		t.Fatalf("the replayed request ran again: %d effects (%v)", effects, err)
	}

	mustRun(t, url, "down")
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM idempotency_keys`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after 00009's down: %d rows, %v; want the empty four-column table", n, err)
	}
}

package database_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"usersvc/internal/testkit/pgtest"
	"usersvc/platform/database"
)

// TestWriteTx: both stages commit together; a failure in either stage (a
// server error, a callback's error, an error of then itself) leaves nothing
// behind and the connection usable; inside a caller's transaction it nests.
func TestWriteTx(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	pool := pgtest.Pool(t, url+sep+"pool_max_conns=1") // one connection, used by every case in turn
	if _, err := pool.Exec(ctx, `CREATE TABLE w (id int PRIMARY KEY, v text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	insert := func(id int) func(*pgx.Batch) {
		return func(b *pgx.Batch) { b.Queue(`INSERT INTO w VALUES ($1, 'first')`, id) }
	}
	errThen := errors.New("then refused")
	errCallback := errors.New("callback refused")
	cases := []struct {
		name    string
		id      int
		first   func(*pgx.Batch)
		then    func(*pgx.Batch) error
		wantErr error // nil: committed
		anyErr  bool
	}{
		{"both stages commit", 1, insert(1), func(b *pgx.Batch) error {
			b.Queue(`UPDATE w SET v = 'then' WHERE id = 1`)
			return nil
		}, nil, false},
		{"first stage fails on the server", 2, func(b *pgx.Batch) {
			b.Queue(`INSERT INTO w VALUES (2, 'first')`)
			b.Queue(`INSERT INTO w VALUES (2, 'duplicate')`)
		}, func(*pgx.Batch) error { return nil }, nil, true},
		{"first stage's callback refuses", 3, func(b *pgx.Batch) {
			b.Queue(`INSERT INTO w VALUES (3, 'first') RETURNING id`).QueryRow(func(pgx.Row) error { return errCallback })
		}, func(*pgx.Batch) error { return nil }, errCallback, false},
		{"then refuses", 4, insert(4), func(*pgx.Batch) error { return errThen }, errThen, false},
		{"second stage fails on the server", 5, insert(5), func(b *pgx.Batch) error {
			b.Queue(`INSERT INTO w VALUES (5, NULL)`)
			return nil
		}, nil, true},
		// A nil then: BEGIN, first's statements and COMMIT in one round trip.
		{"one stage commits", 8, insert(8), nil, nil, false},
		{"one stage fails on the server", 9, func(b *pgx.Batch) {
			b.Queue(`INSERT INTO w VALUES (9, 'first')`)
			b.Queue(`INSERT INTO w VALUES (9, 'duplicate')`)
		}, nil, nil, true},
		{"one stage's callback refuses", 10, func(b *pgx.Batch) {
			b.Queue(`INSERT INTO w VALUES (10, 'first') RETURNING id`).QueryRow(func(pgx.Row) error { return errCallback })
		}, nil, errCallback, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := database.WriteTx(ctx, pool, tc.first, tc.then)
			switch {
			case tc.anyErr && err == nil, !tc.anyErr && !errors.Is(err, tc.wantErr):
				t.Fatalf("WriteTx = %v, want %v (any error: %v)", err, tc.wantErr, tc.anyErr)
			}
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM w WHERE id = $1`, tc.id).Scan(&n); err != nil {
				t.Fatalf("the connection is not usable afterwards: %v", err)
			}
			if want := map[bool]int{true: 1, false: 0}[err == nil]; n != want {
				t.Errorf("%d rows with id %d, want %d", n, tc.id, want)
			}
		})
	}
	var v string
	if err := pool.QueryRow(ctx, `SELECT v FROM w WHERE id = 1`).Scan(&v); err != nil || v != "then" {
		t.Errorf("row 1 = %q, %v; want the second stage's update", v, err)
	}

	t.Run("nested in a caller's transaction", func(t *testing.T) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if err := database.WriteTx(ctx, tx, insert(6), func(*pgx.Batch) error { return errThen }); !errors.Is(err, errThen) {
			t.Fatalf("WriteTx = %v", err)
		}
		if err := database.WriteTx(ctx, tx, insert(7), nil); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatalf("the caller's transaction survives a failed nested write: %v", err)
		}
		var ids []int
		rows, _ := pool.Query(ctx, `SELECT id FROM w WHERE id IN (6, 7) ORDER BY id`)
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil || len(ids) != 1 || ids[0] != 7 {
			t.Errorf("rows %v, %v; want only 7", ids, err)
		}
	})
}

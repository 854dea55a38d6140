package database_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"usersvc/internal/testkit/pgtest"
	"usersvc/platform/database"
)

func insertRow(id int) func(*pgx.Batch) {
	return func(b *pgx.Batch) { b.Queue(`INSERT INTO w VALUES ($1, 'v')`, id) }
}

func deferRows(tx *database.Tx, ids ...int) {
	b := &pgx.Batch{}
	for _, id := range ids {
		insertRow(id)(b)
	}
	tx.Defer(b)
}

// TestTx: a Tx commits what was sent and what was deferred, in the order
// queued; any failure leaves nothing; a savepoint (pgx.BeginFunc, WriteTx)
// rolls back only its own part; and the one connection always goes back to
// the pool. A Tx costs no round trip of its own.
func TestTx(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	if _, err := pgtest.Pool(t, url).Exec(ctx, `CREATE TABLE w (id int PRIMARY KEY, v text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	rec := pgtest.Record(t, url)
	// One connection: one not given back hangs the next case. Statements
	// run unprepared, so a round trip is never a statement's preparation.
	pool := &database.Pool{Pool: pgtest.Pool(t, rec.URL+sep+"pool_max_conns=1&default_query_exec_mode=exec")}
	errRefused := errors.New("refused")
	cases := []struct {
		name    string
		run     func(ctx context.Context, tx *database.Tx) error
		want    []int // the rows left
		wantErr bool
		trips   int // round trips, BeginWith's included
	}{
		{"sent and deferred statements commit, in order", func(ctx context.Context, tx *database.Tx) error {
			b := &pgx.Batch{}
			b.Queue(`UPDATE w SET v = 'updated' WHERE id = 2`)
			deferRows(tx, 2)
			tx.Defer(b)
			if err := tx.Commit(ctx); err != nil {
				return err
			}
			var v string
			if err := pool.QueryRow(ctx, `SELECT v FROM w WHERE id = 2`).Scan(&v); err != nil || v != "updated" {
				return errors.Join(err, errors.New("the update did not follow the insert"))
			}
			return nil
		}, []int{1, 2}, false, 3},
		{"a deferred statement's failure fails Commit and leaves nothing", func(ctx context.Context, tx *database.Tx) error {
			deferRows(tx, 2, 1)
			return tx.Commit(ctx)
		}, nil, true, 3},
		{"a statement sent meanwhile follows the deferred ones", func(ctx context.Context, tx *database.Tx) error {
			deferRows(tx, 2)
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM w WHERE id = 2`).Scan(&n); err != nil || n != 1 {
				return errors.Join(err, errors.New("the deferred insert was not sent first"))
			}
			return tx.Commit(ctx)
		}, []int{1, 2}, false, 4},
		{"WriteTx: then waits for COMMIT", func(ctx context.Context, tx *database.Tx) error {
			if err := database.WriteTx(ctx, tx, insertRow(2), func(b *pgx.Batch) error { insertRow(3)(b); return nil }); err != nil {
				return err
			}
			return tx.Commit(ctx)
		}, []int{1, 2, 3}, false, 3},
		{"WriteTx: a failed first stage leaves the Tx usable", func(ctx context.Context, tx *database.Tx) error {
			err := database.WriteTx(ctx, tx, insertRow(1), func(b *pgx.Batch) error { insertRow(3)(b); return nil })
			if err == nil {
				return errors.New("a duplicate was written")
			}
			if err := database.WriteTx(ctx, tx, insertRow(2), func(*pgx.Batch) error { return errRefused }); !errors.Is(err, errRefused) {
				return errors.Join(err, errors.New("then's refusal was lost"))
			}
			if _, err := tx.Exec(ctx, `INSERT INTO w VALUES (4, 'v')`); err != nil {
				return err
			}
			return tx.Commit(ctx)
		}, []int{1, 4}, false, 7},
		{"a savepoint rolled back drops what was deferred in it", func(ctx context.Context, tx *database.Tx) error {
			deferRows(tx, 2)
			err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
				if err := pgx.BeginFunc(ctx, sp, func(inner pgx.Tx) error {
					_, err := inner.Exec(ctx, `INSERT INTO w VALUES (3, 'v')`)
					return err
				}); err != nil {
					return err
				}
				if err := database.WriteTx(ctx, sp, insertRow(4), func(b *pgx.Batch) error { insertRow(5)(b); return nil }); err != nil {
					return err
				}
				return errRefused
			})
			if !errors.Is(err, errRefused) {
				return errors.Join(err, errors.New("the savepoint's error was lost"))
			}
			return tx.Commit(ctx)
		}, []int{1, 2}, false, 8},
		{"Rollback drops everything", func(ctx context.Context, tx *database.Tx) error {
			deferRows(tx, 2)
			if err := tx.Rollback(ctx); err != nil {
				return err
			}
			return errRefused
		}, nil, true, 2},
	}
	cases = append(cases, struct {
		name    string
		run     func(ctx context.Context, tx *database.Tx) error
		want    []int
		wantErr bool
		trips   int
	}{"deferred statements a send lost fail the commit, though their error was ignored", func(ctx context.Context, tx *database.Tx) error {
		deferRows(tx, 2)
		gone, cancel := context.WithCancel(ctx)
		cancel()
		_, _ = tx.Exec(gone, `SELECT 1`) // never sent: row 2 went nowhere
		return tx.Commit(ctx)
	}, nil, true, 2})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, err := pool.Exec(ctx, `TRUNCATE w`); err != nil {
				t.Fatal(err)
			}
			tx, err := database.BeginWith(ctx, pool, insertRow(1))
			if err != nil {
				t.Fatal(err)
			}
			rec.TakeRoundTrips()
			err = tc.run(ctx, tx)
			trips := rec.TakeRoundTrips() + 1
			_ = tx.Rollback(ctx) // after Commit, nothing
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tc.wantErr)
			}
			if got := rows(ctx, t, pool); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
			if trips != tc.trips {
				t.Errorf("%d round trips, want %d", trips, tc.trips)
			}
		})
	}
	// BeginDeferred's statements travel with the first write; in a Flat Tx
	// that write makes no savepoint, and when the deferred statements fail,
	// the write's own never run and the Tx commits nothing.
	t.Run("BeginDeferred and Flat", func(t *testing.T) {
		for _, fail := range []bool{false, true} {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, err := pool.Exec(ctx, `TRUNCATE w`); err != nil {
				t.Fatal(err)
			}
			first := insertRow(1)
			if fail {
				first = func(b *pgx.Batch) { b.Queue(`SELECT 1/0`) }
			}
			rec.TakeRoundTrips()
			rec.Take()
			tx, err := database.BeginDeferred(ctx, pool, first)
			if err != nil {
				t.Fatal(err)
			}
			tx.Flat()
			err = database.WriteTx(ctx, tx, insertRow(2), func(b *pgx.Batch) error { insertRow(3)(b); return nil })
			if (err != nil) != fail {
				t.Fatalf("fail=%v: write %v", fail, err)
			}
			if err := tx.Commit(ctx); (err != nil) != fail {
				t.Fatalf("fail=%v: commit %v", fail, err)
			}
			trips, stmts := rec.TakeRoundTrips(), rec.Take()
			want := []int{1, 2, 3}
			if fail {
				want = nil
			}
			if got := rows(ctx, t, pool); !slices.Equal(got, want) {
				t.Errorf("fail=%v: rows %v, want %v", fail, got, want)
			}
			if !fail && trips != 2 {
				t.Errorf("%d round trips, want 2 (the first write, then COMMIT)", trips)
			}
			for _, s := range stmts {
				if strings.Contains(s, "SAVEPOINT") {
					t.Errorf("a Flat Tx sent %q", s)
				}
			}
		}
	})
	t.Run("BeginWith's failure gives the connection back", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := database.BeginWith(ctx, pool, func(b *pgx.Batch) { b.Queue(`SELECT 1/0`) }); err == nil {
			t.Fatal("BeginWith ignored its statement's failure")
		}
		rows(ctx, t, pool) // fails when the connection was not given back
	})
}

func rows(ctx context.Context, t *testing.T, pool *database.Pool) []int {
	t.Helper()
	r, err := pool.Query(ctx, `SELECT id FROM w ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(r, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) == 0 {
		return nil
	}
	return ids
}

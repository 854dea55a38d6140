package database_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"usersvc/internal/testkit/pgtest"
	"usersvc/platform/database"
)

func TestPipelineGivesEachReadItsOwnRows(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewDatabase(t))
	p := database.NewPipeline(pool, 10*time.Second)
	p.Start()
	defer p.Close(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var got []int
			err := p.Query(context.Background(), "SELECT generate_series($1::int, $1::int + 2)", []any{i}, func(rows pgx.Rows) error {
				for rows.Next() {
					var n int
					if err := rows.Scan(&n); err != nil {
						return err
					}
					got = append(got, n)
				}
				return nil
			})
			if err != nil || len(got) != 3 || got[0] != i || got[2] != i+2 {
				t.Errorf("read %d got %v, %v", i, got, err)
			}
		}(i)
	}
	wg.Wait()
}

// TestPipelineIsolatesAFailingRead: a read that fails in a batch must not
// fail the reads batched after it.
func TestPipelineIsolatesAFailingRead(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewDatabase(t))
	p := database.NewPipeline(pool, 10*time.Second)
	p.Start()
	defer p.Close(context.Background())
	var wg sync.WaitGroup
	failures := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sql := "SELECT $1::int"
			if i%10 == 0 {
				sql = "SELECT 1 / ($1::int - $1::int)" // division by zero
			}
			var n int
			err := p.Query(context.Background(), sql, []any{i}, func(rows pgx.Rows) error {
				for rows.Next() {
					if err := rows.Scan(&n); err != nil {
						return err
					}
				}
				return nil
			})
			var pgErr *pgconn.PgError
			switch {
			case i%10 == 0 && !(errors.As(err, &pgErr) && pgErr.Code == "22012"):
				failures <- err
			case i%10 != 0 && (err != nil || n != i):
				failures <- err
			}
		}(i)
	}
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Errorf("wrong outcome: %v", err)
	}
}

func TestPipelineCallerGivesUpWithItsContext(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewDatabase(t))
	p := database.NewPipeline(pool, 10*time.Second)
	p.Start()
	defer p.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.Query(ctx, "SELECT pg_sleep(1)", nil, func(pgx.Rows) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the caller's deadline, got %v", err)
	}
}

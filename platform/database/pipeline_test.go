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

// TestPipelineLifecycle: reads before Start and after Close are refused at
// once as unavailable (never left waiting), and Close cancels a batch still
// running when its own deadline ends.
func TestPipelineLifecycle(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewDatabase(t))
	p := database.NewPipeline(pool, 10*time.Second)
	noop := func(pgx.Rows) error { return nil }
	if err := p.Query(context.Background(), "SELECT 1", nil, noop); !errors.Is(err, database.ErrPipelineClosed) || !database.IsUnavailable(err) {
		t.Fatalf("before Start: %v, want ErrPipelineClosed (unavailable)", err)
	}
	p.Start()
	slow := make(chan error, 1)
	go func() { slow <- p.Query(context.Background(), "SELECT pg_sleep(30)", nil, noop) }()
	waitForActiveQuery(t, pool, "pg_sleep(30)")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	p.Close(ctx)
	if err := <-slow; err == nil {
		t.Fatal("the read in flight finished after a stop that ran out of time")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %s with a 100 ms deadline", d)
	}
	if err := p.Query(context.Background(), "SELECT 1", nil, noop); !errors.Is(err, database.ErrPipelineClosed) {
		t.Fatalf("after Close: %v, want ErrPipelineClosed", err)
	}
}

// TestPipelineReadOutlivesItsCaller: a caller that leaves does not cancel the
// read it may share a batch with (its deadline is kept, its cancellation is not).
func TestPipelineReadOutlivesItsCaller(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewDatabase(t))
	p := database.NewPipeline(pool, 10*time.Second)
	p.Start()
	defer p.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	scanned := make(chan bool, 1)
	leaving := make(chan error, 1)
	go func() {
		leaving <- p.Query(ctx, "SELECT pg_sleep(0.3)", nil, func(rows pgx.Rows) error {
			got := rows.Next()
			scanned <- got
			return nil
		})
	}()
	waitForActiveQuery(t, pool, "pg_sleep(0.3)")
	cancel()
	if err := <-leaving; !errors.Is(err, context.Canceled) {
		t.Fatalf("the leaving caller got %v, want its own cancellation", err)
	}
	select {
	case got := <-scanned:
		if !got {
			t.Fatal("the read was cancelled with its caller: no row came back")
		}
	case <-time.After(liveness):
		t.Fatal("the read never finished")
	}
}

// liveness bounds a wait for something that must happen, not how fast: a
// CI machine running every package under -race can stall a query for seconds.
const liveness = 30 * time.Second

func waitForActiveQuery(t *testing.T, pool interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, fragment string) {
	t.Helper()
	for deadline := time.Now().Add(liveness); ; time.Sleep(5 * time.Millisecond) {
		var n int
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND query NOT LIKE '%pg_stat_activity%'", fragment).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became active", fragment)
		}
	}
}

package database_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"usersvc/internal/testkit/pgtest"
	"usersvc/platform/database"
)

// startWrites builds a started write pipeline over a fresh database with a
// table t (k text, n int, unique (k, n)) and a counter table c (k, v).
func startWrites(t *testing.T) (*pgxpool.Pool, *database.WritePipeline) {
	t.Helper()
	pool := pgtest.Pool(t, pgtest.NewDatabase(t))
	if _, err := pool.Exec(context.Background(), `CREATE TABLE t (k text, n int, tx bigint, UNIQUE (k, n));
CREATE TABLE c (k text PRIMARY KEY, v int NOT NULL DEFAULT 0)`); err != nil {
		t.Fatal(err)
	}
	w := database.NewWritePipeline(pool, 10*time.Second)
	w.Start()
	t.Cleanup(func() { w.Close(context.Background()) })
	return pool, w
}

const insertT = `INSERT INTO t (k, n, tx) VALUES ($1, $2, txid_current()) RETURNING tx`

// write runs insertT and returns the id of the transaction that made the row.
func write(w *database.WritePipeline, key string, n int) (int64, error) {
	var tx int64
	err := w.Write(context.Background(), key, insertT, []any{key, n}, func(rows pgx.Rows) error {
		for rows.Next() {
			if err := rows.Scan(&tx); err != nil {
				return err
			}
		}
		return nil
	})
	return tx, err
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWritePipelineRefusalIsOnlyItsOwn: concurrent writes, one in ten of
// them refused (a duplicate): every other write is answered nil and its row
// is there; each refused one gets its own error and left nothing; no row
// is answered nil that a rolled-back batch took with it.
func TestWritePipelineRefusalIsOnlyItsOwn(t *testing.T) {
	pool, w := startWrites(t)
	if _, err := pool.Exec(context.Background(), `INSERT INTO t (k, n) SELECT 'dup' || i, 0 FROM generate_series(0, 199, 10) i`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	failures := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			key := fmt.Sprintf("k%d", i)
			if i%10 == 0 {
				key = fmt.Sprintf("dup%d", i)
			}
			_, err := write(w, key, 0)
			var pgErr *pgconn.PgError
			switch {
			case i%10 == 0 && !(errors.As(err, &pgErr) && pgErr.Code == "23505"):
				failures <- fmt.Errorf("write %d: got %v, want its own unique violation", i, err)
			case i%10 != 0 && err != nil:
				failures <- fmt.Errorf("write %d: %w", i, err)
			}
		}(i)
	}
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM t WHERE k LIKE 'k%'`); n != 180 {
		t.Fatalf("%d rows committed, want the 180 answered nil", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM t WHERE k LIKE 'dup%'`); n != 20 {
		t.Fatalf("%d duplicate rows, want the 20 seeded only", n)
	}
}

// TestWritePipelineCommitsTogether: writes queued while every lane is busy
// share transactions (one commit for many), yet writes of one key never do.
func TestWritePipelineCommitsTogether(t *testing.T) {
	pool, w := startWrites(t)
	ctx := context.Background()
	// Hold the lanes: every write first waits for the test's advisory lock.
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock(7)`); err != nil {
		t.Fatal(err)
	}
	const blocked = `INSERT INTO t (k, n, tx) SELECT $1, $2, txid_current() FROM pg_advisory_xact_lock_shared(7) RETURNING tx`
	const writes = 60 // 40 keys, of which 20 written twice
	txs := make([]int64, writes)
	errs := make([]error, writes)
	var wg sync.WaitGroup
	for i := 0; i < writes; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			key := fmt.Sprintf("k%d", i%40)
			errs[i] = w.Write(ctx, key, blocked, []any{key, i}, func(rows pgx.Rows) error {
				for rows.Next() {
					if err := rows.Scan(&txs[i]); err != nil {
						return err
					}
				}
				return nil
			})
		}(i)
	}
	// Every write is either queued or in a batch that waits for the lock.
	for deadline := time.Now().Add(liveness); ; time.Sleep(5 * time.Millisecond) {
		s := w.Stats()
		if int(s.Statements)+s.Queued == writes {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the writes never all reached the pipeline: %+v", s)
		}
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_unlock(7)`); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	byTx := map[int64][]string{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		key := fmt.Sprintf("k%d", i%40)
		for _, other := range byTx[txs[i]] {
			if other == key {
				t.Fatalf("two writes of %s shared transaction %d", key, txs[i])
			}
		}
		byTx[txs[i]] = append(byTx[txs[i]], key)
	}
	if len(byTx) > writes/4 {
		t.Fatalf("%d writes took %d transactions: queued writes were not committed together", writes, len(byTx))
	}
	if n := count(t, pool, `SELECT count(*) FROM t`); n != writes {
		t.Fatalf("%d rows, want %d", n, writes)
	}
}

// TestWritePipelineBatchesDoNotDeadlock: batches take their keys' row locks
// in key order, so concurrent batches updating overlapping keys never
// deadlock (PostgreSQL would refuse one, and its writes would run again).
func TestWritePipelineBatchesDoNotDeadlock(t *testing.T) {
	pool, w := startWrites(t)
	ctx := context.Background()
	const keys, writes = 8, 400
	if _, err := pool.Exec(ctx, `INSERT INTO c (k) SELECT 'k' || i FROM generate_series(0, 7) i`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	failures := make(chan error, writes)
	for i := 0; i < writes; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Hold the row a moment, so batches overlap while holding it.
			err := w.Write(ctx, fmt.Sprintf("k%d", (i*5)%keys),
				`UPDATE c SET v = v + 1 FROM pg_sleep(0.001) WHERE k = $1`, []any{fmt.Sprintf("k%d", (i*5)%keys)},
				func(pgx.Rows) error { return nil })
			if err != nil {
				failures <- err
			}
		}(i)
	}
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	if n := count(t, pool, `SELECT sum(v)::int FROM c`); n != writes {
		t.Fatalf("counters sum to %d, want %d", n, writes)
	}
	if s := w.Stats(); s.Reruns != 0 {
		t.Fatalf("%d writes ran again alone: a batch was refused (deadlock?)", s.Reruns)
	}
}

// TestWritePipelineLifecycle: a write before Start or after Close is
// refused at once, as unavailable.
func TestWritePipelineLifecycle(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewDatabase(t))
	w := database.NewWritePipeline(pool, 10*time.Second)
	noop := func(pgx.Rows) error { return nil }
	if err := w.Write(context.Background(), "k", "SELECT 1", nil, noop); !errors.Is(err, database.ErrPipelineClosed) || !database.IsUnavailable(err) {
		t.Fatalf("before Start: %v, want ErrPipelineClosed (unavailable)", err)
	}
	w.Start()
	if err := w.Write(context.Background(), "k", "SELECT 1", nil, noop); err != nil {
		t.Fatal(err)
	}
	w.Close(context.Background())
	if err := w.Write(context.Background(), "k", "SELECT 1", nil, noop); !errors.Is(err, database.ErrPipelineClosed) {
		t.Fatalf("after Close: %v, want ErrPipelineClosed", err)
	}
}

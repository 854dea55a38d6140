package database_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"usersvc/internal/testkit/pgtest"
	"usersvc/platform/config"
	"usersvc/platform/database"
)

// These tests watch the pool from PostgreSQL's side (pg_stat_activity), as an
// operator would: which backends the app holds, not what pgxpool reports.

const keptSize, overflow = 5, 3

func poolSettings(t *testing.T) config.Config {
	t.Helper()
	return config.Config{DatabaseURL: pgtest.NewDatabase(t), DatabasePoolSize: keptSize, DatabaseMaxOverflow: overflow,
		DatabasePoolTimeout: 5 * time.Second, DatabasePoolRecycle: time.Hour}
}

// backends lists the pids of the app's connections to the database of dbURL.
func backends(t *testing.T, observer *pgxpool.Pool, dbURL string) []int32 {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := observer.Query(context.Background(),
		"SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'usersvc' ORDER BY pid", strings.TrimPrefix(u.Path, "/"))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int32
	for rows.Next() {
		var pid int32
		if err := rows.Scan(&pid); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return pids
}

// waitBackends polls until done accepts the app's backends, or fails after 15 s.
func waitBackends(t *testing.T, observer *pgxpool.Pool, dbURL, want string, done func(pids []int32) bool) []int32 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		pids := backends(t, observer, dbURL)
		if done(pids) {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %s; the app holds %d backends", want, len(pids))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPoolOpensItsKeptConnectionsAtStart: a started pool holds
// DATABASE_POOL_SIZE backends before any query, so the first burst of
// requests does not pay for forking them.
func TestPoolOpensItsKeptConnectionsAtStart(t *testing.T) {
	cfg := poolSettings(t)
	observer := pgtest.Pool(t, pgtest.AdminURL(t))
	lc := fxtest.NewLifecycle(t)
	if _, err := database.NewPool(lc, cfg, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	lc.RequireStart()
	t.Cleanup(lc.RequireStop)
	waitBackends(t, observer, cfg.DatabaseURL, "DATABASE_POOL_SIZE backends without a query", func(pids []int32) bool {
		return len(pids) == keptSize
	})
}

// TestIdleOverflowClosesDownToTheKeptSize: after a burst that used the whole
// pool and a quiet spell past the idle timeout, the overflow connections are
// closed and the kept ones stay, the same backends, however long it stays
// quiet. The idle timeout and health-check period are shortened here only.
func TestIdleOverflowClosesDownToTheKeptSize(t *testing.T) {
	cfg := poolSettings(t)
	observer := pgtest.Pool(t, pgtest.AdminURL(t))
	pc, err := database.PoolConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pc.MaxConnIdleTime, pc.HealthCheckPeriod = 200*time.Millisecond, 50*time.Millisecond
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	burst(t, pool, keptSize+overflow, func() {
		if n := len(backends(t, observer, cfg.DatabaseURL)); n != keptSize+overflow {
			t.Fatalf("the burst holds %d backends, want %d", n, keptSize+overflow)
		}
	})
	kept := waitBackends(t, observer, cfg.DatabaseURL, "the overflow closed", func(pids []int32) bool { return len(pids) <= keptSize })
	if len(kept) != keptSize {
		t.Fatalf("after the quiet spell the app holds %d backends, want DATABASE_POOL_SIZE = %d", len(kept), keptSize)
	}

	time.Sleep(10 * pc.MaxConnIdleTime) // the quiet spell itself: some 40 health checks, each free to close them
	if now := backends(t, observer, cfg.DatabaseURL); !slices.Equal(now, kept) {
		t.Fatalf("after %s more of quiet the app holds backends %v, want the kept %v", 10*pc.MaxConnIdleTime, now, kept)
	}
}

// burst holds n connections at once, each having run a query, calls held,
// then returns them.
func burst(t *testing.T, pool *pgxpool.Pool, n int, held func()) {
	t.Helper()
	conns := make([]*pgxpool.Conn, 0, n)
	defer func() { // also on a failure: the pool's Close waits for every connection
		for _, c := range conns {
			c.Release()
		}
	}()
	for range n {
		c, err := pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := c.Exec(context.Background(), "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	held()
}

package database_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"usersvc/internal/testkit/faultproxy"
	"usersvc/internal/testkit/pgtest"
	"usersvc/platform/config"
	"usersvc/platform/database"
	"usersvc/platform/errs"
)

// These tests put a fault proxy between the production pool configuration
// and the test database (the shared server itself is never touched).

func proxiedPool(t *testing.T) (*pgxpool.Pool, *faultproxy.Proxy) {
	t.Helper()
	proxy, url := faultproxy.Front(t, pgtest.NewDatabase(t))
	pc, err := database.PoolConfig(config.Config{DatabaseURL: url, DatabasePoolSize: 4, DatabaseMaxOverflow: 4, DatabasePoolRecycle: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, proxy
}

// query runs one statement under a deadline and returns its classified error
// and how long it took.
func query(pool *pgxpool.Pool, deadline time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	_, err := pool.Exec(ctx, "SELECT 1")
	return time.Since(start), database.Classify(err)
}

// warm opens n connections at once, so that a fault finds them open.
func warm(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	conns := make([]*pgxpool.Conn, 0, n)
	for range n {
		c, err := pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
}

// TestStuckDatabaseFailsAsUnavailableWithinTheDeadline: a database that
// answers late or never, on open and on new connections, costs a caller its
// deadline and no more, as an Unavailable error (503 with Retry-After).
func TestStuckDatabaseFailsAsUnavailableWithinTheDeadline(t *testing.T) {
	t.Parallel()
	const deadline = 500 * time.Millisecond
	for _, tc := range []struct {
		name  string
		fault func(*faultproxy.Proxy)
	}{
		{"slow", func(p *faultproxy.Proxy) { p.Latency(3 * time.Second) }},
		{"blackholed", (*faultproxy.Proxy).Blackhole},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool, proxy := proxiedPool(t)
			warm(t, pool, 2)
			tc.fault(proxy)
			// More queries than open connections: new connections meet the fault too.
			for i := range 4 {
				took, err := query(pool, deadline)
				if !errs.Is(err, errs.Unavailable) {
					t.Fatalf("query %d during the fault: %v, want unavailable", i, err)
				}
				if took > deadline+time.Second {
					t.Fatalf("query %d took %s, deadline %s", i, took, deadline)
				}
			}
			proxy.Heal()
			healed := time.Now()
			for {
				sent := time.Now()
				_, err := query(pool, deadline)
				if err == nil {
					break
				}
				if sent.Sub(healed) > time.Second {
					t.Fatalf("a query sent %s after the fault cleared failed: %v", sent.Sub(healed), err)
				}
			}
		})
	}
}

// TestResetConnectionsAreReplaced: after every open connection is reset, a
// caller meets at most one failure per dead connection, each Unavailable,
// and the pool then serves from new connections.
func TestResetConnectionsAreReplaced(t *testing.T) {
	t.Parallel()
	pool, proxy := proxiedPool(t)
	warm(t, pool, 4)
	open := proxy.Open() // the pool may hold more than it was asked to open
	proxy.ResetOpen()
	failures := 0
	for i := range 30 {
		_, err := query(pool, 2*time.Second)
		if err == nil {
			continue
		}
		if !errs.Is(err, errs.Unavailable) {
			t.Fatalf("query %d after the reset: %v, want unavailable", i, err)
		}
		failures++
	}
	if failures > open {
		t.Fatalf("%d failures after resetting %d connections", failures, open)
	}
	if _, err := query(pool, 2*time.Second); err != nil {
		t.Fatalf("pool did not recover: %v", err)
	}
	t.Logf("%d failed queries after resetting %d open connections", failures, open)
}

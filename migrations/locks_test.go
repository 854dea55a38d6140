package migrations_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"usersvc/migrations"
)

// The auth-service keeps logging users in while the conversion runs: a
// reader of users in a loop and writers updating users in transactions are
// never kept waiting longer than the lock timeout (plus scheduling noise),
// even though dropping the legacy foreign keys needs an exclusive lock on
// users. The first writer transaction is held open until the conversion has
// had to give way to it, so the test always exercises the retry.
func TestConversionKeepsTheUsersTableAvailable(t *testing.T) {
	const lockTimeout = 300 * time.Millisecond
	const noise = 300 * time.Millisecond // a loaded 2-core machine under -race
	url := legacyDatabase(t, "legacy_clean.sql")
	reader, writer := connect(t, url), connect(t, url)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	tx, err := writer.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE users SET username = username WHERE id = 3"); err != nil {
		t.Fatal(err)
	}
	gaveWay := make(chan struct{})
	diag := &watchWriter{on: "was not granted", do: func() { close(gaveWay) }}

	var readMax, writeMax atomic.Int64
	var reads, writes atomic.Int64
	record := func(max *atomic.Int64, d time.Duration) {
		for {
			old := max.Load()
			if int64(d) <= old || max.CompareAndSwap(old, int64(d)) {
				return
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // logins: SELECT … FROM users in a loop
		defer wg.Done()
		var email *string
		for i := 0; ctx.Err() == nil; i++ {
			start := time.Now()
			err := reader.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", 3*(i%300+1)+(i%300+1)%2).Scan(&email)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				t.Errorf("read: %v", err)
				return
			}
			record(&readMax, time.Since(start))
			reads.Add(1)
		}
	}()
	go func() { // profile updates: UPDATE users SET … in transactions that stay open a while
		defer wg.Done()
		select {
		case <-gaveWay:
		case <-ctx.Done():
		}
		if err := tx.Commit(context.Background()); err != nil {
			t.Errorf("commit: %v", err)
			return
		}
		for i := 0; ctx.Err() == nil; i++ {
			tx, err := writer.Begin(context.Background())
			if err != nil {
				t.Errorf("begin: %v", err)
				return
			}
			start := time.Now()
			_, err = tx.Exec(context.Background(), "UPDATE users SET username = username WHERE id = $1", 3*(i%300+1)+(i%300+1)%2)
			record(&writeMax, time.Since(start))
			writes.Add(1)
			if err != nil {
				t.Errorf("update: %v", err)
				_ = tx.Rollback(context.Background())
				return
			}
			time.Sleep(150 * time.Millisecond)
			if err := tx.Commit(context.Background()); err != nil {
				t.Errorf("commit: %v", err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	runCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	_, err = runWith(runCtx, t, url, "up", diag, migrations.WithLockTimeout(lockTimeout), migrations.WithLockAttempts(50))
	took := time.Since(start)
	stop()
	wg.Wait()
	if err != nil {
		t.Fatalf("up: %v\n%s", err, diag.String())
	}
	t.Logf("conversion took %s; %d reads (slowest %s), %d updates (slowest %s)\n%s", took.Round(time.Millisecond),
		reads.Load(), time.Duration(readMax.Load()).Round(time.Millisecond),
		writes.Load(), time.Duration(writeMax.Load()).Round(time.Millisecond), diag.String())
	if !strings.Contains(diag.String(), "was not granted") {
		t.Fatal("the conversion never had to wait for the auth-service's transaction; the test proves nothing")
	}
	if reads.Load() == 0 {
		t.Fatal("no read completed during the conversion")
	}
	if d := time.Duration(readMax.Load()); d > lockTimeout+noise {
		t.Errorf("a read of users waited %s; the lock timeout is %s", d, lockTimeout)
	}
	if d := time.Duration(writeMax.Load()); d > lockTimeout+noise {
		t.Errorf("an update of users waited %s; the lock timeout is %s", d, lockTimeout)
	}
}

package coalesce

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestNeverStale: every caller gets a value read after it arrived. The
// "database" is a counter bumped by writers; a reader arriving after a write
// must see at least that write.
func TestNeverStale(t *testing.T) {
	var g Group[string, int64]
	var version atomic.Int64
	var reads atomic.Int64
	read := func(context.Context) (int64, error) {
		reads.Add(1)
		v := version.Load()
		time.Sleep(200 * time.Microsecond) // a round trip
		return v, nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				seen := version.Add(1) // a write committed before this request
				got, err := g.Do(context.Background(), "k", read)
				if err != nil || got < seen {
					t.Errorf("stale read: got version %d, wrote %d before asking (%v)", got, seen, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := reads.Load(); n >= 64*200 {
		t.Fatalf("nothing was coalesced: %d reads for %d requests", n, 64*200)
	}
	if len(g.entries) != 0 {
		t.Fatalf("entries left behind: %d", len(g.entries))
	}
}

func TestKeysAreIndependentAndErrorsShared(t *testing.T) {
	var g Group[int, string]
	boom := errors.New("boom")
	v, err := g.Do(context.Background(), 1, func(context.Context) (string, error) { return "one", nil })
	if v != "one" || err != nil {
		t.Fatal(v, err)
	}
	_, err = g.Do(context.Background(), 2, func(context.Context) (string, error) { return "", boom })
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
}

func TestWaiterHonoursItsContext(t *testing.T) {
	var g Group[string, int]
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		_, _ = g.Do(context.Background(), "k", func(context.Context) (int, error) {
			close(started)
			<-release
			return 1, nil
		})
	}()
	<-started
	// The second caller becomes the waiting read and runs after the first.
	go func() { _, _ = g.Do(context.Background(), "k", func(context.Context) (int, error) { return 2, nil }) }()
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.Do(ctx, "k", func(context.Context) (int, error) { return 3, nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a joiner must give up with its context: %v", err)
	}
	close(release)
}

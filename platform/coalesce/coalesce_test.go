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

func TestKeysAreIndependent(t *testing.T) {
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

// blockKey makes "k" busy with a running read until release is closed, so the
// next callers queue behind it and share one waiting read.
func blockKey(g *Group[string, int], release <-chan struct{}) {
	started := make(chan struct{})
	go func() {
		_, _ = g.Do(context.Background(), "k", func(context.Context) (int, error) {
			close(started)
			<-release
			return 0, nil
		})
	}()
	<-started
}

// waiting reports whether a read waits behind the running one for "k".
func waiting(g *Group[string, int]) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.entries["k"]
	return e != nil && e.waiting != nil
}

// TestErrorsAreShared: callers sharing a read all get its error, and the
// read ran once.
func TestErrorsAreShared(t *testing.T) {
	var g Group[string, int]
	release := make(chan struct{})
	blockKey(&g, release)
	boom := errors.New("boom")
	var runs atomic.Int32
	read := func(context.Context) (int, error) { runs.Add(1); return 0, boom }
	errs := make(chan error, 2)
	go func() { _, err := g.Do(context.Background(), "k", read); errs <- err }()
	for !waiting(&g) {
		time.Sleep(time.Millisecond) // polling a condition, not hoping for a race
	}
	go func() { _, err := g.Do(context.Background(), "k", read); errs <- err }()
	// The second caller joins the waiting read; only then may it start.
	for g.Joined("k") < 1 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	for i := 0; i < 2; i++ {
		if err := <-errs; !errors.Is(err, boom) {
			t.Fatalf("caller %d got %v, want the shared error", i, err)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("the read ran %d times, want once", n)
	}
}

// TestDoSharedCountsTheJoiners: a read tells its runner how many other
// callers receive its result: none for a read that started at once, one
// for the waiting read a second caller joined.
func TestDoSharedCountsTheJoiners(t *testing.T) {
	var g Group[string, int]
	release := make(chan struct{})
	blockKey(&g, release)
	seen := make(chan int, 2)
	read := func(_ context.Context, joiners int) (int, error) { seen <- joiners; return joiners, nil }
	done := make(chan struct{}, 2)
	go func() { _, _ = g.DoShared(context.Background(), "k", read); done <- struct{}{} }()
	for !waiting(&g) {
		time.Sleep(time.Millisecond) // polling a condition, not hoping for a race
	}
	go func() { _, _ = g.DoShared(context.Background(), "k", read); done <- struct{}{} }()
	for g.Joined("k") < 1 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	<-done
	<-done
	if n := <-seen; n != 1 {
		t.Fatalf("the waiting read was told %d joiners, want 1", n)
	}
	if _, err := g.DoShared(context.Background(), "k", read); err != nil || <-seen != 0 {
		t.Fatalf("a read that ran at once was told of joiners (err %v)", err)
	}
}

// TestReadIgnoresTheRunnersDeadline: the caller that runs a shared read may
// have a short deadline; the read itself must not inherit it, or every
// joiner would fail with an error that is not theirs.
func TestReadIgnoresTheRunnersDeadline(t *testing.T) {
	g := Group[string, int]{Timeout: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the runner's context is already over
	v, err := g.Do(ctx, "k", func(ctx context.Context) (int, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		d, ok := ctx.Deadline()
		if !ok || time.Until(d) < 30*time.Second {
			return 0, errors.New("the read has no deadline of its own")
		}
		return 7, nil
	})
	if v != 7 || err != nil {
		t.Fatalf("got %d, %v; want 7 from a read detached from its runner", v, err)
	}
}

func TestWaiterHonoursItsContext(t *testing.T) {
	var g Group[string, int]
	release := make(chan struct{})
	blockKey(&g, release)
	// The second caller becomes the waiting read and runs after the first.
	go func() { _, _ = g.Do(context.Background(), "k", func(context.Context) (int, error) { return 2, nil }) }()
	for !waiting(&g) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.Do(ctx, "k", func(context.Context) (int, error) { return 3, nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a joiner must give up with its context: %v", err)
	}
	close(release)
}

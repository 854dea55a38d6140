// Package coalesce collapses identical concurrent reads into one, without
// ever serving a stale answer: a caller only shares a read that starts after
// it arrived, so it sees every write committed before its request.
//
// Per key at most one read runs and one waits. A caller arriving while a
// read runs joins the waiting one (or becomes it); when the running read
// ends, the waiting one starts. Under load, a hot key costs at most one
// database round trip per round-trip time instead of one per request.
package coalesce

import (
	"context"
	"sync"
	"time"
)

// Group coalesces reads by key.
type Group[K comparable, V any] struct {
	// Timeout bounds each read. A read is shared, so it runs detached from
	// the caller that happens to run it (context.WithoutCancel): no caller's
	// cancellation or deadline decides for the others; each waits on its own.
	Timeout time.Duration

	mu      sync.Mutex
	entries map[K]*entry[V]
}

type entry[V any] struct {
	running *call[V]
	waiting *call[V]
}

type call[V any] struct {
	start chan struct{} // closed when a waiting call may run (nil for a call that ran at once)
	done  chan struct{} // closed when v and err are set
	// joiners counts the callers sharing this call besides its runner.
	joiners int
	v       V
	err     error
}

// Do returns fn's result for key, from a read that started after Do was called.
// fn is run by one of the callers sharing it, with that caller's context
// values but neither its cancellation nor its deadline (see Timeout).
func (g *Group[K, V]) Do(ctx context.Context, key K, fn func(context.Context) (V, error)) (V, error) {
	return g.DoShared(ctx, key, func(ctx context.Context, _ int) (V, error) { return fn(ctx) })
}

// DoShared is Do, telling fn how many other callers will receive its
// result: with none, the runner need not keep a copy of what it answers.
func (g *Group[K, V]) DoShared(ctx context.Context, key K, fn func(ctx context.Context, joiners int) (V, error)) (V, error) {
	g.mu.Lock()
	if g.entries == nil {
		g.entries = make(map[K]*entry[V])
	}
	e := g.entries[key]
	if e == nil {
		e = &entry[V]{}
		g.entries[key] = e
	}
	if w := e.waiting; w != nil { // a read that has not started yet: share it
		w.joiners++
		g.mu.Unlock()
		return wait(ctx, w)
	}
	c := &call[V]{done: make(chan struct{})}
	if e.running == nil {
		e.running = c
	} else {
		c.start = make(chan struct{}) // only a waiting call needs a turn
		e.waiting = c
	}
	g.mu.Unlock()

	if c.start != nil {
		<-c.start // our turn: the previous read ended (it does not wait on us, so no cancellation here)
	}
	// Joiners only join a waiting call: now that it runs, their count is final.
	c.v, c.err = g.run(ctx, c.joiners, fn)
	close(c.done)
	g.finish(key, e, c)
	return c.v, c.err
}

func (g *Group[K, V]) run(ctx context.Context, joiners int, fn func(context.Context, int) (V, error)) (V, error) {
	ctx = context.WithoutCancel(ctx)
	if g.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.Timeout)
		defer cancel()
	}
	return fn(ctx, joiners)
}

// finish hands the key to the waiting read, if any.
func (g *Group[K, V]) finish(key K, e *entry[V], c *call[V]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e.running != c {
		return
	}
	e.running = e.waiting
	e.waiting = nil
	if e.running == nil {
		delete(g.entries, key)
		return
	}
	close(e.running.start)
}

// Joined is how many callers share the read waiting for key (besides the
// one that will run it): an observation for tests and metrics.
func (g *Group[K, V]) Joined(key K) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.entries[key]; e != nil && e.waiting != nil {
		return e.waiting.joiners
	}
	return 0
}

func wait[V any](ctx context.Context, c *call[V]) (V, error) {
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

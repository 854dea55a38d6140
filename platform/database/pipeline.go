package database

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pipeline sends concurrent, independent reads to PostgreSQL together: each
// of a few lanes takes every read queued while its previous batch was on the
// wire and sends them as one pipelined batch (one write, one sync). At low
// load a batch holds one read and nothing waits; under load the syscalls and
// wake-ups of a round trip are shared by the whole batch.
//
// A read is detached from its caller's cancellation (a batch is shared, and
// one caller leaving must not fail the others) but keeps its deadline: a
// batch runs until the latest deadline of its reads, never longer than the
// pool timeout, and the lanes stop with the fx lifecycle.
type Pipeline struct {
	pool     *pgxpool.Pool
	maxBatch int
	timeout  time.Duration

	mu      sync.Mutex
	queue   []*read
	running bool
	closed  bool
	work    chan struct{}
	stop    chan struct{}
	halt    context.CancelFunc // ends the batches in flight when a stop runs out of time
	base    context.Context
	wg      sync.WaitGroup
}

type read struct {
	ctx  context.Context // the caller's values and deadline, without its cancellation
	sql  string
	args []any
	scan func(pgx.Rows) error
	done chan error
}

// ErrPipelineClosed answers reads queued when the pipeline is not running.
var ErrPipelineClosed = errors.New("database read pipeline closed")

// Pipeline shape: fewer lanes make bigger batches; two keep both cores busy
// (measured with scripts/bench-goals.sh in spread mode: 1, 2, 4, 8 lanes).
const (
	pipelineLanes    = 2
	pipelineMaxBatch = 32
)

// NewPipeline builds a pipeline over pool; timeout bounds a read without a
// deadline of its own. Start runs the lanes, Close stops them.
func NewPipeline(pool *pgxpool.Pool, timeout time.Duration) *Pipeline {
	base, halt := context.WithCancel(context.Background())
	return &Pipeline{pool: pool, maxBatch: pipelineMaxBatch, timeout: timeout,
		work: make(chan struct{}, pipelineLanes), stop: make(chan struct{}), base: base, halt: halt}
}

// Start runs the lanes.
func (p *Pipeline) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running || p.closed {
		return
	}
	p.running = true
	for i := 0; i < pipelineLanes; i++ {
		p.wg.Add(1)
		go p.lane()
	}
}

// Close refuses new reads, lets the batches in flight finish until ctx ends
// (then cancels them), and answers the reads still queued with ErrPipelineClosed.
func (p *Pipeline) Close(ctx context.Context) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	finished := make(chan struct{})
	go func() { p.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		p.halt()
		<-finished
	}
	p.halt()
	p.failQueued(ErrPipelineClosed)
}

// Query runs sql with args in the next batch and hands its rows to scan
// (on a lane's goroutine; scan must only fill the caller's variables).
// The caller waits until its own context ends; the read itself runs on
// context.WithoutCancel(ctx) with ctx's deadline, or the pool timeout.
func (p *Pipeline) Query(ctx context.Context, sql string, args []any, scan func(pgx.Rows) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &read{ctx: context.WithoutCancel(ctx), sql: sql, args: args, scan: scan, done: make(chan error, 1)}
	p.mu.Lock()
	if !p.running || p.closed {
		p.mu.Unlock()
		return ErrPipelineClosed
	}
	p.queue = append(p.queue, r)
	p.mu.Unlock()
	select {
	case p.work <- struct{}{}:
	default: // every lane already has a wake-up pending; one will take this read
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// deadline is when a read gives up: its caller's deadline, else the pool timeout.
func (p *Pipeline) deadline(r *read, now time.Time) time.Time {
	if d, ok := r.ctx.Deadline(); ok {
		return d
	}
	return now.Add(p.timeout)
}

func (p *Pipeline) lane() {
	defer p.wg.Done()
	for {
		select {
		case <-p.stop:
			return
		case <-p.work:
		}
		for batch := p.take(); len(batch) > 0; batch = p.take() {
			p.send(batch)
		}
	}
}

func (p *Pipeline) take() []*read {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := min(len(p.queue), p.maxBatch)
	batch := make([]*read, n)
	copy(batch, p.queue[:n])
	p.queue = p.queue[n:]
	if len(p.queue) == 0 {
		p.queue = nil // let the backing array go
	}
	return batch
}

func (p *Pipeline) failQueued(err error) {
	for _, r := range p.take() {
		r.done <- err
	}
}

// send runs one batch. The batch shares one implicit transaction, so a read
// that fails aborts the ones after it; those run again on their own.
func (p *Pipeline) send(batch []*read) {
	now := time.Now()
	latest := p.deadline(batch[0], now)
	for _, r := range batch[1:] {
		if d := p.deadline(r, now); d.After(latest) {
			latest = d
		}
	}
	if limit := now.Add(p.timeout); latest.After(limit) {
		latest = limit
	}
	ctx, cancel := context.WithDeadline(p.base, latest)
	defer cancel()
	if len(batch) == 1 {
		batch[0].done <- p.alone(ctx, batch[0])
		return
	}
	b := &pgx.Batch{}
	for _, r := range batch {
		b.Queue(r.sql, r.args...)
	}
	results := p.pool.SendBatch(ctx, b)
	failed := -1
	for i, r := range batch {
		rows, err := results.Query()
		if err == nil {
			err = r.scan(rows)
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
		if err != nil {
			failed = i
			r.done <- err
			break
		}
		r.done <- nil
	}
	_ = results.Close()
	if failed < 0 {
		return
	}
	// PostgreSQL skipped every read after the failed one, up to the batch's sync.
	for _, r := range batch[failed+1:] {
		r.done <- p.alone(ctx, r)
	}
}

func (p *Pipeline) alone(ctx context.Context, r *read) error {
	rows, err := p.pool.Query(ctx, r.sql, r.args...)
	if err != nil {
		return err
	}
	err = r.scan(rows)
	rows.Close() // before Err: a cancelled or failed query reports only then
	if err != nil {
		return err
	}
	return rows.Err()
}

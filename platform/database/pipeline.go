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
type Pipeline struct {
	pool     *pgxpool.Pool
	maxBatch int
	timeout  time.Duration

	mu    sync.Mutex
	queue []*read
	work  chan struct{}
	stop  chan struct{}
	wg    sync.WaitGroup
}

type read struct {
	sql  string
	args []any
	scan func(pgx.Rows) error
	done chan error
}

// Pipeline shape: fewer lanes make bigger batches; two keep both cores busy
// (measured with scripts/bench-goals.sh in spread mode: 1, 2, 4, 8 lanes).
const (
	pipelineLanes    = 2
	pipelineMaxBatch = 32
)

// NewPipeline starts the lanes; Close stops them.
func NewPipeline(pool *pgxpool.Pool, timeout time.Duration) *Pipeline {
	p := &Pipeline{pool: pool, maxBatch: pipelineMaxBatch, timeout: timeout,
		work: make(chan struct{}, pipelineLanes), stop: make(chan struct{})}
	for i := 0; i < pipelineLanes; i++ {
		p.wg.Add(1)
		go p.lane()
	}
	return p
}

// Close stops the lanes after the batches in flight.
func (p *Pipeline) Close() {
	close(p.stop)
	p.wg.Wait()
}

// Query runs sql with args in the next batch and hands its rows to scan
// (on a lane's goroutine; scan must only fill the caller's variables).
func (p *Pipeline) Query(ctx context.Context, sql string, args []any, scan func(pgx.Rows) error) error {
	r := &read{sql: sql, args: args, scan: scan, done: make(chan error, 1)}
	p.mu.Lock()
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

func (p *Pipeline) lane() {
	defer p.wg.Done()
	for {
		select {
		case <-p.stop:
			p.failQueued(errors.New("database pipeline closed"))
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
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
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

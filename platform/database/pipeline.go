package database

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	lanes    int
	maxBatch int
	timeout  time.Duration
	// writes: a batch is one transaction (see WritePipeline).
	writes bool
	// What the metrics show: batches sent, statements in them, and
	// statements run again alone after their batch failed.
	batches, statements, reruns atomic.Uint64

	mu      sync.Mutex
	queue   []*op
	running bool
	closed  bool
	work    chan struct{}
	stop    chan struct{}
	halt    context.CancelFunc // ends the batches in flight when a stop runs out of time
	base    context.Context
	wg      sync.WaitGroup
}

type op struct {
	ctx  context.Context // the caller's values and deadline, without its cancellation
	key  string          // writes only: writes of one key never share a batch
	sql  string
	args []any
	scan func(pgx.Rows) error
	done chan error
}

// ErrPipelineClosed answers reads and writes queued when the pipeline is not running.
var ErrPipelineClosed = errors.New("database pipeline closed")

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
	return &Pipeline{pool: pool, lanes: pipelineLanes, maxBatch: pipelineMaxBatch, timeout: timeout,
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
	for i := 0; i < p.lanes; i++ {
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
	return p.run(ctx, &op{sql: sql, args: args, scan: scan})
}

// run queues r and waits for its answer or the end of ctx.
func (p *Pipeline) run(ctx context.Context, r *op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.ctx, r.done = context.WithoutCancel(ctx), make(chan error, 1)
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

// PipelineStats are a pipeline's counters since it was built, and its queue now.
type PipelineStats struct {
	Batches    uint64 // batches sent: one round trip each; for writes, one commit
	Statements uint64 // statements in those batches
	Reruns     uint64 // statements run again alone after their batch failed
	Queued     int    // statements waiting for a lane
}

// Stats reads the counters.
func (p *Pipeline) Stats() PipelineStats {
	p.mu.Lock()
	queued := len(p.queue)
	p.mu.Unlock()
	return PipelineStats{Batches: p.batches.Load(), Statements: p.statements.Load(), Reruns: p.reruns.Load(), Queued: queued}
}

// deadline is when a read gives up: its caller's deadline, else the pool timeout.
func (p *Pipeline) deadline(r *op, now time.Time) time.Time {
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

func (p *Pipeline) take() []*op {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.writes {
		return p.takeWrites()
	}
	n := min(len(p.queue), p.maxBatch)
	batch := make([]*op, n)
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

// takeWrites takes the queued writes in order, at most one per key (the
// others wait for a next batch), and sorts them by key: every batch then
// takes its keys' locks in the same order, so two batches cannot deadlock
// when each write locks only what belongs to its key.
func (p *Pipeline) takeWrites() []*op {
	batch := make([]*op, 0, min(len(p.queue), p.maxBatch))
	rest := p.queue[:0] // filtered in place: rest never overtakes the loop
	for _, r := range p.queue {
		if len(batch) < p.maxBatch && !slices.ContainsFunc(batch, func(b *op) bool { return b.key == r.key }) {
			batch = append(batch, r)
		} else {
			rest = append(rest, r)
		}
	}
	clear(p.queue[len(rest):])
	p.queue = rest
	if len(p.queue) == 0 {
		p.queue = nil
	}
	slices.SortFunc(batch, func(a, b *op) int { return strings.Compare(a.key, b.key) })
	return batch
}

// send runs one batch, alone when it is one statement.
func (p *Pipeline) send(batch []*op) {
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
	p.batches.Add(1)
	p.statements.Add(uint64(len(batch)))
	switch {
	case len(batch) == 1:
		batch[0].done <- p.alone(ctx, batch[0])
	case p.writes:
		p.sendWrites(ctx, batch)
	default:
		p.sendReads(ctx, batch)
	}
}

// sendReads runs reads as one pipelined batch. The batch shares one implicit
// transaction, so a read that fails aborts the ones after it; those run
// again on their own.
func (p *Pipeline) sendReads(ctx context.Context, batch []*op) {
	b := &pgx.Batch{}
	for _, r := range batch {
		b.Queue(r.sql, r.args...)
	}
	results := p.pool.SendBatch(ctx, b)
	failed := -1
	for i, r := range batch {
		if err := scanNext(results, r); err != nil {
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
		p.reruns.Add(1)
		r.done <- p.alone(ctx, r)
	}
}

// sendWrites runs writes as one pipelined batch, which PostgreSQL runs as
// one implicit transaction committed at the batch's sync: the writes share
// one commit and one WAL flush, and none is answered before that commit.
// A statement (or a commit) PostgreSQL refuses rolls the whole batch back;
// every write then runs again alone, so the refusal is only its own. A
// scan's own error leaves the batch committed. A connection lost on the
// way leaves the outcome unknown: each write gets that error, none runs twice.
func (p *Pipeline) sendWrites(ctx context.Context, batch []*op) {
	b := &pgx.Batch{}
	for _, r := range batch {
		b.Queue(r.sql, r.args...)
	}
	results := p.pool.SendBatch(ctx, b)
	answers := make([]error, len(batch))
	var refused error
	for i, r := range batch {
		answers[i] = scanNext(results, r)
		if isRefusal(answers[i]) {
			refused = answers[i]
			break
		}
	}
	if err := results.Close(); refused == nil && err != nil {
		refused = err
	}
	for i, r := range batch {
		switch {
		case refused == nil:
			r.done <- answers[i]
		case isRefusal(refused):
			p.reruns.Add(1)
			r.done <- p.alone(ctx, r)
		default:
			r.done <- refused
		}
	}
}

// isRefusal: PostgreSQL answered with an error, so the transaction it was
// part of is rolled back (as opposed to a lost connection or a scan's error).
func isRefusal(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr)
}

// scanNext hands the batch's next result to r's scan.
func scanNext(results pgx.BatchResults, r *op) error {
	rows, err := results.Query()
	if err != nil {
		return err
	}
	return scanRows(rows, r.scan)
}

func (p *Pipeline) alone(ctx context.Context, r *op) error {
	return QueryScan(ctx, p.pool, r.sql, r.args, r.scan)
}

// QueryScan runs sql with args on q (a pool, a connection or a transaction)
// and hands its rows to scan: the shape of a pipeline's statement, run directly.
func QueryScan(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, sql string, args []any, scan func(pgx.Rows) error) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	return scanRows(rows, scan)
}

// scanRows hands rows to scan and closes them; the statement's own error
// (a failed or cancelled query) shows only once its rows are closed.
func scanRows(rows pgx.Rows, scan func(pgx.Rows) error) error {
	err := scan(rows)
	rows.Close()
	if err != nil {
		return err
	}
	return rows.Err()
}

// WritePipeline commits concurrent, independent writes together: each of a
// few lanes takes the writes queued while its previous batch was committing
// and sends them as one pipelined implicit transaction (group commit). At
// low load a batch holds one write and nothing waits; under load a batch of
// n writes pays for one round trip, one commit and one WAL flush instead of n.
//
// A write is a single statement that is a transaction of its own when
// alone. Writes of one key never share a batch and a batch runs in key
// order; a statement must lock only rows of its key (a user's), taken in
// one fixed order, for batches never to deadlock one another. Should they
// (PostgreSQL then refuses one), its writes run again alone.
type WritePipeline struct{ p *Pipeline }

// Write-pipeline shape: two lanes keep both cores busy while a batch waits
// for its WAL flush (measured with scripts/bench-checkins.sh: 1–4 lanes).
const (
	writeLanes    = 2
	writeMaxBatch = 32
)

// NewWritePipeline builds a write pipeline over pool; timeout bounds a
// write without a deadline of its own. Start runs the lanes, Close stops them.
func NewWritePipeline(pool *pgxpool.Pool, timeout time.Duration) *WritePipeline {
	p := NewPipeline(pool, timeout)
	p.writes, p.lanes, p.maxBatch, p.work = true, writeLanes, writeMaxBatch, make(chan struct{}, writeLanes)
	return &WritePipeline{p: p}
}

// Start runs the lanes.
func (w *WritePipeline) Start() { w.p.Start() }

// Stats reads the counters.
func (w *WritePipeline) Stats() PipelineStats { return w.p.Stats() }

// Close refuses new writes, lets the batches in flight finish until ctx
// ends (then cancels them), and answers writes still queued with ErrPipelineClosed.
func (w *WritePipeline) Close(ctx context.Context) { w.p.Close(ctx) }

// Write runs the statement sql with args in the next batch of writes not
// holding key, and hands its rows to scan (on a lane's goroutine; scan must
// only fill the caller's variables, and may run twice: a batch rolled back
// runs each write again alone). nil means committed. The caller waits until
// its own context ends; the write runs on context.WithoutCancel(ctx) with
// ctx's deadline, or the pool timeout.
func (w *WritePipeline) Write(ctx context.Context, key, sql string, args []any, scan func(pgx.Rows) error) error {
	return w.p.run(ctx, &op{key: key, sql: sql, args: args, scan: scan})
}

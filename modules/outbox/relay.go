package outbox

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"usersvc/platform/amqp"
	"usersvc/platform/jsonw"
)

// Options tune the relay; the zero value of a field takes its default.
type Options struct {
	Batch      int           // events per publish (default 500)
	Poll       time.Duration // the fallback poll when no notification comes (default 1s)
	LockRetry  time.Duration // how often a standby relay tries the lock (default 2s)
	MaxBackoff time.Duration // the longest wait after a failed publish (default 1s)
	PurgeEvery time.Duration // default 1m
	Retention  time.Duration // published events kept (default 7 days)
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Batch <= 0 || o.Batch > amqp.MaxBatch {
		o.Batch = 500
	}
	def(&o.Poll, time.Second)
	def(&o.LockRetry, 2*time.Second)
	def(&o.MaxBackoff, time.Second)
	def(&o.PurgeEvery, time.Minute)
	def(&o.Retention, 7*24*time.Hour)
	return o
}

// Relay publishes committed outbox events. One relay leads at a time across
// processes (a session advisory lock on its own connection: the lock goes
// when the process or its connection dies); the others wait for the lock.
type Relay struct {
	db      *pgx.ConnConfig
	pub     *amqp.Publisher
	log     *zap.Logger
	metrics *Metrics
	opts    Options

	leading atomic.Bool
	failing atomic.Bool // the last publish failed
}

// NewRelay builds a relay over its own database connections (db) and publisher.
func NewRelay(db *pgx.ConnConfig, pub *amqp.Publisher, m *Metrics, log *zap.Logger, opts Options) *Relay {
	return &Relay{db: db, pub: pub, log: log, metrics: m, opts: opts.withDefaults()}
}

// relayLockClass namespaces the relay's advisory locks: (class, 0) is the
// one relay's session lock, (class, 1) the doorbell. Apart from the users'
// event locks, whose second key is any hash.
const relayLockClass = "1869574003"

// relayLockSQL is the one relay's session lock.
const relayLockSQL = `SELECT pg_try_advisory_lock(` + relayLockClass + `, 0)`

// Leading reports whether this relay holds the lock.
func (r *Relay) Leading() bool { return r.leading.Load() }

// Healthy is false while this relay leads and its last publish failed.
func (r *Relay) Healthy() bool { return !r.leading.Load() || !r.failing.Load() }

// Run relays until ctx ends, reconnecting after database failures.
func (r *Relay) Run(ctx context.Context) {
	defer r.pub.Close()
	for ctx.Err() == nil {
		err := r.session(ctx)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("outbox relay: database session ended; retrying", zap.Error(err))
		sleep(ctx, r.opts.LockRetry)
	}
}

// session connects, waits for the lock and relays while it holds it.
// leaderConfig makes the server notice a vanished relay within a second even
// while a query of it runs: PostgreSQL otherwise finds a dead client only when
// it next writes to it, and keeps the relay's session lock (and a standby
// waiting) until that query ends.
func leaderConfig(db *pgx.ConnConfig) *pgx.ConnConfig {
	cfg := db.Copy()
	cfg.RuntimeParams["client_connection_check_interval"] = "1000"
	return cfg
}

func (r *Relay) session(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, leaderConfig(r.db))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	for {
		var locked bool
		if err := conn.QueryRow(ctx, relayLockSQL).Scan(&locked); err != nil {
			return err
		}
		if locked {
			break
		}
		if err := r.refreshStats(ctx, conn); err != nil {
			return err
		}
		if !sleep(ctx, r.opts.LockRetry) {
			return ctx.Err()
		}
	}
	r.leading.Store(true)
	r.metrics.Leader.Set(1)
	defer func() { r.leading.Store(false); r.failing.Store(false); r.metrics.Leader.Set(0) }()
	r.log.Info("outbox relay: leading")
	if _, err := conn.Exec(ctx, "LISTEN outbox_events"); err != nil {
		return err
	}
	m, err := r.newMarker(ctx)
	if err != nil {
		return err
	}
	defer m.close(ctx)
	return r.lead(ctx, conn, m)
}

// lead publishes batch after batch. When nothing is left it dozes: it
// takes the doorbell (writers then notify), reads once more, and waits for
// a notification or the fallback poll.
func (r *Relay) lead(ctx context.Context, conn *pgx.Conn, m *marker) error {
	var (
		backoff, busy       time.Duration
		lastPurge, lastStat time.Time
		dozing              bool
	)
	for ctx.Err() == nil {
		n, full, err := r.relayBatch(ctx, conn, m)
		if dozing && (n > 0 || err != nil) && !conn.IsClosed() {
			if err := wake(ctx, conn); err != nil {
				return err
			}
			dozing = false
		}
		switch {
		case errors.Is(err, errPublish):
			if err := m.wait(); err != nil {
				return err
			}
			r.failing.Store(true)
			backoff = min(max(2*backoff, 50*time.Millisecond), r.opts.MaxBackoff)
			sleep(ctx, backoff)
			continue
		case err != nil:
			return err
		}
		r.failing.Store(false)
		backoff = 0
		if full || n > 0 {
			busy = 0
			continue // more may have come meanwhile
		}
		if err := r.housekeeping(ctx, conn, &lastPurge, &lastStat, dozing); err != nil {
			return err
		}
		if !dozing {
			locked, err := tryDoorbell(ctx, conn)
			if err != nil {
				return err
			}
			if locked {
				dozing = true
				continue // no writer is left between its event and its commit: read once more
			}
			// A writer is between its event and its commit (it will not
			// ring): look again soon, less often while that lasts.
			busy = min(max(2*busy, minBusyPoll), maxBusyPoll)
			if err := waitNotification(ctx, conn, busy); err != nil {
				return err
			}
			continue
		}
		wait := r.opts.Poll
		if r.metrics.backlog.Load() > 0 {
			// Events of transactions not yet below the horizon: look again soon.
			wait = 50 * time.Millisecond
		}
		if err := waitNotification(ctx, conn, wait); err != nil {
			return err
		}
		if err := wake(ctx, conn); err != nil {
			return err
		}
		dozing = false
	}
	return ctx.Err()
}

// The awake relay's own poll while writers are in flight (they do not ring):
// at most 50 ms, the bound it adds to an event's commit-to-publish time.
const (
	minBusyPoll = 5 * time.Millisecond
	maxBusyPoll = 50 * time.Millisecond
)

// The doorbell (migrations/00006_outbox_doorbell.sql): held exclusively by
// the relay while it dozes; a writer that cannot take it shared notifies.
const (
	tryDoorbellSQL = `SELECT pg_try_advisory_lock(` + relayLockClass + `, 1)`
	wakeSQL        = `SELECT pg_advisory_unlock(` + relayLockClass + `, 1)`
)

func tryDoorbell(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var locked bool
	err := conn.QueryRow(ctx, tryDoorbellSQL).Scan(&locked)
	return locked, err
}

// wake releases the doorbell: the relay is awake, writers stop notifying.
func wake(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, wakeSQL)
	return err
}

// housekeeping purges when due and refreshes the backlog figures before a
// doze, and at least every second while writers keep the relay awake.
func (r *Relay) housekeeping(ctx context.Context, conn *pgx.Conn, lastPurge, lastStat *time.Time, dozing bool) error {
	if time.Since(*lastPurge) >= r.opts.PurgeEvery {
		if err := r.purge(ctx, conn); err != nil {
			return err
		}
		*lastPurge = time.Now()
	}
	if !dozing && time.Since(*lastStat) < time.Second {
		return nil
	}
	*lastStat = time.Now()
	return r.refreshStats(ctx, conn)
}

var errPublish = errors.New("publish failed")

// fetchSQL reads the next events to publish, in one snapshot: the first
// $2 unpublished rows in id order (an ordered scan of the pending index that
// stops there), then for each user the rows before its first one of a
// transaction not yet below the snapshot's horizon (every transaction with a
// smaller xid has ended, so none of theirs can still appear, as
// watermill-sql reads), the first $1 of those by id. A user's earlier
// unpublished rows all lie in the window, so its events leave in the order
// of their ids (of their commits) and a transaction still open is never passed.
// $3 are the rows being marked: published, so they hold no user back.
const fetchSQL = `WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
window_rows AS (SELECT e.id, e.auth_user_id, e.xid < h.xmin AS below FROM outbox_events e, h
    WHERE e.published_at IS NULL ORDER BY e.id LIMIT $2),
open_path AS (SELECT id, bool_and(below) OVER (PARTITION BY auth_user_id ORDER BY id) AS ok FROM window_rows)
SELECT e.id, e.event_id::text, e.routing_key, e.event_type, e.data::text, e.created_at
FROM outbox_events e
WHERE e.id = ANY (ARRAY(SELECT id FROM open_path WHERE ok AND NOT id = ANY ($3) ORDER BY id LIMIT $1))
ORDER BY e.id`

// windowFactor sizes the window fetchSQL looks in: rows held behind a
// transaction still open are skipped within it, up to this many batches.
const windowFactor = 4

const markSQL = `UPDATE outbox_events SET published_at = now() WHERE id = ANY($1)`

type pending struct {
	id                int64
	eventID, key, typ string
	data              string
	createdAt         time.Time
}

// relayBatch publishes one batch and has what the broker confirmed marked
// while the next one goes (m); full tells that more may be waiting.
func (r *Relay) relayBatch(ctx context.Context, conn *pgx.Conn, m *marker) (n int, full bool, err error) {
	marking := m.marking()
	rows, err := conn.Query(ctx, fetchSQL, r.opts.Batch, windowFactor*r.opts.Batch+len(marking), marking)
	if err != nil {
		return 0, false, err
	}
	var batch []pending
	var p pending
	_, err = pgx.ForEachRow(rows, []any{&p.id, &p.eventID, &p.key, &p.typ, &p.data, &p.createdAt}, func() error {
		batch = append(batch, p)
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	if len(batch) == 0 {
		return 0, false, m.wait() // nothing goes meanwhile: let the last mark land
	}
	msgs := make([]amqp.Outgoing, len(batch))
	for i, e := range batch {
		msgs[i] = amqp.Outgoing{Key: e.key, Body: envelope(e), MessageID: e.eventID, Type: e.typ, Timestamp: e.createdAt}
	}
	sent, handed, pubErr := r.pub.Publish(ctx, msgs)
	if sent > 0 {
		ids := make([]int64, sent)
		now := time.Now()
		for i := range sent {
			ids[i] = batch[i].id
			r.metrics.Latency.Observe(now.Sub(batch[i].createdAt).Seconds())
		}
		// The previous batch's mark must have landed first: a failure there
		// ends the session, and what it confirmed goes again.
		if err := m.wait(); err != nil {
			r.metrics.DuplicateRisk.Add(float64(handed))
			return 0, false, err
		}
		m.start(ctx, ids)
	}
	if pubErr != nil {
		// Handed over, not confirmed in order: they go again, and may have arrived.
		r.metrics.DuplicateRisk.Add(float64(handed - sent))
		r.metrics.Failed.Inc()
		if ctx.Err() == nil {
			r.log.Warn("outbox relay: publish failed; backing off", zap.Int("confirmed", sent), zap.Error(pubErr))
		}
		return sent, false, errPublish
	}
	return sent, len(batch) == r.opts.Batch, nil
}

// marker marks confirmed batches published, one at a time, on a connection
// of its own, so a batch's mark overlaps the next batch's read and publish.
// Rows are marked only after the broker confirmed them.
type marker struct {
	conn    *pgx.Conn
	metrics *Metrics
	ids     []int64    // the batch being marked
	done    chan error // its outcome; nil when idle
}

func (r *Relay) newMarker(ctx context.Context) (*marker, error) {
	conn, err := pgx.ConnectConfig(ctx, r.db)
	if err != nil {
		return nil, err
	}
	return &marker{conn: conn, metrics: r.metrics}, nil
}

// marking are the ids being marked (never nil: a NULL array would match nothing).
func (m *marker) marking() []int64 { return append([]int64{}, m.ids...) }

func (m *marker) start(ctx context.Context, ids []int64) {
	done := make(chan error, 1)
	m.ids, m.done = ids, done
	go func() {
		_, err := m.conn.Exec(ctx, markSQL, ids)
		if err == nil {
			m.metrics.Published.Add(float64(len(ids)))
		}
		done <- err
	}()
}

// wait returns the outcome of the mark under way, if any. A batch whose
// mark failed was confirmed: it goes again, a duplicate.
func (m *marker) wait() error {
	if m.done == nil {
		return nil
	}
	err := <-m.done
	if err != nil {
		m.metrics.DuplicateRisk.Add(float64(len(m.ids)))
	}
	m.ids, m.done = nil, nil
	return err
}

func (m *marker) close(ctx context.Context) {
	_ = m.wait()
	_ = m.conn.Close(context.WithoutCancel(ctx))
}

// envelope is the body of CONTRACT §4b, exactly these four members.
func envelope(e pending) []byte {
	b := make([]byte, 0, len(e.data)+128)
	b = append(b, `{"event_id":`...)
	b = jsonw.String(b, e.eventID)
	b = append(b, `,"event_type":`...)
	b = jsonw.String(b, e.typ)
	b = append(b, `,"occurred_at":`...)
	b = jsonw.Time(b, e.createdAt)
	b = append(b, `,"data":`...)
	b = append(b, e.data...)
	return append(b, '}')
}

// purgeSQL deletes one batch of events published before the retention.
const purgeSQL = `DELETE FROM outbox_events WHERE id IN (
    SELECT id FROM outbox_events WHERE published_at < now() - $1::interval ORDER BY published_at LIMIT $2)`

const purgeBatch = 1000

func (r *Relay) purge(ctx context.Context, conn *pgx.Conn) error {
	for {
		tag, err := conn.Exec(ctx, purgeSQL, r.opts.Retention, purgeBatch)
		if err != nil {
			return err
		}
		r.metrics.Purged.Add(float64(tag.RowsAffected()))
		if tag.RowsAffected() < purgeBatch {
			return nil
		}
	}
}

const statsSQL = `SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)
FROM outbox_events WHERE published_at IS NULL`

func (r *Relay) refreshStats(ctx context.Context, conn *pgx.Conn) error {
	var (
		n   int64
		age float64
	)
	if err := conn.QueryRow(ctx, statsSQL).Scan(&n, &age); err != nil {
		return err
	}
	r.metrics.setBacklog(n, age)
	return nil
}

// waitNotification returns after a notification or d; only a broken
// connection is an error.
func waitNotification(ctx context.Context, conn *pgx.Conn, d time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	_, err := conn.WaitForNotification(wctx)
	if err != nil && conn.IsClosed() {
		return err
	}
	return nil
}

// sleep waits d or until ctx ends (then false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

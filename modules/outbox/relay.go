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
	Poll       time.Duration // how often an idle relay looks for new events (default 250ms; CONTRACT §4b: within 1 s)
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
	def(&o.Poll, 250*time.Millisecond)
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

// relayLockSQL is the one relay's session lock.
const relayLockSQL = `SELECT pg_try_advisory_lock(` + userLockClass + `, 0)`

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
func (r *Relay) session(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, r.db)
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
	// Writes no longer notify (see migration 00006: a NOTIFY serialises
	// commits); an operator's NOTIFY outbox_events still wakes the relay.
	if _, err := conn.Exec(ctx, "LISTEN outbox_events"); err != nil {
		return err
	}
	return r.lead(ctx, conn)
}

// lead publishes batch after batch; between them it waits for the poll
// interval (or a notification).
func (r *Relay) lead(ctx context.Context, conn *pgx.Conn) error {
	backoff := time.Duration(0)
	lastPurge := time.Time{}
	for ctx.Err() == nil {
		n, full, err := r.relayBatch(ctx, conn)
		switch {
		case errors.Is(err, errPublish):
			r.failing.Store(true)
			backoff = min(max(2*backoff, 50*time.Millisecond), r.opts.MaxBackoff)
			sleep(ctx, backoff)
			continue
		case err != nil:
			return err
		}
		r.failing.Store(false)
		backoff = 0
		if full {
			continue
		}
		if time.Since(lastPurge) >= r.opts.PurgeEvery {
			if err := r.purge(ctx, conn); err != nil {
				return err
			}
			lastPurge = time.Now()
		}
		if err := r.refreshStats(ctx, conn); err != nil {
			return err
		}
		wait := r.opts.Poll
		if n > 0 || r.metrics.backlog.Load() > 0 {
			// Events of transactions not yet below the horizon: look again soon.
			wait = 50 * time.Millisecond
		}
		if err := waitNotification(ctx, conn, wait); err != nil {
			return err
		}
	}
	return ctx.Err()
}

var errPublish = errors.New("publish failed")

// fetchSQL reads the next events to publish: committed rows of
// transactions below the snapshot's horizon (every transaction with a
// smaller xid has ended, so none of theirs can still appear), and for each
// user only those before the user's first row that is not yet below it,
// so a user's events leave in the order of their ids (of their commits).
const fetchSQL = `WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
SELECT e.id, e.event_id::text, e.routing_key, e.event_type, e.data::text, e.created_at
FROM outbox_events e, h
WHERE e.published_at IS NULL AND e.xid < h.xmin
  AND NOT EXISTS (SELECT 1 FROM outbox_events p
      WHERE p.auth_user_id = e.auth_user_id AND p.published_at IS NULL AND p.id < e.id AND p.xid >= h.xmin)
ORDER BY e.id
LIMIT $1`

const markSQL = `UPDATE outbox_events SET published_at = now() WHERE id = ANY($1)`

type pending struct {
	id                int64
	eventID, key, typ string
	data              string
	createdAt         time.Time
}

// relayBatch publishes one batch and marks what the broker confirmed; full
// tells that more may be waiting.
func (r *Relay) relayBatch(ctx context.Context, conn *pgx.Conn) (n int, full bool, err error) {
	rows, err := conn.Query(ctx, fetchSQL, r.opts.Batch)
	if err != nil {
		return 0, false, err
	}
	var batch []pending
	var p pending
	_, err = pgx.ForEachRow(rows, []any{&p.id, &p.eventID, &p.key, &p.typ, &p.data, &p.createdAt}, func() error {
		batch = append(batch, p)
		return nil
	})
	if err != nil || len(batch) == 0 {
		return 0, false, err
	}
	msgs := make([]amqp.Outgoing, len(batch))
	for i, e := range batch {
		msgs[i] = amqp.Outgoing{Key: e.key, Body: envelope(e), MessageID: e.eventID, Type: e.typ, Timestamp: e.createdAt}
	}
	sent, pubErr := r.pub.Publish(ctx, msgs)
	if sent > 0 {
		ids := make([]int64, sent)
		now := time.Now()
		for i := range sent {
			ids[i] = batch[i].id
			r.metrics.Latency.Observe(now.Sub(batch[i].createdAt).Seconds())
		}
		// Marked only after the confirms: a failure here republishes them
		// (at least once; consumers deduplicate by event_id).
		if _, err := conn.Exec(ctx, markSQL, ids); err != nil {
			return 0, false, err
		}
		r.metrics.Published.Add(float64(sent))
	}
	if pubErr != nil {
		r.metrics.Failed.Inc()
		if ctx.Err() == nil {
			r.log.Warn("outbox relay: publish failed; backing off", zap.Int("confirmed", sent), zap.Error(pubErr))
		}
		return sent, false, errPublish
	}
	return sent, len(batch) == r.opts.Batch, nil
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

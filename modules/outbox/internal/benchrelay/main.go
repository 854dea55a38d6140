// Command benchrelay measures the outbox relay (scripts/bench-relay.sh runs
// it against a PostgreSQL and a RabbitMQ of its own, both durable):
//
//  1. drain: a backlog of -backlog events, inserted in one statement, is
//     published by the relay (production options) with publisher confirms;
//     the rate is events over the time until the last one was marked.
//  2. steady: -rate changes a second for -duration, each a transaction
//     writing its event as the stores do (outbox.Record); the latency of an
//     event is from its commit's return to its arrival at a consumer of a
//     durable quorum queue bound to the exchange.
//
// It prints one line per scenario and exits 1 when a target is missed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"usersvc/modules/outbox"
	"usersvc/platform/amqp"
)

type flags struct {
	db, broker, exchange, queue string
	backlog, users, rate        int
	duration                    time.Duration
	minRate                     float64
	maxP99                      time.Duration
}

func main() {
	var f flags
	flag.StringVar(&f.db, "db", os.Getenv("DATABASE_URL"), "a migrated database of the bench's own (its outbox is emptied)")
	flag.StringVar(&f.broker, "amqp", os.Getenv("RABBITMQ_URL"), "the broker")
	flag.StringVar(&f.exchange, "exchange", "bench.usersvc.events", "the events exchange")
	flag.StringVar(&f.queue, "queue", "bench.usersvc.events.all", "the durable quorum queue bound to it")
	flag.IntVar(&f.backlog, "backlog", 100_000, "events waiting when the relay starts")
	flag.IntVar(&f.users, "users", 1000, "owners the events are spread over")
	flag.IntVar(&f.rate, "rate", 500, "changes a second in the steady scenario")
	flag.DurationVar(&f.duration, "duration", 20*time.Second, "length of the steady scenario")
	flag.Float64Var(&f.minRate, "min-rate", 5000, "target: events a second from the backlog")
	flag.DurationVar(&f.maxP99, "max-p99", 200*time.Millisecond, "target: p99 commit-to-consume latency")
	flag.Parse()
	if err := run(f); err != nil {
		fmt.Fprintln(os.Stderr, "benchrelay:", err)
		os.Exit(1)
	}
}

func run(f flags) error {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(f.db)
	if err != nil {
		return err
	}
	cfg.MaxConns = workers + 2 // the writers of the steady scenario never wait for a connection
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := prepare(ctx, pool, f.users); err != nil {
		return err
	}
	sink, err := newSink(f.broker, f.exchange, f.queue)
	if err != nil {
		return err
	}
	defer sink.close()

	// The ceiling: the broker alone taking the same messages in the relay's
	// batches, through the same publisher, in this run (the machine's load
	// moves absolute figures; the ratio moves less).
	ceiling, err := brokerCeiling(ctx, f)
	if err != nil {
		return err
	}
	fmt.Printf("broker-only: %d messages in batches of %d with confirms: %.0f/s load=%s\n", f.backlog, batch, ceiling, loadavg())
	if err := waitUntil(2*time.Minute, func() bool { return sink.unique() >= f.backlog }); err != nil {
		return fmt.Errorf("broker-only: %d of %d arrived: %w", sink.unique(), f.backlog, err)
	}
	sink.reset()

	// The backlog is there before the relay starts.
	started := time.Now()
	if _, err := pool.Exec(ctx, backlogSQL, f.backlog, f.users); err != nil {
		return fmt.Errorf("insert the backlog: %w", err)
	}
	fmt.Fprintf(os.Stderr, "[benchrelay] %d events inserted in %v\n", f.backlog, time.Since(started).Round(time.Millisecond))

	metrics := outbox.NewMetrics(prometheus.NewRegistry())
	stop, err := startRelay(ctx, pool, f, metrics)
	if err != nil {
		return err
	}
	defer stop()

	ok := true
	drain, err := measureDrain(metrics, sink, f.backlog)
	if err != nil {
		return err
	}
	rate := float64(f.backlog) / drain.published.Seconds()
	fmt.Printf("drain: backlog=%d published_in=%.2fs rate=%.0f/s (%.0f%% of broker-only) consumed_in=%.2fs duplicates=%d target>=%.0f/s load=%s\n",
		f.backlog, drain.published.Seconds(), rate, 100*rate/ceiling, drain.consumed.Seconds(),
		sink.duplicates(), f.minRate, loadavg())
	ok = ok && float64(f.backlog)/drain.published.Seconds() >= f.minRate

	before := buckets(metrics)
	steady, err := measureSteady(ctx, pool, sink, f)
	if err != nil {
		return err
	}
	fmt.Printf("steady: rate=%d/s for %v sent=%d achieved=%.0f/s p50=%v p90=%v p99=%v max=%v relay_p99<=%s target_p99<%v load=%s\n",
		f.rate, f.duration, steady.sent, steady.achieved, steady.p(50), steady.p(90), steady.p(99), steady.p(100),
		histogramP99(before, buckets(metrics)), f.maxP99, loadavg())
	ok = ok && steady.p(99) < f.maxP99 && steady.achieved >= 0.95*float64(f.rate)
	if !ok {
		return fmt.Errorf("a target was missed")
	}
	return nil
}

// prepare empties the outbox and creates the owners.
func prepare(ctx context.Context, pool *pgxpool.Pool, users int) error {
	_, err := pool.Exec(ctx, `TRUNCATE outbox_events`)
	if err == nil {
		_, err = pool.Exec(ctx, `INSERT INTO auth_users (auth_user_id) SELECT 'bench' || u FROM generate_series(1, $1) u
			ON CONFLICT DO NOTHING`, users)
	}
	return err
}

// backlogSQL writes the rows outbox.Record writes for a goal.updated, with
// a goal of the API's shape (id = the sequence number the sink reads back).
const backlogSQL = `INSERT INTO outbox_events (auth_user_id, routing_key, event_type, data)
SELECT 'bench' || (1 + i % $2), 'goal.updated', 'GoalUpdated',
  json_build_object('auth_user_id', 'bench' || (1 + i % $2), 'goal', json_build_object(
    'id', i, 'auth_user_id', 'bench' || (1 + i % $2), 'title', 'Goal number ' || i,
    'description', 'Practise every day for twenty minutes', 'status', 'in-progress',
    'streak_count', 3, 'longest_streak', 7, 'last_check_in_on', '2026-12-01',
    'created_at', now(), 'updated_at', now(), 'completed_at', NULL))
FROM generate_series(1, $1) i`

// goalJSON is the same goal as backlogSQL's, for the steady scenario.
func goalJSON(id int64, user string) []byte {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	return fmt.Appendf(nil, `{"id":%d,"auth_user_id":%q,"title":"Goal number %d","description":"Practise every day for twenty minutes",`+
		`"status":"in-progress","streak_count":3,"longest_streak":7,"last_check_in_on":"2026-12-01","created_at":%q,"updated_at":%q,"completed_at":null}`,
		id, user, id, now, now)
}

// batch is the relay's default batch (outbox.Options).
const batch = 500

// brokerCeiling publishes n events of the bench's shape with confirms, in
// batches as the relay sends them, and waits for the sink to have them.
func brokerCeiling(ctx context.Context, f flags) (float64, error) {
	pub := amqp.NewPublisher(f.broker, f.exchange)
	defer pub.Close()
	msgs := make([]amqp.Outgoing, f.backlog)
	for i := range msgs {
		user := fmt.Sprintf("bench%d", 1+i%f.users)
		e := outbox.Object(outbox.GoalUpdated, user, "goal", goalJSON(int64(i), user))
		body := fmt.Appendf(nil, `{"event_id":"%08d-0000-4000-8000-000000000000","event_type":"GoalUpdated","occurred_at":"2026-12-06T00:00:00Z","data":%s}`, i, e.Data)
		msgs[i] = amqp.Outgoing{Key: e.Key, Body: body, MessageID: fmt.Sprintf("ceiling-%d", i), Type: "GoalUpdated", Timestamp: time.Now()}
	}
	start := time.Now()
	for i := 0; i < len(msgs); i += batch {
		if _, _, err := pub.Publish(ctx, msgs[i:min(i+batch, len(msgs))]); err != nil {
			return 0, fmt.Errorf("broker-only: %w", err)
		}
	}
	return float64(len(msgs)) / time.Since(start).Seconds(), nil
}

func startRelay(ctx context.Context, pool *pgxpool.Pool, f flags, m *outbox.Metrics) (stop func(), err error) {
	pub := amqp.NewPublisher(f.broker, f.exchange)
	if err := pub.DeclareExchange(); err != nil {
		return nil, err
	}
	log, _ := zap.NewProduction(zap.IncreaseLevel(zap.WarnLevel))
	relay := outbox.NewRelay(pool.Config().ConnConfig.Copy(), pub, m, log, outbox.Options{}) // production defaults
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); relay.Run(runCtx) }()
	return func() { cancel(); <-done }, nil
}

type drainResult struct{ published, consumed time.Duration }

// measureDrain times the relay from its start until it has marked n events
// (every one confirmed) and until the sink has them all.
func measureDrain(m *outbox.Metrics, s *sink, n int) (drainResult, error) {
	start := time.Now()
	var r drainResult
	deadline := start.Add(5 * time.Minute)
	for r.published == 0 || r.consumed == 0 {
		if time.Now().After(deadline) {
			return r, fmt.Errorf("drain: %v published, %d consumed after 5 minutes", counter(m.Published), s.unique())
		}
		if r.published == 0 && counter(m.Published) >= float64(n) {
			r.published = time.Since(start)
		}
		if r.consumed == 0 && s.unique() >= n {
			r.consumed = time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return r, nil
}

type steadyResult struct {
	sent      int
	achieved  float64
	latencies []time.Duration
}

// p is the q-th percentile (100: the maximum).
func (s steadyResult) p(q int) time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	i := (len(s.latencies)*q + 99) / 100
	return s.latencies[min(max(i-1, 0), len(s.latencies)-1)].Round(100 * time.Microsecond)
}

// workers commit the steady scenario's changes, each on its own connection.
const workers = 32

// steadyBase keeps the steady scenario's goal ids apart from the backlog's.
const steadyBase = 10_000_000

// measureSteady commits f.rate changes a second, each in its own
// transaction on a pool of workers, and matches each to its arrival.
func measureSteady(ctx context.Context, pool *pgxpool.Pool, s *sink, f flags) (steadyResult, error) {
	total := int(f.duration.Seconds() * float64(f.rate))
	committed := make([]time.Time, total)
	jobs := make(chan int, total)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				at, err := change(ctx, pool, int64(steadyBase+i), fmt.Sprintf("bench%d", 1+rand.IntN(f.users)))
				if err != nil {
					failed.Add(1)
					continue
				}
				committed[i] = at
			}
		}()
	}
	start := time.Now()
	stopProgress := progress(pool, s)
	defer stopProgress()
	interval := time.Second / time.Duration(f.rate)
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		return steadyResult{}, fmt.Errorf("steady: %d changes failed", n)
	}
	want := func() bool {
		for i := range total {
			if _, ok := s.arrival(int64(steadyBase + i)); !ok {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(time.Minute)
	for !want() {
		if time.Now().After(deadline) {
			return steadyResult{}, fmt.Errorf("steady: events missing a minute after the last commit")
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := steadyResult{sent: total, achieved: float64(total) / elapsed.Seconds()}
	for i := range total {
		at, _ := s.arrival(int64(steadyBase + i))
		r.latencies = append(r.latencies, max(at.Sub(committed[i]), 0))
	}
	slices.Sort(r.latencies)
	return r, nil
}

// progress prints every 2 s what is unpublished, how far the horizon
// lags, and what arrived.
func progress(pool *pgxpool.Pool, s *sink) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			var pending, below int
			var oldest float64
			_ = pool.QueryRow(ctx, progressSQL).Scan(&pending, &below, &oldest)
			fmt.Fprintf(os.Stderr, "[benchrelay] unpublished=%d below_horizon=%d oldest_xact=%.3fs arrived=%d\n", pending, below, oldest, s.unique())
		}
	}()
	return func() { cancel(); <-done }
}

const progressSQL = `SELECT count(*), count(*) FILTER (WHERE xid < pg_snapshot_xmin(pg_current_snapshot())),
  (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(xact_start)), 0) FROM pg_stat_activity WHERE backend_xid IS NOT NULL)
FROM outbox_events WHERE published_at IS NULL`

// change is one change as a store makes it: its event written in its
// transaction. It returns when the commit returned.
func change(ctx context.Context, pool *pgxpool.Pool, id int64, user string) (time.Time, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return time.Time{}, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := outbox.Record(ctx, tx, outbox.Object(outbox.GoalUpdated, user, "goal", goalJSON(id, user))); err != nil {
		return time.Time{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return time.Time{}, err
	}
	return time.Now(), nil
}

// sink is a consumer of a durable quorum queue bound to every key.
type sink struct {
	conn *amqp091.Connection

	mu      sync.Mutex
	arrived map[int64]time.Time
	ids     map[string]bool
	dups    int
}

func newSink(url, exchange, queue string) (*sink, error) {
	conn, err := amqp091.Dial(url)
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.ExchangeDeclare(exchange, amqp091.ExchangeTopic, true, false, false, false, nil)
	}
	if err == nil {
		_, err = ch.QueueDeclare(queue, true, false, false, false, amqp091.Table{"x-queue-type": "quorum"})
	}
	if err == nil {
		err = ch.QueueBind(queue, "#", exchange, false, nil)
	}
	if err == nil {
		_, err = ch.QueuePurge(queue, false)
	}
	if err == nil {
		err = ch.Qos(2000, 0, false)
	}
	var deliveries <-chan amqp091.Delivery
	if err == nil {
		deliveries, err = ch.Consume(queue, "", false, true, false, false, nil)
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("the bench consumer: %w", err)
	}
	s := &sink{conn: conn, arrived: map[int64]time.Time{}, ids: map[string]bool{}}
	go s.consume(deliveries)
	return s, nil
}

func (s *sink) consume(deliveries <-chan amqp091.Delivery) {
	var env struct {
		Data struct {
			Goal struct {
				ID int64 `json:"id"`
			} `json:"goal"`
		} `json:"data"`
	}
	n := 0
	for d := range deliveries {
		now := time.Now()
		if err := json.Unmarshal(d.Body, &env); err != nil {
			fmt.Fprintln(os.Stderr, "[benchrelay] unreadable event:", err)
		}
		s.mu.Lock()
		if s.ids[d.MessageId] {
			s.dups++
		} else {
			s.ids[d.MessageId] = true
			s.arrived[env.Data.Goal.ID] = now
		}
		s.mu.Unlock()
		if n++; n%500 == 0 || len(deliveries) == 0 {
			_ = d.Ack(true)
		}
	}
}

// reset forgets what arrived, once it all has.
func (s *sink) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.arrived, s.ids, s.dups = map[int64]time.Time{}, map[string]bool{}, 0
}

func (s *sink) unique() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

func (s *sink) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dups
}

func (s *sink) arrival(id int64) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.arrived[id]
	return at, ok
}

func (s *sink) close() { _ = s.conn.Close() }

func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// buckets are the cumulative counts of the relay's latency histogram (its
// transaction's start to the broker's confirm), by upper bound, +Inf last.
func buckets(m *outbox.Metrics) []bucket {
	var d dto.Metric
	_ = m.Latency.Write(&d)
	var out []bucket
	for _, b := range d.GetHistogram().GetBucket() {
		out = append(out, bucket{b.GetUpperBound(), b.GetCumulativeCount()})
	}
	return append(out, bucket{math.Inf(1), d.GetHistogram().GetSampleCount()})
}

type bucket struct {
	le    float64
	count uint64
}

// histogramP99 is the upper bound of the bucket holding the 99th
// percentile of what was observed between two readings.
func histogramP99(before, after []bucket) string {
	total := after[len(after)-1].count - before[len(before)-1].count
	for i, b := range after {
		if float64(b.count-before[i].count) >= 0.99*float64(total) {
			return fmt.Sprintf("%gs", b.le)
		}
	}
	return "+Inf"
}

func waitUntil(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], "/")
}

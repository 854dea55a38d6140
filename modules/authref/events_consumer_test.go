package authref_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"usersvc/internal/testkit/amqptest"
	"usersvc/internal/testkit/pgtest"
	"usersvc/modules/authref"
	"usersvc/modules/authref/authevent"
	"usersvc/platform/amqp"
)

// These tests run the real consumer (platform/amqp) with the real
// subscription and lifecycle handler against RabbitMQ and PostgreSQL, and
// break them.

type evConsumer struct {
	c       *amqp.Consumer
	metrics *amqp.Metrics
}

func runConsumer(t *testing.T, brokerURL string, topo amqp.Topology, pool *pgxpool.Pool, prefetch int, tweaks ...func(*amqp.Options)) *evConsumer {
	t.Helper()
	m := amqp.NewMetrics(prometheus.NewRegistry())
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	sub, err := authevent.Subscribe([]authevent.Handler{authref.LifecycleHandler(pool)})
	if err != nil {
		t.Fatal(err)
	}
	opts := amqp.Options{
		URL: brokerURL, Topology: topo, Prefetch: prefetch,
		Retry:     amqp.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond},
		Reconnect: amqp.Backoff{Min: 100 * time.Millisecond, Max: time.Second},
	}
	for _, tweak := range tweaks {
		tweak(&opts)
	}
	c, err := amqp.NewConsumer(opts, sub, m, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := amqptest.Eventually(30*time.Second, 20*time.Millisecond, func() bool { return c.Ready(ctx) == nil }); err != nil {
		t.Fatal("consumer never became ready")
	}
	return &evConsumer{c: c, metrics: m}
}

func createdEvents(n int) []amqptest.Message {
	msgs := make([]amqptest.Message, n)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range msgs {
		msgs[i] = amqptest.Message{Key: "user.created", Body: fmt.Appendf(nil,
			`{"event_type":"UserCreated","event_id":"ev-%d","occurred_at":%q,"data":{"id":%d,"email":"user%d@example.com","username":"user%d"}}`,
			i, now, i+1, i+1, i+1)}
	}
	return msgs
}

func countRefs(pool *pgxpool.Pool) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM auth_users`).Scan(&n); err != nil {
		return -1
	}
	return n
}

func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// publishInBackground publishes msgs with confirms (surviving restarts) and
// reports how many are confirmed so far.
func publishInBackground(t *testing.T, brokerURL string, topo amqp.Topology, msgs []amqptest.Message, window int, pause time.Duration, gate func(confirmed int)) (confirmed *atomic.Int64, wait func()) {
	t.Helper()
	confirmed = &atomic.Int64{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	var wg sync.WaitGroup
	var err error
	wg.Add(1)
	go func() {
		defer wg.Done()
		err = amqptest.PublishAll(ctx, brokerURL, topo.Exchange, msgs, window, func(n int) {
			confirmed.Store(int64(n))
			time.Sleep(pause) // keeps the stream going long enough to be cut
			if gate != nil {
				gate(n)
			}
		})
	}()
	return confirmed, func() {
		wg.Wait()
		cancel()
		if err != nil {
			t.Fatalf("publisher: %v", err)
		}
	}
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	if err := amqptest.Eventually(timeout, 50*time.Millisecond, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestTenThousandCreatedSurviveTwoBrokerRestarts publishes 10,000 UserCreated
// events with confirms while the broker is restarted twice mid-stream: the
// consumer must end with exactly 10,000 references, none dead-lettered.
func TestTenThousandCreatedSurviveTwoBrokerRestarts(t *testing.T) {
	const total = 10_000
	broker := amqptest.StartBroker(t) // our own: restarting the shared one would disturb other packages
	topo := amqptest.Topology(t, broker.URL)
	pool := pgtest.Pool(t, pgtest.Migrated(t))
	started := time.Now()
	c := runConsumer(t, broker.URL, topo, pool, 200)

	// The publisher waits at each threshold until its restart has begun, so
	// both restarts cut the stream in the middle, whatever the timing.
	thresholds := []int{2_500, 6_500}
	var begun atomic.Int64
	gate := func(n int) {
		for i, th := range thresholds {
			for n >= th && begun.Load() <= int64(i) {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	confirmed, wait := publishInBackground(t, broker.URL, topo, createdEvents(total), 250, 20*time.Millisecond, gate)
	for i, th := range thresholds {
		waitUntil(t, "publisher progress", 2*time.Minute, func() bool { return confirmed.Load() >= int64(th) })
		refs := countRefs(pool)
		t.Logf("restart %d: %d confirmed, %d references", i+1, confirmed.Load(), refs)
		if refs >= total {
			t.Fatalf("restart %d would not be mid-stream", i+1)
		}
		begun.Store(int64(i + 1))
		broker.Restart(t)
	}
	wait()
	waitUntil(t, "10,000 references", 2*time.Minute, func() bool { return countRefs(pool) >= total })
	time.Sleep(500 * time.Millisecond) // anything extra would show now
	if n := countRefs(pool); n != total {
		t.Fatalf("%d references, want exactly %d", n, total)
	}
	if n, err := amqptest.QueueDepth(broker.URL, topo.DeadLetterQueue()); err != nil || n != 0 {
		t.Fatalf("dead-letter queue: %d messages (%v), want 0", n, err)
	}
	t.Logf("10,000 events through 2 broker restarts in %s (consumer reconnects: %.0f)",
		time.Since(started).Round(100*time.Millisecond), counter(c.metrics.Reconnects))
	if counter(c.metrics.Reconnects) < 2 {
		t.Errorf("reconnects = %.0f, want at least 2", counter(c.metrics.Reconnects))
	}
}

// ownPostgres is a PostgreSQL of the test's own, to stop and start at will
// (stopping the shared one would break the packages testing beside this one).
type ownPostgres struct {
	dir, port, url string
}

func startOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	p := &ownPostgres{dir: t.TempDir(), port: fmt.Sprint(amqptest.FreePort(t))}
	t.Cleanup(func() { amqptest.RunServices(t, nil, "destroy", p.dir) })
	// Durable settings (no PG_FAST): this test is about not losing commits.
	amqptest.RunServices(t, nil, "start-pg", p.dir, p.port)
	p.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable", p.port)
	if err := pgtest.Migrate(p.url); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return p
}

func (p *ownPostgres) stop(t *testing.T)  { amqptest.RunServices(t, nil, "stop-pg", p.dir) }
func (p *ownPostgres) start(t *testing.T) { amqptest.RunServices(t, nil, "start-pg", p.dir, p.port) }

// TestDatabaseOutageLosesNothing stops PostgreSQL mid-stream and starts it
// again: the deliveries wait in hand, nothing is dead-lettered or lost, and
// the consumer resumes by itself.
func TestDatabaseOutageLosesNothing(t *testing.T) {
	const total = 3_000
	pg := startOwnPostgres(t)
	url := amqptest.URL(t)
	topo := amqptest.Topology(t, url)
	pool := pgtest.Pool(t, pg.url)
	c := runConsumer(t, url, topo, pool, 100)

	confirmed, wait := publishInBackground(t, url, topo, createdEvents(total), 100, 10*time.Millisecond, nil)
	waitUntil(t, "some references", time.Minute, func() bool { return countRefs(pool) >= 300 })
	pg.stop(t)
	stoppedAt := confirmed.Load()
	time.Sleep(2 * time.Second) // the consumer keeps its deliveries in hand and retries
	if n, _ := amqptest.QueueDepth(url, topo.DeadLetterQueue()); n != 0 {
		t.Fatalf("%d messages dead-lettered during the outage", n)
	}
	pg.start(t)
	wait()
	waitUntil(t, "every event applied after the outage", 2*time.Minute, func() bool { return countRefs(pool) == total })
	if n, _ := amqptest.QueueDepth(url, topo.DeadLetterQueue()); n != 0 {
		t.Fatalf("%d messages dead-lettered", n)
	}
	if counter(c.metrics.Retries) == 0 {
		t.Error("no retries counted: did the outage happen mid-stream?")
	}
	t.Logf("outage at %d confirmed; %.0f retries; all %d applied", stoppedAt, counter(c.metrics.Retries), total)
}

// TestPoisonEventGoesToTheDLQAndTheNextIsApplied sends an event the
// database refuses (a NUL in a username) between two good ones.
func TestPoisonEventGoesToTheDLQAndTheNextIsApplied(t *testing.T) {
	url := amqptest.URL(t)
	topo := amqptest.Topology(t, url)
	pool := pgtest.Pool(t, pgtest.Migrated(t))
	c := runConsumer(t, url, topo, pool, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := amqptest.PublishAll(ctx, url, topo.Exchange, []amqptest.Message{
		{Key: "user.created", Body: []byte(`{"event_type":"UserCreated","data":{"id":1,"username":"one"}}`)},
		{Key: "user.created", Body: []byte(`{"event_type":"UserCreated","data":{"id":2,"username":"nul\u0000here"}}`)},
		{Key: "user.created", Body: []byte(`{"event_type":"UserCreated","data":{"id":"not a valid id"}}`)},
		{Key: "user.created", Body: []byte(`{"event_type":"UserCreated","data":{"id":3,"username":"three"}}`)},
	}, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "two references", 30*time.Second, func() bool { return countRefs(pool) == 2 })
	waitUntil(t, "two dead letters", 30*time.Second, func() bool {
		n, _ := amqptest.QueueDepth(url, topo.DeadLetterQueue())
		return n == 2
	})
	if got := counter(c.metrics.DeadLettered.WithLabelValues("invalid_data")); got != 1 {
		t.Errorf("invalid_data dead letters = %v, want 1", got)
	}
}

// TestRedeliveredEventThroughTheBrokerChangesNothing publishes an old
// Created again after an Updated: the reference keeps the newer data.
func TestRedeliveredEventThroughTheBrokerChangesNothing(t *testing.T) {
	url := amqptest.URL(t)
	topo := amqptest.Topology(t, url)
	pool := pgtest.Pool(t, pgtest.Migrated(t))
	c := runConsumer(t, url, topo, pool, 10)
	created := amqptest.Message{Key: "user.created", Body: []byte(`{"event_type":"UserCreated","occurred_at":"2024-05-01T12:00:00Z","data":{"id":8,"username":"first"}}`)}
	updated := amqptest.Message{Key: "user.updated", Body: []byte(`{"event_type":"UserUpdated","occurred_at":"2024-05-01T12:01:00Z","data":{"id":8,"username":"second"}}`)}
	deleted := amqptest.Message{Key: "user.deleted", Body: []byte(`{"event_type":"UserDeleted","occurred_at":"2024-05-01T11:00:00Z","data":{"id":8}}`)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := amqptest.PublishAll(ctx, url, topo.Exchange, []amqptest.Message{created, updated, created, deleted, created}, 10, nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "five events applied", 30*time.Second, func() bool {
		applied := 0.0
		for _, typ := range []string{"usercreated", "userupdated", "userdeleted"} {
			applied += counter(c.metrics.Consumed.WithLabelValues(typ, "applied"))
		}
		return applied == 5
	})
	var username string
	var last time.Time
	if err := pool.QueryRow(ctx, `SELECT username, last_event_at FROM auth_users WHERE auth_user_id = '8'`).Scan(&username, &last); err != nil {
		t.Fatal(err)
	}
	if username != "second" || !last.Equal(time.Date(2024, 5, 1, 12, 1, 0, 0, time.UTC)) {
		t.Errorf("username=%q last_event_at=%v, want second at 12:01", username, last)
	}
}

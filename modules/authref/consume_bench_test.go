package authref_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"usersvc/internal/testkit/amqptest"
	"usersvc/internal/testkit/pgtest"
	"usersvc/modules/authref"
	"usersvc/modules/authref/authevent"
	"usersvc/platform/amqp"
)

// BenchmarkApplyUserCreated is the database half of consuming UserCreated:
// batches of 50 new users (the consumer's batch at the default prefetch),
// each batch one transaction. The whole path, broker and durable PostgreSQL
// included, is scripts/bench-consumer.sh (docs/events.md).
//
//	USERSVC_TEST_DATABASE_URL=… go test -run '^$' -bench ApplyUserCreated ./modules/authref/
func BenchmarkApplyUserCreated(b *testing.B) {
	const batch = 50
	ctx := context.Background()
	db := pgtest.Pool(b, pgtest.Migrated(b))
	h := authref.LifecycleHandler(db)
	at := time.Now().UTC()
	es := make([]authevent.Event, batch)
	b.ResetTimer()
	for i := range b.N {
		for j := range es {
			n := i*batch + j
			email, name := fmt.Sprintf("u%d@example.com", n), fmt.Sprintf("u%d", n)
			es[j] = authevent.Event{Type: authevent.UserCreated, UserID: fmt.Sprintf("bench-%d", n), OccurredAt: at,
				Email: authevent.Text{Value: &email, Present: true}, Username: authevent.Text{Value: &name, Present: true}}
		}
		if err := h.HandleBatch(ctx, es); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkConsumeUserCreated runs the real consumer and handler in process
// on a backlog of UserCreated, for a CPU profile of the consumer's side
// (the figures that count are scripts/bench-consumer.sh's):
//
//	USERSVC_TEST_DATABASE_URL=… USERSVC_TEST_RABBITMQ_URL=… go test -run '^$' \
//	  -bench ConsumeUserCreated -benchtime 3x -cpuprofile cpu.pprof ./modules/authref/
func BenchmarkConsumeUserCreated(b *testing.B) {
	const events = 20_000
	ctx := context.Background()
	url := amqptest.URL(b)
	for range b.N {
		b.StopTimer()
		db := pgtest.Pool(b, pgtest.Migrated(b))
		topo := amqptest.Topology(b, url, authevent.RoutingKeys...)
		declareTopology(b, url, topo)
		if err := amqptest.PublishAll(ctx, url, topo.Exchange, createdEvents(events), 1000, nil); err != nil {
			b.Fatal(err)
		}
		sub, err := authevent.Subscribe([]authevent.Handler{authref.LifecycleHandler(db)})
		if err != nil {
			b.Fatal(err)
		}
		c, err := amqp.NewConsumer(amqp.Options{URL: url, Topology: topo, Prefetch: 100}, sub,
			amqp.NewMetrics(prometheus.NewRegistry()), zap.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		b.StartTimer()
		go func() { defer close(done); _ = c.Run(runCtx) }()
		if err := amqptest.Eventually(2*time.Minute, 5*time.Millisecond, func() bool { return countRefs(db) == events }); err != nil {
			b.Fatal("the backlog was not consumed")
		}
		b.StopTimer()
		cancel()
		<-done
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
}

// declareTopology declares topo as the consumer does, so that the backlog waits in its queue.
func declareTopology(b *testing.B, url string, topo amqp.Topology) {
	conn, err := amqp091.Dial(url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if _, err := amqp.Declare(conn, topo, zap.NewNop()); err != nil {
		b.Fatal(err)
	}
}

package authref_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"usersvc/internal/testkit/pgtest"
	"usersvc/modules/authref"
	"usersvc/modules/authref/authevent"
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

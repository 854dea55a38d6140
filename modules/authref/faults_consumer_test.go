package authref_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"usersvc/internal/testkit/amqptest"
	"usersvc/internal/testkit/faultproxy"
	"usersvc/internal/testkit/pgtest"
	"usersvc/platform/amqp"
)

// These tests run the real consumer with a fault proxy on its link to the
// broker or to PostgreSQL (the shared servers themselves are never touched),
// break the link in the middle of a burst published with confirms, and check
// that every event took effect exactly once: nothing lost (an event
// acknowledged before its commit would be), nothing stale applied over a
// newer value (a redelivery must change nothing).

// createdThenUpdated is, for users 1..n, a UserCreated then a later UserUpdated.
func createdThenUpdated(n int) []amqptest.Message {
	t0 := time.Now().UTC().Add(-time.Hour)
	msgs := make([]amqptest.Message, 0, 2*n)
	for i := 1; i <= n; i++ {
		msgs = append(msgs, amqptest.Message{Key: "user.created", Body: fmt.Appendf(nil,
			`{"event_type":"UserCreated","event_id":"c-%d","occurred_at":%q,"data":{"id":%d,"email":"user%d@example.com","username":"user%d"}}`,
			i, t0.Format(time.RFC3339Nano), i, i, i)})
	}
	for i := 1; i <= n; i++ {
		msgs = append(msgs, amqptest.Message{Key: "user.updated", Body: fmt.Appendf(nil,
			`{"event_type":"UserUpdated","event_id":"u-%d","occurred_at":%q,"data":{"id":%d,"email":"user%d.v2@example.com","username":"user%d-v2"}}`,
			i, t0.Add(time.Second).Format(time.RFC3339Nano), i, i, i)})
	}
	return msgs
}

// finalRefs counts the references, and those holding their last update.
func finalRefs(pool *pgxpool.Pool) (total, updated int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE email = 'user' || auth_user_id || '.v2@example.com'
		AND username = 'user' || auth_user_id || '-v2') FROM auth_users`).Scan(&total, &updated)
	if err != nil {
		return -1, -1
	}
	return total, updated
}

// TestConsumerRidesOutLinkFaults breaks the consumer's link to the broker
// (reset, or blackholed long enough for heartbeats to give up) or to
// PostgreSQL (every connection reset) while a burst is being consumed.
func TestConsumerRidesOutLinkFaults(t *testing.T) {
	t.Parallel()
	const users = 500
	for _, tc := range []struct {
		name       string
		link       string // "broker" or "database"
		fault      func(*faultproxy.Proxy)
		hold       time.Duration // how long the fault lasts
		reconnects bool          // whether the consumer must have reconnected to the broker
	}{
		{"broker reset", "broker", (*faultproxy.Proxy).Reset, time.Second, true},
		{"broker blackholed", "broker", (*faultproxy.Proxy).Blackhole, 4 * time.Second, true},
		{"database reset", "database", (*faultproxy.Proxy).Reset, time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			brokerURL := amqptest.URL(t)
			topo := amqptest.Topology(t, brokerURL)
			dbURL := pgtest.Migrated(t)
			check := pgtest.Pool(t, dbURL)
			consumerBroker, consumerDB := brokerURL, dbURL
			var proxy *faultproxy.Proxy
			if tc.link == "broker" {
				proxy, consumerBroker = faultproxy.Front(t, brokerURL)
			} else {
				proxy, consumerDB = faultproxy.Front(t, dbURL)
			}
			c := runConsumer(t, consumerBroker, topo, pgtest.Pool(t, consumerDB), 50, func(o *amqp.Options) {
				o.Heartbeat = time.Second // a silent broker is given up within seconds
			})

			// The publisher stops at the fault's threshold until the fault is
			// in place, so the fault lands mid-burst whatever the timing.
			const threshold = users / 2
			var faulted atomic.Bool
			gate := func(n int) {
				for n >= threshold && !faulted.Load() {
					time.Sleep(5 * time.Millisecond)
				}
			}
			confirmed, wait := publishInBackground(t, brokerURL, topo, createdThenUpdated(users), 50, 5*time.Millisecond, gate)
			waitUntil(t, "publisher progress", time.Minute, func() bool { return confirmed.Load() >= threshold })
			waitUntil(t, "consumption under way", time.Minute, func() bool { n, _ := finalRefs(check); return n > 0 })
			tc.fault(proxy)
			faulted.Store(true)
			total, updated := finalRefs(check)
			t.Logf("fault at %d confirmed: %d references, %d updated", confirmed.Load(), total, updated)
			time.Sleep(tc.hold) // the fault lasts: the consumer is cut off, whatever it tries
			proxy.Heal()
			wait()
			waitUntil(t, "every event applied", time.Minute, func() bool { _, u := finalRefs(check); return u == users })
			time.Sleep(300 * time.Millisecond) // a late stale redelivery would show now
			if total, updated := finalRefs(check); total != users || updated != users {
				t.Fatalf("%d references, %d with their last update; want %d and %d", total, updated, users, users)
			}
			if n := amqptest.Depth(t, brokerURL, topo.DeadLetterQueue()); n != 0 {
				t.Fatalf("%d events dead-lettered", n)
			}
			if tc.reconnects && counter(c.metrics.Reconnects) < 1 {
				t.Error("the consumer never reconnected: did the fault cut it off?")
			}
			t.Logf("reconnects %.0f, retries %.0f", counter(c.metrics.Reconnects), counter(c.metrics.Retries))
		})
	}
}

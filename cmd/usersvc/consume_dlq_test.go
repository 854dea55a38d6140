package main

// Regressions of CONTRACT §4 found by black-box runs of the real binary.

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"usersvc/internal/testkit/amqptest"
	"usersvc/internal/testkit/pgtest"
	"usersvc/internal/testkit/proctest"
)

// CONTRACT §4: "Unparseable JSON, a missing or invalid id, … is dead-lettered
// at once." A message published straight to the queue (default exchange,
// routing key = queue name, no AMQP type) with a body that is not JSON must
// reach <queue>.dlq, although its type (from the routing key) is unknown.
func TestUnparseableBodyOnTheQueueIsDeadLettered(t *testing.T) {
	t.Parallel()
	db := pgtest.Migrated(t)
	brokerURL := amqptest.URL(t)
	topo := amqptest.Topology(t, brokerURL)
	addr := freePort(t)

	cmd := exec.Command(binary, "consume")
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"DATABASE_URL=" + db, "RABBITMQ_URL=" + brokerURL,
		"RABBITMQ_EXCHANGE=" + topo.Exchange, "RABBITMQ_QUEUE=" + topo.Queue,
		"CONSUMER_HEALTH_ADDR=" + addr, "DATABASE_POOL_SIZE=2", "DATABASE_MAX_OVERFLOW=2"}
	logs := &proctest.Output{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitReady(t, "http://"+addr+"/ready", logs)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Straight to the queue through the default exchange, then a valid event
	// through the topic exchange as a marker that the first one was settled.
	if err := amqptest.PublishAll(ctx, brokerURL, "", []amqptest.Message{
		{Key: topo.Queue, Body: []byte("this is not JSON")},
	}, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := amqptest.PublishAll(ctx, brokerURL, topo.Exchange, []amqptest.Message{
		{Key: "user.created", Body: []byte(`{"event_type":"UserCreated","data":{"id":"audit-marker"}}`)},
	}, 1, nil); err != nil {
		t.Fatal(err)
	}
	pool := pgtest.Pool(t, db)
	if err := amqptest.Eventually(20*time.Second, 50*time.Millisecond, func() bool {
		var n int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM auth_users WHERE auth_user_id = 'audit-marker'`).Scan(&n)
		return n == 1
	}); err != nil {
		t.Fatalf("the marker event was never applied\n%s", logs.String())
	}
	var dead [][]byte
	if err := amqptest.Eventually(5*time.Second, 100*time.Millisecond, func() bool {
		bodies, err := amqptest.Drain(brokerURL, topo.DeadLetterQueue())
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, bodies...)
		return len(dead) > 0
	}); err != nil {
		t.Fatalf("an unparseable body published to %s was not dead-lettered to %s (acknowledged as an unknown type instead)",
			topo.Queue, topo.DeadLetterQueue())
	}
	if string(dead[0]) != "this is not JSON" {
		t.Fatalf("dead-letter queue holds %q, want the unparseable body", dead[0])
	}
}

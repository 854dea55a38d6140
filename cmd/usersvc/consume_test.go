package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"usersvc/internal/testkit/amqptest"
	"usersvc/internal/testkit/pgtest"
	"usersvc/internal/testkit/proctest"
)

// TestConsumeDrainsOnSIGTERM runs the real `usersvc consume`, sends SIGTERM
// in the middle of a burst, and checks the promise of CONTRACT §4: exit 0
// within the 25 s drain, every acknowledged event committed, every other
// event still in the queue.
func TestConsumeDrainsOnSIGTERM(t *testing.T) {
	t.Parallel()
	const total = 10_000
	db := pgtest.Migrated(t)
	brokerURL := amqptest.URL(t)
	topo := amqptest.Topology(t, brokerURL)
	addr := freePort(t)
	eventsExchange := "test.usersvc.events." + amqptest.Suffix()

	cmd := exec.Command(binary, "consume")
	cmd.Dir = t.TempDir() // no stray .env
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"DATABASE_URL=" + db, "RABBITMQ_URL=" + brokerURL,
		"RABBITMQ_EXCHANGE=" + topo.Exchange, "RABBITMQ_QUEUE=" + topo.Queue, "RABBITMQ_PREFETCH=100",
		"CONSUMER_HEALTH_ADDR=" + addr, "DATABASE_POOL_SIZE=4", "DATABASE_MAX_OVERFLOW=4",
		"USERSVC_EVENTS_EXCHANGE=" + eventsExchange}
	logs := &proctest.Output{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitReady(t, "http://"+addr+"/ready", logs)
	checkRelayReported(t, addr, brokerURL, eventsExchange)

	msgs := make([]amqptest.Message, total)
	for i := range msgs {
		msgs[i] = amqptest.Message{Key: "user.created", Body: fmt.Appendf(nil,
			`{"event_type":"UserCreated","occurred_at":"2024-05-01T12:00:00Z","data":{"id":%d,"username":"u%d"}}`, i+1, i+1)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := amqptest.PublishAll(ctx, brokerURL, topo.Exchange, msgs, 1000, nil); err != nil {
		t.Fatal(err)
	}

	pool := pgtest.Pool(t, db)
	committed := func() map[string]bool {
		rows, err := pool.Query(ctx, `SELECT auth_user_id FROM auth_users`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		ids := map[string]bool{}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids[id] = true
		}
		return ids
	}
	if err := amqptest.Eventually(30*time.Second, 5*time.Millisecond, func() bool { return len(committed()) >= 300 }); err != nil {
		t.Fatalf("the burst never started: %s", logs.String())
	}

	atSignal := len(committed())
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("consume exited with %v, want status 0\n%s", err, logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("consume still running 40 s after SIGTERM\n%s", logs.String())
	}
	took := time.Since(sent)
	if took > 26*time.Second {
		t.Errorf("consume took %s to stop, want at most the 25 s drain", took)
	}

	done := committed()
	bodies, err := amqptest.Drain(brokerURL, topo.Queue)
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]bool{}
	for _, b := range bodies {
		var e struct {
			Data struct {
				ID json.Number `json:"id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		left[e.Data.ID.String()] = true
	}
	t.Logf("SIGTERM after %d committed; stopped in %s; %d committed, %d left in the queue", atSignal, took.Round(time.Millisecond), len(done), len(left))
	if len(done) == total {
		t.Fatal("the whole burst was applied before SIGTERM took effect: the test proved nothing")
	}
	for i := 1; i <= total; i++ {
		id := fmt.Sprint(i)
		switch {
		case !done[id] && !left[id]:
			t.Fatalf("event %s is neither committed nor in the queue: acknowledged without its commit", id)
		case done[id] && left[id]:
			t.Fatalf("event %s is committed but was not acknowledged: the drain did not finish the messages in hand\n%s", id, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "consumer stopped") {
		t.Errorf("no 'consumer stopped' line in the logs:\n%s", logs.String())
	}
}

func waitReady(t *testing.T, url string, logs *proctest.Output) {
	t.Helper()
	if err := proctest.WaitOK(context.Background(), nil, url, 30*time.Second); err != nil {
		t.Fatalf("consume never became ready: %v\n%s", err, logs.String())
	}
}

// checkRelayReported: consume declared the events exchange and reports its
// outbox relay on /ready and /metrics.
func checkRelayReported(t *testing.T, addr, brokerURL, exchange string) {
	t.Helper()
	conn, err := amqp091.Dial(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclarePassive(exchange, "topic", true, false, false, false, nil); err != nil {
		t.Errorf("consume did not declare %s: %v", exchange, err)
	} else {
		_ = ch.ExchangeDelete(exchange, false, false)
	}
	for path, want := range map[string]string{"/ready": `"outbox":"ok"`, "/metrics": "outbox_backlog 0"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Errorf("%s lacks %s:\n%s", path, want, body)
		}
	}
}

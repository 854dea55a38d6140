package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap/zaptest"

	"usersvc/internal/testkit/amqptest"
	"usersvc/platform/amqp"
)

// The tests speak a tiny format of their own, so that they exercise the
// machinery and nothing of any real publisher's: a body "<kind> <id>",
// e.g. "put 42". Kind "put" is handled, any other kind is ignored; an id
// is lower-case letters, digits and dashes.
type note struct {
	kind, id    string
	redelivered bool
}

var errNotANote = errors.New(`not "<kind> <id>"`)

func readNote(m amqp.Message) (note, error) {
	kind, id, ok := strings.Cut(string(m.Body), " ")
	if !ok || kind == "" || strings.Contains(id, " ") {
		return note{}, amqp.Unreadable("unparseable", errNotANote)
	}
	if kind != "put" {
		return note{kind: kind}, amqp.ErrIgnore
	}
	n := note{kind: kind, id: id, redelivered: m.Redelivered}
	if id == "" || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return n, amqp.Unreadable("bad_id", fmt.Errorf("id %q", id))
	}
	return n, nil
}

func labelNote(n note) (typ, id string) {
	if n.kind == "put" {
		typ = n.kind
	}
	return typ, n.id
}

// testKeys are the routing keys of the test format.
var testKeys = []string{"note.put", "note.other"}

func put(id string) amqptest.Message {
	return amqptest.Message{Key: "note.put", Body: []byte("put " + id)}
}

// recorder applies notes in memory: it remembers what it applied and fails
// as the test tells it to.
type recorder struct {
	mu      sync.Mutex
	applied []note
	calls   int
	fail    func(n note) error // per note; nil applies everything
	delay   time.Duration
}

// apply is all or nothing, like a transaction.
func (r *recorder) apply(ctx context.Context, ns []note) error {
	r.mu.Lock()
	r.calls++
	fail, delay := r.fail, r.delay
	r.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		for _, n := range ns {
			if err := fail(n); err != nil {
				return err
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = append(r.applied, ns...)
	return nil
}

func (r *recorder) subscription(t *testing.T) amqp.Subscription {
	t.Helper()
	sub, err := amqp.Subscribe(amqp.Spec[note]{Name: "notes", Keys: testKeys, Read: readNote, Label: labelNote, Apply: r.apply})
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func (r *recorder) count(id string) (n int, redelivered int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.applied {
		if e.id == id {
			n++
			if e.redelivered {
				redelivered++
			}
		}
	}
	return n, redelivered
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.applied)
}

type running struct {
	c       *amqp.Consumer
	metrics *amqp.Metrics
	stop    func() time.Duration // cancels Run and returns how long it took to return
}

func start(t *testing.T, opts amqp.Options, rec *recorder) *running {
	t.Helper()
	m := amqp.NewMetrics(prometheus.NewRegistry())
	c, err := amqp.NewConsumer(opts, rec.subscription(t), m, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	var once sync.Once
	var took time.Duration
	stop := func() time.Duration {
		once.Do(func() {
			t0 := time.Now()
			cancel()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				t.Error("Run did not return within 60 s of its context ending")
			}
			took = time.Since(t0)
		})
		return took
	}
	t.Cleanup(func() { stop() })
	if err := amqptest.Eventually(20*time.Second, 20*time.Millisecond, func() bool { return c.Ready(ctx) == nil }); err != nil {
		t.Fatal("consumer never became ready")
	}
	return &running{c: c, metrics: m, stop: stop}
}

func options(url string, topo amqp.Topology) amqp.Options {
	return amqp.Options{
		URL: url, Topology: topo, Prefetch: 50,
		Retry:     amqp.Backoff{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond},
		Reconnect: amqp.Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond},
	}
}

func publish(t *testing.T, url string, topo amqp.Topology, msgs ...amqptest.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := amqptest.PublishAll(ctx, url, topo.Exchange, msgs, 500, nil); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func declare(t *testing.T, url string, topo amqp.Topology) {
	t.Helper()
	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := amqp.Declare(conn, topo, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
}

func TestTopologyIsQuorumWithDeadLettersAndIdempotent(t *testing.T) {
	url := amqptest.URL(t)
	topo := amqptest.Topology(t, url, testKeys...)
	declare(t, url, topo)
	declare(t, url, topo) // a second start declares the same thing again

	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Redeclaring as a classic queue is refused: the queue really is a quorum queue.
	ch, _ := conn.Channel()
	_, err = ch.QueueDeclare(topo.Queue, true, false, false, false, amqp091.Table{"x-dead-letter-exchange": topo.DeadLetterExchange()})
	var aerr *amqp091.Error
	if !errors.As(err, &aerr) || aerr.Code != amqp091.PreconditionFailed {
		t.Fatalf("redeclaring the queue as classic: %v, want PRECONDITION_FAILED", err)
	}
	// The delivery limit is at least 20: the same arguments with 20 are accepted.
	ch, _ = conn.Channel()
	if _, err := ch.QueueDeclare(topo.Queue, true, false, false, false, amqp091.Table{
		"x-queue-type": "quorum", "x-delivery-limit": int32(20), "x-dead-letter-exchange": topo.DeadLetterExchange(),
		"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish",
	}); err != nil {
		t.Fatalf("queue arguments differ from the expected ones: %v", err)
	}
	if _, err := ch.QueueDeclarePassive(topo.DeadLetterQueue(), true, false, false, false, nil); err != nil {
		t.Fatalf("dead-letter queue: %v", err)
	}
}

func TestExistingClassicQueueIsUsedAsItIs(t *testing.T) {
	url := amqptest.URL(t)
	topo := amqptest.Topology(t, url, testKeys...)
	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	if _, err := ch.QueueDeclare(topo.Queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	got, err := amqp.Declare(conn, topo, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Declare over an existing classic queue: %v", err)
	}
	if !got.Existing {
		t.Error("Existing = false, want true")
	}
}

func TestPoisonIsDeadLetteredAndTheNextMessageProcessed(t *testing.T) {
	url := amqptest.URL(t)
	topo := amqptest.Topology(t, url, testKeys...)
	rec := &recorder{fail: func(n note) error {
		switch n.id {
		case "handler-poison":
			return amqp.Poison(errors.New("cannot apply"))
		case "check-violation":
			return &pgconn.PgError{Code: "23514", Message: "check violation"}
		}
		return nil
	}}
	r := start(t, options(url, topo), rec)
	publish(t, url, topo,
		amqptest.Message{Key: "note.put", Body: []byte(`{not a note}`)},
		amqptest.Message{Key: "note.put", Body: []byte(`put BAD!`)},
		put("handler-poison"),
		put("check-violation"),
		amqptest.Message{Key: "note.other", Body: []byte(`other 1`)}, // not handled: acked
		put("good"),
	)
	amqptest.WaitFor(t, "good note applied", func() bool { n, _ := rec.count("good"); return n == 1 })
	amqptest.WaitFor(t, "four messages in the DLQ", func() bool { return amqptest.Depth(t, url, topo.DeadLetterQueue()) == 4 })
	amqptest.WaitFor(t, "queue empty", func() bool { return amqptest.Depth(t, url, topo.Queue) == 0 })
	for reason, want := range map[string]float64{"unparseable": 1, "bad_id": 1, "handler": 1, "invalid_data": 1} {
		if got := value(r.metrics.DeadLettered.WithLabelValues(reason)); got != want {
			t.Errorf("dead-lettered %s = %v, want %v", reason, got, want)
		}
	}
	if got := value(r.metrics.Consumed.WithLabelValues("unknown", "ignored")); got != 1 {
		t.Errorf("ignored unknown types = %v, want 1", got)
	}
	if got := value(r.metrics.Consumed.WithLabelValues("unknown", "dead_lettered")); got != 1 {
		t.Errorf("dead-lettered unknown types = %v, want 1 (the unparseable one)", got)
	}
	if got := value(r.metrics.Consumed.WithLabelValues("put", "dead_lettered")); got != 3 {
		t.Errorf("dead-lettered puts = %v, want 3", got)
	}
	if got := value(r.metrics.Consumed.WithLabelValues("put", "applied")); got != 1 {
		t.Errorf("applied puts = %v, want 1", got)
	}
}

func TestSubscribeNeedsKeysAndFunctions(t *testing.T) {
	rec := &recorder{}
	for name, spec := range map[string]amqp.Spec[note]{
		"no keys":  {Read: readNote, Label: labelNote, Apply: rec.apply},
		"no read":  {Keys: testKeys, Label: labelNote, Apply: rec.apply},
		"no label": {Keys: testKeys, Read: readNote, Apply: rec.apply},
		"no apply": {Keys: testKeys, Read: readNote, Label: labelNote},
	} {
		if _, err := amqp.Subscribe(spec); err == nil {
			t.Errorf("%s: Subscribe accepted it", name)
		}
	}
	if _, err := amqp.NewConsumer(amqp.Options{URL: "amqp://x", Topology: amqp.Topology{Exchange: "e", Queue: "q"}}, amqp.Subscription{}, nil, zaptest.NewLogger(t)); err == nil {
		t.Error("NewConsumer accepted no subscription")
	}
}

func TestTransientFailureKeepsTheDeliveryInHand(t *testing.T) {
	url := amqptest.URL(t)
	topo := amqptest.Topology(t, url, testKeys...)
	var mu sync.Mutex
	failures := 0
	rec := &recorder{fail: func(n note) error {
		mu.Lock()
		defer mu.Unlock()
		if failures < 8 {
			failures++
			return &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}
		}
		return nil
	}}
	r := start(t, options(url, topo), rec)
	publish(t, url, topo, put("42"))
	amqptest.WaitFor(t, "event applied", func() bool { n, _ := rec.count("42"); return n == 1 })
	if _, redelivered := rec.count("42"); redelivered != 0 {
		t.Error("the event came back from the broker: it was requeued instead of kept in hand")
	}
	if got := value(r.metrics.Retries); got != 8 {
		t.Errorf("retries = %v, want 8", got)
	}
	if n := amqptest.Depth(t, url, topo.DeadLetterQueue()); n != 0 {
		t.Errorf("DLQ has %d messages, want 0", n)
	}
}

func TestAPoisonEventInABatchDeadLettersOnlyItself(t *testing.T) {
	url := amqptest.URL(t)
	topo := amqptest.Topology(t, url, testKeys...)
	declare(t, url, topo)
	var msgs []amqptest.Message
	for i := range 40 {
		id := fmt.Sprint(i)
		if i == 17 {
			id = "poison"
		}
		msgs = append(msgs, put(id))
	}
	publish(t, url, topo, msgs...) // all waiting before the consumer starts: they come as batches
	rec := &recorder{fail: func(n note) error {
		if n.id == "poison" {
			return &pgconn.PgError{Code: "22001", Message: "value too long"}
		}
		return nil
	}}
	opts := options(url, topo)
	opts.BatchWait = 50 * time.Millisecond
	start(t, opts, rec)
	amqptest.WaitFor(t, "39 notes applied", func() bool { return rec.total() == 39 })
	amqptest.WaitFor(t, "one message in the DLQ", func() bool { return amqptest.Depth(t, url, topo.DeadLetterQueue()) == 1 })
	for i := range 40 {
		if n, _ := rec.count(fmt.Sprint(i)); i != 17 && n != 1 {
			t.Errorf("event %d applied %d times, want 1", i, n)
		}
	}
}

// TestAcksGoOnlyToTheChannelThatDelivered cuts the connection while a batch
// is in hand: its acknowledgements must not reach the next channel (where
// the delivery tags mean other messages, or none and the broker closes the
// channel); the broker redelivers the batch on the new channel instead.
func TestAcksGoOnlyToTheChannelThatDelivered(t *testing.T) {
	url := amqptest.URL(t)
	topo := amqptest.Topology(t, url, testKeys...)
	proxy := amqptest.NewProxy(t, url)
	declare(t, url, topo)
	publish(t, url, topo, put("a"), put("b"), put("c"))

	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	var mu sync.Mutex
	first := true
	rec := &recorder{fail: func(n note) error {
		mu.Lock()
		hold := first
		first = false
		mu.Unlock()
		if hold {
			entered <- struct{}{}
			<-release // the batch is in hand while the connection dies
		}
		return nil
	}}
	opts := options(proxy.URL, topo)
	opts.BatchWait = 100 * time.Millisecond
	r := start(t, opts, rec)
	<-entered
	proxy.Cut()
	amqptest.WaitFor(t, "connection noticed lost", func() bool { return r.c.Ready(context.Background()) != nil })
	close(release) // the handler "commits" now; its channel is gone
	amqptest.WaitFor(t, "redelivered batch applied", func() bool { _, re := rec.count("c"); return re == 1 })
	amqptest.WaitFor(t, "queue empty", func() bool { return amqptest.Depth(t, url, topo.Queue) == 0 })
	time.Sleep(300 * time.Millisecond) // a wrong-channel ack would close the new channel now
	if got := value(r.metrics.Reconnects); got != 1 {
		t.Errorf("reconnects = %v, want exactly 1 (a second one means an ack hit the wrong channel)", got)
	}
	for _, id := range []string{"a", "b", "c"} {
		if n, re := rec.count(id); n != 2 || re != 1 {
			t.Errorf("%s applied %d times (%d redelivered), want 2 (1)", id, n, re)
		}
	}
	if err := r.c.Ready(context.Background()); err != nil {
		t.Errorf("not ready after reconnect: %v", err)
	}
}

func TestStopFinishesTheBatchInHandAndLeavesTheRest(t *testing.T) {
	url := amqptest.URL(t)
	topo := amqptest.Topology(t, url, testKeys...)
	declare(t, url, topo)
	var msgs []amqptest.Message
	for i := range 200 {
		msgs = append(msgs, put(fmt.Sprint(i)))
	}
	publish(t, url, topo, msgs...)
	rec := &recorder{delay: 300 * time.Millisecond}
	opts := options(url, topo)
	opts.Prefetch, opts.MaxBatch = 20, 10
	r := start(t, opts, rec)
	amqptest.WaitFor(t, "a first batch applied", func() bool { return rec.total() > 0 })
	took := r.stop()
	if took > 5*time.Second {
		t.Errorf("stop took %s, want about one batch (300 ms)", took)
	}
	// Every applied event was acknowledged, every other one is back in the queue.
	applied := rec.total()
	amqptest.WaitFor(t, "unapplied messages back in the queue", func() bool { return amqptest.Depth(t, url, topo.Queue) == 200-applied })
	if applied == 200 {
		t.Error("everything was applied: the consumer did not stop taking messages")
	}
}

func TestDrainTimeoutLeavesStuckDeliveriesToTheBroker(t *testing.T) {
	url := amqptest.URL(t)
	topo := amqptest.Topology(t, url, testKeys...)
	rec := &recorder{fail: func(note) error { return errors.New("database still down") }}
	opts := options(url, topo)
	opts.DrainTimeout = time.Second
	r := start(t, opts, rec)
	publish(t, url, topo, put("1"), put("2"))
	amqptest.WaitFor(t, "retrying", func() bool { return value(r.metrics.Retries) > 2 })
	took := r.stop()
	if took < time.Second || took > 10*time.Second {
		t.Errorf("stop took %s, want about the 1 s drain timeout", took)
	}
	amqptest.WaitFor(t, "both back in the queue", func() bool { return amqptest.Depth(t, url, topo.Queue) == 2 })
	if n := amqptest.Depth(t, url, topo.DeadLetterQueue()); n != 0 {
		t.Errorf("DLQ has %d, want 0", n)
	}
}

// value reads a counter (the prometheus testutil package would add a module).
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

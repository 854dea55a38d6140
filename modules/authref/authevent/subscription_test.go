package authevent_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zaptest"

	"usersvc/internal/testkit/amqptest"
	"usersvc/modules/authref/authevent"
	"usersvc/platform/amqp"
)

// recorder is an in-memory handler: it remembers what it applied and fails
// as the test tells it to.
type recorder struct {
	mu      sync.Mutex
	applied []authevent.Event
	single  int // Handle calls
	batches int // HandleBatch calls
	fail    func(e authevent.Event) error
}

func (r *recorder) handle(ctx context.Context, e authevent.Event) error {
	r.mu.Lock()
	r.single++
	r.mu.Unlock()
	return r.apply(ctx, []authevent.Event{e})
}

func (r *recorder) batch(ctx context.Context, es []authevent.Event) error {
	r.mu.Lock()
	r.batches++
	r.mu.Unlock()
	return r.apply(ctx, es)
}

// apply is all or nothing, like a transaction.
func (r *recorder) apply(_ context.Context, es []authevent.Event) error {
	if r.fail != nil {
		for _, e := range es {
			if err := r.fail(e); err != nil {
				return err
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = append(r.applied, es...)
	return nil
}

func (r *recorder) handler(name string, types ...string) authevent.Handler {
	return authevent.Handler{Name: name, Types: types, Handle: r.handle, HandleBatch: r.batch}
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for _, e := range r.applied {
		ids = append(ids, string(e.Type)+":"+e.UserID)
	}
	return ids
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func TestDispatcherGivesEachHandlerItsTypesInOrder(t *testing.T) {
	lifecycle, deletions := &recorder{}, &recorder{}
	d, err := authevent.NewDispatcher([]authevent.Handler{
		lifecycle.handler("lifecycle", "UserCreated", "user.updated", "USER_DELETED"),
		deletions.handler("deletions", "user-deleted"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Handles(authevent.UserUpdated) || d.Handles("passwordchanged") {
		t.Error("Handles does not follow the registered types")
	}
	es := []authevent.Event{
		{Type: authevent.UserCreated, UserID: "1"},
		{Type: authevent.UserDeleted, UserID: "2"},
		{Type: authevent.UserUpdated, UserID: "3"},
	}
	if err := d.Apply(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(lifecycle.ids()); got != "[usercreated:1 userdeleted:2 userupdated:3]" {
		t.Errorf("lifecycle got %s", got)
	}
	if got := fmt.Sprint(deletions.ids()); got != "[userdeleted:2]" {
		t.Errorf("deletions got %s", got)
	}
	if lifecycle.batches != 1 || lifecycle.single != 0 || deletions.single != 1 || deletions.batches != 0 {
		t.Errorf("calls: lifecycle %d batch %d single, deletions %d batch %d single; want one batch, one single",
			lifecycle.batches, lifecycle.single, deletions.batches, deletions.single)
	}
}

func TestDispatcherRefusesIncompleteHandlers(t *testing.T) {
	r := &recorder{}
	for name, h := range map[string]authevent.Handler{
		"no types":   {Name: "x", Handle: r.handle},
		"no handle":  {Name: "x", Types: []string{"UserCreated"}},
		"empty type": {Name: "x", Types: []string{"._-"}, Handle: r.handle},
	} {
		if _, err := authevent.Subscribe([]authevent.Handler{h}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestPoisonIsDeadLetteredAndTheNextMessageProcessed runs the real consumer
// on the auth-service format: each reason a message cannot be read, handler
// poison, data the database refuses and an unknown type, then a good event.
func TestPoisonIsDeadLetteredAndTheNextMessageProcessed(t *testing.T) {
	url := amqptest.URL(t)
	topo := amqptest.Topology(t, url)
	rec := &recorder{fail: func(e authevent.Event) error {
		switch e.UserID {
		case "handler-poison":
			return amqp.Poison(errors.New("cannot apply"))
		case "check-violation":
			return &pgconn.PgError{Code: "23514", Message: "check violation"}
		}
		return nil
	}}
	sub, err := authevent.Subscribe([]authevent.Handler{rec.handler("recorder", "UserCreated", "user.updated", "USER_DELETED")})
	if err != nil {
		t.Fatal(err)
	}
	m := amqp.NewMetrics(prometheus.NewRegistry())
	c, err := amqp.NewConsumer(amqp.Options{
		URL: url, Topology: topo, Prefetch: 50,
		Retry:     amqp.Backoff{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond},
		Reconnect: amqp.Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond},
	}, sub, m, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	amqptest.WaitFor(t, "consumer ready", func() bool { return c.Ready(ctx) == nil })

	created := func(id string) amqptest.Message {
		return amqptest.Message{Key: "user.created", Body: fmt.Appendf(nil, `{"event_type":"UserCreated","event_id":"e-%s","data":{"id":%q}}`, id, id)}
	}
	pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer pcancel()
	if err := amqptest.PublishAll(pctx, url, topo.Exchange, []amqptest.Message{
		{Key: "user.created", Body: []byte(`{not json`)},
		{Key: "user.created", Body: []byte(`{"event_type":"UserCreated","data":{"email":"no-id@example.com"}}`)},
		{Key: "user.created", Body: []byte(`{"event_type":"UserCreated","data":{"id":"bad id!"}}`)},
		created("handler-poison"),
		created("check-violation"),
		{Key: "user.updated", Body: []byte(`{"event_type":"PasswordChanged","data":{}}`)}, // unknown: acked
		created("good"),
	}, 500, nil); err != nil {
		t.Fatal(err)
	}
	amqptest.WaitFor(t, "good event applied", func() bool { return fmt.Sprint(rec.ids()) == "[usercreated:good]" })
	amqptest.WaitFor(t, "five messages in the DLQ", func() bool { return amqptest.Depth(t, url, topo.DeadLetterQueue()) == 5 })
	amqptest.WaitFor(t, "queue empty", func() bool { return amqptest.Depth(t, url, topo.Queue) == 0 })
	for reason, want := range map[string]float64{"unparseable": 1, "missing_id": 1, "invalid_id": 1, "handler": 1, "invalid_data": 1} {
		if got := value(m.DeadLettered.WithLabelValues(reason)); got != want {
			t.Errorf("dead-lettered %s = %v, want %v", reason, got, want)
		}
	}
	if got := value(m.Consumed.WithLabelValues("unknown", "ignored")); got != 1 {
		t.Errorf("ignored unknown types = %v, want 1", got)
	}
	if got := value(m.Consumed.WithLabelValues("usercreated", "dead_lettered")); got != 5 {
		t.Errorf("dead-lettered usercreated = %v, want 5", got)
	}
	if got := value(m.Consumed.WithLabelValues("usercreated", "applied")); got != 1 {
		t.Errorf("applied usercreated = %v, want 1", got)
	}
}

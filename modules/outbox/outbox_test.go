package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"usersvc/internal/testkit/amqptest"
	"usersvc/internal/testkit/apptest"
	"usersvc/internal/testkit/asyncheck"
	"usersvc/internal/testkit/pgtest"
	"usersvc/modules/activity"
	"usersvc/modules/authref"
	"usersvc/modules/badges"
	"usersvc/modules/goals"
	"usersvc/modules/outbox"
	"usersvc/modules/profile"
	"usersvc/platform/amqp"
	"usersvc/platform/asyncapi"
	"usersvc/platform/openapi"
)

// received is one message as a real consumer read it.
type received struct {
	Key   string
	Props amqp091.Delivery
	Env   map[string]json.RawMessage
	Body  []byte
}

// sink is a durable queue bound to every key of the exchange, read by a
// consumer that reconnects after a broker restart.
type sink struct {
	mu   sync.Mutex
	msgs []received
}

func newSink(t *testing.T, brokerURL, exchange string) *sink {
	t.Helper()
	queue := "test.outbox." + amqptest.Suffix()
	s := &sink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	ready := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			s.consume(ctx, brokerURL, exchange, queue, func() { once.Do(func() { close(ready) }) })
			time.Sleep(200 * time.Millisecond)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if conn, err := amqp091.Dial(brokerURL); err == nil {
			if ch, err := conn.Channel(); err == nil {
				_, _ = ch.QueueDelete(queue, false, false, false)
				_ = ch.ExchangeDelete(exchange, false, false)
			}
			_ = conn.Close()
		}
	})
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the test consumer never connected")
	}
	return s
}

func (s *sink) consume(ctx context.Context, url, exchange, queue string, ready func()) {
	conn, err := amqp091.Dial(url)
	if err != nil {
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return
	}
	if ch.ExchangeDeclare(exchange, "topic", true, false, false, false, nil) != nil {
		return
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		return
	}
	if ch.QueueBind(queue, "#", exchange, false, nil) != nil {
		return
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		return
	}
	ready()
	for {
		select {
		case <-ctx.Done():
			return
		case d, ok := <-deliveries:
			if !ok {
				return
			}
			var env map[string]json.RawMessage
			_ = json.Unmarshal(d.Body, &env)
			s.mu.Lock()
			s.msgs = append(s.msgs, received{Key: d.RoutingKey, Props: d, Env: env, Body: d.Body})
			s.mu.Unlock()
			_ = d.Ack(false)
		}
	}
}

func (s *sink) all() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

// unique is what arrived, one per event_id, in arrival order.
func (s *sink) unique() []received {
	seen := map[string]bool{}
	var out []received
	for _, m := range s.all() {
		if id := m.Props.MessageId; !seen[id] {
			seen[id] = true
			out = append(out, m)
		}
	}
	return out
}

func (s *sink) waitFor(t *testing.T, n int, within time.Duration) []received {
	t.Helper()
	if err := amqptest.Eventually(within, 20*time.Millisecond, func() bool { return len(s.unique()) >= n }); err != nil {
		t.Fatalf("%d distinct events arrived, want %d", len(s.unique()), n)
	}
	return s.unique()
}

func newApp(t *testing.T) *apptest.App {
	t.Helper()
	return apptest.New(t, nil, authref.Module, profile.Module, badges.Module, goals.Module, activity.Module)
}

// startRelay runs a relay on the app's database until the test ends (or stop).
// relayedApp is an app whose events a running relay publishes to an exchange
// of the test's own, bound to a sink.
func relayedApp(t *testing.T) (*apptest.App, *sink) {
	t.Helper()
	brokerURL := amqptest.URL(t)
	exchange := "test.usersvc.events." + amqptest.Suffix()
	app := newApp(t)
	s := newSink(t, brokerURL, exchange)
	startRelay(t, app, brokerURL, exchange)
	return app, s
}

func startRelay(t *testing.T, app *apptest.App, brokerURL, exchange string) (relay *outbox.Relay, stop func()) {
	t.Helper()
	relay, _, stop = startRelayOn(t, app.DBURL, brokerURL, exchange, outbox.Options{})
	return relay, stop
}

// startRelayOn runs a relay on the database at dbURL until the test ends (or stop).
func startRelayOn(t *testing.T, dbURL, brokerURL, exchange string, opts outbox.Options) (relay *outbox.Relay, m *outbox.Metrics, stop func()) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	m = outbox.NewMetrics(prometheus.NewRegistry())
	if opts.Poll == 0 {
		opts.Poll = 200 * time.Millisecond
	}
	opts.LockRetry = 500 * time.Millisecond
	relay = outbox.NewRelay(cfg, amqp.NewPublisher(brokerURL, exchange), m,
		zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); relay.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return relay, m, stop
}

func mustDo(t *testing.T, app *apptest.App, status int, method, path string, body any, opts ...apptest.Option) apptest.Response {
	t.Helper()
	r := app.Do(method, path, body, opts...)
	if r.Status != status {
		t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, status)
	}
	return r
}

func TestEveryEventTypeWithItsEnvelope(t *testing.T) {
	t.Parallel()
	app, s := relayedApp(t)

	owner := apptest.Bearer(apptest.Token(t, "42", nil))
	admin := apptest.Bearer(apptest.AdminToken(t))
	badge := mustDo(t, app, 201, "POST", "/users/42/badges", map[string]any{"name": "First Steps"}, owner)
	goal := mustDo(t, app, 201, "POST", "/users/42/goals", map[string]any{"title": "Learn Go"}, owner)
	var g struct{ ID int64 }
	goal.JSON(t, &g)
	path := fmt.Sprintf("/users/42/goals/%d", g.ID)
	updated := mustDo(t, app, 200, "PUT", path, map[string]any{"title": "Learn Go well"}, admin) // an admin's change: the owner is still 42
	checkIn := mustDo(t, app, 201, "POST", path+"/check-ins", map[string]any{"minutes": 25}, owner)
	var c struct{ ID int64 }
	checkIn.JSON(t, &c)
	mustDo(t, app, 204, "DELETE", fmt.Sprintf("%s/check-ins/%d", path, c.ID), nil, owner)
	afterDelete := mustDo(t, app, 200, "GET", path, nil)
	completed := mustDo(t, app, 201, "POST", "/users/42/goals", map[string]any{"title": "Done", "status": "completed"}, owner)
	completedPut := mustDo(t, app, 200, "PUT", path, map[string]any{"status": "completed"}, owner)
	mustDo(t, app, 204, "DELETE", path, nil, owner)

	// Failures send nothing.
	apptest.ExpectProblem(t, app.Do("POST", "/users/42/badges", map[string]any{"name": "first steps"}, owner), 409)
	apptest.ExpectProblem(t, app.Do("POST", "/users/42/goals", map[string]any{"title": ""}, owner), 422)
	apptest.ExpectProblem(t, app.Do("PUT", path, map[string]any{"title": "x"}, owner), 404)
	apptest.ExpectProblem(t, app.Do("POST", "/users/7/goals", map[string]any{"title": "x"}, owner), 403)

	type want struct {
		key, typ, member string
		object           []byte
	}
	wants := []want{
		{"badge.awarded", "BadgeAwarded", "badge", badge.Body},
		{"goal.created", "GoalCreated", "goal", goal.Body},
		{"goal.updated", "GoalUpdated", "goal", updated.Body},
		{"goal.checked_in", "GoalCheckedIn", "check_in", checkIn.Body},
		{"goal.updated", "GoalUpdated", "goal", afterDelete.Body},
		{"goal.created", "GoalCreated", "goal", completed.Body},
		{"goal.completed", "GoalCompleted", "goal", completed.Body},
		{"goal.updated", "GoalUpdated", "goal", completedPut.Body},
		{"goal.completed", "GoalCompleted", "goal", completedPut.Body},
		{"goal.deleted", "GoalDeleted", "", nil},
	}
	published := asyncAPI(t)
	got := s.waitFor(t, len(wants), 10*time.Second)
	time.Sleep(500 * time.Millisecond) // nothing more comes
	if got = s.unique(); len(got) != len(wants) {
		t.Fatalf("%d events, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		m := got[i]
		if m.Key != w.key || m.Props.Type != w.typ || m.Props.ContentType != "application/json" ||
			m.Props.DeliveryMode != amqp091.Persistent || m.Props.Timestamp.IsZero() {
			t.Errorf("event %d: key %q type %q content type %q mode %d timestamp %v, want %s", i, m.Key, m.Props.Type,
				m.Props.ContentType, m.Props.DeliveryMode, m.Props.Timestamp, w.key)
		}
		if err := published.Validate(t, w.typ, m.Body); err != nil {
			t.Errorf("event %d (%s) breaks its AsyncAPI message schema: %v\n%s", i, w.key, err, m.Body)
		}
		if len(m.Env) != 4 {
			t.Errorf("event %d: envelope %s, want exactly event_id, event_type, occurred_at, data", i, m.Body)
		}
		var id, typ, at string
		_ = json.Unmarshal(m.Env["event_id"], &id)
		_ = json.Unmarshal(m.Env["event_type"], &typ)
		_ = json.Unmarshal(m.Env["occurred_at"], &at)
		if id != m.Props.MessageId || len(id) != 36 || typ != w.typ {
			t.Errorf("event %d: event_id %q message_id %q event_type %q", i, id, m.Props.MessageId, typ)
		}
		if ts, err := time.Parse(time.RFC3339Nano, at); err != nil || !strings.HasSuffix(at, "Z") || time.Since(ts) > time.Minute {
			t.Errorf("event %d: occurred_at %q", i, at)
		}
		var data map[string]json.RawMessage
		if err := json.Unmarshal(m.Env["data"], &data); err != nil || string(data["auth_user_id"]) != `"42"` {
			t.Errorf("event %d: data %s", i, m.Env["data"])
			continue
		}
		if w.member == "" {
			if len(data) != 2 || string(data["goal_id"]) != fmt.Sprint(g.ID) {
				t.Errorf("goal.deleted data %s", m.Env["data"])
			}
			continue
		}
		if len(data) != 2 || !sameJSON(data[w.member], w.object) {
			t.Errorf("event %d (%s): data %s, want %s: %s", i, w.key, m.Env["data"], w.member, w.object)
		}
	}
}

// asyncAPI is the AsyncAPI document as `usersvc serve` assembles it, from
// the same fragments (the published payloads name the API's schemas).
func asyncAPI(t *testing.T) *asyncheck.Doc {
	t.Helper()
	info := openapi.Info{Title: "usersvc", Version: "test"}
	oas, err := openapi.Build(info, authref.Fragment(), profile.Fragment(), badges.Fragment(), goals.Fragment(), activity.Fragment())
	if err != nil {
		t.Fatal(err)
	}
	cfg := apptest.Config(t, "postgres://postgres@127.0.0.1:1/unused?sslmode=disable")
	doc, err := asyncapi.New(asyncapi.Params{Info: info, OpenAPI: oas, Fragments: []asyncapi.Fragment{authref.AsyncAPI(cfg), outbox.AsyncAPI(cfg)}})
	if err != nil {
		t.Fatal(err)
	}
	return asyncheck.Must(t, doc.Bytes())
}

// The published schemas are exact: the envelope and data have no other
// field, and each message takes its own event type only.
func TestAsyncAPIPublishedSchemasAreExact(t *testing.T) {
	d := asyncAPI(t)
	ok := `{"event_id":"6f1c2b0e-8a4d-4c4e-9a7e-2f1d3c4b5a69","event_type":"GoalDeleted","occurred_at":"2026-01-02T03:04:05.123456Z","data":`
	deleted := outbox.Deleted("42", 9)
	if err := d.Validate(t, "GoalDeleted", []byte(ok+string(deleted.Data)+`}`)); err != nil {
		t.Errorf("GoalDeleted refuses outbox.Deleted's data: %v", err)
	}
	for why, body := range map[string]string{
		"extra envelope field": ok + string(deleted.Data) + `,"x":1}`,
		"extra data field":     ok + `{"auth_user_id":"42","goal_id":9,"x":1}}`,
		"missing goal_id":      ok + `{"auth_user_id":"42"}}`,
		"bad owner":            ok + `{"auth_user_id":"","goal_id":9}}`,
	} {
		if d.Validate(t, "GoalDeleted", []byte(body)) == nil {
			t.Errorf("GoalDeleted accepts an envelope with %s", why)
		}
	}
	if d.Validate(t, "GoalCreated", []byte(ok+string(deleted.Data)+`}`)) == nil {
		t.Error("GoalCreated accepts a GoalDeleted event")
	}
	badge := outbox.Object(outbox.BadgeAwarded, "42", "badge", []byte(`{"nope":true}`))
	if d.Validate(t, "BadgeAwarded", []byte(strings.Replace(ok, "GoalDeleted", "BadgeAwarded", 1)+string(badge.Data)+`}`)) == nil {
		t.Error("BadgeAwarded accepts a badge that is not a Badge")
	}
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

func TestOrderPerUserOverAThousandChanges(t *testing.T) {
	t.Parallel()
	app, s := relayedApp(t)

	const users, perUser = 4, 250
	var wg sync.WaitGroup
	for u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprint(100 + u)
			owner := apptest.Bearer(apptest.Token(t, user, nil))
			r := app.Do("POST", "/users/"+user+"/goals", map[string]any{"title": "0"}, owner)
			var g struct{ ID int64 }
			_ = json.Unmarshal(r.Body, &g)
			for i := 1; i < perUser; i++ {
				if r := app.Do("PUT", fmt.Sprintf("/users/%s/goals/%d", user, g.ID), map[string]any{"title": fmt.Sprint(i)}, owner); r.Status != 200 {
					t.Errorf("PUT: %d %s", r.Status, r.Body)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := s.waitFor(t, users*perUser, 60*time.Second)
	next := map[string]int{}
	for _, m := range got {
		var env struct {
			Data struct {
				User string `json:"auth_user_id"`
				Goal struct{ Title string }
			}
		}
		_ = json.Unmarshal(m.Body, &env)
		if want := fmt.Sprint(next[env.Data.User]); env.Data.Goal.Title != want {
			t.Fatalf("user %s: title %q arrived when %q was next", env.Data.User, env.Data.Goal.Title, want)
		}
		next[env.Data.User]++
	}
}

func TestTwoRelaysOneLeadsTheOtherTakesOver(t *testing.T) {
	t.Parallel()
	brokerURL := amqptest.URL(t)
	exchange := "test.usersvc.events." + amqptest.Suffix()
	app := newApp(t)
	s := newSink(t, brokerURL, exchange)
	a, stopA := startRelay(t, app, brokerURL, exchange)
	b, stopB := startRelay(t, app, brokerURL, exchange)
	if err := amqptest.Eventually(5*time.Second, 20*time.Millisecond, func() bool { return a.Leading() || b.Leading() }); err != nil {
		t.Fatal("no relay leads")
	}
	time.Sleep(time.Second)
	if a.Leading() == b.Leading() {
		t.Fatalf("leading: %v and %v, want exactly one", a.Leading(), b.Leading())
	}
	active, stopActive, standby := a, stopA, b
	if b.Leading() {
		active, stopActive, standby = b, stopB, a
	}
	owner := apptest.Bearer(apptest.Token(t, "9", nil))
	mustDo(t, app, 201, "POST", "/users/9/badges", map[string]any{"name": "one"}, owner)
	s.waitFor(t, 1, 5*time.Second)

	stopActive()
	if active.Leading() {
		t.Fatal("a stopped relay still leads")
	}
	start := time.Now()
	mustDo(t, app, 201, "POST", "/users/9/badges", map[string]any{"name": "two"}, owner)
	s.waitFor(t, 2, 10*time.Second)
	if !standby.Leading() {
		t.Fatal("the standby published without leading")
	}
	t.Logf("taken over and published in %v", time.Since(start))
}

func TestATransactionThatCommitsLaterIsStillPublished(t *testing.T) {
	t.Parallel()
	app, s := relayedApp(t)
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('early'), ('late')`)
	ctx := t.Context()

	// early takes its xid first and commits last.
	early, err := app.DB.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Rollback(context.WithoutCancel(ctx))
	if err := outbox.Record(ctx, early, outbox.Deleted("early", 1)); err != nil {
		t.Fatal(err)
	}
	late, err := app.DB.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.Record(ctx, late, outbox.Deleted("late", 2)); err != nil {
		t.Fatal(err)
	}
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := early.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got := s.waitFor(t, 2, 5*time.Second)
	var users []string
	for _, m := range got {
		var env struct {
			Data struct {
				User string `json:"auth_user_id"`
			}
		}
		_ = json.Unmarshal(m.Body, &env)
		users = append(users, env.Data.User)
	}
	sort.Strings(users)
	if strings.Join(users, ",") != "early,late" {
		t.Fatalf("published %v", users)
	}
}

func TestARolledBackChangeSendsNothing(t *testing.T) {
	t.Parallel()
	app, s := relayedApp(t)
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('u')`)
	ctx := t.Context()
	tx, err := app.DB.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.Record(ctx, tx, outbox.Deleted("u", 1)); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback(ctx)
	app.Exec(`DELETE FROM auth_users WHERE auth_user_id = 'u'`)
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('v')`)
	tx, _ = app.DB.Begin(ctx)
	_ = outbox.Record(ctx, tx, outbox.Deleted("v", 2))
	_ = tx.Commit(ctx)
	got := s.waitFor(t, 1, 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	if got = s.unique(); len(got) != 1 || !strings.Contains(string(got[0].Body), `"v"`) {
		t.Fatalf("published %d events: %v", len(got), got)
	}
}

func TestRelayAcrossABrokerRestart(t *testing.T) {
	t.Parallel()
	broker := amqptest.StartBroker(t)
	exchange := "test.usersvc.events." + amqptest.Suffix()
	app := newApp(t)
	s := newSink(t, broker.URL, exchange)
	relay, _ := startRelay(t, app, broker.URL, exchange)
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('r')`)
	ctx := t.Context()
	record := func(i int) {
		tx, err := app.DB.Begin(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		if err := outbox.Record(ctx, tx, outbox.Deleted("r", int64(i))); err != nil {
			t.Error(err)
		}
		_ = tx.Commit(ctx)
	}
	const total = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range total {
			record(i)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)
	broker.Restart(t)
	<-done
	got := s.waitFor(t, total, 60*time.Second)
	var pending int
	if err := app.DB.QueryRow(ctx, `SELECT count(*) FROM outbox_events WHERE published_at IS NULL`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("%d events unpublished (%v)", pending, err)
	}
	for i, m := range got {
		var env struct {
			Data struct {
				Goal int `json:"goal_id"`
			}
		}
		_ = json.Unmarshal(m.Body, &env)
		if env.Data.Goal != i {
			t.Fatalf("event %d carries goal %d: order lost across the restart", i, env.Data.Goal)
		}
	}
	t.Logf("%d messages for %d events (duplicates across the restart); relay leading %v", len(s.all()), total, relay.Leading())
}

// ownPostgres is a PostgreSQL of the test's own with durable settings, to
// stop and start at will (stopping the shared one would break the packages
// testing beside this one).
type ownPostgres struct{ dir, port, url string }

func startOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	p := &ownPostgres{dir: t.TempDir(), port: fmt.Sprint(amqptest.FreePort(t))}
	t.Cleanup(func() { amqptest.RunServices(t, nil, "destroy", p.dir) })
	amqptest.RunServices(t, []string{"PG_FAST=0"}, "start-pg", p.dir, p.port)
	p.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable", p.port)
	if err := pgtest.Migrate(p.url); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return p
}

// crash stops the server at once (no shutdown checkpoint: it recovers from its WAL at start).
func (p *ownPostgres) crash(t *testing.T) {
	amqptest.RunServices(t, []string{"PG_STOP_MODE=immediate"}, "stop-pg", p.dir)
}
func (p *ownPostgres) start(t *testing.T) { amqptest.RunServices(t, nil, "start-pg", p.dir, p.port) }

// The database crashes while events are written and relayed: every event
// committed arrives at least once, in order; what arrives twice is no more
// than the relay counted as at risk.
func TestRelayAcrossADatabaseRestart(t *testing.T) {
	t.Parallel()
	pg := startOwnPostgres(t)
	brokerURL := amqptest.URL(t)
	exchange := "test.usersvc.events." + amqptest.Suffix()
	s := newSink(t, brokerURL, exchange)
	_, metrics, _ := startRelayOn(t, pg.url, brokerURL, exchange, outbox.Options{})
	pool := pgtest.Pool(t, pg.url)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, `INSERT INTO auth_users (auth_user_id) VALUES ('r')`); err != nil {
		t.Fatal(err)
	}
	record := func(i int) error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		if err := outbox.Record(ctx, tx, outbox.Deleted("r", int64(i))); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	const total = 400
	var failedWrites atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total && ctx.Err() == nil; {
			if err := record(i); err != nil {
				failedWrites.Add(1) // the database is down: the same change again (its first try may have committed)
				time.Sleep(50 * time.Millisecond)
				continue
			}
			i++
			time.Sleep(5 * time.Millisecond)
		}
	}()
	amqptest.WaitFor(t, "some events relayed", func() bool { return len(s.unique()) >= 100 })
	pg.crash(t)
	time.Sleep(time.Second)
	pg.start(t)
	<-done

	// What the database holds is what was committed.
	var want []string
	if err := amqptest.Eventually(time.Minute, 50*time.Millisecond, func() bool {
		rows, err := pool.Query(ctx, `SELECT event_id::text FROM outbox_events ORDER BY id`)
		if err != nil {
			return false
		}
		want, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err == nil && len(want) >= total
	}); err != nil {
		t.Fatalf("the events committed: %d, %v", len(want), err)
	}
	got := s.waitFor(t, len(want), time.Minute)
	arrived := map[string]bool{}
	last := -1
	for _, m := range got {
		arrived[m.Props.MessageId] = true
		var env struct {
			Data struct {
				Goal int `json:"goal_id"`
			}
		}
		_ = json.Unmarshal(m.Body, &env)
		if env.Data.Goal < last {
			t.Fatalf("goal %d arrived after goal %d: order lost across the restart", env.Data.Goal, last)
		}
		last = env.Data.Goal
	}
	for _, id := range want {
		if !arrived[id] {
			t.Fatalf("event %s was committed and never arrived", id)
		}
	}
	var pending int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox_events WHERE published_at IS NULL`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("%d events unpublished (%v)", pending, err)
	}
	duplicates := len(s.all()) - len(got)
	risk := testutil.ToFloat64(metrics.DuplicateRisk)
	if float64(duplicates) > risk {
		t.Errorf("%d duplicates arrived, but the relay counted only %v at risk", duplicates, risk)
	}
	t.Logf("%d events committed (%d writes failed during the outage); %d messages, %d duplicates; duplicate risk counted %v",
		len(want), failedWrites.Load(), len(s.all()), duplicates, risk)
}

// A dozing relay is woken by the writer's notification, not by its poll:
// with the fallback poll at a minute, each event of a quiet spell arrives
// within seconds.
func TestADozingRelayWakesOnTheDoorbell(t *testing.T) {
	t.Parallel()
	brokerURL := amqptest.URL(t)
	exchange := "test.usersvc.events." + amqptest.Suffix()
	app := newApp(t)
	s := newSink(t, brokerURL, exchange)
	startRelayOn(t, app.DBURL, brokerURL, exchange, outbox.Options{Poll: time.Minute})
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('d')`)
	for i := range 3 {
		time.Sleep(time.Second) // a quiet spell: the relay dozes
		start := time.Now()
		tx, err := app.DB.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := outbox.Record(t.Context(), tx, outbox.Deleted("d", int64(i))); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		s.waitFor(t, i+1, 10*time.Second)
		t.Logf("event %d arrived %v after its commit", i, time.Since(start).Round(time.Millisecond))
	}
}

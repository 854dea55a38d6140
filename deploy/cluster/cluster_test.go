package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"usersvc/internal/testkit/amqptest"
	"usersvc/internal/testkit/apptest"
	"usersvc/internal/testkit/lbtest"
	"usersvc/internal/testkit/proctest"
)

// profile sizes a run: `make test` runs the short one, `make cluster`
// (USERSVC_CLUSTER=long) the long one.
type profile struct {
	name          string
	steady        time.Duration // load before the failover, and after each phase
	workers       int           // concurrent clients
	users         int           // users per client
	eventUsers    int           // users whose auth events are published, in each of two waves
	updates       int           // UserUpdated per user
	shutdownDelay time.Duration // SHUTDOWN_DELAY of serve
}

var profiles = map[string]profile{
	"short": {name: "short", steady: 4 * time.Second, workers: 6, users: 40, eventUsers: 150, updates: 8, shutdownDelay: time.Second},
	"long":  {name: "long", steady: 20 * time.Second, workers: 8, users: 60, eventUsers: 1000, updates: 10, shutdownDelay: 2 * time.Second},
}

// rateLimit is each serve's RATE_LIMIT_PER_MINUTE: low enough that a burst
// shows what the limit is across replicas, far above what one load user sends.
const rateLimit = 300

// cluster is the five processes and what the test watches them through.
type cluster struct {
	serves, consumes []*replica
	lb               *lbtest.Balancer
	db               *pgxpool.Pool
	broker           string
}

// figures are what a run reports.
type figures struct {
	requests, failures, rollFailures, rollRequests int64
	spread                                         []int64
	eventsPerConsumer                              []float64
	eventsTotal                                    int
	violations                                     int
	maxLeaders                                     int
	failover                                       time.Duration
	outboxRecorded, outboxMissing                  int
	rolling                                        time.Duration
	cpuPerRequest, cpuOverall                      time.Duration
	rateAllowed                                    int
}

// TestCluster proves that several replicas behave as one: three serve and
// two consume processes of the real binary, on one private PostgreSQL and
// RabbitMQ, under continuous load through a balancer that follows /ready.
func TestCluster(t *testing.T) {
	p := profiles["short"]
	if os.Getenv("USERSVC_CLUSTER") == "long" {
		p = profiles["long"]
	}
	began := time.Now()
	step := func(what string) { t.Logf("%5.1fs %s", time.Since(began).Seconds(), what) }
	bin, err := proctest.Build(t.TempDir(), "usersvc/cmd/usersvc")
	if err != nil {
		t.Fatal(err)
	}
	step("built")
	stack := proctest.StartStack(t)
	step("PostgreSQL and RabbitMQ started")
	migrate(t, bin, stack.DatabaseURL)
	sinkQueue(t, stack.RabbitMQURL)
	c := startCluster(t, bin, stack, p)
	step("3 serve and 2 consume ready")
	var f figures

	leaders := watchLeaders(c)
	waitFor(t, "one relay leading", 15*time.Second, func() bool { _, n := c.leader(); return n == 1 })
	l := startLoad(t, c.lb.URL, p.workers, p.users)

	// 1. Steady load, and a first wave of auth events over both consumers.
	cpu0, req0, t0 := c.serveCPU(), c.served(), time.Now()
	wave1 := stories("ev-a", p.eventUsers, p.updates, time.Now().Add(-time.Hour))
	n1, err := publishStories(context.Background(), c.broker, wave1)
	if err != nil {
		t.Fatal(err)
	}
	f.eventsTotal += n1
	waitFor(t, "wave 1 applied", 60*time.Second, func() bool { return c.consumed() >= float64(n1) })
	for _, r := range c.consumes {
		v, _ := r.metric("events_consumed_total", `outcome="applied"`)
		f.eventsPerConsumer = append(f.eventsPerConsumer, v)
	}
	time.Sleep(time.Until(t0.Add(p.steady)))
	cpu1, req1 := c.serveCPU(), c.served()
	f.cpuPerRequest = (cpu1 - cpu0) / time.Duration(max(req1-req0, 1))
	step("steady load and the first wave done")

	// 2. The relay's failover: SIGKILL the leading consume while a second
	// wave of events is in flight; the other must publish within 10 s.
	wave2 := stories("ev-b", p.eventUsers, p.updates, time.Now().Add(-time.Hour))
	published := make(chan error, 1)
	f.failover = c.killLeader(t, func() {
		n2, err := publishStories(context.Background(), c.broker, wave2)
		f.eventsTotal += n2
		published <- err
	})
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	// A violation never heals (no later event comes): wait for the state
	// every last event leaves, then count who is not in it.
	all := append(append([]userStory{}, wave1...), wave2...)
	_ = amqptest.Eventually(60*time.Second, 100*time.Millisecond, func() bool {
		v, err := orderViolations(context.Background(), c.db, all)
		return err == nil && v == 0
	})
	f.violations, err = orderViolations(context.Background(), c.db, all)
	if err != nil {
		t.Fatal(err)
	}
	step("relay failover and the second wave done")
	time.Sleep(p.steady / 2)

	// 3. A rolling restart of the three serve processes under the load.
	f.rolling = c.rollingRestart(t, l, p.steady/4)
	step("rolling restart done")
	time.Sleep(p.steady / 2)
	l.stop()

	f.requests, f.failures = l.requests.Load(), l.failures.Load()
	f.rollFailures, f.rollRequests = l.duringRoll.Load(), l.rollReqs.Load()
	for _, b := range c.lb.Backends {
		f.spread = append(f.spread, b.Served())
	}
	f.outboxRecorded, f.outboxMissing = c.outboxDelivered(t)
	f.rateAllowed = burst(t, c.lb.URL, 4*rateLimit)
	f.cpuOverall = c.stopAll(t) / time.Duration(max(c.served(), 1))
	f.maxLeaders = leaders()
	step("stopped")

	report(t, p, f)
	f.check(t, l.firstFailures())
}

func (f figures) check(t *testing.T, firstFailures []string) {
	t.Helper()
	if f.failures != 0 {
		t.Errorf("%d of %d requests failed (%d during the rolling restart); first: %s",
			f.failures, f.requests, f.rollFailures, strings.Join(firstFailures, " | "))
	}
	for i, n := range f.spread {
		if float64(n) < 0.2*float64(f.requests) {
			t.Errorf("serve-%d answered %d of %d requests: the load is not spread", i+1, n, f.requests)
		}
	}
	for i, n := range f.eventsPerConsumer {
		if n == 0 {
			t.Errorf("consume-%d applied no event of the first wave", i+1)
		}
	}
	if f.violations != 0 {
		t.Errorf("%d users' final state is not their last event's", f.violations)
	}
	if f.maxLeaders != 1 {
		t.Errorf("at most %d relays led at once, want exactly 1", f.maxLeaders)
	}
	if f.failover > 10*time.Second {
		t.Errorf("relay failover took %s, want ≤ 10 s", f.failover)
	}
	if f.outboxMissing != 0 {
		t.Errorf("%d of %d outbox events never reached the broker", f.outboxMissing, f.outboxRecorded)
	}
	// One process would allow rateLimit; three allow up to three times it.
	if f.rateAllowed <= rateLimit || f.rateAllowed > 3*rateLimit {
		t.Errorf("a burst of one client got %d answers before 429, want between %d and %d", f.rateAllowed, rateLimit+1, 3*rateLimit)
	}
}

func migrate(t *testing.T, bin, dbURL string) {
	t.Helper()
	p, err := proctest.Start(bin, t.TempDir(), []string{"DATABASE_URL=" + dbURL}, "migrate", "up")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	if err := p.Wait(time.Minute); err != nil {
		t.Fatalf("migrate up: %v\n%s", err, p.Logs.String())
	}
}

// sinkQueue binds a queue to every event usersvc publishes: the relay
// publishes with the mandatory flag, and it is where the test counts them.
func sinkQueue(t *testing.T, brokerURL string) {
	t.Helper()
	if err := amqptest.BindAll(brokerURL, "usersvc.events", sink); err != nil {
		t.Fatal(err)
	}
}

const sink = "cluster.sink"

func startCluster(t *testing.T, bin string, stack *proctest.Stack, p profile) *cluster {
	t.Helper()
	env := []string{
		"DATABASE_URL=" + stack.DatabaseURL, "RABBITMQ_URL=" + stack.RabbitMQURL,
		"SECRET_KEY=" + apptest.Secret, "LOG_LEVEL=warn",
		"DATABASE_POOL_SIZE=4", "DATABASE_MAX_OVERFLOW=6",
		fmt.Sprintf("RATE_LIMIT_PER_MINUTE=%d", rateLimit), "TRUSTED_PROXIES=127.0.0.1",
		"SHUTDOWN_DELAY=" + p.shutdownDelay.String(),
		// Small windows: a user's neighbouring events land on both consumers.
		"RABBITMQ_PREFETCH=10",
	}
	c := &cluster{broker: stack.RabbitMQURL}
	for i := range 2 {
		// The relay's lock changes are logged at info: what a failed failover needs.
		r := newReplica(t, bin, fmt.Sprintf("consume-%d", i+1), append(env, "LOG_LEVEL=info"), "consume")
		r.start(t)
		c.consumes = append(c.consumes, r)
	}
	var urls []string
	for i := range 3 {
		r := newReplica(t, bin, fmt.Sprintf("serve-%d", i+1), env, "serve")
		r.start(t)
		c.serves = append(c.serves, r)
		urls = append(urls, r.base)
	}
	c.lb = lbtest.New(t, lbtest.Options{}, urls...)
	if !c.lb.WaitReady(10 * time.Second) {
		t.Fatal("the balancer never saw the three serve processes ready")
	}
	var err error
	c.db, err = pgxpool.New(context.Background(), stack.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.db.Close)
	return c
}

// leader returns the consume whose relay leads and how many lead.
func (c *cluster) leader() (*replica, int) {
	var lead *replica
	n := 0
	for _, r := range c.consumes {
		if v, ok := r.metric("outbox_relay_leader"); ok && v == 1 {
			lead = r
			n++
		}
	}
	return lead, n
}

// watchLeaders samples the relays every 100 ms until the returned function
// is called, which reports the most that led at once.
func watchLeaders(c *cluster) func() int {
	var most atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			_, n := c.leader()
			if int64(n) > most.Load() {
				most.Store(int64(n))
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() int { close(stop); wg.Wait(); return int(most.Load()) }
}

// consumed is every event the running consume processes settled.
func (c *cluster) consumed() float64 {
	sum := 0.0
	for _, r := range c.consumes {
		v, _ := r.metric("events_consumed_total")
		sum += v
	}
	return sum
}

func (c *cluster) served() int64 {
	var n int64
	for _, b := range c.lb.Backends {
		n += b.Served()
	}
	return n
}

func (c *cluster) serveCPU() time.Duration {
	var d time.Duration
	for _, r := range c.serves {
		d += r.totalCPU()
	}
	return d
}

// killLeader starts inFlight (publishing a wave of events), SIGKILLs the
// leading relay's process once it is consuming that wave, and returns the
// time until the other process published. The killed one is started again
// (it must stand by).
func (c *cluster) killLeader(t *testing.T, inFlight func()) time.Duration {
	t.Helper()
	lead, _ := c.leader()
	if lead == nil {
		t.Fatal("no relay leads")
	}
	other := c.consumes[0]
	if other == lead {
		other = c.consumes[1]
	}
	base, _ := other.metric("outbox_published_total")
	before, _ := lead.metric("events_consumed_total")
	go inFlight()
	waitFor(t, "the leader consuming the second wave", 30*time.Second, func() bool {
		v, _ := lead.metric("events_consumed_total")
		return v > before
	})

	killed := time.Now()
	lead.stop(t, syscall.SIGKILL, 5*time.Second)
	// Waited for beyond the contract's 10 s, so that a slow failover is
	// measured (and fails the run) rather than only timed out.
	err := amqptest.Eventually(60*time.Second, 20*time.Millisecond, func() bool {
		v, _ := other.metric("outbox_published_total")
		return v > base
	})
	failover := time.Since(killed)
	if err != nil {
		var state []string
		for _, m := range []string{"outbox_relay_leader", "outbox_backlog", "outbox_oldest_unpublished_age_seconds", "outbox_published_total", "outbox_publish_failures_total"} {
			v, _ := other.metric(m)
			state = append(state, fmt.Sprintf("%s=%g", m, v))
		}
		t.Fatalf("%s never published after %s was killed (%s)\nadvisory locks and sessions:\n%s\nits relay's log lines:\n%s",
			other.name, lead.name, strings.Join(state, " "), c.sessions(), grepLines(other.proc.Logs.String(), "outbox", `"warn"`, `"error"`))
	}

	lead.start(t)
	waitFor(t, "the restarted consume standing by", 10*time.Second, func() bool {
		r, n := c.leader()
		return n == 1 && r == other
	})
	return failover
}

// sessions lists the database's sessions with the advisory locks they hold
// or wait for: what a stuck relay failover needs to be explained.
func (c *cluster) sessions() string {
	rows, err := c.db.Query(context.Background(), `SELECT a.pid, a.state, coalesce(a.wait_event_type, ''), a.backend_xid::text,
		coalesce(left(a.query, 80), ''), coalesce(string_agg(l.classid || ':' || l.objid || (CASE WHEN l.granted THEN '' ELSE ' waiting' END), ' '), '')
		FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory'
		WHERE a.datname = current_database() GROUP BY 1, 2, 3, 4, 5`)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var pid int
		var state, wait, query, locks string
		var xid *string
		if err := rows.Scan(&pid, &state, &wait, &xid, &query, &locks); err != nil {
			return err.Error()
		}
		fmt.Fprintf(&b, "%d %s %s xid=%v locks=[%s] %q\n", pid, state, wait, xid, locks, query)
	}
	return b.String()
}

// grepLines keeps the lines of logs that contain any of words.
func grepLines(logs string, words ...string) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// rollingRestart stops each serve with SIGTERM, waits for its exit (it must
// be 0), starts it again and waits until the balancer routes to it; pause
// is the load between two restarts.
func (c *cluster) rollingRestart(t *testing.T, l *load, pause time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	l.restarting.Store(true)
	defer l.restarting.Store(false)
	for i, r := range c.serves {
		if code := r.stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Fatalf("%s exited %d after SIGTERM:\n%s", r.name, code, r.proc.Logs.String())
		}
		r.start(t)
		if !c.lb.WaitBackend(i, true, 10*time.Second) {
			t.Fatalf("the balancer never saw %s ready again", r.name)
		}
		time.Sleep(pause)
	}
	return time.Since(start)
}

// outboxDelivered waits until the outbox has no unpublished event, then
// returns how many events it recorded and how many of them never reached
// the sink queue.
func (c *cluster) outboxDelivered(t *testing.T) (recorded, missing int) {
	t.Helper()
	ctx := context.Background()
	waitFor(t, "the outbox drained", 30*time.Second, func() bool {
		var n int
		return c.db.QueryRow(ctx, `SELECT count(*) FROM outbox_events WHERE published_at IS NULL`).Scan(&n) == nil && n == 0
	})
	rows, err := c.db.Query(ctx, `SELECT event_id::text FROM outbox_events`)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	bodies, err := amqptest.Drain(c.broker, sink)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bodies {
		var e struct {
			EventID string `json:"event_id"`
		}
		if json.Unmarshal(b, &e) == nil {
			delete(ids, e.EventID)
		}
	}
	return len(bodies), len(ids)
}

// burst sends n requests of one anonymous client (one address, forwarded
// by the balancer), eight at a time, and returns how many were not refused
// with 429.
func burst(t *testing.T, url string, n int) int {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	var allowed, next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest("GET", url+"/users/"+loadUser(0, 0)+"/goals?limit=1", nil)
				req.Header.Set("X-Forwarded-For", "10.77.0.1")
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					allowed.Add(1)
				case http.StatusTooManyRequests:
				default:
					errs <- fmt.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("burst: %v", err)
	}
	return int(allowed.Load())
}

// stopAll sends SIGTERM to every process at once, expects exit 0 from each, and
// returns the CPU the serve processes used over the run.
func (c *cluster) stopAll(t *testing.T) time.Duration {
	t.Helper()
	all := append(append([]*replica{}, c.serves...), c.consumes...)
	for _, r := range all {
		if err := r.proc.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
	}
	for _, r := range all {
		if code := r.awaitExit(t, 30*time.Second); code != 0 {
			t.Errorf("%s exited %d after SIGTERM:\n%s", r.name, code, r.proc.Logs.String())
		}
	}
	return c.serveCPU()
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	if err := amqptest.Eventually(within, 20*time.Millisecond, cond); err != nil {
		t.Fatalf("%s: not within %s", what, within)
	}
}

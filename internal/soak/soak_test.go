package soak

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"usersvc/internal/testkit/amqptest"
	"usersvc/internal/testkit/apptest"
	"usersvc/internal/testkit/proctest"
)

// DurationEnv names the run's length (a Go duration; default 60s, which
// `make test` runs; `make soak` passes SOAK, default 3m). WorkersEnv names the
// number of HTTP clients (default 6).
const (
	DurationEnv = "USERSVC_SOAK_DURATION"
	WorkersEnv  = "USERSVC_SOAK_WORKERS"
)

// Tolerances of the leak check, between the samples taken with the load
// paused after the process restarts and at the end.
const (
	goroutineSlack = 10       // or a fifth of the baseline, whichever is more
	rssSlack       = 32 << 20 // or half of the baseline, whichever is more
)

// TestSoak is the soak of CONTRACT §3/§4 promises under faults (issue 9): six
// phases of equal length; in each but the first and the last, one fault at a
// fixed point (a fifth into the phase):
//
//	warm-up   none
//	consume   SIGKILL `usersvc consume`, start it again a second later
//	serve     SIGTERM `usersvc serve` (must exit 0), start it again
//	database  stop PostgreSQL, keep it down for 40% of the phase (2–20 s), start it
//	broker    restart RabbitMQ
//	steady    none
//
// The processes started after the serve phase live through the database and
// broker faults: their goroutines and RSS, sampled with the load paused, must
// come back to where they were.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak runs for a minute or more")
	}
	d := envDuration(t, DurationEnv, 60*time.Second)
	workers := envInt(t, WorkersEnv, 6)
	if deadline, ok := t.Deadline(); ok && time.Until(deadline) < d+5*time.Minute {
		t.Fatalf("a %s soak needs go test -timeout of at least %s", d, d+5*time.Minute)
	}
	bin, err := proctest.Build(t.TempDir(), "usersvc/cmd/usersvc")
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t, bin)
	pool, err := pgxpool.New(context.Background(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	h := &harness{t: t, s: s, pool: pool, rec: newRecorder(), gate: &sync.RWMutex{}}
	out := h.run(d, workers)
	fmt.Print(out)
	if strings.Contains(out, "VIOLATION") || !strings.Contains(out, "lost=0 duplicated=0 ") {
		t.Errorf("the soak found violations (above)\n%s\n%s", s.serve.allLogs(), s.consume.allLogs())
	}
}

type harness struct {
	t    *testing.T
	s    *stack
	pool *pgxpool.Pool
	rec  *recorder
	gate *sync.RWMutex // workers hold it shared per operation; a quiet sample takes it

	applied   float64 // consume's events_consumed_total{outcome="applied"} at the last look
	sentinels map[string]authUser
}

func (h *harness) run(d time.Duration, workers int) string {
	expiry := map[string]any{"exp": time.Now().Add(d + 2*time.Hour).Unix()}
	tokens := func(id string) string { return apptest.Token(h.t, id, expiry) }
	h.sentinels = map[string]authUser{}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	h.rec.begin("warm-up", "none")
	ws := make([]*worker, workers)
	for i := range ws {
		ws[i] = newWorker(i, h.s.serve.base, h.rec, tokens)
		wg.Go(func() { ws[i].loop(ctx, h.gate) })
	}
	pub := newPublisher(h.s.brokerURL, h.rec)
	wg.Go(func() { pub.loop(ctx, h.gate) })

	phaseLen := d / 6
	t0 := time.Now()
	hold := min(max(phaseLen*2/5, 2*time.Second), 20*time.Second)
	var base map[string]sample
	schedule := []struct {
		name, fault string
		act         func() time.Time // the fault; returns when the dependency is back
	}{
		{"warm-up", "none", nil},
		{"consume", "SIGKILL consume", h.killConsume},
		{"serve", "SIGTERM serve", h.restartServe},
		{"database", "PostgreSQL stop", func() time.Time { return h.stopDatabase(hold) }},
		{"broker", "RabbitMQ restart", h.restartBroker},
		{"steady", "none", nil},
	}
	for i, ph := range schedule {
		start := t0.Add(time.Duration(i) * phaseLen)
		if i > 0 {
			h.lookApplied()
			if ph.name == "database" { // the processes that live through the dependency faults
				base = h.quiet()
			}
			h.rec.begin(ph.name, ph.fault)
			start = time.Now()
		}
		if ph.act != nil {
			time.Sleep(phaseLen / 5)
			began := time.Now()
			back := ph.act()
			h.rec.current().down = back.Sub(began)
			h.rec.current().recovery = h.recover(back, ph.name)
		}
		time.Sleep(time.Until(start.Add(phaseLen)))
	}
	stop()
	wg.Wait()
	h.lookApplied()
	h.rec.finish()
	end := h.quiet()
	h.compare(base, end)

	ctx = context.Background()
	if err := verifyWrites(ctx, h.pool, ws, h.rec); err != nil {
		h.t.Fatalf("verify: %v", err)
	}
	expected := pub.snapshot()
	for id, u := range h.sentinels {
		expected[id] = u
	}
	if err := verifyEvents(ctx, h.pool, expected, h.rec); err != nil {
		h.t.Fatalf("verify events: %v", err)
	}
	outbox, err := drainOutbox(h.s.brokerURL)
	if err != nil {
		h.t.Fatalf("drain %s: %v", outboxQueue, err)
	}
	verifyOutbox(outbox, ws, h.rec)
	var b strings.Builder
	fmt.Fprintf(&b, "soak %s, %d clients, faults a fifth into each phase of %s; PostgreSQL down %s\n", d, workers, phaseLen.Round(time.Second), hold)
	fmt.Fprintf(&b, "%-8s %12s %12s   %14s %14s   (paused load, after the serve phase → at the end; allowed: +max(%d, 20%%) goroutines, +max(%d MiB, 50%%) RSS)\n",
		"process", "goroutines", "", "RSS MiB", "", goroutineSlack, rssSlack>>20)
	for _, name := range []string{"serve", "consume"} {
		fmt.Fprintf(&b, "%-8s %12d → %-9d   %14.1f → %-9.1f\n", name, base[name].goroutines, end[name].goroutines,
			float64(base[name].rss)/(1<<20), float64(end[name].rss)/(1<<20))
	}
	fmt.Fprintf(&b, "outbox: %d events delivered to %s, %d distinct\n", outbox.deliveries, outboxQueue, outbox.distinct)
	h.rec.report(&b, h.rec.count("lost"), h.rec.count("duplicated"))
	return b.String()
}

// killConsume: SIGKILL, a second without a consumer, a new one.
func (h *harness) killConsume() time.Time {
	h.lookApplied()
	if err := h.s.consume.end(syscall.SIGKILL); err != nil {
		h.rec.violate("process", "consume did not die on SIGKILL: %v", err)
	}
	h.applied = 0
	time.Sleep(time.Second)
	if err := h.s.consume.start(); err != nil {
		h.t.Fatal(err)
	}
	return time.Now()
}

// restartServe: SIGTERM; serve must answer what it has read and exit 0
// (CONTRACT §3). Serve counts as down from the signal until the new instance is ready.
func (h *harness) restartServe() time.Time {
	h.rec.open(&h.rec.serveDown)
	if err := h.s.serve.end(syscall.SIGTERM); err != nil {
		h.rec.violate("process", "serve after SIGTERM: %v (want exit status 0 within 25 s)", err)
	}
	if err := h.s.serve.start(); err != nil {
		h.t.Fatal(err)
	}
	h.rec.close(&h.rec.serveDown, 0)
	return time.Now()
}

// stopDatabase: PostgreSQL stopped (fast mode: sessions cut, transactions
// rolled back) for hold, then started; an outage until serve's /ready is 200.
func (h *harness) stopDatabase(hold time.Duration) time.Time {
	h.rec.open(&h.rec.dbDown)
	if err := services(h.t, "stop-pg", h.s.dir); err != nil {
		h.t.Fatal(err)
	}
	time.Sleep(hold)
	if err := services(h.t, "start-pg", h.s.dir); err != nil {
		h.t.Fatal(err)
	}
	back := time.Now()
	if err := proctest.WaitOK(context.Background(), h.s.serve.current(), h.s.serve.base+"/ready", time.Minute); err != nil {
		h.rec.violate("process", "serve not ready after the database came back: %v", err)
	}
	h.rec.close(&h.rec.dbDown, dbGrace)
	return back
}

func (h *harness) restartBroker() time.Time {
	if err := services(h.t, "restart-rabbit", h.s.dir); err != nil {
		h.t.Fatal(err)
	}
	return time.Now()
}

// recover measures, from back, the time until both processes are ready and an
// event published now has been applied: the whole path works again.
func (h *harness) recover(back time.Time, name string) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, svc := range []*service{h.s.serve, h.s.consume} {
		if err := proctest.WaitOK(ctx, svc.current(), svc.base+"/ready", 2*time.Minute); err != nil {
			h.rec.violate("recovery", "%s after %s: %v", svc.name, name, err)
			return 0
		}
	}
	id := "sentinel-" + name
	if err := sentinel(ctx, h.s.brokerURL, id); err != nil {
		h.rec.violate("recovery", "sentinel after %s: %v", name, err)
		return 0
	}
	h.sentinels[id] = authUser{username: id}
	err := amqptest.Eventually(2*time.Minute, 10*time.Millisecond, func() bool {
		p, err := eventProblems(ctx, h.pool, map[string]authUser{id: {username: id}})
		return err == nil && len(p) == 0
	})
	if err != nil {
		h.rec.violate("recovery", "the sentinel event after %s was not applied within 2 minutes", name)
		return 0
	}
	return time.Since(back)
}

// sample is a process seen with the load paused.
type sample struct {
	goroutines int
	rss        int64
}

// quiet pauses the load, lets the queue and the outbox drain, and samples both processes.
func (h *harness) quiet() map[string]sample {
	h.gate.Lock()
	defer h.gate.Unlock()
	ctx := context.Background()
	err := amqptest.Eventually(30*time.Second, 50*time.Millisecond, func() bool {
		depth, err := amqptest.QueueDepth(h.s.brokerURL, "user-service.auth-events")
		n, err2 := backlog(ctx, h.pool)
		return err == nil && err2 == nil && depth == 0 && n == 0
	})
	if err != nil {
		h.rec.violate("drain", "the queue or the outbox did not drain within 30 s with the load paused")
	}
	time.Sleep(time.Second)
	out := map[string]sample{}
	for _, svc := range []*service{h.s.serve, h.s.consume} {
		var s sample
		s.rss, _ = svc.current().RSS()
		if v, ok := scrape(svc.base+"/metrics", "go_goroutines "); ok {
			s.goroutines = int(v)
		}
		out[svc.name] = s
	}
	return out
}

func (h *harness) compare(base, end map[string]sample) {
	for name, b := range base {
		e := end[name]
		if e.goroutines > b.goroutines+max(goroutineSlack, b.goroutines/5) {
			h.rec.violate("leak", "%s goroutines %d → %d", name, b.goroutines, e.goroutines)
		}
		if e.rss > b.rss+max(rssSlack, b.rss/2) {
			h.rec.violate("leak", "%s RSS %d → %d MiB", name, b.rss>>20, e.rss>>20)
		}
	}
}

// lookApplied adds the events consume applied since the last look to the current phase.
func (h *harness) lookApplied() {
	v, ok := scrape(h.s.consume.base+"/metrics", `events_consumed_total{`, `outcome="applied"`)
	if !ok {
		return
	}
	h.rec.mu.Lock()
	h.rec.phases[len(h.rec.phases)-1].applied += int(v - h.applied)
	h.rec.mu.Unlock()
	h.applied = v
}

// scrape sums the samples of a Prometheus text page whose line starts with
// prefix and contains every one of labels.
func scrape(url, prefix string, labels ...string) (float64, bool) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
lines:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue lines
			}
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err == nil {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 30*time.Second {
		t.Fatalf("%s=%q: want a Go duration of at least 30s", name, v)
	}
	return d
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

package cluster

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// report logs the run's figures as a table and, when USERSVC_CLUSTER_REPORT
// names a file, appends them there (what `make cluster` prints).
func report(t *testing.T, p profile, f figures) {
	t.Helper()
	spread := make([]string, len(f.spread))
	for i, n := range f.spread {
		spread[i] = fmt.Sprintf("%d (%.0f %%)", n, 100*float64(n)/float64(max(f.requests, 1)))
	}
	perConsumer := make([]string, len(f.eventsPerConsumer))
	for i, n := range f.eventsPerConsumer {
		perConsumer[i] = fmt.Sprintf("%.0f", n)
	}
	rows := [][2]string{
		{"profile", fmt.Sprintf("%s (%d clients, SHUTDOWN_DELAY %s)", p.name, p.workers, p.shutdownDelay)},
		{"requests through the balancer", fmt.Sprint(f.requests)},
		{"failed requests", fmt.Sprint(f.failures)},
		{"requests per serve (1, 2, 3)", strings.Join(spread, ", ")},
		{"rolling restart: duration, requests, failures", fmt.Sprintf("%s, %d, %d", f.rolling.Round(100*time.Millisecond), f.rollRequests, f.rollFailures)},
		{"auth events published", fmt.Sprint(f.eventsTotal)},
		{"first wave applied per consume (1, 2)", strings.Join(perConsumer, ", ")},
		{"order violations (users not in their last event's state)", fmt.Sprint(f.violations)},
		{"relays leading at once (most seen)", fmt.Sprint(f.maxLeaders)},
		{"relay failover after SIGKILL", f.failover.Round(10 * time.Millisecond).String()},
		{"outbox events published, missing", fmt.Sprintf("%d, %d", f.outboxRecorded, f.outboxMissing)},
		{"serve CPU per request, steady load", fmt.Sprintf("%d µs", f.cpuPerRequest.Microseconds())},
		{"serve CPU per request, whole run", fmt.Sprintf("%d µs", f.cpuOverall.Microseconds())},
		{fmt.Sprintf("one client's burst of %d: answered, not 429 (limit %d per process)", 4*rateLimit, rateLimit), fmt.Sprint(f.rateAllowed)},
	}
	var b strings.Builder
	b.WriteString("\n| figure | value |\n|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s |\n", r[0], r[1])
	}
	t.Log(b.String())
	if path := os.Getenv("USERSVC_CLUSTER_REPORT"); path != "" {
		out, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Errorf("report: %v", err)
			return
		}
		defer out.Close()
		fmt.Fprintf(out, "\n%s run, %s%s", p.name, time.Now().UTC().Format(time.RFC3339), b.String())
	}
}

package soak

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// phase is one row of the table: a stretch of the run and the fault in it.
type phase struct {
	name  string
	fault string
	start time.Time
	end   time.Time

	requests, ok, client, unavailable, outage503, otherServer int
	transportDown, transportUp                                int
	published, applied                                        int
	down, recovery                                            time.Duration // the fault from its start until the dependency is back; from then until the whole path works
}

// window is an interval during which a dependency is deliberately down; an
// open window has a zero end.
type window struct{ from, to time.Time }

func (w window) holds(t time.Time) bool {
	return !t.Before(w.from) && (w.to.IsZero() || !t.After(w.to))
}

// recorder counts every request by the phase in which it was sent, and
// collects the violations. Two kinds of windows decide what is excused:
//   - serve down: from just before serve gets SIGTERM until the new instance
//     answers /ready. A transport error is excused only for a request whose
//     first byte was written inside such a window (or, never written, that
//     failed inside one): a request written while serve was up must be answered.
//   - database down: from the moment PostgreSQL is told to stop until serve's
//     /ready is 200 again, plus dbGrace. A 503 is counted as an outage 503 only
//     for a request sent inside such a window; elsewhere it is a violation.
type recorder struct {
	mu         sync.Mutex
	phases     []*phase
	serveDown  []window
	dbDown     []window
	violations map[string][]string
}

// dbGrace: a request sent just before /ready turned 200 may still meet a pooled connection of the stopped server.
const dbGrace = 2 * time.Second

func newRecorder() *recorder { return &recorder{violations: map[string][]string{}} }

func (r *recorder) begin(name, fault string) *phase {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if n := len(r.phases); n > 0 {
		r.phases[n-1].end = now
	}
	p := &phase{name: name, fault: fault, start: now}
	r.phases = append(r.phases, p)
	return p
}

func (r *recorder) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phases[len(r.phases)-1].end = time.Now()
}

func (r *recorder) current() *phase {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.phases[len(r.phases)-1]
}

func (r *recorder) open(ws *[]window) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*ws = append(*ws, window{from: time.Now()})
}

func (r *recorder) close(ws *[]window, extra time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	(*ws)[len(*ws)-1].to = time.Now().Add(extra)
}

func within(ws []window, t time.Time) bool {
	for _, w := range ws {
		if w.holds(t) {
			return true
		}
	}
	return false
}

// violate records a broken promise under kind, with a few examples kept.
func (r *recorder) violate(kind, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.violations[kind] = append(r.violations[kind], fmt.Sprintf(format, args...))
}

func (r *recorder) count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.violations[kind])
}

// exchange is one HTTP request and what came of it.
type exchange struct {
	method, path string
	phase        *phase
	sent, wrote  time.Time // wrote: the first attempt's last byte (zero: never written)
	status       int
	header       http.Header
	err          error
}

func (r *recorder) record(x exchange) {
	r.mu.Lock()
	p := x.phase
	p.requests++
	var kind, detail string
	switch {
	case x.err != nil:
		at := x.wrote
		if at.IsZero() {
			at = time.Now()
		}
		if within(r.serveDown, at) {
			p.transportDown++
		} else {
			p.transportUp++
			kind, detail = "transport error while serve was up", fmt.Sprintf("%s %s sent %s: %v", x.method, x.path, x.sent.Format("15:04:05.000"), x.err)
		}
	case x.status >= 200 && x.status < 300:
		p.ok++
	case x.status < 500:
		p.client++
	case x.status == http.StatusServiceUnavailable:
		p.unavailable++
		if within(r.dbDown, x.sent) {
			p.outage503++
		} else {
			kind, detail = "503 outside an outage", fmt.Sprintf("%s %s sent %s", x.method, x.path, x.sent.Format("15:04:05.000"))
		}
		if x.header.Get("Retry-After") == "" {
			r.violations["503 without Retry-After"] = append(r.violations["503 without Retry-After"], x.method+" "+x.path)
		}
	default:
		p.otherServer++
		kind, detail = "5xx other than 503", fmt.Sprintf("%s %s: %d", x.method, x.path, x.status)
	}
	if kind != "" {
		r.violations[kind] = append(r.violations[kind], detail)
	}
	r.mu.Unlock()
}

// report prints the table, the violations and the closing line; it returns
// the number of violations.
func (r *recorder) report(b *strings.Builder, lost, duplicated int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(b, "%-10s %-16s %6s %7s %7s %6s %5s %5s %6s %6s %7s %7s %7s %9s\n",
		"phase", "fault", "secs", "req", "2xx", "4xx", "503", "5xx", "tr-dn", "tr-up", "ev-pub", "ev-app", "down", "recovery")
	var tot phase
	for _, p := range r.phases {
		down, rec := "-", "-"
		if p.down > 0 {
			down = p.down.Round(100 * time.Millisecond).String()
		}
		if p.recovery > 0 {
			rec = p.recovery.Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(b, "%-10s %-16s %6.1f %7d %7d %6d %5d %5d %6d %6d %7d %7d %7s %9s\n",
			p.name, p.fault, p.end.Sub(p.start).Seconds(), p.requests, p.ok, p.client, p.unavailable,
			p.otherServer, p.transportDown, p.transportUp, p.published, p.applied, down, rec)
		tot.requests += p.requests
		tot.ok += p.ok
		tot.client += p.client
		tot.unavailable += p.unavailable
		tot.outage503 += p.outage503
		tot.otherServer += p.otherServer
		tot.transportDown += p.transportDown
		tot.transportUp += p.transportUp
		tot.published += p.published
		tot.applied += p.applied
	}
	first, last := r.phases[0], r.phases[len(r.phases)-1]
	fmt.Fprintf(b, "%-10s %-16s %6.1f %7d %7d %6d %5d %5d %6d %6d %7d %7d %7s %9s\n",
		"total", "", last.end.Sub(first.start).Seconds(), tot.requests, tot.ok, tot.client, tot.unavailable,
		tot.otherServer, tot.transportDown, tot.transportUp, tot.published, tot.applied, "", "")
	kinds := make([]string, 0, len(r.violations))
	n := 0
	for k, v := range r.violations {
		kinds = append(kinds, k)
		n += len(v)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		v := r.violations[k]
		fmt.Fprintf(b, "VIOLATION %s: %d", k, len(v))
		for i, e := range v {
			if i == 5 {
				fmt.Fprintf(b, "\n    …")
				break
			}
			fmt.Fprintf(b, "\n    %s", e)
		}
		fmt.Fprintln(b)
	}
	fmt.Fprintf(b, "lost=%d duplicated=%d 5xx=%d\n", lost, duplicated, tot.outage503)
	return n
}

package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"usersvc/internal/testkit/apptest"
)

// load is the continuous traffic through the balancer: each worker cycles
// over its own users and, for each, creates a goal, renames it, reads the
// profile and the settings. Every route is authenticated, so the rate
// limit counts per user (the load's users stay far below it); every goal
// written records an outbox event for the relay.
type load struct {
	url     string
	client  *http.Client
	workers int
	users   int // per worker

	requests   atomic.Int64
	failures   atomic.Int64
	restarting atomic.Bool  // a rolling restart is under way
	duringRoll atomic.Int64 // failures while restarting
	rollReqs   atomic.Int64 // requests while restarting

	mu    sync.Mutex
	first []string // the first failures, for the report

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startLoad(t *testing.T, url string, workers, users int) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{
		url:     url,
		client:  &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}},
		workers: workers, users: users, cancel: cancel,
	}
	for w := range workers {
		tokens := make([]string, users)
		for u := range tokens {
			tokens[u] = apptest.Token(t, loadUser(w, u), nil)
		}
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.work(ctx, w, tokens) }()
	}
	t.Cleanup(l.stop)
	return l
}

func loadUser(worker, user int) string { return fmt.Sprintf("load-%d-%d", worker, user) }

// stop ends the load and waits for the requests in flight.
func (l *load) stop() { l.cancel(); l.wg.Wait() }

func (l *load) work(ctx context.Context, w int, tokens []string) {
	for i := 0; ctx.Err() == nil; i++ {
		u := i % len(tokens)
		l.userRound(ctx, loadUser(w, u), tokens[u], i)
	}
}

// userRound is one user's four requests; it stops at the first failure.
func (l *load) userRound(ctx context.Context, user, token string, i int) {
	base := "/users/" + user
	var goal struct {
		ID int64 `json:"id"`
	}
	if !l.do(ctx, "POST", base+"/goals", token, map[string]any{"title": fmt.Sprintf("goal %d", i)}, 201, &goal) {
		return
	}
	if !l.do(ctx, "PUT", fmt.Sprintf("%s/goals/%d", base, goal.ID), token, map[string]any{"title": fmt.Sprintf("goal %d, renamed", i)}, 200, nil) {
		return
	}
	if !l.do(ctx, "GET", "/users/me", token, nil, 200, nil) {
		return
	}
	l.do(ctx, "GET", base+"/settings", token, nil, 200, nil)
}

// do sends one request and counts it; a request cut short by the end of
// the load counts neither way.
func (l *load) do(ctx context.Context, method, path, token string, body any, want int, into any) bool {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, method, l.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rolling := l.restarting.Load()
	resp, err := l.client.Do(req)
	if ctx.Err() != nil {
		return false
	}
	l.requests.Add(1)
	if rolling {
		l.rollReqs.Add(1)
	}
	if err != nil {
		l.fail(rolling, fmt.Sprintf("%s %s: %v", method, path, err))
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		l.fail(rolling, fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, b))
		return false
	}
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			l.fail(rolling, fmt.Sprintf("%s %s: %v", method, path, err))
			return false
		}
	}
	return true
}

func (l *load) fail(rolling bool, what string) {
	l.failures.Add(1)
	if rolling || l.restarting.Load() {
		l.duringRoll.Add(1)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.first) < 5 {
		l.first = append(l.first, what)
	}
}

func (l *load) firstFailures() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.first...)
}

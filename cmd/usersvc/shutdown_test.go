package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"usersvc/internal/testkit/pgtest"
)

// TestSIGTERMAnswersEveryRequestAlreadySent runs the real `usersvc serve`
// under 100 clients on kept-alive connections and sends SIGTERM, 20 times:
// every request whose bytes were written before the signal gets an answer,
// and serve exits 0 within 25 s (CONTRACT §3). A request begun after the
// signal may meet the closed listener.
func TestSIGTERMAnswersEveryRequestAlreadySent(t *testing.T) {
	t.Parallel()
	db := pgtest.Migrated(t)
	for round := 0; round < 20; round++ {
		sigtermRound(t, db, round)
		if t.Failed() {
			return
		}
	}
}

const sigtermClients = 100

// loadOutcome tallies the clients' requests around the signal.
type loadOutcome struct {
	mu       sync.Mutex
	answered int
	dropped  []string // requests written before the signal, never answered
}

func (o *loadOutcome) add(answered bool, drop string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if answered {
		o.answered++
	}
	if drop != "" {
		o.dropped = append(o.dropped, drop)
	}
}

func sigtermRound(t *testing.T, db string, round int) {
	cmd, addr, logs := startServe(t, db, "RATE_LIMIT_PER_MINUTE=0", "LOG_LEVEL=warn")
	transport := &http.Transport{MaxIdleConnsPerHost: sigtermClients}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	var signalAt atomic.Int64 // unix nanoseconds; 0 until the signal
	var outcome loadOutcome
	var warm, done sync.WaitGroup
	warm.Add(sigtermClients)
	done.Add(sigtermClients)
	for i := 0; i < sigtermClients; i++ {
		targets := []string{"/health", fmt.Sprintf("/users/sigterm%d/badges", i), "/ready"}
		go func() {
			defer done.Done()
			for n := 0; ; n++ {
				afterSignal := sendTraced(client, "http://"+addr+targets[n%len(targets)], &signalAt, &outcome)
				if n == 0 {
					warm.Done()
				}
				if afterSignal {
					return // the listener is closed, or closing
				}
			}
		}()
	}
	warm.Wait() // every client holds a kept-alive connection
	time.Sleep(time.Duration(10+rand.IntN(60)) * time.Millisecond)

	signalAt.Store(time.Now().UnixNano())
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if took := time.Duration(time.Now().UnixNano() - signalAt.Load()); err != nil || took > 25*time.Second {
			t.Errorf("round %d: serve exited after %s with %v, want 0 within 25 s\n%s", round, took, err, logs.String())
		}
	case <-time.After(27 * time.Second):
		t.Fatalf("round %d: serve still running 27 s after SIGTERM\n%s", round, logs.String())
	}
	done.Wait()
	if len(outcome.dropped) > 0 {
		t.Errorf("round %d: %d requests written before SIGTERM got no answer (%d answered), e.g. %s",
			round, len(outcome.dropped), outcome.answered, outcome.dropped[0])
	}
}

// sendTraced sends one GET and records whether it was dropped: written (its
// first attempt, when net/http retried it) before the signal, yet no answer.
// It reports whether the request failed after the signal: the client stops.
func sendTraced(client *http.Client, url string, signalAt *atomic.Int64, outcome *loadOutcome) bool {
	var mu sync.Mutex
	var firstWrite time.Time
	attempts := 0
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
		mu.Lock()
		defer mu.Unlock()
		if attempts == 0 {
			firstWrite = time.Now()
		}
		attempts++
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", url, nil)
	resp, err := client.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	sig := signalAt.Load()
	mu.Lock()
	defer mu.Unlock()
	writtenBefore := attempts > 0 && (sig == 0 || firstWrite.UnixNano() < sig)
	switch {
	case err == nil && attempts <= 1:
		outcome.add(true, "")
	case writtenBefore && err == nil: // a retry was answered: the first attempt was not
		outcome.add(true, fmt.Sprintf("GET %s: first attempt unanswered, retried", url))
	case writtenBefore || (err != nil && sig == 0):
		outcome.add(false, fmt.Sprintf("GET %s: %v", url, err))
	}
	return sig != 0 && err != nil
}

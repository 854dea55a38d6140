package httpserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// onlyReader hides a reader's length: net/http then sends the body chunked.
type onlyReader struct{ io.Reader }

// TestOverLimitBodiesReachTheClient sends bodies over HTTP_BODY_LIMIT from
// Go's net/http client, which reports a reset when the server closes with
// the body unread: every one must read its 413 problem (CONTRACT §2), and
// the metrics count every one.
func TestOverLimitBodiesReachTheClient(t *testing.T) {
	echo := func(c *fiber.Ctx) error { return c.SendString("ok") }
	s := testServerEnv(t, map[string]string{"RATE_LIMIT_PER_MINUTE": "0"}, Options{Routes: []Route{
		{Method: "POST", Path: "/users/:auth_user_id/things", Access: OwnerOrAdmin, Body: true, Handler: echo},
	}}, fakeOwners{})
	client := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	t.Cleanup(client.CloseIdleConnections)

	cases := []struct {
		name    string
		size    int
		count   int
		chunked bool
		target  string
		status  int
	}{
		{"70 kB with Content-Length", 70_000, 50, false, "/users/42/things", 413},
		{"70 kB chunked", 70_000, 50, true, "/users/42/things", 413},
		{"1 MB with Content-Length", 1_000_000, 20, false, "/users/42/things", 413},
		{"1 MB chunked", 1_000_000, 20, true, "/users/42/things", 413},
		// An unknown route still answers first, and its answer arrives too.
		{"1 MB to an unknown route", 1_000_000, 5, false, "/nowhere", 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := bytes.Repeat([]byte("x"), tc.size)
			var wg sync.WaitGroup
			errs := make(chan error, tc.count)
			for i := 0; i < tc.count; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- postOnce(client, "http://"+s.Addr()+tc.target, body, tc.chunked, tc.status)
				}()
				if i%4 == 3 {
					wg.Wait() // four at a time: several connections draining at once
				}
			}
			wg.Wait()
			close(errs)
			failed := 0
			for err := range errs {
				if err != nil {
					failed++
					if failed <= 3 {
						t.Error(err)
					}
				}
			}
			if failed > 0 {
				t.Fatalf("%d of %d requests did not read their %d", failed, tc.count, tc.status)
			}
		})
	}

	counts := scrape413s(t, client, s)
	if got := counts[`method="POST",route="/users/:auth_user_id/things"`]; got != 70 {
		t.Errorf("413s counted for the route (Content-Length bodies): %d, want 70; all: %v", got, counts)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if total != 140 {
		t.Errorf("413s counted: %d, want 140; by series: %v", total, counts)
	}
}

func postOnce(client *http.Client, url string, body []byte, chunked bool, want int) error {
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = onlyReader{rd}
	}
	req, err := http.NewRequest("POST", url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("chunked=%v %d bytes: %w", chunked, len(body), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading the %d: %w", resp.StatusCode, err)
	}
	var p struct {
		Status int    `json:"status"`
		Title  string `json:"title"`
	}
	if resp.StatusCode != want || !strings.HasPrefix(resp.Header.Get("Content-Type"), ProblemContentType) ||
		json.Unmarshal(data, &p) != nil || p.Status != want || p.Title == "" {
		return fmt.Errorf("got %d %q %s, want a %d problem", resp.StatusCode, resp.Header.Get("Content-Type"), data, want)
	}
	if resp.Header.Get("X-Request-ID") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		return fmt.Errorf("the %d lacks the headers every answer carries: %v", want, resp.Header)
	}
	return nil
}

var requests413 = regexp.MustCompile(`(?m)^http_requests_total\{(method="[A-Z]+",route="[^"]*"),status="413"\} (\d+)$`)

// scrape413s reads /metrics as a scraper would: 413s by method and route.
func scrape413s(t *testing.T, client *http.Client, s *Server) map[string]int {
	t.Helper()
	resp, err := client.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	counts := map[string]int{}
	for _, m := range requests413.FindAllStringSubmatch(string(text), -1) {
		n, _ := strconv.Atoi(m[2])
		counts[m[1]] += n
	}
	return counts
}

// TestStopAnswersReadyWith503DuringTheDelay: /ready turns 503 at once, the
// rest is served for the delay, then the listener closes (CONTRACT §3).
func TestStopAnswersReadyWith503DuringTheDelay(t *testing.T) {
	const delay = 400 * time.Millisecond
	database := Check{Name: "database", Run: func(context.Context) error { return nil }}
	s := testServerEnv(t, map[string]string{"RATE_LIMIT_PER_MINUTE": "0"}, Options{ShutdownDelay: delay, Checks: []Check{database}}, fakeOwners{})
	if status, _, _ := do(t, s, "GET", "/ready", ""); status != 200 {
		t.Fatalf("/ready before the stop: %d", status)
	}
	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(context.Background()) }()
	waitUntil(t, func() bool { return s.stopping.Load() })

	status, body, meta := do(t, s, "GET", "/ready", "")
	if status != 503 || !strings.HasPrefix(meta, ProblemContentType) || strings.HasSuffix(meta, "|") || body["checks"] == nil {
		t.Fatalf("/ready while stopping: %d %v %s, want a 503 problem with checks and Retry-After", status, body, meta)
	}
	if status, _, _ := do(t, s, "GET", "/health", ""); status != 200 {
		t.Fatalf("/health during the delay: %d", status)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < delay {
		t.Fatalf("stopped after %s, before the %s delay", took, delay)
	}
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("still accepting after the stop")
	}
}

// TestStopAnswersRequestsAlreadySent writes a request on kept-alive
// connections and stops the server at once: each request is answered, each
// connection then closed, and the stop returns (CONTRACT §3).
func TestStopAnswersRequestsAlreadySent(t *testing.T) {
	for round := 0; round < 5; round++ {
		s := testServerEnv(t, map[string]string{"RATE_LIMIT_PER_MINUTE": "0"}, Options{}, fakeOwners{})
		conns := make([]net.Conn, 20)
		readers := make([]*bufio.Reader, len(conns))
		for i := range conns {
			c, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			conns[i], readers[i] = c, bufio.NewReader(c)
			// One exchange first: the connection is then a kept-alive, idle one.
			if resp := exchange(t, c, readers[i]); resp.Close {
				t.Fatal("the first answer closed the connection")
			}
		}
		for _, c := range conns {
			if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i, rd := range readers {
			_ = conns[i].SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(rd, nil)
			if err != nil {
				t.Fatalf("round %d, connection %d: the request sent before the stop got no answer: %v", round, i, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("round %d, connection %d: %d, want 200", round, i, resp.StatusCode)
			}
			if _, err := rd.ReadByte(); err != io.EOF {
				t.Fatalf("round %d, connection %d: still open after the stop (%v)", round, i, err)
			}
		}
	}
}

func exchange(t *testing.T, c net.Conn, rd *bufio.Reader) *http.Response {
	t.Helper()
	if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached in time")
}

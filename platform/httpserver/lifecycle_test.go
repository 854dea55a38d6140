package httpserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

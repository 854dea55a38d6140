package authclient

import (
	"usersvc/modules/authref/userid"

	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"usersvc/platform/config"
)

type server struct {
	calls atomic.Int64
	mode  atomic.Value // "ok", "down", "slow"
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	switch s.mode.Load() {
	case "down":
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	case "slow": // never answers: only the client's own timeout ends the call
		<-r.Context().Done()
		return
	}
	switch {
	case r.URL.Path == "/users/42":
		_, _ = w.Write([]byte(`{"id": 42, "email": "ada@example.com", "username": "ada"}`))
	case r.URL.Path == "/users/liar":
		_, _ = w.Write([]byte(`{"id": "someone-else"}`))
	case r.URL.Path == "/users/garbled":
		_, _ = w.Write([]byte(`<html>`))
	case r.URL.Path == "/users" && r.URL.Query().Get("limit") == "5000":
		http.Error(w, `{"detail":"limit must be at most 1000"}`, http.StatusUnprocessableEntity)
	case r.URL.Path == "/users" && r.URL.Query().Get("offset") == "0":
		_, _ = w.Write([]byte(`[{"id": 1, "email": null, "username": "a"}, {"id": "b2"}]`))
	case r.URL.Path == "/users":
		_, _ = w.Write([]byte(`[]`))
	default:
		http.NotFound(w, r)
	}
}

// newTestClient's timeout is generous: a loaded CI machine can take longer
// than a production timeout to answer from a local server, and only
// TestTimeout is about the timeout.
func newTestClient(t *testing.T, openFor time.Duration) (*Client, *server) {
	return newTestClientTimeout(t, openFor, 5*time.Second)
}

func newTestClientTimeout(t *testing.T, openFor, timeout time.Duration) (*Client, *server) {
	t.Helper()
	s := &server{}
	s.mode.Store("ok")
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return newClient(config.Config{AuthServiceURL: srv.URL, AuthServiceTimeout: timeout}, zap.NewNop(), openFor), s
}

func TestGet(t *testing.T) {
	c, _ := newTestClient(t, time.Minute)
	cases := []struct {
		id      string
		want    error
		wantUID string
	}{
		{"42", nil, "42"},
		{"nobody", ErrNotFound, ""},
		{"liar", ErrUnavailable, ""},
		{"garbled", ErrUnavailable, ""},
	}
	for _, tc := range cases {
		u, err := c.Get(context.Background(), tc.id)
		if !errors.Is(err, tc.want) || u.ID != tc.wantUID {
			t.Errorf("Get(%s) = %+v, %v; want %v", tc.id, u, err, tc.want)
		}
	}
	u, _ := c.Get(context.Background(), "42")
	if u.Email == nil || *u.Email != "ada@example.com" || u.Username == nil || *u.Username != "ada" {
		t.Fatalf("identity fields: %+v", u)
	}
}

func TestNotFoundIsCachedBriefly(t *testing.T) {
	c, s := newTestClient(t, time.Minute)
	now := time.Now()
	c.now = func() time.Time { return now }
	for i := 0; i < 5; i++ {
		if _, err := c.Get(context.Background(), "nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	}
	if n := s.calls.Load(); n != 1 {
		t.Fatalf("unknown ids reached the auth-service %d times", n)
	}
	now = now.Add(NotFoundTTL + time.Second)
	_, _ = c.Get(context.Background(), "nobody")
	if n := s.calls.Load(); n != 2 {
		t.Fatalf("the cached 404 outlived its %s: %d calls", NotFoundTTL, n)
	}
}

func TestTimeout(t *testing.T) {
	c, s := newTestClientTimeout(t, time.Minute, 100*time.Millisecond)
	s.mode.Store("slow")
	// The server never answers, so returning at all is the timeout's doing;
	// the bound only keeps a broken timeout from hanging the test.
	done := make(chan error, 1)
	go func() { _, err := c.Get(context.Background(), "42"); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("a silent auth-service: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call outlived its 100ms timeout by 10s")
	}
}

func TestBreakerOpensAndCloses(t *testing.T) {
	c, s := newTestClient(t, 200*time.Millisecond)
	s.mode.Store("down")
	for i := 0; i < 5; i++ {
		if _, err := c.Get(context.Background(), "42"); !errors.Is(err, ErrUnavailable) {
			t.Fatal(err)
		}
	}
	if c.BreakerState() != "open" {
		t.Fatalf("breaker %s after 5 failures", c.BreakerState())
	}
	before := s.calls.Load()
	_, err := c.Get(context.Background(), "42")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "circuit breaker open") || s.calls.Load() != before {
		t.Fatalf("an open breaker must fail fast without calling: %v", err)
	}
	s.mode.Store("ok")
	time.Sleep(250 * time.Millisecond)
	if _, err := c.Get(context.Background(), "42"); err != nil {
		t.Fatalf("the half-open probe: %v", err)
	}
	if c.BreakerState() != "closed" {
		t.Fatalf("breaker %s after a good probe", c.BreakerState())
	}
}

func TestNotFoundDoesNotTripTheBreaker(t *testing.T) {
	c, _ := newTestClient(t, time.Minute)
	for i := 0; i < 10; i++ {
		c.Forget("nobody")
		_, _ = c.Get(context.Background(), "nobody")
	}
	if c.BreakerState() != "closed" {
		t.Fatal("404s opened the breaker")
	}
}

// TestRefusalIsAnAnswer: a 4xx other than 404 is the auth-service refusing
// the request (CONTRACT §5): ErrRefused with its status, not an outage, and
// it does not trip the breaker.
func TestRefusalIsAnAnswer(t *testing.T) {
	c, _ := newTestClient(t, time.Minute)
	for i := 0; i < 10; i++ {
		_, err := c.List(context.Background(), 5000, 0)
		if !errors.Is(err, ErrRefused) || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "status 422") {
			t.Fatalf("a 422: %v, want ErrRefused with its status", err)
		}
	}
	if c.BreakerState() != "closed" {
		t.Fatal("refusals opened the breaker")
	}
}

func TestList(t *testing.T) {
	c, _ := newTestClient(t, time.Minute)
	users, err := c.List(context.Background(), 100, 0)
	if err != nil || len(users) != 2 || users[0].ID != "1" || users[1].ID != "b2" || users[0].Email != nil {
		t.Fatalf("List: %+v %v", users, err)
	}
	if users, err := c.List(context.Background(), 100, 100); err != nil || len(users) != 0 {
		t.Fatalf("last page: %+v %v", users, err)
	}
}

func TestNotConfigured(t *testing.T) {
	c := New(config.Config{}, zap.NewNop())
	if _, err := c.Get(context.Background(), "42"); !errors.Is(err, ErrNotConfigured) || c.Enabled() {
		t.Fatalf("%v", err)
	}
}

// FuzzDecodeUser: the auth-service's answers are outside input too. Never a
// panic; an accepted user has a valid id (CONTRACT §1), so nothing the
// auth-service says can create a reference no route could address.
func FuzzDecodeUser(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		u, err := decodeUser(raw)
		if err == nil && !userid.Valid(u.ID) {
			t.Fatalf("%q decoded to the invalid id %q", raw, u.ID)
		}
	})
}

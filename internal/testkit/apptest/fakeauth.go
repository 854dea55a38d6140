package apptest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// FakeAuthService is a stand-in auth-service for CONTRACT §5's GET /users/{id}:
// it answers each id's JSON body from Users, 404 for others, and 502 while Down.
type FakeAuthService struct {
	*httptest.Server
	Users map[string]string // id → JSON body
	Down  atomic.Bool
	Calls atomic.Int64
}

// NewFakeAuthService starts the fake; it stops with the test.
func NewFakeAuthService(t testing.TB, users map[string]string) *FakeAuthService {
	t.Helper()
	f := &FakeAuthService{Users: users}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.Calls.Add(1)
		if f.Down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		body, ok := f.Users[strings.TrimPrefix(r.URL.Path, "/users/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(f.Close)
	return f
}

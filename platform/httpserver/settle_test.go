package httpserver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"usersvc/platform/auth"
	"usersvc/platform/errs"
)

// fakeOwners is a directory of owners for tests of the chain alone: ids of
// letters and digits; "gone" is deleted, "nobody" unknown everywhere, and
// "remote" becomes known once resolved (as an auth-service lookup would).
type fakeOwners struct{ log *ownerLog }

type ownerLog struct {
	mu    sync.Mutex
	calls []string
	known map[string]bool
}

func (l *ownerLog) add(call string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, call)
}

func (fakeOwners) Param() string { return "auth_user_id" }

func (fakeOwners) CheckPath(id string) error {
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return errs.New(errs.Malformed, "malformed owner id")
		}
	}
	if id == "" {
		return errs.New(errs.Malformed, "malformed owner id")
	}
	return nil
}

func (fakeOwners) FromClaim(claim any) (string, error) {
	if s, ok := claim.(string); ok && s != "" {
		return s, nil
	}
	return "", errors.New("not an owner id")
}

func (o fakeOwners) Claim(_ context.Context, id string) error {
	o.log.add("claim " + id)
	if id == "gone" {
		return errs.Wrap(errs.Unauthorized, "deleted", auth.InvalidToken("user deleted"))
	}
	o.markKnown(id)
	return nil
}

func (o fakeOwners) Resolve(_ context.Context, id string) error {
	o.log.add("resolve " + id)
	switch id {
	case "gone", "nobody":
		return errs.New(errs.NotFound, "no such owner")
	case "down":
		return errs.New(errs.Unavailable, "directory down")
	}
	o.markKnown(id)
	return nil
}

func (o fakeOwners) markKnown(id string) {
	if o.log == nil {
		return
	}
	o.log.mu.Lock()
	defer o.log.mu.Unlock()
	o.log.known[id] = true
}

func (o fakeOwners) isKnown(id string) bool {
	o.log.mu.Lock()
	defer o.log.mu.Unlock()
	return o.log.known[id]
}

const settleSecret = "0123456789abcdef0123456789abcdef"

func settleToken(t *testing.T, sub string, admin bool) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
	if admin {
		claims["scope"] = "users:admin"
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(settleSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSettleAppliesTheContractOrder drives the chain with a store that knows
// only the owners the directory has made known, and checks each answer and
// which directory calls it cost: none on success, one on the failure path.
func TestSettleAppliesTheContractOrder(t *testing.T) {
	log := &ownerLog{known: map[string]bool{"42": true, "43": true}}
	owners := fakeOwners{log: log}
	// write is a store call: an unknown owner fails; a body {"bad":1} is a 422.
	write := func(c *fiber.Ctx) error {
		if strings.Contains(string(c.Body()), "bad") {
			return errs.InvalidFields(errs.FieldError{Field: "bad", Message: "is not a known field"})
		}
		if !owners.isKnown(Owner(c)) {
			return errs.ErrOwnerUnknown
		}
		if strings.Contains(string(c.Body()), "dup") {
			return errs.New(errs.Conflict, "exists")
		}
		return c.SendStatus(http.StatusCreated)
	}
	beforeInvalid := func(c *fiber.Ctx) error {
		if c.Get("If-Match") == `"stale"` {
			return errs.New(errs.Precondition, "stale")
		}
		return nil
	}
	routes := []Route{
		{Method: "GET", Path: "/users/:auth_user_id/things", Handler: write},
		{Method: "POST", Path: "/users/:auth_user_id/things", Access: OwnerOrAdmin, Body: true, Handler: write, BeforeInvalid: beforeInvalid},
		{Method: "GET", Path: "/users/me", Access: Authenticated, Handler: write},
	}
	s := testServerWith(t, "0", routes, owners)
	json := []string{"Content-Type", "application/json"}
	bearer := func(sub string, admin bool) []string {
		return []string{"Authorization", "Bearer " + settleToken(t, sub, admin)}
	}
	cases := []struct {
		name, method, target, body string
		headers                    []string
		status                     int
		calls                      []string
	}{
		{"known owner: one try, no directory call", "POST", "/users/42/things", `{}`, append(bearer("42", false), json...), 201, nil},
		{"new caller: claimed just in time, then written", "POST", "/users/7/things", `{}`, append(bearer("7", false), json...), 201, []string{"claim 7"}},
		{"deleted caller: 401 on its own route", "POST", "/users/gone/things", `{}`, append(bearer("gone", false), json...), 401, []string{"claim gone"}},
		{"deleted caller: 401 before 403", "POST", "/users/42/things", `{}`, append(bearer("gone", false), json...), 401, []string{"claim gone"}},
		{"deleted caller: 401 before a malformed path id", "POST", "/users/a-b/things", `{}`, append(bearer("gone", false), json...), 401, []string{"claim gone"}},
		{"live caller on another's route: 403", "POST", "/users/43/things", `{}`, append(bearer("42", false), json...), 403, []string{"claim 42"}},
		{"admin for an unknown owner: 404, resolved once", "POST", "/users/nobody/things", `{}`, append(bearer("svc", true), json...), 404, []string{"resolve nobody"}},
		{"admin for a remote owner: resolved, then written", "POST", "/users/remote/things", `{}`, append(bearer("svc", true), json...), 201, []string{"resolve remote"}},
		{"admin, directory down: 503", "POST", "/users/down/things", `{}`, append(bearer("svc", true), json...), 503, []string{"resolve down"}},
		{"admin, unknown owner and broken fields: 404 first", "POST", "/users/nobody/things", `{"bad":1}`, append(bearer("svc", true), json...), 404, []string{"resolve nobody"}},
		{"admin, broken fields and stale If-Match: 412 first", "POST", "/users/43/things", `{"bad":1}`, append(append(bearer("svc", true), json...), "If-Match", `"stale"`), 412, []string{"resolve 43"}},
		{"owner, broken fields: the caller is proven, then 422", "POST", "/users/42/things", `{"bad":1}`, append(bearer("42", false), json...), 422, []string{"claim 42"}},
		{"owner, conflict: 409 after the caller is proven", "POST", "/users/42/things", `{"dup":1}`, append(bearer("42", false), json...), 409, []string{"claim 42"}},
		{"admin, content type: 415 without a directory call", "POST", "/users/nobody/things", `{}`, bearer("svc", true), 415, nil},
		{"public read of an unknown owner: 404", "GET", "/users/nobody/things", "", nil, 404, []string{"resolve nobody"}},
		{"public read of an owner resolved before: no call", "GET", "/users/remote/things", "", nil, 201, nil},
		{"me, new caller: claimed", "GET", "/users/me", "", bearer("8", false), 201, []string{"claim 8"}},
		{"me, admin without a record: 404, never resolved", "GET", "/users/me", "", bearer("svc", true), 404, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log.mu.Lock()
			log.calls = nil
			log.mu.Unlock()
			status, body, _ := do(t, s, tc.method, tc.target, tc.body, tc.headers...)
			if status != tc.status {
				t.Fatalf("status %d, want %d (%v)", status, tc.status, body)
			}
			log.mu.Lock()
			calls := append([]string(nil), log.calls...)
			log.mu.Unlock()
			if strings.Join(calls, ",") != strings.Join(tc.calls, ",") {
				t.Fatalf("directory calls %q, want %q", calls, tc.calls)
			}
		})
	}
}

// TestSharedReadsShareOneRun: identical concurrent requests of a Shared
// route queued behind a running one share one run and all get its answer,
// headers included; a HEAD of the same URL is another read.
func TestSharedReadsShareOneRun(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	runs := map[string]int{} // by method
	count := func(m string) int {
		mu.Lock()
		defer mu.Unlock()
		return runs[m]
	}
	list := func(c *fiber.Ctx) error {
		mu.Lock()
		runs[c.Method()]++
		first := runs[c.Method()] == 1
		mu.Unlock()
		if first {
			<-release // the first run holds the key while the others queue
		}
		c.Set(fiber.HeaderLink, `</users/42/things?cursor=x>; rel="next"`)
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.SendString(`[{"id":1}]`)
	}
	s := testServerWith(t, "0", []Route{{Method: "GET", Path: "/users/:auth_user_id/things", Shared: true, Handler: list}}, fakeOwners{})
	key := sharedKey{method: "GET", url: "/users/42/things?limit=1"}
	type answer struct {
		status int
		link   string
	}
	answers := make(chan answer, 6)
	get := func() {
		req, _ := http.NewRequest("GET", "http://"+s.Addr()+key.url, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			answers <- answer{}
			return
		}
		res.Body.Close()
		answers <- answer{res.StatusCode, res.Header.Get("Link")}
	}
	go get() // the first run
	waitFor(t, "the first run", func() bool { return count("GET") == 1 })
	for i := 0; i < 5; i++ {
		go get()
	}
	// One queued read and four joiners: a route that shares nothing never gets there.
	waitFor(t, "the queued requests", func() bool { return s.guard.shared.group.Joined(key) == 4 })
	close(release)
	for i := 0; i < 6; i++ {
		if a := <-answers; a.status != 200 || a.link == "" {
			t.Fatalf("answer %d: %+v, want 200 with the Link of the shared run", i, a)
		}
	}
	if n := count("GET"); n != 2 {
		t.Fatalf("%d runs for 6 requests, want 2 (the first, then one shared by the five queued)", n)
	}
	if status, _, _ := do(t, s, "HEAD", key.url, ""); status != 200 || count("HEAD") != 1 {
		t.Fatalf("HEAD: %d after %d runs; a HEAD is its own read", status, count("HEAD"))
	}
}

// waitFor polls cond (a state to reach, not a race to hope for) for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in 5 s", what)
		}
	}
}

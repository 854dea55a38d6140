package profile_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"usersvc/internal/testkit/apptest"
	"usersvc/modules/authref"
	"usersvc/modules/badges"
	"usersvc/modules/profile"
	"usersvc/platform/config"
)

func newApp(t *testing.T, tweak func(*config.Config)) *apptest.App {
	t.Helper()
	return apptest.New(t, tweak, authref.Module, profile.Module, badges.Module)
}

var timestampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)

type wireStats struct {
	Badges         int64 `json:"badges"`
	GoalsTotal     int64 `json:"goals_total"`
	GoalsCompleted int64 `json:"goals_completed"`
	BestStreak     int64 `json:"best_streak"`
	CurrentStreak  int64 `json:"current_streak"`
	LongestStreak  int64 `json:"longest_streak"`
}

type wireProfile struct {
	UserID      string    `json:"auth_user_id"`
	Username    *string   `json:"username"`
	Email       *string   `json:"email"`
	MemberSince string    `json:"member_since"`
	Stats       wireStats `json:"stats"`
}

func keys(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s is not an object: %v", raw, err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkProfile fails unless r is a 200 profile with exactly the contract's fields.
func checkProfile(t *testing.T, r apptest.Response, private bool) wireProfile {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("status = %d, want 200; body %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	want := []string{"auth_user_id", "member_since", "stats", "username"}
	if private {
		want = []string{"auth_user_id", "email", "member_since", "settings", "stats", "username"}
	}
	if got := keys(t, r.Body); !slices.Equal(got, want) {
		t.Fatalf("profile fields = %v, want exactly %v", got, want)
	}
	var stats struct {
		Stats json.RawMessage `json:"stats"`
	}
	r.JSON(t, &stats)
	if got := keys(t, stats.Stats); !slices.Equal(got, []string{"badges", "best_streak", "current_streak", "goals_completed", "goals_total", "longest_streak"}) {
		t.Fatalf("stats fields = %v", got)
	}
	var p wireProfile
	r.JSON(t, &p)
	if !timestampRE.MatchString(p.MemberSince) {
		t.Fatalf("member_since = %q, want RFC 3339 UTC with 6 fractional digits and Z", p.MemberSince)
	}
	return p
}

func str(s string) *string { return &s }

func eqPtr(a, b *string) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }

// TestPublicProfile checks the public profile's shape, stats and errors.
func TestPublicProfile(t *testing.T) {
	t.Parallel()
	app := newApp(t, nil)
	app.Exec(`INSERT INTO auth_users (auth_user_id, email, username, created_at) VALUES
		('42', 'ada@example.com', 'ada', '2023-03-04T05:06:07.891234Z'),
		('43', NULL, NULL, now()),
		('ME', 'upper@example.com', 'upper', now()),
		('idle', NULL, 'idle', now())`)
	app.Exec(`INSERT INTO auth_user_tombstones (auth_user_id, deleted_at) VALUES ('99', now())`)
	app.Exec(`INSERT INTO badges (auth_user_id, name) VALUES ('42', 'a'), ('42', 'b'), ('42', 'c'), ('43', 'a')`)
	app.Exec(`INSERT INTO learning_goals (auth_user_id, title, status, streak_count) VALUES
		('42', 'g1', 'completed', 7), ('42', 'g2', 'completed', 3), ('42', 'g3', 'in-progress', 5),
		('42', 'g4', 'abandoned', 0), ('42', 'g5', 'not-started', 0),
		('43', 'big', 'completed', 1000000),
		('idle', 'zero', 'in-progress', 0)`)

	cases := []struct {
		id       string
		username *string
		stats    wireStats
	}{
		{"42", str("ada"), wireStats{Badges: 3, GoalsTotal: 5, GoalsCompleted: 2, BestStreak: 7}},
		{"43", nil, wireStats{Badges: 1, GoalsTotal: 1, GoalsCompleted: 1, BestStreak: 1_000_000}},
		{"ME", str("upper"), wireStats{}}, // /users/ME is the user "ME", not the caller
		{"idle", str("idle"), wireStats{GoalsTotal: 1}},
	}
	for _, tc := range cases {
		t.Run("user "+tc.id, func(t *testing.T) {
			t.Parallel()
			r := app.Do(http.MethodGet, "/users/"+tc.id, nil, apptest.Bearer("ignored on public routes"))
			p := checkProfile(t, r, false)
			if p.UserID != tc.id || !eqPtr(p.Username, tc.username) || p.Stats != tc.stats {
				t.Fatalf("profile = %s", r.Body)
			}
			if strings.Contains(string(r.Body), "@") {
				t.Fatalf("the public profile shows an email: %s", r.Body)
			}
		})
	}
	t.Run("member_since is the reference's creation", func(t *testing.T) {
		t.Parallel()
		p := checkProfile(t, app.Do(http.MethodGet, "/users/42", nil), false)
		if p.MemberSince != "2023-03-04T05:06:07.891234Z" {
			t.Fatalf("member_since = %q", p.MemberSince)
		}
	})
	errs := []struct {
		name, path string
		status     int
	}{
		{"unknown user", "/users/nobody", 404},
		{"deleted user", "/users/99", 404},
		{"malformed id", "/users/-42", 400},
		{"id with a space", "/users/a%20b", 400},
		{"id 65 characters", "/users/" + strings.Repeat("a", 65), 400},
		{"trailing slash", "/users/42/", 404},
		{"wrong method", "/users/42", 405},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			method := http.MethodGet
			if tc.name == "wrong method" {
				method = http.MethodPatch
			}
			apptest.ExpectProblem(t, app.Do(method, tc.path, nil), tc.status)
		})
	}
	t.Run("64-character id is well formed", func(t *testing.T) {
		t.Parallel()
		apptest.ExpectProblem(t, app.Do(http.MethodGet, "/users/"+strings.Repeat("a", 64), nil), 404)
	})
}

// TestMe checks /users/me: authentication, the private shape, Cache-Control
// and the just-in-time reference of a first-time caller.
func TestMe(t *testing.T) {
	t.Parallel()
	app := newApp(t, nil)
	app.Exec(`INSERT INTO auth_users (auth_user_id, email, username) VALUES ('42', 'ada@example.com', 'ada'), ('me', 'lower@example.com', 'lower')`)
	app.Exec(`INSERT INTO badges (auth_user_id, name) VALUES ('42', 'a')`)
	app.Exec(`INSERT INTO learning_goals (auth_user_id, title, status, streak_count) VALUES ('42', 'g', 'completed', 4)`)
	app.Exec(`INSERT INTO auth_user_tombstones (auth_user_id, deleted_at) VALUES ('99', now())`)

	t.Run("own profile", func(t *testing.T) {
		t.Parallel()
		r := app.Do(http.MethodGet, "/users/me", nil, apptest.Bearer(apptest.Token(t, "42", nil)))
		p := checkProfile(t, r, true)
		if cc := r.Header.Get("Cache-Control"); cc != "private, no-store" {
			t.Fatalf("Cache-Control = %q", cc)
		}
		want := wireProfile{UserID: "42", Username: str("ada"), Email: str("ada@example.com"), MemberSince: p.MemberSince,
			Stats: wireStats{Badges: 1, GoalsTotal: 1, GoalsCompleted: 1, BestStreak: 4}}
		if p.UserID != want.UserID || !eqPtr(p.Username, want.Username) || !eqPtr(p.Email, want.Email) || p.Stats != want.Stats {
			t.Fatalf("profile = %s", r.Body)
		}
	})
	t.Run("numeric sub claim", func(t *testing.T) {
		t.Parallel()
		r := app.Do(http.MethodGet, "/users/me", nil, apptest.Bearer(apptest.Token(t, 42, nil)))
		if p := checkProfile(t, r, true); p.UserID != "42" {
			t.Fatalf("auth_user_id = %q", p.UserID)
		}
	})
	t.Run("first request of a new user", func(t *testing.T) {
		t.Parallel()
		before := time.Now().Add(-time.Second)
		r := app.Do(http.MethodGet, "/users/me", nil, apptest.Bearer(apptest.Token(t, "newcomer", nil)))
		p := checkProfile(t, r, true)
		since, _ := time.Parse(time.RFC3339Nano, p.MemberSince)
		if p.UserID != "newcomer" || p.Username != nil || p.Email != nil || p.Stats != (wireStats{}) || since.Before(before) {
			t.Fatalf("profile = %s", r.Body)
		}
		if !strings.Contains(string(r.Body), `"email":null`) || !strings.Contains(string(r.Body), `"username":null`) {
			t.Fatalf("null identity fields are not null: %s", r.Body)
		}
	})
	t.Run("the user me is not the caller", func(t *testing.T) {
		t.Parallel()
		r := app.Do(http.MethodGet, "/users/me", nil, apptest.Bearer(apptest.Token(t, "42", nil)))
		if p := checkProfile(t, r, true); p.UserID != "42" {
			t.Fatalf("/users/me answered for %q", p.UserID)
		}
	})
	t.Run("admin token without a reference", func(t *testing.T) {
		t.Parallel()
		apptest.ExpectProblem(t, app.Do(http.MethodGet, "/users/me", nil, apptest.Bearer(apptest.AdminToken(t))), 404)
	})
	unauthorized := []struct {
		name string
		opts []apptest.Option
	}{
		{"no token", nil},
		{"not a JWT", []apptest.Option{apptest.Bearer("abc")}},
		{"wrong scheme", []apptest.Option{apptest.Header("Authorization", "Token abc")}},
		{"expired", []apptest.Option{apptest.Bearer(apptest.Token(t, "42", map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))}},
		{"no exp", []apptest.Option{apptest.Bearer(apptest.Token(t, "42", map[string]any{"exp": nil}))}},
		{"deleted user", []apptest.Option{apptest.Bearer(apptest.Token(t, "99", nil))}},
	}
	for _, tc := range unauthorized {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := app.Do(http.MethodGet, "/users/me", nil, tc.opts...)
			apptest.ExpectProblem(t, r, 401)
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestProfilesWithAuthService: /users/me refreshes the identity from the
// auth-service and degrades to cached data when it is down; the public
// profile never asks it about a known id.
func TestProfilesWithAuthService(t *testing.T) {
	t.Parallel()
	auth := apptest.NewFakeAuthService(t, map[string]string{
		"42":  `{"id": 42, "email": "new@example.com", "username": "ada2"}`,
		"555": `{"id": "555", "email": "bob@example.com", "username": "bob"}`,
	})
	app := newApp(t, func(c *config.Config) { c.AuthServiceURL = auth.URL })
	app.Exec(`INSERT INTO auth_users (auth_user_id, email, username) VALUES ('42', 'old@example.com', 'ada'), ('local', NULL, 'loc')`)

	r := app.Do(http.MethodGet, "/users/me", nil, apptest.Bearer(apptest.Token(t, "42", nil)))
	if p := checkProfile(t, r, true); !eqPtr(p.Email, str("new@example.com")) || !eqPtr(p.Username, str("ada2")) {
		t.Fatalf("/users/me did not serve the auth-service's identity: %s", r.Body)
	}
	var email string
	if err := app.DB.QueryRow(context.Background(), `SELECT email FROM auth_users WHERE auth_user_id = '42'`).Scan(&email); err != nil || email != "new@example.com" {
		t.Fatalf("stored email = %q, %v", email, err)
	}

	before := auth.Calls.Load()
	checkProfile(t, app.Do(http.MethodGet, "/users/local", nil), false)
	checkProfile(t, app.Do(http.MethodGet, "/users/42", nil), false)
	if auth.Calls.Load() != before {
		t.Fatal("the public profile of a known id asked the auth-service")
	}
	if p := checkProfile(t, app.Do(http.MethodGet, "/users/555", nil), false); !eqPtr(p.Username, str("bob")) {
		t.Fatal("an id known only to the auth-service was not resolved")
	}
	apptest.ExpectProblem(t, app.Do(http.MethodGet, "/users/unknown-there", nil), 404)

	// The auth-service goes away: /users/me serves the cached identity.
	auth.Close()
	r = app.Do(http.MethodGet, "/users/me", nil, apptest.Bearer(apptest.Token(t, "42", nil)))
	if p := checkProfile(t, r, true); !eqPtr(p.Email, str("new@example.com")) || r.Header.Get("Cache-Control") != "private, no-store" {
		t.Fatalf("/users/me with the auth-service down: %s", r.Body)
	}
	// An id only the auth-service could answer for is 503, with Retry-After.
	r = app.Do(http.MethodGet, "/users/not-cached", nil)
	apptest.ExpectProblem(t, r, 503)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

// TestMeWinsOverUserID: route groups arrive in random order, yet /users/me is
// always the caller and never the user "me", in every freshly wired app.
func TestMeWinsOverUserID(t *testing.T) {
	t.Parallel()
	for i := range 6 {
		app := newApp(t, nil)
		r := app.Do(http.MethodGet, "/users/me", nil)
		apptest.ExpectProblem(t, r, 401)
		if p := checkProfile(t, app.Do(http.MethodGet, "/users/me", nil, apptest.Bearer(apptest.Token(t, "7", nil))), true); p.UserID != "7" {
			t.Fatalf("app %d: /users/me answered for %q", i, p.UserID)
		}
	}
}

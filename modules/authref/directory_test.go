package authref_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"usersvc/internal/testkit/apptest"
	"usersvc/modules/authref"
	"usersvc/modules/authref/authclient"
	"usersvc/platform/config"
	"usersvc/platform/database"
)

func newDirectory(t *testing.T, auth *apptest.FakeAuthService) (*authref.Directory, *evWorld) {
	t.Helper()
	w := newEvWorld(t)
	cfg := config.Config{AuthServiceTimeout: time.Second}
	if auth != nil {
		cfg.AuthServiceURL = auth.URL
	}
	return authref.NewDirectory(&database.Pool{Pool: w.pool}, authclient.New(cfg, zap.NewNop()), zap.NewNop()), w
}

func TestClaimCreatesOnceEvenUnderConcurrentFirstRequests(t *testing.T) {
	t.Parallel()
	d, w := newDirectory(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- d.Claim(context.Background(), "jit") }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	w.expect("jit", true, "<null>", "<null>")
}

func TestClaimRefusesATombstone(t *testing.T) {
	t.Parallel()
	d, w := newDirectory(t, nil)
	if _, err := w.pool.Exec(context.Background(), `INSERT INTO auth_user_tombstones VALUES ('gone', now())`); err != nil {
		t.Fatal(err)
	}
	if err := d.Claim(context.Background(), "gone"); !errors.Is(err, authref.ErrDeleted) {
		t.Fatalf("claim of a deleted id: %v", err)
	}
	if w.ref("gone").exists {
		t.Fatal("a deleted id came back")
	}
}

// TestClaimLosesToAConcurrentDelete forces the race the settle step closes: a
// UserDeleted's transaction holds the user's lock and has written, not yet
// committed, its tombstone; the claim's snapshot cannot see it, so the claim
// creates the reference. Only when the claim waits for that lock (the reference
// already created) does the delete commit: the tombstone must then win.
func TestClaimLosesToAConcurrentDelete(t *testing.T) {
	t.Parallel()
	d, w := newDirectory(t, nil)
	ctx := context.Background()
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// The lifecycle handler's transaction: per-user lock, tombstone, not yet committed.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(1095062086, hashtext('racer'))`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO auth_user_tombstones VALUES ('racer', now())`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Claim(ctx, "racer") }()
	waitFor(t, done, "the claim created the reference the tombstone will delete",
		w.query(`SELECT EXISTS (SELECT 1 FROM auth_users WHERE auth_user_id = 'racer')`))
	waitFor(t, done, "the claim waits for the user's lock",
		w.query(`SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory')`))
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, authref.ErrDeleted) {
		t.Fatalf("claim racing a delete: %v", err)
	}
	if r := w.ref("racer"); r.exists || r.tombstone == nil {
		t.Fatalf("want only the tombstone, got %+v", r)
	}
}

// query returns a check of a boolean SQL condition on the test database.
func (w *evWorld) query(sql string) func() (bool, error) {
	return func() (bool, error) {
		var ok bool
		err := w.pool.QueryRow(context.Background(), sql).Scan(&ok)
		return ok, err
	}
}

// waitFor polls cond until it holds; the claim ending first, or ten seconds
// passing, fails the test (the claim did not wait where the race needs it).
func waitFor(t *testing.T, claim <-chan error, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting until %s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case err := <-claim:
			t.Fatalf("the claim returned (%v) before %s", err, what)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10s", what)
		}
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	auth := apptest.NewFakeAuthService(t, map[string]string{"known": identity("known", "kay")})
	d, w := newDirectory(t, auth)
	ctx := context.Background()
	if _, err := w.pool.Exec(ctx, `INSERT INTO auth_user_tombstones VALUES ('gone', now()); INSERT INTO auth_users (auth_user_id) VALUES ('local')`); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		id   string
		down bool
		want error
	}{
		{"local", true, nil}, // a local reference answers without the auth-service
		{"gone", false, authref.ErrDeleted},
		{"known", false, nil},
		{"stranger", false, authref.ErrUnknown},
		{"other", true, authref.ErrUnavailable},
	}
	for _, tc := range cases {
		auth.Down.Store(tc.down)
		if err := d.Resolve(ctx, tc.id); !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
			t.Errorf("Resolve(%s) = %v, want %v", tc.id, err, tc.want)
		}
	}
	w.expect("known", true, "known@example.com", "kay")
	// A 404 is remembered: asking again does not reach the auth-service.
	auth.Down.Store(false)
	before := auth.Calls.Load()
	_ = d.Resolve(ctx, "stranger")
	if after := auth.Calls.Load(); after != before {
		t.Fatalf("the cached 404 was asked again (%d calls → %d)", before, after)
	}
}

func TestRefreshUpdatesButNeverCreates(t *testing.T) {
	t.Parallel()
	auth := apptest.NewFakeAuthService(t, map[string]string{"ada": identity("ada", "ada-new"), "admin": identity("admin", "root")})
	d, w := newDirectory(t, auth)
	ctx := context.Background()
	if _, err := w.pool.Exec(ctx, `INSERT INTO auth_users (auth_user_id, username) VALUES ('ada', 'ada-old')`); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Refresh(ctx, "ada"); !ok || err != nil {
		t.Fatalf("refresh: %v %v", ok, err)
	}
	w.expect("ada", true, "ada@example.com", "ada-new")
	if _, err := d.Refresh(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if w.ref("admin").exists {
		t.Fatal("refresh created a reference")
	}
	auth.Down.Store(true)
	if ok, err := d.Refresh(ctx, "ada"); ok || err != nil {
		t.Fatalf("an outage must degrade quietly: %v %v", ok, err)
	}
}

func identity(id, username string) string {
	return `{"id":"` + id + `","email":"` + id + `@example.com","username":"` + username + `"}`
}

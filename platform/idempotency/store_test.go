package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"usersvc/internal/testkit/pgtest"
	"usersvc/platform/database"
	"usersvc/platform/idempotency"
)

func newStore(t *testing.T) (*idempotency.Store, *database.Pool) {
	t.Helper()
	pool := &database.Pool{Pool: pgtest.Pool(t, pgtest.Migrated(t))}
	return idempotency.NewStore(pool), pool
}

func ok(status int) func(context.Context) (idempotency.Answer, error) {
	return func(context.Context) (idempotency.Answer, error) {
		return idempotency.Answer{Status: status, ContentType: "application/json", Body: []byte(`{}`)}, nil
	}
}

// Expired answers are never replayed, and the purge deletes them.
func TestStoreExpiryAndPurge(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := t.Context()
	scope := idempotency.Scope{Caller: "c", Method: "POST", Path: "/p", Key: "k"}
	fp, _ := idempotency.Fingerprint([]byte(`{"a":1}`))
	if replay, err := s.Run(ctx, scope, fp, ok(201)); err != nil || replay != nil {
		t.Fatalf("first run: %v %v", replay, err)
	}
	if replay, err := s.Run(ctx, scope, fp, ok(201)); err != nil || replay == nil || replay.Status != 201 {
		t.Fatalf("repeat: %v %v", replay, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE idempotency_answers SET created_at = now() - interval '25 hours'`); err != nil {
		t.Fatal(err)
	}
	ran := false
	other, _ := idempotency.Fingerprint([]byte(`{"a":2}`))
	if replay, err := s.Run(ctx, scope, other, func(c context.Context) (idempotency.Answer, error) { ran = true; return ok(201)(c) }); err != nil || replay != nil || !ran {
		t.Fatalf("an expired key runs as a new request: %v %v ran=%v", replay, err, ran)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO idempotency_answers (scope, fingerprint, status, content_type, location, etag, body, created_at)
		SELECT sha256(int4send(i)), '\x00', 201, '', '', '', '', now() - interval '25 hours' FROM generate_series(1, 1500) i`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Purge(ctx); err != nil || n != 1500 {
		t.Fatalf("purged %d, %v; want 1500", n, err)
	}
	var left int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM idempotency_answers`).Scan(&left); err != nil || left != 1 {
		t.Fatalf("%d answers left (%v), want the fresh one", left, err)
	}
}

// A failed or non-2xx run stores nothing, and a held key is ErrInProgress.
func TestStoreFailuresAndInProgress(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := t.Context()
	scope := idempotency.Scope{Caller: "c", Method: "POST", Path: "/p", Key: "k"}
	fp, _ := idempotency.Fingerprint([]byte(`{}`))
	boom := errors.New("boom")
	if _, err := s.Run(ctx, scope, fp, func(context.Context) (idempotency.Answer, error) { return idempotency.Answer{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("failure: %v", err)
	}
	if _, err := s.Run(ctx, scope, fp, ok(204)); err != nil {
		t.Fatal(err)
	}
	scope.Key = "k2"
	if _, err := s.Run(ctx, scope, fp, ok(302)); err != nil {
		t.Fatal(err)
	}
	var stored int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM idempotency_answers`).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("%d stored (%v), want only the 204", stored, err)
	}
	scope.Key = "held"
	_, err := s.Run(ctx, scope, fp, func(c context.Context) (idempotency.Answer, error) {
		if _, err := database.ConnOf(c, pool).Exec(c, `SELECT 1`); err != nil { // the key is claimed with it
			return idempotency.Answer{}, err
		}
		_, inner := s.Run(c, scope, fp, ok(201)) // a second request with the key, on another connection
		return idempotency.Answer{}, inner
	})
	if !errors.Is(err, idempotency.ErrInProgress) {
		t.Fatalf("while held: %v, want ErrInProgress", err)
	}
}

// A crash between the effect and its stored answer is impossible by
// construction: both are in one transaction. The effect is written, then
// the answer cannot be stored (the connection dies, or the database refuses
// it): neither remains, and the key runs again.
func TestEffectAndAnswerCommitTogether(t *testing.T) {
	t.Parallel()
	for name, fail := range map[string]func(t *testing.T, ctx context.Context, pool *database.Pool) idempotency.Answer{
		"the connection dies after the effect": func(t *testing.T, ctx context.Context, pool *database.Pool) idempotency.Answer {
			var pid int
			if err := database.ConnOf(ctx, pool).QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Exec(context.WithoutCancel(ctx), `SELECT pg_terminate_backend($1)`, pid); err != nil {
				t.Fatal(err)
			}
			return idempotency.Answer{Status: 201, ContentType: "application/json", Body: []byte(`{}`)}
		},
		"the answer cannot be stored": func(*testing.T, context.Context, *database.Pool) idempotency.Answer {
			return idempotency.Answer{Status: 201, ContentType: "application/json\x00", Body: []byte(`{}`)} // text refuses NUL
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, pool := newStore(t)
			ctx := t.Context()
			scope := idempotency.Scope{Caller: "c", Method: "POST", Path: "/p", Key: "k"}
			fp, _ := idempotency.Fingerprint([]byte(`{}`))
			_, err := s.Run(ctx, scope, fp, func(c context.Context) (idempotency.Answer, error) {
				if _, err := database.ConnOf(c, pool).Exec(c, `INSERT INTO auth_users (auth_user_id) VALUES ('effect')`); err != nil {
					t.Fatal(err)
				}
				return fail(t, c, pool), nil
			})
			if err == nil {
				t.Fatal("Run succeeded without storing its answer")
			}
			var effects, answers int
			if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM auth_users), (SELECT count(*) FROM idempotency_answers)`).Scan(&effects, &answers); err != nil {
				t.Fatal(err)
			}
			if effects != 0 || answers != 0 {
				t.Fatalf("%d effects and %d answers remain, want neither", effects, answers)
			}
			if replay, err := s.Run(ctx, scope, fp, ok(201)); err != nil || replay != nil {
				t.Fatalf("the key after the failure: replay %v, %v; want a new run", replay, err)
			}
		})
	}
}

// TestKeyCommittedWhileClaimed: wherever a second request with a key is held
// on its way to the database — its BEGIN, the claim, the claim's check, its
// effect, each held after the server took the statement's snapshot and
// before it runs — a first request that commits its answer meanwhile is
// never run twice (one effect committed): the second replays it, or (held
// once its lock was refused) answers 409. A claim whose lookup saw a
// snapshot older than its lock would run again.
func TestKeyCommittedWhileClaimed(t *testing.T) {
	t.Parallel()
	url := pgtest.Migrated(t)
	firstPool := &database.Pool{Pool: pgtest.Pool(t, url)}
	first := idempotency.NewStore(firstPool)
	rec := pgtest.Record(t, url)
	secondPool := &database.Pool{Pool: pgtest.Pool(t, rec.URL)}
	second := idempotency.NewStore(secondPool)
	fp, _ := idempotency.Fingerprint([]byte(`{}`))
	replayed := 0
	for n := 1; ; n++ {
		scope := idempotency.Scope{Caller: "c", Method: "POST", Path: "/p", Key: fmt.Sprint("k", n)}
		// The effect: a row named after the key, written through the request's transaction.
		effect := func(c context.Context, s *database.Pool) error {
			_, err := database.ConnOf(c, s).Exec(c, `INSERT INTO auth_users (auth_user_id) VALUES ($1)`, scope.Key)
			return err
		}
		do := func(c context.Context) (idempotency.Answer, error) {
			if err := effect(c, secondPool); err != nil {
				return idempotency.Answer{}, err
			}
			return ok(201)(c)
		}
		inside, commit, firstDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			_, err := first.Run(t.Context(), scope, fp, func(c context.Context) (idempotency.Answer, error) {
				if err := effect(c, firstPool); err != nil {
					return idempotency.Answer{}, err
				}
				close(inside)
				<-commit
				return ok(201)(c)
			})
			firstDone <- err
		}()
		<-inside // the first request holds the key
		held, release := rec.HoldExecute(n)
		type result struct {
			replay *idempotency.Answer
			err    error
		}
		secondDone := make(chan result, 1)
		go func() {
			replay, err := second.Run(t.Context(), scope, fp, do)
			secondDone <- result{replay, err}
		}()
		var got result
		wasHeld := true
		select {
		case <-held:
			close(commit)
			if err := <-firstDone; err != nil {
				t.Fatal(err)
			}
			release()
			got = <-secondDone
		case got = <-secondDone: // fewer than n executions: every point was tried
			release()
			wasHeld = false
			close(commit)
			if err := <-firstDone; err != nil {
				t.Fatal(err)
			}
		}
		var runs int
		if err := firstPool.QueryRow(t.Context(), `SELECT count(*) FROM auth_users WHERE auth_user_id = $1`, scope.Key).Scan(&runs); err != nil {
			t.Fatal(err)
		}
		switch {
		case runs != 1:
			t.Fatalf("held at execution %d: the request's effect committed %d times", n, runs)
		case got.replay != nil:
			replayed++
		case !errors.Is(got.err, idempotency.ErrInProgress):
			t.Fatalf("held at execution %d: %v, want a replay or ErrInProgress", n, got.err)
		}
		if !wasHeld {
			break
		}
	}
	if replayed == 0 {
		t.Fatal("no hold came before the key's lock: the interleaving was never tried")
	}
}

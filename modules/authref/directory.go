package authref

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"usersvc/modules/authref/authclient"
	"usersvc/modules/authref/userid"
	"usersvc/platform/auth"
	"usersvc/platform/database"
	"usersvc/platform/errs"
	"usersvc/platform/httpserver"
	"usersvc/platform/logging"
)

// The directory's answers. Compare with errors.Is: the errors returned wrap
// them in the codes of platform/errs (404, 401, 503).
var (
	// ErrUnknown: neither the local data nor the auth-service knows the id.
	ErrUnknown = errs.New(errs.NotFound, "no such user")
	// ErrDeleted: the id was deleted (a tombstone exists).
	ErrDeleted = errors.New("deleted user")
	// ErrUnavailable: only the auth-service could answer, and it did not.
	ErrUnavailable = errors.New("user directory unavailable")
)

// Param is the path parameter that names a user: /users/:auth_user_id/….
const Param = "auth_user_id"

// Refresher is the /users/me path: the one route that asks the auth-service
// about a known user, so that its identity fields are fresh.
type Refresher interface {
	// Refresh fetches the user from the auth-service and stores its email and
	// username; it returns false (and no error) when the auth-service is not
	// configured or does not answer, so callers fall back to cached data.
	Refresh(ctx context.Context, id string) (bool, error)
}

// Directory resolves user ids to local references: authref's implementation
// of httpserver.Owners (the users every /users/{id} route names) and of Refresher.
type Directory struct {
	db   *database.Pool
	auth *authclient.Client
	log  *zap.Logger

	// Enrichment of just-in-time references runs in the background, bounded
	// and tied to the lifecycle: stop cancels it and waits for it.
	enrichSlots chan struct{}
	enrichCtx   context.Context
	stopEnrich  context.CancelFunc
	mu          sync.Mutex // orders enrichLater's Add before Close's Wait
	closed      bool
	enriching   sync.WaitGroup
}

var (
	_ httpserver.Owners = (*Directory)(nil)
	_ Refresher         = (*Directory)(nil)
)

// maxEnrichments bounds the background fetches after just-in-time
// references; a new reference beyond it is enriched at its next /users/me.
const maxEnrichments = 16

// NewDirectory builds the directory; auth may be disabled (AUTH_SERVICE_URL unset).
func NewDirectory(db *database.Pool, auth *authclient.Client, log *zap.Logger) *Directory {
	ctx, cancel := context.WithCancel(context.Background())
	return &Directory{db: db, auth: auth, log: log,
		enrichSlots: make(chan struct{}, maxEnrichments), enrichCtx: ctx, stopEnrich: cancel}
}

// newDirectory is NewDirectory under the fx lifecycle.
func newDirectory(lc fx.Lifecycle, db *database.Pool, auth *authclient.Client, log *zap.Logger) *Directory {
	d := NewDirectory(db, auth, log)
	lc.Append(fx.Hook{OnStop: func(context.Context) error { d.Close(); return nil }})
	return d
}

// Close cancels the background enrichments and waits for them.
func (d *Directory) Close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.stopEnrich()
	d.enriching.Wait()
}

// Param implements httpserver.Owners.
func (d *Directory) Param() string { return Param }

// CheckPath implements httpserver.Owners: a malformed id in a path is 400.
func (d *Directory) CheckPath(id string) error {
	if !userid.Valid(id) {
		return errs.New(errs.Malformed, "the user id in the path is malformed: 1–64 characters of A-Z a-z 0-9 _ . : -, starting with a letter or digit")
	}
	return nil
}

// FromClaim implements httpserver.Owners: a token's subject is a user id
// (a JSON number becomes its decimal string).
func (d *Directory) FromClaim(claim any) (string, error) { return userid.FromJSON(claim) }

// claimSQL creates the reference of an authenticated caller unless the id
// is tombstoned, in one round trip; concurrent first requests are safe
// because ON CONFLICT DO NOTHING lets exactly one insert win.
const claimSQL = `
WITH tomb AS (SELECT 1 FROM auth_user_tombstones WHERE auth_user_id = $1),
ins AS (
    INSERT INTO auth_users (auth_user_id)
    SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM tomb)
    ON CONFLICT (auth_user_id) DO NOTHING
    RETURNING 1)
SELECT EXISTS (SELECT 1 FROM tomb), EXISTS (SELECT 1 FROM ins)`

// errCallerDeleted is the 401 of a token whose user was deleted.
func errCallerDeleted() error {
	return errs.Wrap(errs.Unauthorized, "the user of this token was deleted",
		fmt.Errorf("%w: %w", auth.InvalidToken("user deleted"), ErrDeleted))
}

// Claim implements httpserver.Owners: the caller's reference, just in time.
func (d *Directory) Claim(ctx context.Context, id string) error {
	var deleted, created bool
	if err := d.db.QueryRow(ctx, claimSQL, id).Scan(&deleted, &created); err != nil {
		return database.Classify(err)
	}
	if deleted {
		return errCallerDeleted()
	}
	if created {
		if err := d.settle(ctx, id); err != nil {
			return err
		}
		d.enrichLater(id)
	}
	return nil
}

// settle closes the race between a just-in-time reference and a UserDeleted
// applied at the same moment (whose tombstone the claim's snapshot could not
// see): under the same per-user lock the lifecycle handler takes, a
// tombstone that exists now wins and the new reference goes. It runs only
// when a reference was just created.
func (d *Directory) settle(ctx context.Context, id string) error {
	tx, err := d.db.Begin(ctx)
	if err != nil {
		return database.Classify(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, lockUserSQL, id); err != nil {
		return database.Classify(err)
	}
	tag, err := tx.Exec(ctx, dropIfTombstonedSQL, id)
	if err != nil {
		return database.Classify(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return database.Classify(err)
	}
	if tag.RowsAffected() > 0 {
		return errCallerDeleted()
	}
	return nil
}

const dropIfTombstonedSQL = `
DELETE FROM auth_users
WHERE auth_user_id = $1 AND EXISTS (SELECT 1 FROM auth_user_tombstones WHERE auth_user_id = $1)`

const lookupSQL = `
SELECT EXISTS (SELECT 1 FROM auth_users WHERE auth_user_id = $1),
       EXISTS (SELECT 1 FROM auth_user_tombstones WHERE auth_user_id = $1)`

// Resolve implements httpserver.Owners: local data first, then the auth-service.
func (d *Directory) Resolve(ctx context.Context, id string) error {
	var known, deleted bool
	if err := d.db.QueryRow(ctx, lookupSQL, id).Scan(&known, &deleted); err != nil {
		return database.Classify(err)
	}
	switch {
	case known:
		return nil
	case deleted:
		return errs.Wrap(errs.NotFound, ErrUnknown.Message, ErrDeleted)
	case !d.auth.Enabled():
		return ErrUnknown
	}
	u, err := d.auth.Get(ctx, id)
	switch {
	case errors.Is(err, authclient.ErrNotFound):
		return ErrUnknown
	case err != nil:
		return errs.Wrap(errs.Unavailable, "the auth-service could not be asked about this user",
			fmt.Errorf("%w: %w", ErrUnavailable, err))
	}
	return d.store(ctx, u)
}

// insertIdentitySQL creates a reference found at the auth-service, never
// over a tombstone; an existing reference is left as it is.
const insertIdentitySQL = `
INSERT INTO auth_users (auth_user_id, email, username)
SELECT $1, $2, $3
WHERE NOT EXISTS (SELECT 1 FROM auth_user_tombstones WHERE auth_user_id = $1)
ON CONFLICT (auth_user_id) DO NOTHING`

func (d *Directory) store(ctx context.Context, u authclient.User) error {
	_, err := d.db.Exec(ctx, insertIdentitySQL, u.ID, u.Email, u.Username)
	return database.Classify(err)
}

// refreshIdentitySQL lets the auth-service's values win on an existing
// reference; it never creates one (an admin token's subject stays unknown).
const refreshIdentitySQL = `
UPDATE auth_users SET email = $2, username = $3, updated_at = now()
WHERE auth_user_id = $1 AND (email IS DISTINCT FROM $2 OR username IS DISTINCT FROM $3)`

func (d *Directory) refresh(ctx context.Context, u authclient.User) error {
	_, err := d.db.Exec(ctx, refreshIdentitySQL, u.ID, u.Email, u.Username)
	return database.Classify(err)
}

// Refresh implements Refresher.
func (d *Directory) Refresh(ctx context.Context, id string) (bool, error) {
	if !d.auth.Enabled() {
		return false, nil
	}
	u, err := d.auth.Get(ctx, id)
	if err != nil {
		// An outage degrades /users/me to cached data, never to an error.
		logging.For(ctx, d.log).Debug("auth-service lookup failed; serving cached identity", zap.Error(err))
		return false, nil
	}
	return true, d.refresh(ctx, u)
}

// enrichTimeout bounds the background fetch after a just-in-time reference.
const enrichTimeout = 5 * time.Second

// enrichLater fetches a new reference's identity in the background: best
// effort, it must not slow the caller's first request. When every slot is
// taken, or the directory is closing, it is skipped.
func (d *Directory) enrichLater(id string) {
	if !d.auth.Enabled() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	select {
	case d.enrichSlots <- struct{}{}:
	default:
		return
	}
	d.enriching.Add(1)
	go func() {
		defer func() { <-d.enrichSlots; d.enriching.Done() }()
		d.enrich(id)
	}()
}

func (d *Directory) enrich(id string) {
	ctx, cancel := context.WithTimeout(d.enrichCtx, enrichTimeout)
	defer cancel()
	u, err := d.auth.Get(ctx, id)
	if err != nil {
		return
	}
	if err := d.refresh(ctx, u); err != nil {
		d.log.Warn("enriching a new reference failed", zap.Error(err))
	}
}

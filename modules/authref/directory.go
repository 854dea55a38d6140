package authref

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"usersvc/modules/authref/authclient"
	"usersvc/platform/database"
	"usersvc/platform/logging"
	"usersvc/platform/userref"
)

// Directory is authref's implementation of userref.Directory and Refresher.
type Directory struct {
	db   *database.Pool
	auth *authclient.Client
	log  *zap.Logger
}

// NewDirectory builds the directory; auth may be disabled (AUTH_SERVICE_URL unset).
func NewDirectory(db *database.Pool, auth *authclient.Client, log *zap.Logger) *Directory {
	return &Directory{db: db, auth: auth, log: log}
}

var (
	_ userref.Directory = (*Directory)(nil)
	_ userref.Refresher = (*Directory)(nil)
)

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

// Claim implements userref.Directory.
func (d *Directory) Claim(ctx context.Context, id string) error {
	var deleted, created bool
	if err := d.db.QueryRow(ctx, claimSQL, id).Scan(&deleted, &created); err != nil {
		return database.Problem(err)
	}
	if deleted {
		return userref.ErrDeleted
	}
	if created {
		if err := d.settle(ctx, id); err != nil {
			return err
		}
	}
	if created && d.auth.Enabled() {
		// Enrichment is best effort and must not slow the caller's first request.
		go d.enrich(id)
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
		return database.Problem(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, lockUserSQL, id); err != nil {
		return database.Problem(err)
	}
	tag, err := tx.Exec(ctx, dropIfTombstonedSQL, id)
	if err != nil {
		return database.Problem(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return database.Problem(err)
	}
	if tag.RowsAffected() > 0 {
		return userref.ErrDeleted
	}
	return nil
}

const dropIfTombstonedSQL = `
DELETE FROM auth_users
WHERE auth_user_id = $1 AND EXISTS (SELECT 1 FROM auth_user_tombstones WHERE auth_user_id = $1)`

const lookupSQL = `
SELECT EXISTS (SELECT 1 FROM auth_users WHERE auth_user_id = $1),
       EXISTS (SELECT 1 FROM auth_user_tombstones WHERE auth_user_id = $1)`

// Resolve implements userref.Directory: local data first, then the auth-service.
func (d *Directory) Resolve(ctx context.Context, id string) error {
	var known, deleted bool
	if err := d.db.QueryRow(ctx, lookupSQL, id).Scan(&known, &deleted); err != nil {
		return database.Problem(err)
	}
	switch {
	case known:
		return nil
	case deleted:
		return userref.ErrDeleted
	case !d.auth.Enabled():
		return userref.ErrUnknown
	}
	u, err := d.auth.Get(ctx, id)
	switch {
	case errors.Is(err, authclient.ErrNotFound):
		return userref.ErrUnknown
	case err != nil:
		return fmt.Errorf("%w: %w", userref.ErrUnavailable, err)
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
	if _, err := d.db.Exec(ctx, insertIdentitySQL, u.ID, u.Email, u.Username); err != nil {
		return database.Problem(err)
	}
	return nil
}

// refreshIdentitySQL lets the auth-service's values win on an existing
// reference; it never creates one (an admin token's subject stays unknown).
const refreshIdentitySQL = `
UPDATE auth_users SET email = $2, username = $3, updated_at = now()
WHERE auth_user_id = $1 AND (email IS DISTINCT FROM $2 OR username IS DISTINCT FROM $3)`

func (d *Directory) refresh(ctx context.Context, u authclient.User) error {
	if _, err := d.db.Exec(ctx, refreshIdentitySQL, u.ID, u.Email, u.Username); err != nil {
		return database.Problem(err)
	}
	return nil
}

// Refresh implements userref.Refresher.
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

func (d *Directory) enrich(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), enrichTimeout)
	defer cancel()
	u, err := d.auth.Get(ctx, id)
	if err != nil {
		return
	}
	if err := d.refresh(ctx, u); err != nil {
		d.log.Warn("enriching a new reference failed", zap.Error(err))
	}
}

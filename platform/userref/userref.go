// Package userref is the contract between the HTTP layer, the feature modules
// and modules/authref, which owns the local references to auth-service users.
// Modules depend on this interface, never on authref's internals.
package userref

import (
	"context"
	"errors"
)

var (
	// ErrUnknown: neither the local data nor the auth-service knows the id.
	ErrUnknown = errors.New("unknown user")
	// ErrDeleted: the id was deleted (a tombstone exists).
	ErrDeleted = errors.New("deleted user")
	// ErrUnavailable: only the auth-service could answer, and it did not.
	ErrUnavailable = errors.New("user directory unavailable")
)

// Directory resolves user ids to local references.
type Directory interface {
	// Claim makes sure an authenticated caller has a reference, creating it
	// just in time; it fails with ErrDeleted for a tombstoned id.
	Claim(ctx context.Context, id string) error
	// Resolve makes sure a reference exists for an id named in a path:
	// a local reference answers at once, a tombstone is ErrDeleted, an
	// unknown id is asked of the auth-service (ErrUnknown, ErrUnavailable).
	Resolve(ctx context.Context, id string) error
}

// Refresher is the /users/me path: the one route that asks the auth-service
// about a known user, so that its identity fields are fresh.
type Refresher interface {
	// Refresh fetches the user from the auth-service and stores its email and
	// username; it returns false (and no error) when the auth-service is not
	// configured or does not answer, so callers fall back to cached data.
	Refresh(ctx context.Context, id string) (bool, error)
}

// WithUser runs a query that also reports whether the user has a local
// reference. When it has none, the directory resolves the id (tombstone,
// auth-service) and the query runs once more; a reference that vanished in
// between is unknown. The directory's errors come back as they are; Problem
// maps them to 404 and 503.
func WithUser[T any](ctx context.Context, d Directory, id string, query func() (T, bool, error)) (T, error) {
	v, found, err := query()
	if err != nil || found {
		return v, err
	}
	if err := d.Resolve(ctx, id); err != nil {
		return v, err
	}
	v, found, err = query()
	if err == nil && !found {
		err = ErrUnknown
	}
	return v, err
}

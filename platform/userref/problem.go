package userref

import (
	"errors"

	"usersvc/platform/problem"
)

// Problem maps a Directory error to the HTTP problem of CONTRACT §3: unknown
// and deleted ids are 404, an unreachable auth-service is 503.
func Problem(err error) error {
	switch {
	case errors.Is(err, ErrUnknown), errors.Is(err, ErrDeleted):
		return problem.NotFound("no such user")
	case errors.Is(err, ErrUnavailable):
		return problem.Unavailable("the auth-service could not be asked about this user", err)
	default:
		return err
	}
}

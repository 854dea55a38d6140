package httpserver

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Access is the authorization rule of a route, visible in each module's route table.
type Access int

const (
	// Public routes ignore the Authorization header.
	Public Access = iota
	// Authenticated routes need a valid token of a live user.
	Authenticated
	// OwnerOrAdmin routes need the token of the user named by :auth_user_id, or an admin token.
	OwnerOrAdmin
)

func (a Access) String() string {
	switch a {
	case Authenticated:
		return "authenticated"
	case OwnerOrAdmin:
		return "owner-or-admin"
	default:
		return "public"
	}
}

// Route is one entry of a module's route table. Modules provide []Route to the
// "routes" value group; the guard builds one chain per route that applies
// CONTRACT §2's order, so a handler is decode → call → encode.
//
// What a route needs is read from the row: Access says who may call it; a
// path naming an owner (Owners.Param, e.g. :auth_user_id) must resolve to a
// known owner; Body says it takes a JSON object.
type Route struct {
	Method  string
	Path    string // Fiber syntax: /users/:auth_user_id/goals
	Access  Access
	Handler fiber.Handler
	// Body routes take a JSON object: another content type is 415, checked
	// after ownership and before the body is read (CONTRACT §2 order).
	Body bool
	// BeforeInvalid runs when the handler refuses the body's fields (422):
	// the resource's own 404 and 412 answer first (CONTRACT §2 order).
	BeforeInvalid func(c *fiber.Ctx) error
	// Idempotent routes (every POST) accept an Idempotency-Key: a repeat
	// is answered from the first request's stored answer (CONTRACT §3).
	Idempotent bool
	// Shared GET routes let identical concurrent requests share one run
	// (platform/coalesce): the lists, whose answer depends on the URL alone.
	Shared bool
	// Unlimited routes (health probes, documents) skip RATE_LIMIT_PER_MINUTE.
	Unlimited bool
	// Private answers, errors included, carry Cache-Control: private, no-store.
	Private bool
}

// matches reports whether a concrete path fits the route's pattern; used to
// compute the Allow header of a 405 and to order 404/405 before 413.
func (r Route) matches(path string) bool {
	pattern := strings.Split(strings.Trim(r.Path, "/"), "/")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(pattern) != len(parts) || (r.Path == "/") != (path == "/") {
		return false
	}
	if strings.HasSuffix(path, "/") != strings.HasSuffix(r.Path, "/") {
		return false // strict routing: /users/42/ is not /users/42
	}
	for i, seg := range pattern {
		if strings.HasPrefix(seg, ":") {
			if parts[i] == "" {
				return false
			}
			continue
		}
		if seg != parts[i] {
			return false
		}
	}
	return true
}

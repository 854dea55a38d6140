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

// UserParam is the path parameter that names the user a route is about.
const UserParam = "auth_user_id"

// Route is one entry of a module's route table. Modules provide []Route to the
// "routes" value group; the server mounts them and applies Access uniformly.
type Route struct {
	Method  string
	Path    string // Fiber syntax: /users/:auth_user_id/goals
	Access  Access
	Handler fiber.Handler
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

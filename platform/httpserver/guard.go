package httpserver

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"usersvc/modules/authref/userid"
	"usersvc/platform/auth"
	"usersvc/platform/problem"
	"usersvc/platform/userref"
)

// Guard applies, in CONTRACT §2's order, the rate limit (429), authentication
// (401), the path id (400) and ownership (403) before a route's handler runs.
// The token is verified here once; everything after uses the verified Identity.
type Guard struct {
	verifier  *auth.Verifier
	directory userref.Directory
	limit     fiber.Handler // nil when RATE_LIMIT_PER_MINUTE=0
	clientIP  func(*fiber.Ctx) string
}

// NewGuard builds the guard; directory may be nil (no just-in-time references).
func NewGuard(p GuardParams) (*Guard, error) {
	cfg, v, directory := p.Config, p.Verifier, p.Directory
	ip, err := newClientIP(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	g := &Guard{verifier: v, directory: directory, clientIP: ip}
	if cfg.RateLimitPerMinute > 0 {
		g.limit = limiter.New(limiter.Config{
			Max:          cfg.RateLimitPerMinute,
			Expiration:   time.Minute,
			KeyGenerator: g.rateKey,
			LimitReached: func(c *fiber.Ctx) error {
				retry, _ := strconv.Atoi(c.GetRespHeader(fiber.HeaderRetryAfter))
				return problem.TooManyRequests(max(retry, 1))
			},
		})
	}
	return g, nil
}

func (g *Guard) chain(r Route) []fiber.Handler {
	var hs []fiber.Handler
	if r.Access != Public {
		hs = append(hs, g.identify)
	}
	if g.limit != nil && !r.Unlimited {
		hs = append(hs, g.limit)
	}
	if r.Access != Public {
		hs = append(hs, g.authenticate)
	}
	if check := pathParamCheck(r); check != nil {
		hs = append(hs, check)
	}
	if r.Access == OwnerOrAdmin {
		hs = append(hs, requireOwnerOrAdmin)
	}
	return hs
}

const (
	localIdentity = "usersvc.identity"
	localAuthErr  = "usersvc.auth_error"
	realm         = "usersvc"
)

// identify verifies the bearer token, if any, and remembers the outcome;
// authenticate turns a failure into a 401 after the rate limit had its say.
func (g *Guard) identify(c *fiber.Ctx) error {
	token, err := auth.ParseAuthorizationHeader(c.Get(fiber.HeaderAuthorization))
	if err == nil {
		var id auth.Identity
		id, err = g.verifier.Verify(token)
		if err == nil {
			c.Locals(localIdentity, id)
			return c.Next()
		}
	}
	c.Locals(localAuthErr, err)
	return c.Next()
}

func (g *Guard) authenticate(c *fiber.Ctx) error {
	id, ok := Caller(c)
	if !ok {
		err, _ := c.Locals(localAuthErr).(error)
		return unauthorized(err)
	}
	if g.directory == nil || id.Admin {
		return c.Next() // an admin token never creates a reference for itself
	}
	switch err := g.directory.Claim(c.UserContext(), id.UserID); {
	case err == nil:
		return c.Next()
	case errors.Is(err, userref.ErrDeleted):
		return problem.Unauthorized("the user of this token was deleted",
			`Bearer realm="`+realm+`", error="invalid_token", error_description="user deleted"`)
	default:
		return problem.From(err) // authref maps its failures (503 for an outage)
	}
}

func unauthorized(err error) error {
	var ae *auth.Error
	if errors.As(err, &ae) && !errors.Is(err, auth.ErrNoToken) {
		return problem.Unauthorized("the bearer token is invalid: "+ae.Description, ae.Challenge(realm))
	}
	return problem.Unauthorized("a bearer token is required", `Bearer realm="`+realm+`"`)
}

// Caller is the verified identity of the request, when its route is authenticated.
func Caller(c *fiber.Ctx) (auth.Identity, bool) {
	id, ok := c.Locals(localIdentity).(auth.Identity)
	return id, ok
}

func callerForLog(c *fiber.Ctx) string {
	if id, ok := Caller(c); ok {
		return id.UserID
	}
	return ""
}

// pathParamCheck validates a route's path ids before ownership is judged
// (CONTRACT §2: a malformed path id is 400, ahead of 403): :auth_user_id is
// a user id, any other :…_id a positive 64-bit integer.
func pathParamCheck(r Route) fiber.Handler {
	var names []string
	for _, seg := range strings.Split(r.Path, "/") {
		if strings.HasPrefix(seg, ":") && strings.HasSuffix(seg, "_id") {
			names = append(names, seg[1:])
		}
	}
	if len(names) == 0 {
		return nil
	}
	return func(c *fiber.Ctx) error {
		for _, name := range names {
			v := c.Params(name)
			if name == UserParam && !userid.Valid(v) {
				return problem.BadRequest("the user id in the path is malformed: 1–64 characters of A-Z a-z 0-9 _ . : -, starting with a letter or digit")
			}
			if name != UserParam {
				if _, ok := PositiveID(v); !ok {
					return problem.BadRequest("the " + strings.TrimSuffix(name, "_id") + " id in the path must be a positive integer")
				}
			}
		}
		return c.Next()
	}
}

// PositiveID parses a resource id: a positive decimal int64 without sign or leading zeros.
func PositiveID(s string) (int64, bool) {
	if s == "" || len(s) > 19 || s[0] == '0' {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		if n > (math.MaxInt64-int64(d))/10 {
			return 0, false
		}
		n = n*10 + int64(d)
	}
	return n, true
}

func requireOwnerOrAdmin(c *fiber.Ctx) error {
	id, _ := Caller(c)
	if id.Admin || id.UserID == c.Params(UserParam) {
		return c.Next()
	}
	return problem.Forbidden("the token does not grant access to this user's resources")
}

// rateKey counts a verified caller by user id and anyone else by address.
func (g *Guard) rateKey(c *fiber.Ctx) string {
	if id, ok := Caller(c); ok {
		return "u:" + id.UserID
	}
	return "a:" + g.clientIP(c)
}

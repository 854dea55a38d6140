package httpserver

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"usersvc/platform/auth"
	"usersvc/platform/errs"
	"usersvc/platform/idempotency"
)

// Owners is the directory of the owners that routes name in their path and
// tokens carry as their subject. modules/authref provides it (users named by
// /users/{auth_user_id}); the platform knows only this interface.
type Owners interface {
	// Param is the path parameter that names the owner.
	Param() string
	// CheckPath returns a Malformed error for a path segment that cannot be an owner id.
	CheckPath(id string) error
	// FromClaim reads the owner id a token's subject claim carries (a JSON value).
	FromClaim(claim any) (string, error)
	// Claim makes sure the verified caller has a record, creating it just in
	// time; a deleted caller is Unauthorized.
	Claim(ctx context.Context, id string) error
	// Resolve makes sure an owner named by a request has a record: NotFound,
	// or Unavailable when only an unreachable source could tell.
	Resolve(ctx context.Context, id string) error
}

// Guard builds each route's chain: the rate limit (429), authentication
// (401), path ids (400), ownership (403), the content type (415), then the
// handler; its errors are settled in the contract's order (see settle). The
// token is verified here once; everything after uses the verified Identity.
type Guard struct {
	verifier *auth.Verifier
	owners   Owners        // nil in tests of the bare server
	limit    fiber.Handler // nil when RATE_LIMIT_PER_MINUTE=0
	clientIP func(*fiber.Ctx) string
	shared   *sharedReads
	keys     *idempotency.Store // nil in tests of the bare server
}

// NewGuard builds the guard.
func NewGuard(p GuardParams) (*Guard, error) {
	cfg, v := p.Config, p.Verifier
	ip, err := newClientIP(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	g := &Guard{verifier: v, owners: p.Owners, clientIP: ip, shared: newSharedReads(cfg.DatabasePoolTimeout), keys: p.Keys}
	if cfg.RateLimitPerMinute > 0 {
		g.limit = limiter.New(limiter.Config{
			Max:          cfg.RateLimitPerMinute,
			Expiration:   time.Minute,
			KeyGenerator: g.rateKey,
			LimitReached: func(c *fiber.Ctx) error {
				retry, _ := strconv.Atoi(c.GetRespHeader(fiber.HeaderRetryAfter))
				return &errs.Error{Code: errs.RateLimited, Message: "too many requests; retry later", RetryAfter: max(retry, 1)}
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
	run := g.steps(r)
	settled := func(c *fiber.Ctx) error {
		err := run(c)
		if err == nil {
			return nil
		}
		return g.settle(c, r, err, run)
	}
	if r.Shared && r.Access == Public {
		settled = g.shared.wrap(settled)
	}
	return append(hs, settled)
}

// steps runs what follows authentication in CONTRACT §2's order: path ids
// (400), ownership (403), the content type (415), then the handler, behind
// the Idempotency-Key of an Idempotent route (400, then replay, 409 or 422).
func (g *Guard) steps(r Route) func(*fiber.Ctx) error {
	var steps []func(*fiber.Ctx) error
	if check := g.pathCheck(r); check != nil {
		steps = append(steps, check)
	}
	if r.Access == OwnerOrAdmin {
		steps = append(steps, g.requireOwnerOrAdmin)
	}
	if r.Body {
		steps = append(steps, requireJSON)
	}
	if r.Idempotent && g.keys != nil {
		steps = append(steps, g.idempotent(r.Handler))
	} else {
		steps = append(steps, r.Handler)
	}
	return func(c *fiber.Ctx) error {
		for _, step := range steps {
			if err := step(c); err != nil {
				return err
			}
		}
		return nil
	}
}

// settle answers a failed request in CONTRACT §2's order, doing the costly
// checks only now, on the failure path, so that a request that succeeds
// costs one round trip (its own query proves its owner exists):
//   - the owner is unknown locally: claim it (the caller's own id: a
//     just-in-time record) or resolve it (anyone else's), then run once more;
//   - any other client error of a caller acting for itself: its token must
//     still name a live owner, since 401 comes before every such answer;
//   - a 422 of the fields: an unknown owner (404) and the route's own 404/412
//     come first (a reused Idempotency-Key's 422 precedes them).
func (g *Guard) settle(c *fiber.Ctx, r Route, err error, run func(*fiber.Ctx) error) error {
	if g.owners == nil || !isClientError(err) {
		return err
	}
	ctx := c.UserContext()
	owner := Owner(c)
	caller, authenticated := Caller(c)
	self := authenticated && !caller.Admin
	if errors.Is(err, errs.ErrOwnerUnknown) {
		if err := g.proveOwner(ctx, r, owner, caller, self); err != nil {
			return err
		}
		if err = run(c); errors.Is(err, errs.ErrOwnerUnknown) {
			// The record vanished in between (a deletion): say why, if the directory can.
			return cmpErr(g.owners.Resolve(ctx, owner), err)
		}
		return err
	}
	if self {
		if err := g.owners.Claim(ctx, caller.UserID); err != nil {
			return err
		}
	}
	if errs.Is(err, errs.Invalid) && !errors.Is(err, idempotency.ErrReused) {
		if owner != "" && !(self && owner == caller.UserID) {
			if err := g.owners.Resolve(ctx, owner); err != nil {
				return err
			}
		}
		if r.BeforeInvalid != nil {
			if err := r.BeforeInvalid(c); err != nil {
				return err
			}
		}
	}
	return err
}

// proveOwner makes sure the owner has a record before a request runs again.
// An admin token never creates or resolves a record for its own subject.
func (g *Guard) proveOwner(ctx context.Context, r Route, owner string, caller auth.Identity, self bool) error {
	switch {
	case owner == "":
		return errs.ErrOwnerUnknown
	case self && owner == caller.UserID:
		return g.owners.Claim(ctx, owner)
	case r.Access == Authenticated:
		return errs.ErrOwnerUnknown
	default:
		return g.owners.Resolve(ctx, owner)
	}
}

func cmpErr(first, fallback error) error {
	if first != nil {
		return first
	}
	return fallback
}

// isClientError is true for the codes of a request the client got wrong;
// failures of dependencies and bugs are answered as they are.
func isClientError(err error) bool {
	switch errs.CodeOf(err) {
	case errs.Malformed, errs.Invalid, errs.NotFound, errs.Conflict, errs.Precondition,
		errs.Forbidden, errs.UnsupportedMedia:
		return true
	}
	return false
}

const (
	localIdentity = "usersvc.identity"
	localAuthErr  = "usersvc.auth_error"
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
	if _, ok := Caller(c); ok {
		return c.Next()
	}
	err, _ := c.Locals(localAuthErr).(error)
	var ae *auth.Error
	if errors.As(err, &ae) && !errors.Is(err, auth.ErrNoToken) {
		return errs.Wrap(errs.Unauthorized, "the bearer token is invalid: "+ae.Description, ae)
	}
	return errs.Wrap(errs.Unauthorized, "a bearer token is required", auth.ErrNoToken)
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

// Owner is the owner a request is about: the one its path names, or the
// caller on an Authenticated route (/users/me).
func Owner(c *fiber.Ctx) string {
	if id, ok := c.Locals(localOwner).(string); ok {
		return id
	}
	return ""
}

const localOwner = "usersvc.owner"

// pathCheck validates a route's path ids before ownership is judged
// (CONTRACT §2: a malformed path id is 400, ahead of 403) and records the
// owner: the owner parameter by the Owners' rule, any other :…_id as a
// positive 64-bit integer.
func (g *Guard) pathCheck(r Route) func(*fiber.Ctx) error {
	ownerParam := ""
	if g.owners != nil {
		ownerParam = g.owners.Param()
	}
	var ids []string
	hasOwner := false
	for _, seg := range strings.Split(r.Path, "/") {
		switch {
		case !strings.HasPrefix(seg, ":"):
		case seg[1:] == ownerParam:
			hasOwner = true
		case strings.HasSuffix(seg, "_id"):
			ids = append(ids, seg[1:])
		}
	}
	fromCaller := r.Access == Authenticated && !hasOwner
	if !hasOwner && !fromCaller && len(ids) == 0 {
		return nil
	}
	return func(c *fiber.Ctx) error {
		switch {
		case hasOwner:
			owner := c.Params(ownerParam)
			if err := g.owners.CheckPath(owner); err != nil {
				return err
			}
			c.Locals(localOwner, owner)
		case fromCaller:
			caller, _ := Caller(c)
			c.Locals(localOwner, caller.UserID)
		}
		for _, name := range ids {
			if _, ok := PositiveID(c.Params(name)); !ok {
				return errs.New(errs.Malformed, "the "+strings.TrimSuffix(name, "_id")+" id in the path must be a positive integer")
			}
		}
		return nil
	}
}

// PathID is a path id the route's chain has validated (see pathCheck).
func PathID(c *fiber.Ctx, name string) int64 {
	id, _ := PositiveID(c.Params(name))
	return id
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

func (g *Guard) requireOwnerOrAdmin(c *fiber.Ctx) error {
	id, _ := Caller(c)
	if id.Admin || id.UserID == Owner(c) {
		return nil
	}
	return errs.New(errs.Forbidden, "the token does not grant access to this user's resources")
}

// rateKey counts a verified caller by user id and anyone else by address.
func (g *Guard) rateKey(c *fiber.Ctx) string {
	if id, ok := Caller(c); ok {
		return "u:" + id.UserID
	}
	return "a:" + g.clientIP(c)
}

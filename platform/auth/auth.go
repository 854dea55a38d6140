// Package auth verifies the bearer tokens (JWT) that authenticate requests to
// usersvc, as contract §1 describes: HMAC only (HS256 by default, HS384/HS512
// when configured), the algorithm pinned, `exp` required, `nbf` and `iat`
// honoured with a leeway, `iss`/`aud` checked when configured, the user id read
// from a configurable claim, and admin rights from a scope.
//
// The package is pure: no I/O, no logging, no global state. A Verifier is
// built once at start-up and is safe for concurrent use. Every failure is an
// *Error that maps to a 401 with an RFC 6750 WWW-Authenticate challenge.
//
// Tokens are credentials: nothing here ever puts a token, a claim value or the
// secret into an error, so errors can be logged and returned to clients as they
// are. Callers must not log tokens either.
package auth

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults applied by NewVerifier to zero fields of Config.
const (
	DefaultAlgorithm    = "HS256"
	DefaultSubjectClaim = "sub"
	DefaultAdminScope   = "users:admin"
)

// maxTokenLen bounds the work an unauthenticated client can make us do before
// the signature is checked. Real tokens are a few hundred bytes, and HTTP
// servers refuse headers of this size anyway.
const maxTokenLen = 8 << 10

// Config configures a Verifier.
type Config struct {
	// Secret is the HMAC key: the raw bytes of SECRET_KEY. Required. Its
	// strength (length, placeholders) is the configuration layer's to check.
	Secret []byte
	// Algorithms lists the accepted algorithms, a subset of HS256, HS384 and
	// HS512 (case-insensitive, duplicates ignored); empty means [HS256]. A
	// token signed with any other algorithm is refused.
	Algorithms []string
	// SubjectClaim names the claim holding the user id; "" means "sub".
	SubjectClaim string
	// Subject reads the caller's id from the subject claim's JSON value and
	// refuses what is not one (the owner directory's rule); nil accepts any
	// non-empty string.
	Subject func(claim any) (string, error)
	// Leeway is the clock skew tolerated on exp, nbf and iat. Zero is no
	// leeway (the contract's 30s default is the configuration layer's);
	// negative is an error.
	Leeway time.Duration
	// Issuer and Audience, when not "", must match the token's iss and one
	// of its aud values exactly; when "", those claims are not checked.
	Issuer, Audience string
	// AdminScope is the scope that makes a token an admin token; "" means
	// "users:admin". It cannot contain a space (scope strings are
	// space-separated).
	AdminScope string
}

// Identity is what a valid token proves.
type Identity struct {
	// UserID is the user id from Config.SubjectClaim. It is never "" and
	// always passes Config.Subject: a token without a valid subject is refused,
	// admin tokens included (for an admin token it names the caller, usually
	// a service, not the user whose resources it writes).
	UserID string
	// Admin reports whether the token's `scope` or `scopes` holds the admin
	// scope: it may write on any user's resources.
	Admin bool
}

// Verifier verifies tokens. Build it with NewVerifier; it is safe for
// concurrent use.
type Verifier struct {
	parser     *jwt.Parser
	keyFunc    jwt.Keyfunc
	methods    []jwt.SigningMethod // the pinned algorithms
	secret     []byte
	subject    string
	subjectOf  func(any) (string, error)
	issuer     string
	audience   string
	adminScope string
}

var hmacMethods = map[string]*jwt.SigningMethodHMAC{
	"HS256": jwt.SigningMethodHS256,
	"HS384": jwt.SigningMethodHS384,
	"HS512": jwt.SigningMethodHS512,
}

// NewVerifier checks cfg and builds a Verifier. Its errors name the faulty
// setting (an unknown algorithm by its name) but never the secret.
func NewVerifier(cfg Config) (*Verifier, error) {
	return newVerifier(cfg, nil)
}

// newVerifier lets tests fix the clock.
func newVerifier(cfg Config, now func() time.Time) (*Verifier, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("auth: the secret is empty")
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("auth: negative leeway %s", cfg.Leeway)
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = []string{DefaultAlgorithm}
	}
	var methods []jwt.SigningMethod
	var names []string
	for _, a := range algs {
		m, ok := hmacMethods[strings.ToUpper(strings.TrimSpace(a))]
		if !ok {
			return nil, fmt.Errorf("auth: unknown JWT algorithm %q (allowed: HS256, HS384, HS512)", a)
		}
		if !slices.Contains(names, m.Alg()) {
			methods = append(methods, m)
			names = append(names, m.Alg())
		}
	}
	v := &Verifier{
		methods:    methods,
		secret:     slices.Clone(cfg.Secret), // the caller's slice may be reused or wiped
		subject:    cmp.Or(cfg.SubjectClaim, DefaultSubjectClaim),
		subjectOf:  cfg.Subject,
		issuer:     cfg.Issuer,
		audience:   cfg.Audience,
		adminScope: cmp.Or(cfg.AdminScope, DefaultAdminScope),
	}
	if v.subjectOf == nil {
		v.subjectOf = stringSubject
	}
	if strings.ContainsAny(v.adminScope, " \t\r\n") {
		return nil, fmt.Errorf("auth: admin scope %q contains white space", v.adminScope)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(names),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithIssuedAt(), // refuses an iat later than now + leeway
		jwt.WithJSONNumber(),
		// One token, one spelling: refuses non-canonical base64 (set
		// trailing bits), so a valid token cannot be altered and still pass.
		jwt.WithStrictDecoding(),
	}
	if v.issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.issuer))
	}
	if v.audience != "" {
		opts = append(opts, jwt.WithAudience(v.audience))
	}
	if now != nil {
		opts = append(opts, jwt.WithTimeFunc(now))
	}
	v.parser = jwt.NewParser(opts...)
	v.keyFunc = v.key
	return v, nil
}

// key hands out the secret only for a pinned HMAC algorithm. WithValidMethods
// already refuses the others; this second check keeps the HMAC secret from
// ever verifying an "RS256" or "none" token should the parser options change.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if m, ok := t.Method.(*jwt.SigningMethodHMAC); ok && v.allows(m) {
		return v.secret, nil
	}
	return nil, errAlgorithm
}

func (v *Verifier) allows(m jwt.SigningMethod) bool {
	for _, p := range v.methods {
		if p == m {
			return true
		}
	}
	return false
}

// Verify checks token (the bare JWT, without "Bearer ") and returns the
// identity it proves. Its error is always an *Error with Code
// "invalid_token" and a generic description.
func (v *Verifier) Verify(token string) (Identity, error) {
	if token == "" || len(token) > maxTokenLen {
		return Identity{}, errMalformed
	}
	claims := jwt.MapClaims{}
	tok, err := v.parser.ParseWithClaims(token, claims, v.keyFunc)
	if err != nil {
		// Deliberately not wrapped: jwt's errors may quote parts of the token.
		return Identity{}, v.classify(tok, claims, err)
	}
	// RFC 7515 §4.1.11: extensions listed in "crit" must be understood, and
	// we understand none.
	if _, ok := tok.Header["crit"]; ok {
		return Identity{}, errCritical
	}
	if !saneDates(claims) {
		return Identity{}, errClaims
	}
	raw, ok := claims[v.subject]
	if !ok || raw == nil || raw == "" {
		return Identity{}, errMissingSub
	}
	id, err := v.subjectOf(raw)
	if err != nil || id == "" {
		return Identity{}, errSubject
	}
	return Identity{
		UserID: id,
		Admin:  hasScope(claims["scope"], v.adminScope) || hasScope(claims["scopes"], v.adminScope),
	}, nil
}

// classify turns a jwt error into one of our generic errors. Claim errors are
// only reachable once the signature has been verified.
func (v *Verifier) classify(tok *jwt.Token, claims jwt.MapClaims, err error) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errMalformed
	case errors.Is(err, jwt.ErrTokenUnverifiable): // unknown or missing alg, or refused by key
		return errAlgorithm
	case tok != nil && tok.Method != nil && !v.allows(tok.Method): // refused by WithValidMethods
		return errAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return errSignature
	case !errors.Is(err, jwt.ErrTokenInvalidClaims):
		return errInvalid
	case errors.Is(err, jwt.ErrTokenExpired):
		return errExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return errNotYetValid
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errIssuedFuture
	}
	if _, ok := claims["exp"]; !ok {
		return errMissingExpiry
	}
	if v.issuer != "" && claims["iss"] != any(v.issuer) {
		return errIssuer
	}
	if errors.Is(err, jwt.ErrTokenInvalidAudience) || errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
		return errAudience // exp and iss are dealt with above: the missing claim is aud
	}
	return errClaims // e.g. "exp": "tomorrow"
}

// saneDates refuses exp, nbf and iat values jwt would convert to int64 with
// an implementation-defined result (beyond ±2^53 seconds, or out of float64's
// range): an absurd exp must not mean "never expires" on some platform.
func saneDates(claims jwt.MapClaims) bool {
	for _, name := range [...]string{"exp", "nbf", "iat"} {
		raw, ok := claims[name]
		if !ok {
			continue
		}
		n, ok := raw.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		if err != nil || math.Abs(f) > 1<<53 {
			return false
		}
	}
	return true
}

// hasScope reports whether claim — a space-separated string (OAuth "scope")
// or an array of strings ("scopes") — holds want exactly. Either shape is
// accepted under either name; other values hold nothing.
func hasScope(claim any, want string) bool {
	switch c := claim.(type) {
	case string:
		for c != "" {
			var s string
			s, c, _ = strings.Cut(c, " ")
			if s == want {
				return true
			}
		}
	case []any:
		for _, e := range c {
			if s, ok := e.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}

// stringSubject is the subject rule when none is configured: a string.
func stringSubject(claim any) (string, error) {
	if s, ok := claim.(string); ok {
		return s, nil
	}
	return "", errSubject
}

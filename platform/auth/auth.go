// Package auth verifies the bearer tokens (JWT) that authenticate requests to
// usersvc, as contract §1 describes: HMAC (HS256 by default, HS384/HS512 when
// configured) with SECRET_KEY and, while it is rotated out, SECRET_KEY_PREVIOUS;
// RS256, ES256 and EdDSA with the auth-service's JWK Set (KeySet), each key
// pinned to its own algorithm; the algorithms pinned to those listed, `exp`
// required, `nbf` and `iat` honoured with a leeway, `iss`/`aud` checked when
// configured, the user id read from a configurable claim, and admin rights
// from a scope.
//
// Verification does no I/O but for a KeySet's fetch on an unknown kid, and
// logs nothing. A Verifier is built once at start-up and is safe for
// concurrent use; its HMAC keys can be replaced while it runs (rotation).
// Every failure is an *Error that maps to a 401 with an RFC 6750
// WWW-Authenticate challenge.
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
	"sync"
	"sync/atomic"
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
	// Secret is the HMAC key: the raw bytes of SECRET_KEY. Required when
	// Algorithms lists an HS algorithm. Its strength (length, placeholders) is
	// the configuration layer's to check.
	Secret []byte
	// PreviousSecret, when set, is the HMAC key being rotated out: tried only
	// when a token's signature does not verify with Secret.
	PreviousSecret []byte
	// Keys is the auth-service's JWK Set. Required when Algorithms lists
	// RS256, ES256 or EdDSA; with HMAC algorithms only, it is consulted just
	// to refuse an HMAC token whose kid names one of its keys.
	Keys *KeySet
	// Algorithms lists the accepted algorithms, a subset of HS256, HS384,
	// HS512, RS256, ES256 and EdDSA (case-insensitive, duplicates ignored);
	// empty means [HS256]. A token signed with any other algorithm is refused.
	Algorithms []string
	// Verified, when set, learns which key verified each valid token:
	// KeyCurrent, KeyPrevious or KeyJWKS (the metric's label).
	Verified func(key string)
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

// Which key verified a token (Config.Verified).
const (
	KeyCurrent  = "current"
	KeyPrevious = "previous"
	KeyJWKS     = "jwks"
)

// Verifier verifies tokens. Build it with NewVerifier; it is safe for
// concurrent use.
type Verifier struct {
	parser      *jwt.Parser
	keyFunc     jwt.Keyfunc         // SECRET_KEY for HMAC, the key set for the others
	previousKey jwt.Keyfunc         // SECRET_KEY_PREVIOUS, HMAC only
	methods     []jwt.SigningMethod // the pinned algorithms
	hmac        atomic.Pointer[hmacKeys]
	hmacMu      sync.Mutex // serialises replacements of hmac
	keys        *KeySet
	verified    func(string)
	subject     string
	subjectOf   func(any) (string, error)
	issuer      string
	audience    string
	adminScope  string
	leeway      time.Duration
	now         func() time.Time
	cache       verifiedCache
}

// hmacKeys are the HMAC keys in use; replaced whole, never changed.
type hmacKeys struct{ current, previous []byte }

// signingMethods are the algorithms a Verifier can accept, by upper-case name.
var signingMethods = map[string]jwt.SigningMethod{
	"HS256": jwt.SigningMethodHS256,
	"HS384": jwt.SigningMethodHS384,
	"HS512": jwt.SigningMethodHS512,
	"RS256": jwt.SigningMethodRS256,
	"ES256": jwt.SigningMethodES256,
	"EDDSA": jwt.SigningMethodEdDSA,
}

// Algorithms are the names NewVerifier accepts, as they are spelled in tokens.
var Algorithms = []string{"HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"}

// IsHMAC reports whether alg (any case) is an HMAC algorithm.
func IsHMAC(alg string) bool {
	_, ok := signingMethods[strings.ToUpper(alg)].(*jwt.SigningMethodHMAC)
	return ok
}

// NewVerifier checks cfg and builds a Verifier. Its errors name the faulty
// setting (an unknown algorithm by its name) but never the secret.
func NewVerifier(cfg Config) (*Verifier, error) {
	return newVerifier(cfg, nil)
}

// newVerifier lets tests fix the clock.
func newVerifier(cfg Config, now func() time.Time) (*Verifier, error) {
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("auth: negative leeway %s", cfg.Leeway)
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = []string{DefaultAlgorithm}
	}
	var methods []jwt.SigningMethod
	var names []string
	hmacListed, publicListed := false, false
	for _, a := range algs {
		m, ok := signingMethods[strings.ToUpper(strings.TrimSpace(a))]
		if !ok {
			return nil, fmt.Errorf("auth: unknown JWT algorithm %q (allowed: %s)", a, strings.Join(Algorithms, ", "))
		}
		if !slices.Contains(names, m.Alg()) {
			methods = append(methods, m)
			names = append(names, m.Alg())
		}
		_, isHMAC := m.(*jwt.SigningMethodHMAC)
		hmacListed = hmacListed || isHMAC
		publicListed = publicListed || !isHMAC
	}
	if hmacListed && len(cfg.Secret) == 0 {
		return nil, errors.New("auth: the secret is empty")
	}
	if publicListed && cfg.Keys == nil {
		return nil, errors.New("auth: RS256, ES256 and EdDSA need a JWK Set")
	}
	v := &Verifier{
		methods:    methods,
		keys:       cfg.Keys,
		verified:   cfg.Verified,
		subject:    cmp.Or(cfg.SubjectClaim, DefaultSubjectClaim),
		subjectOf:  cfg.Subject,
		issuer:     cfg.Issuer,
		audience:   cfg.Audience,
		adminScope: cmp.Or(cfg.AdminScope, DefaultAdminScope),
		leeway:     cfg.Leeway,
		now:        now,
	}
	if v.now == nil {
		v.now = time.Now
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
	v.previousKey = v.keyPrevious
	v.hmac.Store(&hmacKeys{current: slices.Clone(cfg.Secret), previous: slices.Clone(cfg.PreviousSecret)}) // the caller's slices may be reused or wiped
	return v, nil
}

// SetSecret replaces SECRET_KEY (a rotated key file); an empty key is refused.
func (v *Verifier) SetSecret(key []byte) error {
	if len(key) == 0 {
		return errors.New("auth: the secret is empty")
	}
	v.replaceHMAC(func(k *hmacKeys) { k.current = slices.Clone(key) })
	return nil
}

// SetPreviousSecret replaces SECRET_KEY_PREVIOUS; empty means none.
func (v *Verifier) SetPreviousSecret(key []byte) {
	v.replaceHMAC(func(k *hmacKeys) { k.previous = slices.Clone(key) })
}

func (v *Verifier) replaceHMAC(change func(*hmacKeys)) {
	v.hmacMu.Lock()
	defer v.hmacMu.Unlock()
	next := *v.hmac.Load()
	change(&next)
	v.hmac.Store(&next)
}

// key hands out SECRET_KEY only for a pinned HMAC algorithm, and a key of the
// set only for the algorithm it is pinned to. WithValidMethods already
// refuses unlisted algorithms; this second check keeps the HMAC secret from
// ever verifying an "RS256" or "none" token should the parser options change.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if !v.allows(t.Method) {
		return nil, errAlgorithm
	}
	if _, ok := t.Method.(*jwt.SigningMethodHMAC); ok {
		return v.hmacKey(t, v.hmac.Load().current)
	}
	if v.keys == nil {
		return nil, errAlgorithm
	}
	return v.keys.key(t)
}

// keyPrevious is SECRET_KEY_PREVIOUS, under the same rules as SECRET_KEY.
func (v *Verifier) keyPrevious(t *jwt.Token) (any, error) {
	if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok || !v.allows(t.Method) {
		return nil, errAlgorithm
	}
	return v.hmacKey(t, v.hmac.Load().previous)
}

// hmacKey refuses an HMAC token whose kid names a public key of the set: a
// token signed with a public key's bytes must never meet a key it could match.
func (v *Verifier) hmacKey(t *jwt.Token, secret []byte) (any, error) {
	if kid, ok := t.Header["kid"].(string); ok && v.keys != nil && v.keys.names(kid) {
		return nil, errAlgorithm
	}
	if len(secret) == 0 {
		return nil, errAlgorithm
	}
	return secret, nil
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
	now, hmacKeys, keySet := v.now(), v.hmac.Load(), v.keySnapshot()
	if e, ok := v.cache.get(token, now, hmacKeys, keySet); ok {
		v.count(e.used)
		return e.id, nil
	}
	id, used, until, err := v.verify(token)
	if err != nil {
		return Identity{}, err
	}
	if limit := now.Add(cacheTTL); until.After(limit) {
		until = limit
	}
	v.cache.put(token, cachedIdentity{id: id, used: used, until: until, hmac: hmacKeys, keys: keySet})
	v.count(used)
	return id, nil
}

func (v *Verifier) count(used string) {
	if v.verified != nil {
		v.verified(used)
	}
}

// keySnapshot is the key set in use, nil without JWKS or before its first fetch.
func (v *Verifier) keySnapshot() *keySnapshot {
	if v.keys == nil {
		return nil
	}
	return v.keys.set.Load()
}

// verify checks a token's signature and claims; until is when it stops
// being valid (exp plus the leeway).
func (v *Verifier) verify(token string) (Identity, string, time.Time, error) {
	claims := jwt.MapClaims{}
	tok, err := v.parser.ParseWithClaims(token, claims, v.keyFunc)
	used := KeyCurrent
	if err != nil && v.tryPrevious(tok, err) {
		// Only the signature check changes: the same parser judges the claims.
		claims = jwt.MapClaims{}
		tok, err = v.parser.ParseWithClaims(token, claims, v.previousKey)
		used = KeyPrevious
	}
	if err != nil {
		// Deliberately not wrapped: jwt's errors may quote parts of the token.
		return Identity{}, "", time.Time{}, v.classify(tok, claims, err)
	}
	if _, ok := tok.Method.(*jwt.SigningMethodHMAC); !ok {
		used = KeyJWKS
	}
	// RFC 7515 §4.1.11: extensions listed in "crit" must be understood, and
	// we understand none.
	if _, ok := tok.Header["crit"]; ok {
		return Identity{}, "", time.Time{}, errCritical
	}
	if !saneDates(claims) {
		return Identity{}, "", time.Time{}, errClaims
	}
	raw, ok := claims[v.subject]
	if !ok || raw == nil || raw == "" {
		return Identity{}, "", time.Time{}, errMissingSub
	}
	id, err := v.subjectOf(raw)
	if err != nil || id == "" {
		return Identity{}, "", time.Time{}, errSubject
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil { // the parser requires exp; never reached
		return Identity{}, "", time.Time{}, errMissingExpiry
	}
	return Identity{
		UserID: id,
		Admin:  hasScope(claims["scope"], v.adminScope) || hasScope(claims["scopes"], v.adminScope),
	}, used, exp.Add(v.leeway), nil
}

// tryPrevious reports whether an HMAC token failed on its signature alone
// while a previous key is set.
func (v *Verifier) tryPrevious(tok *jwt.Token, err error) bool {
	if !errors.Is(err, jwt.ErrTokenSignatureInvalid) || tok == nil || len(v.hmac.Load().previous) == 0 {
		return false
	}
	_, ok := tok.Method.(*jwt.SigningMethodHMAC)
	return ok
}

// classify turns a jwt error into one of our generic errors. Claim errors are
// only reachable once the signature has been verified.
func (v *Verifier) classify(tok *jwt.Token, claims jwt.MapClaims, err error) *Error {
	var own *Error
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errMalformed
	case errors.As(err, &own): // refused by key: its reason (kid missing, unknown…)
		return own
	case errors.Is(err, jwt.ErrTokenUnverifiable): // unknown or missing alg
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

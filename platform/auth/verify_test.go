package auth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

type verifyCase struct {
	name    string
	cfg     func(*Config) // nil: HS256 only, sub, 30s leeway, no iss/aud
	token   string
	want    Identity // checked when wantErr is nil
	wantErr *Error   // nil: the token must verify; anyRejection: any *Error
}

// anyRejection accepts any invalid_token error (where the description may
// depend on the platform).
var anyRejection = &Error{Code: CodeInvalidToken}

func algs(a ...string) func(*Config) { return func(c *Config) { c.Algorithms = a } }

func user(id string) Identity  { return Identity{UserID: id} }
func admin(id string) Identity { return Identity{UserID: id, Admin: true} }

// TestVerifyAttackMatrix runs the contract's JWT rules against a real Verifier.
func TestVerifyAttackMatrix(t *testing.T) {
	validHS256 := hs256(claims(nil))
	// Re-spell the last signature character with the same 4 significant bits:
	// lenient base64 decodes it to the same MAC, strict decoding refuses it.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, validHS256[len(validHS256)-1])
	malleated := validHS256[:len(validHS256)-1] + string(alphabet[last^1])

	tests := []verifyCase{
		// Algorithms: pinned to the configured HMAC list.
		{name: "valid HS256", token: validHS256, want: user("42")},
		{name: "HS384 not listed", token: sign(jwt.SigningMethodHS384, testSecret, claims(nil)), wantErr: errAlgorithm},
		{name: "HS512 not listed", token: sign(jwt.SigningMethodHS512, testSecret, claims(nil)), wantErr: errAlgorithm},
		{name: "HS384 listed", cfg: algs("HS256", "HS384"), token: sign(jwt.SigningMethodHS384, testSecret, claims(nil)), want: user("42")},
		{name: "HS512 listed", cfg: algs("HS512"), token: sign(jwt.SigningMethodHS512, testSecret, claims(nil)), want: user("42")},
		{name: "HS512 listed lower case", cfg: algs("hs512"), token: sign(jwt.SigningMethodHS512, testSecret, claims(nil)), want: user("42")},
		{name: "HS256 not listed", cfg: algs("HS384", "HS512"), token: validHS256, wantErr: errAlgorithm},
		{name: "HS384 header, HS256 signature", cfg: algs("HS256", "HS384"), token: forge256(`{"alg":"HS384","typ":"JWT"}`, validPayload()), wantErr: errSignature},
		{name: "alg none", token: sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)), wantErr: errAlgorithm},
		{name: "alg none with HMAC signature", token: forge256(`{"alg":"none","typ":"JWT"}`, validPayload()), wantErr: errAlgorithm},
		{name: "alg None", token: b64(`{"alg":"None"}`) + "." + b64(validPayload()) + ".", wantErr: errAlgorithm},
		{name: "alg NONE", token: b64(`{"alg":"NONE"}`) + "." + b64(validPayload()) + ".", wantErr: errAlgorithm},
		{name: "RS256 header signed with the HMAC secret", token: forge256(`{"alg":"RS256","typ":"JWT"}`, validPayload()), wantErr: errAlgorithm},
		{name: "ES256 header signed with the HMAC secret", token: forge256(`{"alg":"ES256","typ":"JWT"}`, validPayload()), wantErr: errAlgorithm},
		{name: "PS256 header signed with the HMAC secret", token: forge256(`{"alg":"PS256"}`, validPayload()), wantErr: errAlgorithm},
		{name: "EdDSA header", token: forge256(`{"alg":"EdDSA"}`, validPayload()), wantErr: errAlgorithm},
		{name: "unknown alg", token: forge256(`{"alg":"HS1024"}`, validPayload()), wantErr: errAlgorithm},
		{name: "alg missing", token: forge256(`{"typ":"JWT"}`, validPayload()), wantErr: errAlgorithm},
		{name: "alg not a string", token: forge256(`{"alg":256}`, validPayload()), wantErr: errAlgorithm},
		{name: "hand-built HS256", token: forge256(hdrHS256, validPayload()), want: user("42")},
		{name: "crit header", token: forge256(`{"alg":"HS256","crit":["b64"],"b64":false}`, validPayload()), wantErr: errCritical},

		// Signature.
		{name: "wrong key", token: sign(jwt.SigningMethodHS256, otherKey, claims(nil)), wantErr: errSignature},
		{name: "empty signature", token: validHS256[:strings.LastIndexByte(validHS256, '.')+1], wantErr: errSignature},
		{name: "signature of another token", token: validHS256[:strings.LastIndexByte(validHS256, '.')] + hs256(claims(map[string]any{"sub": "43"}))[strings.LastIndexByte(validHS256, '.'):], wantErr: errSignature},
		{name: "payload swapped", token: forge256(hdrHS256, validPayload())[:strings.IndexByte(validHS256, '.')+1] + b64(`{"sub":"1","exp":9999999999}`) + validHS256[strings.LastIndexByte(validHS256, '.'):], wantErr: errSignature},
		{name: "non-canonical base64 signature", token: malleated, wantErr: errMalformed},

		// exp (required), leeway 30s.
		{name: "expired beyond leeway", token: hs256(claims(map[string]any{"exp": at(-31 * time.Second)})), wantErr: errExpired},
		{name: "expired exactly leeway ago", token: hs256(claims(map[string]any{"exp": at(-30 * time.Second)})), wantErr: errExpired},
		{name: "expired within leeway", token: hs256(claims(map[string]any{"exp": at(-29 * time.Second)})), want: user("42")},
		{name: "expired long ago", token: hs256(claims(map[string]any{"exp": 1, "iat": 0})), wantErr: errExpired},
		{name: "exp now, no leeway", cfg: func(c *Config) { c.Leeway = 0 }, token: hs256(claims(map[string]any{"exp": at(0)})), wantErr: errExpired},
		{name: "exp in 1s, no leeway", cfg: func(c *Config) { c.Leeway = 0 }, token: hs256(claims(map[string]any{"exp": at(time.Second)})), want: user("42")},
		{name: "exp missing", token: hs256(claims(map[string]any{"exp": drop})), wantErr: errMissingExpiry},
		{name: "exp null", token: hs256(claims(map[string]any{"exp": nil})), wantErr: errClaims},
		{name: "exp a string", token: hs256(claims(map[string]any{"exp": fmt.Sprint(at(time.Hour))})), wantErr: errClaims},
		{name: "exp fractional", token: forge256(hdrHS256, `{"sub":"42","exp":`+fmt.Sprint(at(time.Hour))+`.5}`), want: user("42")},
		{name: "exp far but sane", token: forge256(hdrHS256, `{"sub":"42","exp":1e15}`), want: user("42")},
		{name: "exp beyond 2^53 s", token: forge256(hdrHS256, `{"sub":"42","exp":1e17}`), wantErr: errClaims},
		{name: "exp beyond float64", token: forge256(hdrHS256, `{"sub":"42","exp":1e400}`), wantErr: anyRejection},
		{name: "exp -1e400", token: forge256(hdrHS256, `{"sub":"42","exp":-1e400}`), wantErr: anyRejection},

		// nbf, iat (honoured with the leeway).
		{name: "nbf beyond leeway", token: hs256(claims(map[string]any{"nbf": at(31 * time.Second)})), wantErr: errNotYetValid},
		{name: "nbf within leeway", token: hs256(claims(map[string]any{"nbf": at(29 * time.Second)})), want: user("42")},
		{name: "nbf past", token: hs256(claims(map[string]any{"nbf": at(-time.Hour)})), want: user("42")},
		{name: "nbf a string", token: hs256(claims(map[string]any{"nbf": "soon"})), wantErr: errClaims},
		{name: "iat beyond leeway", token: hs256(claims(map[string]any{"iat": at(31 * time.Second)})), wantErr: errIssuedFuture},
		{name: "iat far future", token: hs256(claims(map[string]any{"iat": at(24 * time.Hour), "exp": at(48 * time.Hour)})), wantErr: errIssuedFuture},
		{name: "iat within leeway", token: hs256(claims(map[string]any{"iat": at(29 * time.Second)})), want: user("42")},
		{name: "iat missing", token: hs256(claims(map[string]any{"iat": drop})), want: user("42")},
		{name: "iat a string", token: hs256(claims(map[string]any{"iat": "now"})), wantErr: errClaims},
		{name: "iat -1e17", token: forge256(hdrHS256, `{"sub":"42","exp":`+fmt.Sprint(at(time.Hour))+`,"iat":-1e17}`), wantErr: errClaims},

		// iss and aud.
		{name: "iss right", cfg: iss("https://auth.example"), token: hs256(claims(map[string]any{"iss": "https://auth.example"})), want: user("42")},
		{name: "iss wrong", cfg: iss("https://auth.example"), token: hs256(claims(map[string]any{"iss": "https://evil.example"})), wantErr: errIssuer},
		{name: "iss differs in case", cfg: iss("https://auth.example"), token: hs256(claims(map[string]any{"iss": "https://AUTH.example"})), wantErr: errIssuer},
		{name: "iss missing", cfg: iss("https://auth.example"), token: hs256(claims(nil)), wantErr: errIssuer},
		{name: "iss empty", cfg: iss("https://auth.example"), token: hs256(claims(map[string]any{"iss": ""})), wantErr: errIssuer},
		{name: "iss not a string", cfg: iss("https://auth.example"), token: hs256(claims(map[string]any{"iss": 1})), wantErr: errIssuer},
		{name: "iss ignored when not configured", token: hs256(claims(map[string]any{"iss": "https://anyone.example"})), want: user("42")},
		{name: "aud right", cfg: aud("usersvc"), token: hs256(claims(map[string]any{"aud": "usersvc"})), want: user("42")},
		{name: "aud in array", cfg: aud("usersvc"), token: hs256(claims(map[string]any{"aud": []string{"other", "usersvc"}})), want: user("42")},
		{name: "aud wrong", cfg: aud("usersvc"), token: hs256(claims(map[string]any{"aud": "billing"})), wantErr: errAudience},
		{name: "aud array without it", cfg: aud("usersvc"), token: hs256(claims(map[string]any{"aud": []string{"billing", "usersvc2"}})), wantErr: errAudience},
		{name: "aud missing", cfg: aud("usersvc"), token: hs256(claims(nil)), wantErr: errAudience},
		{name: "aud empty", cfg: aud("usersvc"), token: hs256(claims(map[string]any{"aud": ""})), wantErr: errAudience},
		{name: "aud not a string", cfg: aud("usersvc"), token: hs256(claims(map[string]any{"aud": 7})), wantErr: errAudience},
		{name: "aud array of numbers", cfg: aud("usersvc"), token: hs256(claims(map[string]any{"aud": []any{7}})), wantErr: errClaims},
		{name: "aud ignored when not configured", token: hs256(claims(map[string]any{"aud": "billing"})), want: user("42")},
		{name: "iss and aud right", cfg: both("https://auth.example", "usersvc"), token: hs256(claims(map[string]any{"iss": "https://auth.example", "aud": []string{"usersvc"}})), want: user("42")},
		{name: "expired and wrong iss: expiry reported", cfg: iss("https://auth.example"), token: hs256(claims(map[string]any{"iss": "x", "exp": at(-time.Hour)})), wantErr: errExpired},

		// Subject.
		{name: `sub ""`, token: hs256(claims(map[string]any{"sub": ""})), wantErr: errMissingSub},
		{name: "sub null", token: hs256(claims(map[string]any{"sub": nil})), wantErr: errMissingSub},
		{name: "sub missing", token: hs256(claims(map[string]any{"sub": drop})), wantErr: errMissingSub},
		{name: "custom subject claim", cfg: subject("user_id"), token: hs256(claims(map[string]any{"user_id": "u-7", "sub": "svc"})), want: user("u-7")},
		{name: "custom subject claim missing, sub ignored", cfg: subject("user_id"), token: hs256(claims(nil)), wantErr: errMissingSub},

		// Admin scope.
		{name: "scope string with admin", token: hs256(claims(map[string]any{"scope": "a users:admin b"})), want: admin("42")},
		{name: "scope string only admin", token: hs256(claims(map[string]any{"scope": "users:admin"})), want: admin("42")},
		{name: "scope string double spaces", token: hs256(claims(map[string]any{"scope": "a  users:admin "})), want: admin("42")},
		{name: "scopes array with admin", token: hs256(claims(map[string]any{"scopes": []string{"badges:write", "users:admin"}})), want: admin("42")},
		{name: "scopes array mixed types", token: hs256(claims(map[string]any{"scopes": []any{1, nil, "users:admin"}})), want: admin("42")},
		{name: "scope as array", token: hs256(claims(map[string]any{"scope": []string{"users:admin"}})), want: admin("42")},
		{name: "scopes as string", token: hs256(claims(map[string]any{"scopes": "read users:admin"})), want: admin("42")},
		{name: "users:adminx is not admin", token: hs256(claims(map[string]any{"scope": "users:adminx"})), want: user("42")},
		{name: "xusers:admin is not admin", token: hs256(claims(map[string]any{"scope": "xusers:admin"})), want: user("42")},
		{name: "users:adminx in array is not admin", token: hs256(claims(map[string]any{"scopes": []string{"users:adminx"}})), want: user("42")},
		{name: "scope case-sensitive", token: hs256(claims(map[string]any{"scope": "USERS:ADMIN"})), want: user("42")},
		{name: "scope tab-separated is one scope", token: hs256(claims(map[string]any{"scope": "a\tusers:admin"})), want: user("42")},
		{name: "scope array element with spaces", token: hs256(claims(map[string]any{"scopes": []string{"a users:admin"}})), want: user("42")},
		{name: "scope number", token: hs256(claims(map[string]any{"scope": 1})), want: user("42")},
		{name: "no scope", token: hs256(claims(nil)), want: user("42")},
		{name: "custom admin scope", cfg: adminScope("badges:award"), token: hs256(claims(map[string]any{"scope": "badges:award"})), want: admin("42")},
		{name: "default admin scope not admin under custom", cfg: adminScope("badges:award"), token: hs256(claims(map[string]any{"scope": "users:admin"})), want: user("42")},
		{name: "admin token still needs a subject", token: hs256(claims(map[string]any{"sub": drop, "scope": "users:admin"})), wantErr: errMissingSub},

		// Malformed.
		{name: "empty", token: "", wantErr: errMalformed},
		{name: "one segment", token: "garbage", wantErr: errMalformed},
		{name: "two segments", token: validHS256[:strings.LastIndexByte(validHS256, '.')], wantErr: errMalformed},
		{name: "four segments", token: validHS256 + ".x", wantErr: errMalformed},
		{name: "dots only", token: "..", wantErr: errMalformed},
		{name: "garbage segments", token: "a.b.c", wantErr: errMalformed},
		{name: "bearer prefix left in", token: "Bearer " + validHS256, wantErr: errMalformed},
		{name: "surrounding space", token: " " + validHS256, wantErr: errMalformed},
		{name: "base64 padding", token: validHS256 + "=", wantErr: errMalformed},
		{name: "standard base64 alphabet", token: forge256(hdrHS256, `{"sub":"42>?","exp":`+fmt.Sprint(at(time.Hour))+`}`) + "+/", wantErr: errMalformed},
		{name: "header not JSON", token: forge256(`not json`, validPayload()), wantErr: errMalformed},
		{name: "header JSON array", token: forge256(`["HS256"]`, validPayload()), wantErr: errMalformed},
		{name: "payload not JSON", token: forge256(hdrHS256, `not json`), wantErr: errMalformed},
		{name: "payload JSON array", token: forge256(hdrHS256, `[1,2]`), wantErr: errMalformed},
		{name: "payload JSON string", token: forge256(hdrHS256, `"sub"`), wantErr: errMalformed},
		{name: "payload null", token: forge256(hdrHS256, `null`), wantErr: errMissingExpiry},
		{name: "payload empty object", token: forge256(hdrHS256, `{}`), wantErr: errMissingExpiry},
		{name: "huge, otherwise valid", token: hs256(claims(map[string]any{"pad": strings.Repeat("x", 10<<10)})), wantErr: errMalformed},
		{name: "huge garbage", token: strings.Repeat("a", 1<<20) + ".b.c", wantErr: errMalformed},
		{name: "huge segments", token: strings.Repeat("a.", 1<<16), wantErr: errMalformed},
		{name: "just under the size limit", token: hs256(claims(map[string]any{"pad": strings.Repeat("x", 5<<10)})), want: user("42")},
	}
	runVerifyCases(t, tests)
}

func iss(s string) func(*Config)        { return func(c *Config) { c.Issuer = s } }
func aud(s string) func(*Config)        { return func(c *Config) { c.Audience = s } }
func subject(s string) func(*Config)    { return func(c *Config) { c.SubjectClaim = s } }
func adminScope(s string) func(*Config) { return func(c *Config) { c.AdminScope = s } }
func both(i, a string) func(*Config) {
	return func(c *Config) { c.Issuer, c.Audience = i, a }
}

func runVerifyCases(t *testing.T, tests []verifyCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := testVerifier(t, tt.cfg)
			got, err := v.Verify(tt.token)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want %+v", err, tt.want)
				}
				if got != tt.want {
					t.Fatalf("Verify = %+v, want %+v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify = %+v, nil; want %v", got, tt.wantErr)
			}
			if got != (Identity{}) {
				t.Errorf("Verify returned identity %+v with an error", got)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Verify error %T %v is not an *Error", err, err)
			}
			if e.Code != CodeInvalidToken {
				t.Errorf("code = %q, want %q", e.Code, CodeInvalidToken)
			}
			if tt.wantErr != anyRejection && e != tt.wantErr {
				t.Errorf("error = %q, want %q", e.Description, tt.wantErr.Description)
			}
			assertNoLeak(t, err, tt.token)
		})
	}
}

// assertNoLeak fails if an error shows the token, a piece of it, or the secret.
func assertNoLeak(t testing.TB, err error, token string) {
	t.Helper()
	var e *Error
	errors.As(err, &e)
	for _, s := range []string{err.Error(), e.Challenge(DefaultRealm)} {
		if strings.Contains(s, string(testSecret)) {
			t.Fatalf("error %q shows the secret", s)
		}
		for _, seg := range strings.Split(token, ".") {
			if len(seg) >= 8 && strings.Contains(s, seg) {
				t.Fatalf("error %q shows a token segment", s)
			}
		}
	}
}

// TestKeyFuncPinsHMAC checks the key function on its own: WithValidMethods
// shields it in Verify, so it would otherwise never be exercised.
func TestKeyFuncPinsHMAC(t *testing.T) {
	v := testVerifier(t, algs("HS256", "HS512"))
	tests := []struct {
		method jwt.SigningMethod
		ok     bool
	}{
		{jwt.SigningMethodHS256, true},
		{jwt.SigningMethodHS512, true},
		{jwt.SigningMethodHS384, false},
		{jwt.SigningMethodNone, false},
		{jwt.SigningMethodRS256, false},
		{jwt.SigningMethodES256, false},
		{jwt.SigningMethodPS256, false},
		{jwt.SigningMethodEdDSA, false},
		{&jwt.SigningMethodHMAC{Name: "HS256", Hash: 0}, false}, // a look-alike is not the pinned method
		{nil, false},
	}
	for _, tt := range tests {
		key, err := v.keyFunc(&jwt.Token{Method: tt.method})
		if tt.ok != (err == nil) || tt.ok != (key != nil) {
			t.Errorf("key(%v) = %v, %v", tt.method, key != nil, err)
		}
	}
}

func TestNewVerifierConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" = valid
	}{
		{"defaults", Config{Secret: testSecret}, ""},
		{"all HMAC", Config{Secret: testSecret, Algorithms: []string{"HS256", "HS384", "HS512"}}, ""},
		{"duplicates and case", Config{Secret: testSecret, Algorithms: []string{"hs256", "HS256", " HS384 "}}, ""},
		{"no secret", Config{}, "secret"},
		{"empty secret", Config{Secret: []byte{}}, "secret"},
		{"RS256 without a key set", Config{Secret: testSecret, Algorithms: []string{"HS256", "RS256"}}, "JWK Set"},
		{"JWKS only, no secret", Config{Algorithms: []string{"EdDSA", "rs256", "ES256"}, Keys: idleKeySet(t)}, ""},
		{"HMAC and JWKS, no secret", Config{Algorithms: []string{"EdDSA", "HS256"}, Keys: idleKeySet(t)}, "secret"},
		{"none", Config{Secret: testSecret, Algorithms: []string{"none"}}, `"none"`},
		{"ES256 without a key set", Config{Secret: testSecret, Algorithms: []string{"ES256"}}, "JWK Set"},
		{"ES384", Config{Secret: testSecret, Algorithms: []string{"ES384"}, Keys: idleKeySet(t)}, `"ES384"`},
		{"PS256", Config{Secret: testSecret, Algorithms: []string{"PS256"}, Keys: idleKeySet(t)}, `"PS256"`},
		{"HS1024", Config{Secret: testSecret, Algorithms: []string{"HS1024"}}, `"HS1024"`},
		{"empty name", Config{Secret: testSecret, Algorithms: []string{""}}, `""`},
		{"negative leeway", Config{Secret: testSecret, Leeway: -time.Second}, "leeway"},
		{"admin scope with space", Config{Secret: testSecret, AdminScope: "users admin"}, "admin scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || v == nil {
					t.Fatalf("NewVerifier = %v, %v", v, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewVerifier error = %v, want it to mention %s", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), string(testSecret)) {
				t.Fatalf("error shows the secret: %v", err)
			}
		})
	}
}

// TestDefaults checks the zero Config means what the contract's defaults say:
// HS256 only, subject in "sub", admin scope "users:admin".
func TestDefaults(t *testing.T) {
	v := testVerifier(t, func(c *Config) { *c = Config{Secret: testSecret} })
	runVerifyWith(t, v, hs256(claims(map[string]any{"scope": "users:admin"})), admin("42"), nil)
	runVerifyWith(t, v, sign(jwt.SigningMethodHS384, testSecret, claims(nil)), Identity{}, errAlgorithm)
	runVerifyWith(t, v, hs256(claims(map[string]any{"exp": at(-time.Second)})), Identity{}, errExpired)
}

func runVerifyWith(t *testing.T, v *Verifier, token string, want Identity, wantErr *Error) {
	t.Helper()
	got, err := v.Verify(token)
	if wantErr == nil && (err != nil || got != want) || wantErr != nil && err != error(wantErr) {
		t.Fatalf("Verify = %+v, %v; want %+v, %v", got, err, want, wantErr)
	}
}

// TestRealClock uses the exported constructor and the wall clock.
func TestRealClock(t *testing.T) {
	v, err := NewVerifier(Config{Secret: testSecret, Leeway: 30 * time.Second, Issuer: "auth", Audience: "usersvc"})
	if err != nil {
		t.Fatal(err)
	}
	n := time.Now()
	c := jwt.MapClaims{"sub": "ada", "iss": "auth", "aud": "usersvc", "iat": n.Unix(), "nbf": n.Unix(), "exp": n.Add(time.Minute).Unix()}
	runVerifyWith(t, v, hs256(c), user("ada"), nil)
	c["exp"] = n.Add(-time.Minute).Unix()
	runVerifyWith(t, v, hs256(c), Identity{}, errExpired)
}

// TestSecretCopied: the Verifier keeps its own copy of the key.
func TestSecretCopied(t *testing.T) {
	secret := []byte(string(testSecret))
	v, err := NewVerifier(Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	clear(secret)
	tok := sign(jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "1", "exp": time.Now().Add(time.Hour).Unix()})
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("Verify after the caller wiped its secret: %v", err)
	}
}

// TestVerifyConcurrent shares one Verifier between goroutines (run with -race).
func TestVerifyConcurrent(t *testing.T) {
	v := testVerifier(t, both("https://auth.example", "usersvc"))
	good := hs256(claims(map[string]any{"iss": "https://auth.example", "aud": "usersvc", "scope": "users:admin"}))
	bad := sign(jwt.SigningMethodHS256, otherKey, claims(nil))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if (g+i)%2 == 0 {
					if id, err := v.Verify(good); err != nil || id != admin("42") {
						t.Errorf("good token: %+v, %v", id, err)
						return
					}
				} else if _, err := v.Verify(bad); err != error(errSignature) {
					t.Errorf("bad token: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestIdentityAlwaysValid: whatever verifies names a valid user id.
func TestIdentityAlwaysValid(t *testing.T) {
	v := testVerifier(t, nil)
	for _, sub := range []any{"42", "a", "Z.9", strings.Repeat("9", 64)} {
		id, err := v.Verify(hs256(claims(map[string]any{"sub": sub})))
		if _, serr := testSubject(id.UserID); err != nil || serr != nil {
			t.Errorf("sub %v: %+v, %v", sub, id, err)
		}
	}
}

// sanity check that the hand-forging helper agrees with the library.
func TestForgeMatchesLibrary(t *testing.T) {
	v := testVerifier(t, nil)
	if _, err := v.Verify(forge(hdrHS256, validPayload(), testSecret, sha256.New)); err != nil {
		t.Fatal(err)
	}
}

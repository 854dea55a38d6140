package auth

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestJWKSAttackMatrix is the JWT attack matrix against a verifier that takes
// HS256 and the JWK Set's RS256, ES256 and EdDSA keys together (a migration).
func TestJWKSAttackMatrix(t *testing.T) {
	rsa1, ec1, ed1 := newRSA("rsa-1"), newEC("ec-1"), newEd("ed-1")
	rs512 := testKey{"rsa-512", "RS512", jwt.SigningMethodRS256, rsaKey} // its JWK pins RS512
	testKeys()
	p384 := testKey{"ec-384", "", jwt.SigningMethodES384, ec384Key} // P-384 implies ES384
	srv := newJWKSServer(t, rsa1.jwk(t), ec1.jwk(t), ed1.jwk(t), rs512.jwk(t), p384.jwk(t))
	keys := startedKeySet(t, srv.URL, &testClock{t: now}, nil)
	var used []string
	v := jwksVerifier(t, keys, func(c *Config) { c.Verified = func(k string) { used = append(used, k) } })
	strict := jwksVerifier(t, keys, func(c *Config) { c.Issuer, c.Audience = "https://auth.example", "usersvc" })
	edOnly := jwksVerifier(t, keys, func(c *Config) { c.Algorithms = []string{"EdDSA"}; c.Secret = nil })

	pubHS := func(k testKey, kid string) string { // HS256 keyed with the public key's PEM
		hdr := `{"alg":"HS256","typ":"JWT"}`
		if kid != "" {
			hdr = fmt.Sprintf(`{"alg":"HS256","typ":"JWT","kid":%q}`, kid)
		}
		return forge(hdr, validPayload(), k.publicPEM(), sha256.New)
	}
	withKid := func(kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
		tok.Header["kid"] = kid
		s, _ := tok.SignedString(testSecret)
		return s
	}
	tests := []struct {
		name  string
		v     *Verifier
		token string
		want  *Error // nil: valid
	}{
		{"RS256 valid", v, rsa1.token(claims(nil)), nil},
		{"ES256 valid (alg implied by crv)", v, ec1.token(claims(nil)), nil},
		{"EdDSA valid", v, ed1.token(claims(nil)), nil},
		{"HS256 valid beside the key set", v, hs256(claims(nil)), nil},
		{"missing kid", v, ed1.tokenAs(jwt.SigningMethodEdDSA, "", claims(nil)), errMissingKeyID},
		{"kid not a string", v, forgeHeader(t, ed1, map[string]any{"alg": "EdDSA", "kid": 7}), errMissingKeyID},
		{"unknown kid", v, ed1.tokenAs(jwt.SigningMethodEdDSA, "nobody", claims(nil)), errUnknownKey},
		{"ES256 token naming the RSA key", v, ec1.tokenAs(jwt.SigningMethodES256, "rsa-1", claims(nil)), errAlgorithm},
		{"RS256 token naming the EC key", v, rsa1.tokenAs(jwt.SigningMethodRS256, "ec-1", claims(nil)), errAlgorithm},
		{"EdDSA token naming the RSA key", v, ed1.tokenAs(jwt.SigningMethodEdDSA, "rsa-1", claims(nil)), errAlgorithm},
		{"RS256 with a key pinned to RS512", v, rs512.token(claims(nil)), errAlgorithm},
		{"ES256 with a P-384 key", v, forgeHeader(t, p384, map[string]any{"alg": "ES256", "kid": "ec-384"}), errAlgorithm},
		{"HS256 keyed with the public key, naming it", v, pubHS(rsa1, "rsa-1"), errAlgorithm},
		{"HS256 keyed with the public key, no kid", v, pubHS(rsa1, ""), errSignature},
		{"HS256 keyed with the Ed25519 public key", v, pubHS(ed1, "ed-1"), errAlgorithm},
		{"HS256 with SECRET_KEY naming a public key", v, withKid("ed-1"), errAlgorithm},
		{"alg none with a kid", v, b64(`{"alg":"none","kid":"ed-1"}`) + "." + b64(validPayload()) + ".", errAlgorithm},
		{"expired", v, ed1.token(claims(map[string]any{"exp": at(-time.Hour)})), errExpired},
		{"not yet valid", v, ed1.token(claims(map[string]any{"nbf": at(time.Hour)})), errNotYetValid},
		{"issued in the future", v, ed1.token(claims(map[string]any{"iat": at(time.Hour)})), errIssuedFuture},
		{"no exp", v, ed1.token(claims(map[string]any{"exp": drop})), errMissingExpiry},
		{"signature of another key", v, freshEd(t, "ed-1").token(claims(nil)), errSignature},
		{"wrong iss", strict, ed1.token(claims(map[string]any{"iss": "https://evil.example", "aud": "usersvc"})), errIssuer},
		{"wrong aud", strict, ed1.token(claims(map[string]any{"iss": "https://auth.example", "aud": "other"})), errAudience},
		{"right iss and aud", strict, ed1.token(claims(map[string]any{"iss": "https://auth.example", "aud": "usersvc"})), nil},
		{"RS256 not listed", edOnly, rsa1.token(claims(nil)), errAlgorithm},
		{"HS256 not listed", edOnly, hs256(claims(nil)), errAlgorithm},
		{"EdDSA listed alone", edOnly, ed1.token(claims(nil)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			used = nil
			id, err := tt.v.Verify(tt.token)
			if tt.want == nil {
				if err != nil || id.UserID != "42" {
					t.Fatalf("Verify = %+v, %v; want user 42", id, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if used != nil {
				t.Fatalf("a refused token was counted as verified by %v", used)
			}
		})
	}
	if n := srv.fetches.Load(); n < 1 {
		t.Fatalf("fetches = %d", n)
	}
}

// forgeHeader signs a valid payload under any header with k.
func forgeHeader(t *testing.T, k testKey, header map[string]any) string {
	h, _ := json.Marshal(header)
	signing := b64(string(h)) + "." + b64(validPayload())
	sig, err := k.method.Sign(signing, k.private)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64(string(sig))
}

func TestJWKSMetricLabel(t *testing.T) {
	ed1 := newEd("ed-1")
	srv := newJWKSServer(t, ed1.jwk(t))
	var used []string
	v := jwksVerifier(t, startedKeySet(t, srv.URL, &testClock{t: now}, nil), func(c *Config) { c.Verified = func(k string) { used = append(used, k) } })
	for _, tok := range []string{ed1.token(claims(nil)), hs256(claims(nil))} {
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(used) != "[jwks current]" {
		t.Fatalf("keys used = %v", used)
	}
}

// TestJWKSRotationFetchesOnce: a token of a key published after the last
// fetch costs exactly one fetch; its next tokens none.
func TestJWKSRotationFetchesOnce(t *testing.T) {
	old, next := newEd("2026-01"), freshEd(t, "2026-02")
	srv := newJWKSServer(t, old.jwk(t))
	clock := &testClock{t: now}
	v := jwksVerifier(t, startedKeySet(t, srv.URL, clock, nil), nil)
	if _, err := v.Verify(old.token(claims(nil))); err != nil {
		t.Fatal(err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches after start = %d, want 1", n)
	}
	srv.publish(old.jwk(t), next.jwk(t))
	for i := range 3 {
		if _, err := v.Verify(next.token(claims(nil))); err != nil {
			t.Fatalf("token %d of the new key: %v", i, err)
		}
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2 (one for the new kid)", n)
	}
	// An unknown kid within 30 s of that fetch: no fetch, 401.
	if _, err := v.Verify(freshEd(t, "2026-03").token(claims(nil))); !errors.Is(err, errUnknownKey) {
		t.Fatalf("unknown kid: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want still 2", n)
	}
	clock.advance(DefaultUnknownKIDInterval)
	if _, err := v.Verify(freshEd(t, "2026-03").token(claims(nil))); !errors.Is(err, errUnknownKey) {
		t.Fatalf("unknown kid after a refresh: %v", err)
	}
	if n := srv.fetches.Load(); n != 3 {
		t.Fatalf("fetches = %d, want 3 (30 s later, one more)", n)
	}
}

// TestJWKSUnknownKidStorm: 100 concurrent tokens of unknown kids cause one
// fetch, and the new key's 100 waiting tokens share it.
func TestJWKSUnknownKidStorm(t *testing.T) {
	old, next := newEd("old"), freshEd(t, "new")
	srv := newJWKSServer(t, old.jwk(t))
	clock := &testClock{t: now}
	v := jwksVerifier(t, startedKeySet(t, srv.URL, clock, nil), nil)
	srv.publish(old.jwk(t), next.jwk(t))
	gate := make(chan struct{})
	srv.slow(gate) // every request is in before the fetch answers

	storm := func(token func(i int) string) []error {
		errs := make([]error, 100)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, errs[i] = v.Verify(token(i)) })
		}
		waitFor(t, func() bool { return srv.fetches.Load() >= 2 })
		close(gate)
		wg.Wait()
		return errs
	}
	for i, err := range storm(func(int) string { return next.token(claims(nil)) }) {
		if err != nil {
			t.Fatalf("request %d with the new key: %v", i, err)
		}
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2 (start, and one shared by 100 requests)", n)
	}
	gate = make(chan struct{})
	srv.slow(gate)
	clock.advance(DefaultUnknownKIDInterval)
	for i, err := range storm(func(i int) string {
		return next.tokenAs(jwt.SigningMethodEdDSA, fmt.Sprintf("bogus-%d", i), claims(nil))
	}) {
		if !errors.Is(err, errUnknownKey) {
			t.Fatalf("request %d with an unknown kid: %v", i, err)
		}
	}
	if n := srv.fetches.Load(); n != 3 {
		t.Fatalf("fetches = %d, want 3 (one per 30 s)", n)
	}
}

// TestJWKSEndpointDownAfterGoodFetch: a failed or slow fetch keeps the last
// good set; its keys verify without waiting; /ready's check turns red.
func TestJWKSEndpointDownAfterGoodFetch(t *testing.T) {
	ed1 := newEd("ed-1")
	srv := newJWKSServer(t, ed1.jwk(t))
	clock := &testClock{t: now}
	var mu sync.Mutex
	var outcomes []error
	keys := startedKeySet(t, srv.URL, clock, func(c *KeySetConfig) {
		c.FetchTimeout = 200 * time.Millisecond
		c.OnFetch = func(_ int, err error) { mu.Lock(); outcomes = append(outcomes, err); mu.Unlock() }
	})
	v := jwksVerifier(t, keys, nil)
	if !keys.Healthy() {
		t.Fatal("not healthy after a good fetch")
	}
	for _, mode := range []string{"down", "slow"} {
		t.Run(mode, func(t *testing.T) {
			gate := make(chan struct{})
			defer close(gate)
			if mode == "down" {
				srv.fail(http.StatusServiceUnavailable)
				defer srv.fail(http.StatusOK)
			} else {
				srv.slow(gate)
				defer srv.slow(nil)
			}
			clock.advance(DefaultUnknownKIDInterval)
			done := make(chan error, 1)
			go func() { _, err := v.Verify(ed1.tokenAs(jwt.SigningMethodEdDSA, "unknown", claims(nil))); done <- err }()
			waitFor(t, func() bool { keys.mu.Lock(); defer keys.mu.Unlock(); return keys.inflight != nil || len(done) > 0 })
			// While that fetch fails or hangs, a known key verifies at once.
			if _, err := v.Verify(ed1.token(claims(nil))); err != nil {
				t.Fatalf("known key during the outage: %v", err)
			}
			if err := <-done; !errors.Is(err, errUnknownKey) {
				t.Fatalf("unknown kid during the outage: %v", err)
			}
			if keys.Healthy() {
				t.Fatal("healthy after a failed fetch")
			}
			if _, err := v.Verify(ed1.token(claims(nil))); err != nil {
				t.Fatalf("known key after the failed fetch: %v", err)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(outcomes) != 3 || outcomes[0] != nil || outcomes[1] == nil || outcomes[2] == nil {
		t.Fatalf("fetch outcomes = %v, want ok, failed, failed", outcomes)
	}
}

// TestJWKSStartUnreachable: Start returns at once; those tokens are 401 until
// a fetch succeeds; Stop ends every goroutine.
func TestJWKSStartUnreachable(t *testing.T) {
	ed1 := newEd("ed-1")
	srv := newJWKSServer(t, ed1.jwk(t))
	srv.fail(http.StatusBadGateway)
	clock := &testClock{t: now}
	keys, err := NewKeySet(KeySetConfig{URL: srv.URL, now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	keys.Start()
	v := jwksVerifier(t, keys, nil)
	if _, err := v.Verify(ed1.token(claims(nil))); !errors.Is(err, errUnknownKey) {
		t.Fatalf("with no key set yet: %v", err)
	}
	if keys.Healthy() {
		t.Fatal("healthy without a key set")
	}
	if _, err := v.Verify(hs256(claims(nil))); err != nil {
		t.Fatalf("HMAC tokens do not depend on the key set: %v", err)
	}
	srv.fail(http.StatusOK)
	clock.advance(DefaultUnknownKIDInterval)
	if _, err := v.Verify(ed1.token(claims(nil))); err != nil {
		t.Fatalf("once the endpoint answers: %v", err)
	}
	stopped := make(chan struct{})
	go func() { keys.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return")
	}
	select {
	case <-keys.done:
	default:
		t.Fatal("the refresh loop outlived Stop")
	}
}

// TestJWKSUnreachableStart: a closed port, not an error status.
func TestJWKSUnreachableStart(t *testing.T) {
	srv := newJWKSServer(t)
	url := srv.URL
	srv.Close()
	keys, err := NewKeySet(KeySetConfig{URL: url, FetchTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	keys.Start()
	defer keys.Stop()
	keys.waitFetch()
	if keys.Healthy() {
		t.Fatal("healthy with the endpoint unreachable")
	}
}

// TestJWKSPeriodicRefresh: the set is fetched again every RefreshInterval
// without any unknown kid.
func TestJWKSPeriodicRefresh(t *testing.T) {
	old, next := newEd("a"), freshEd(t, "b")
	srv := newJWKSServer(t, old.jwk(t))
	keys := startedKeySet(t, srv.URL, &testClock{t: now}, func(c *KeySetConfig) { c.RefreshInterval = 10 * time.Millisecond })
	srv.publish(next.jwk(t))
	waitFor(t, func() bool { return keys.names("b") && !keys.names("a") })
}

func TestJWKSBadDocuments(t *testing.T) {
	ed1 := newEd("ed-1")
	srv := newJWKSServer(t, ed1.jwk(t))
	clock := &testClock{t: now}
	keys := startedKeySet(t, srv.URL, clock, nil)
	for _, body := range []string{`not json`, `{"no":"keys"}`} {
		srv.mu.Lock()
		srv.body = []byte(body)
		srv.mu.Unlock()
		clock.advance(DefaultUnknownKIDInterval)
		keys.refreshForUnknown()
		if keys.Healthy() || !keys.names("ed-1") {
			t.Fatalf("%s: healthy=%v, kept the last good set=%v", body, keys.Healthy(), keys.names("ed-1"))
		}
	}
	// One unreadable key does not hide the others; a private or oct key is no signing key.
	srv.publish(ed1.jwk(t), json.RawMessage(`{"kty":"RSA","kid":"broken","n":"??"}`), json.RawMessage(`{"kty":"oct","kid":"sym","k":"c2VjcmV0"}`))
	clock.advance(DefaultUnknownKIDInterval)
	keys.refreshForUnknown()
	if !keys.Healthy() || !keys.names("ed-1") || keys.names("broken") {
		t.Fatalf("healthy=%v ed-1=%v broken=%v", keys.Healthy(), keys.names("ed-1"), keys.names("broken"))
	}
	if alg, _ := keys.lookup("sym"); alg != "" {
		t.Fatalf("an oct key is pinned to %q", alg)
	}
}

// waitFor polls cond (a state change, not a race) for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached in 10 s")
}

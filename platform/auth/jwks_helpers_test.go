package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// testKey is a signing key of the test auth-service.
type testKey struct {
	kid     string
	alg     string // the JWK's "alg"; "" leaves it out (implied by kty/crv)
	method  jwt.SigningMethod
	private crypto.Signer
}

var (
	keysOnce                       sync.Once
	rsaKey, ecKey, edKey, ec384Key crypto.Signer
)

// testKeys generates the keys once: RSA generation is slow.
func testKeys() {
	keysOnce.Do(func() {
		r, _ := rsa.GenerateKey(rand.Reader, 2048)
		e, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		e384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		rsaKey, ecKey, ec384Key, edKey = r, e, e384, ed
	})
}

func newRSA(kid string) testKey {
	testKeys()
	return testKey{kid, "RS256", jwt.SigningMethodRS256, rsaKey}
}
func newEC(kid string) testKey {
	testKeys()
	return testKey{kid, "", jwt.SigningMethodES256, ecKey} // alg implied by crv P-256
}
func newEd(kid string) testKey {
	testKeys()
	return testKey{kid, "EdDSA", jwt.SigningMethodEdDSA, edKey}
}

// freshEd is an Ed25519 key of its own (a rotation's new key).
func freshEd(t testing.TB, kid string) testKey {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid, "EdDSA", jwt.SigningMethodEdDSA, ed}
}

// token signs c as the auth-service would: its alg and kid in the header.
func (k testKey) token(c jwt.MapClaims) string {
	return k.tokenAs(k.method, k.kid, c)
}

func (k testKey) tokenAs(m jwt.SigningMethod, kid string, c jwt.MapClaims) string {
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(k.private)
	if err != nil {
		panic(err)
	}
	return s
}

// jwk is the public half as a JWK.
func (k testKey) jwk(t testing.TB) json.RawMessage {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(k.private.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: jwkset.ALG(k.alg), USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(j.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if k.alg == "" { // jwkset fills in EdDSA for OKP keys; the test wants it absent when asked
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		delete(m, "alg")
		b, _ = json.Marshal(m)
	}
	return b
}

// publicPEM is what an attacker signs an HS256 token with in the classic confusion attack.
func (k testKey) publicPEM() []byte {
	der, _ := x509.MarshalPKIXPublicKey(k.private.Public())
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// jwksServer is the auth-service's key set endpoint, as a real HTTP server.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int64
	mu      sync.Mutex
	body    []byte
	status  int
	gate    chan struct{} // when set, each fetch waits for it (a slow endpoint)
}

func newJWKSServer(t testing.TB, keys ...json.RawMessage) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK}
	s.publish(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		body, status, gate := s.body, s.status, s.gate
		s.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) publish(keys ...json.RawMessage) {
	if keys == nil {
		keys = []json.RawMessage{}
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	s.mu.Lock()
	s.body = b
	s.mu.Unlock()
}

func (s *jwksServer) fail(status int) {
	s.mu.Lock()
	s.status = status
	s.mu.Unlock()
}

func (s *jwksServer) slow(gate chan struct{}) {
	s.mu.Lock()
	s.gate = gate
	s.mu.Unlock()
}

// testClock is the unknown-kid gate's clock, moved by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// startedKeySet is a KeySet on url, started (and stopped when the test ends),
// its first fetch done; cfg may change the defaults.
func startedKeySet(t testing.TB, url string, clock *testClock, mod func(*KeySetConfig)) *KeySet {
	t.Helper()
	cfg := KeySetConfig{URL: url, FetchTimeout: 2 * time.Second, now: clock.now}
	if mod != nil {
		mod(&cfg)
	}
	k, err := NewKeySet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k.Start()
	t.Cleanup(k.Stop)
	k.waitFetch()
	return k
}

// waitFetch waits for the fetch under way, if any.
func (k *KeySet) waitFetch() {
	k.mu.Lock()
	ch := k.inflight
	k.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// idleKeySet is a KeySet that is never started: NewVerifier's checks only.
func idleKeySet(t testing.TB) *KeySet {
	k, err := NewKeySet(KeySetConfig{URL: "http://127.0.0.1:1/jwks.json"})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// jwksVerifier is a verifier of every algorithm on keys, on the fixed clock.
func jwksVerifier(t testing.TB, keys *KeySet, mod func(*Config)) *Verifier {
	t.Helper()
	return testVerifier(t, func(c *Config) {
		c.Keys = keys
		c.Algorithms = []string{"HS256", "RS256", "ES256", "EdDSA"}
		if mod != nil {
			mod(c)
		}
	})
}

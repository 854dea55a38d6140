package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"maps"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	testSecret = []byte("test-secret-0123456789-abcdefghijklmnop")
	otherKey   = []byte("another-secret-0123456789-abcdefghijklm")
	// now is the verifiers' clock in tests: whole seconds, as NumericDates are.
	now = time.Unix(1_700_000_000, 0)
)

// at returns a NumericDate d from now, as a JSON number.
func at(d time.Duration) int64 { return now.Add(d).Unix() }

// testVerifier builds a real Verifier on the fixed clock, with a 30s leeway
// (the contract's default) unless cfg says otherwise.
func testVerifier(t testing.TB, mod func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{Secret: testSecret, Leeway: 30 * time.Second, Subject: testSubject}
	if mod != nil {
		mod(&cfg)
	}
	v, err := newVerifier(cfg, func() time.Time { return now })
	if err != nil {
		t.Fatalf("newVerifier: %v", err)
	}
	return v
}

// drop marks a claim to delete from the base claims.
type dropClaim struct{}

var drop dropClaim

// claims returns a valid claim set (sub 42, iat now, exp in an hour) changed by kv.
func claims(kv map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "42", "iat": at(0), "exp": at(time.Hour)}
	maps.Copy(c, kv)
	for k, v := range c {
		if v == drop {
			delete(c, k)
		}
	}
	return c
}

// sign signs c with the library, as an honest issuer would.
func sign(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		panic(err)
	}
	return s
}

func hs256(c jwt.MapClaims) string { return sign(jwt.SigningMethodHS256, testSecret, c) }

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// forge builds a token by hand: any header and payload text, HMAC-signed with key.
func forge(header, payload string, key []byte, h func() hash.Hash) string {
	signing := b64(header) + "." + b64(payload)
	mac := hmac.New(h, key)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// forge256 HMAC-SHA256-signs header and payload with the test secret.
func forge256(header, payload string) string { return forge(header, payload, testSecret, sha256.New) }

const hdrHS256 = `{"alg":"HS256","typ":"JWT"}`

// validPayload is claims(nil) as text, for hand-built tokens.
func validPayload() string {
	return fmt.Sprintf(`{"sub":"42","iat":%d,"exp":%d}`, at(0), at(time.Hour))
}

// testSubject stands for the owner directory's subject rule, which lives in
// modules/authref (its tests cover the rule itself): any non-empty string.
func testSubject(claim any) (string, error) {
	if v, ok := claim.(string); ok && v != "" {
		return v, nil
	}
	return "", errors.New("not a subject")
}

package auth

import (
	"crypto/sha512"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestPreviousSecret: SECRET_KEY_PREVIOUS is tried only when the signature
// does not verify with SECRET_KEY, and relaxes nothing else.
func TestPreviousSecret(t *testing.T) {
	third := []byte("a-third-secret-0123456789-abcdefghijklmn")
	var used []string
	v := testVerifier(t, func(c *Config) {
		c.PreviousSecret = otherKey
		c.Algorithms = []string{"HS256", "HS512"}
		c.Verified = func(k string) { used = append(used, k) }
	})
	plain := testVerifier(t, nil)
	prev := func(c jwt.MapClaims) string { return sign(jwt.SigningMethodHS256, otherKey, c) }
	tests := []struct {
		name     string
		v        *Verifier
		token    string
		want     *Error
		wantUsed string
	}{
		{"current key", v, hs256(claims(nil)), nil, KeyCurrent},
		{"previous key", v, prev(claims(nil)), nil, KeyPrevious},
		{"previous key, HS512", v, sign(jwt.SigningMethodHS512, otherKey, claims(nil)), nil, KeyPrevious},
		{"previous key without SECRET_KEY_PREVIOUS", plain, prev(claims(nil)), errSignature, ""},
		{"a third key", v, sign(jwt.SigningMethodHS256, third, claims(nil)), errSignature, ""},
		{"previous key, expired", v, prev(claims(map[string]any{"exp": at(-time.Hour)})), errExpired, ""},
		{"previous key, not yet valid", v, prev(claims(map[string]any{"nbf": at(time.Hour)})), errNotYetValid, ""},
		{"previous key, no exp", v, prev(claims(map[string]any{"exp": drop})), errMissingExpiry, ""},
		{"previous key, HS384 not listed", v, sign(jwt.SigningMethodHS384, otherKey, claims(nil)), errAlgorithm, ""},
		{"previous key, alg none", v, b64(`{"alg":"none"}`) + "." + b64(validPayload()) + ".", errAlgorithm, ""},
		{"previous key, HS512 body under an HS256 header", v, forge(hdrHS256, validPayload(), otherKey, sha512.New), errSignature, ""},
		{"current key, expired", v, hs256(claims(map[string]any{"exp": at(-time.Hour)})), errExpired, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			used = nil
			id, err := tt.v.Verify(tt.token)
			if tt.want == nil {
				if err != nil || id.UserID != "42" {
					t.Fatalf("Verify = %+v, %v", id, err)
				}
			} else if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if got := fmt.Sprint(used); tt.wantUsed != "" && got != "["+tt.wantUsed+"]" || tt.wantUsed == "" && used != nil {
				t.Fatalf("keys used = %v, want %q", used, tt.wantUsed)
			}
		})
	}
}

// TestSetSecret: a rotated key file takes effect; the old key then verifies
// only as SECRET_KEY_PREVIOUS.
func TestSetSecret(t *testing.T) {
	v := testVerifier(t, nil)
	old := hs256(claims(nil))
	if err := v.SetSecret(otherKey); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(sign(jwt.SigningMethodHS256, otherKey, claims(nil))); err != nil {
		t.Fatalf("new key: %v", err)
	}
	if _, err := v.Verify(old); !errors.Is(err, errSignature) {
		t.Fatalf("old key without previous: %v", err)
	}
	v.SetPreviousSecret(testSecret)
	if _, err := v.Verify(old); err != nil {
		t.Fatalf("old key as previous: %v", err)
	}
	v.SetPreviousSecret(nil)
	if _, err := v.Verify(old); !errors.Is(err, errSignature) {
		t.Fatalf("previous dropped: %v", err)
	}
	if err := v.SetSecret(nil); err == nil {
		t.Fatal("an empty secret was accepted")
	}
}

// BenchmarkVerifyAlgorithm measures one verification per algorithm, signature
// included (go test -bench Verify -benchmem ./platform/auth); a token seen
// again is answered by the cache (BenchmarkVerifyCached).
func BenchmarkVerifyAlgorithm(b *testing.B) {
	rsa1, ec1, ed1 := newRSA("rsa-1"), newEC("ec-1"), newEd("ed-1")
	srv := newJWKSServer(b, rsa1.jwk(b), ec1.jwk(b), ed1.jwk(b))
	v := jwksVerifier(b, startedKeySet(b, srv.URL, &testClock{t: now}, nil), func(c *Config) {
		c.PreviousSecret = otherKey
	})
	for _, bc := range []struct{ name, token string }{
		{"HS256", hs256(claims(nil))},
		{"HS256-previous", sign(jwt.SigningMethodHS256, otherKey, claims(nil))},
		{"RS256", rsa1.token(claims(nil))},
		{"ES256", ec1.token(claims(nil))},
		{"EdDSA", ed1.token(claims(nil))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := v.verify(bc.token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

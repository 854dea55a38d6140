package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var knownDescriptions = func() map[string]bool {
	m := map[string]bool{}
	for _, e := range []*Error{errMalformed, errAlgorithm, errSignature, errExpired, errNotYetValid, errIssuedFuture,
		errMissingExpiry, errIssuer, errAudience, errClaims, errCritical, errMissingSub, errSubject, errInvalid} {
		m[e.Description] = true
	}
	return m
}()

// checkVerifyResult holds for every input: success names a valid id;
// failure is one of our invalid_token errors and shows nothing of the token.
func checkVerifyResult(t *testing.T, token string, id Identity, err error) {
	t.Helper()
	if err == nil {
		if _, err := testSubject(id.UserID); err != nil {
			t.Fatalf("verified identity %+v has an invalid id", id)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInvalidToken || !knownDescriptions[e.Description] {
		t.Fatalf("unexpected error %T %v", err, err)
	}
	if id != (Identity{}) {
		t.Fatalf("identity %+v returned with error %v", id, err)
	}
	assertNoLeak(t, err, token)
}

// FuzzVerify feeds arbitrary token strings to a Verifier: never a panic,
// never anything but our errors (almost none of these carry a valid MAC).
func FuzzVerify(f *testing.F) {
	valid := hs256(claims(map[string]any{"scope": "users:admin"}))
	for _, s := range []string{
		valid, "", ".", "..", "...", "a.b", "a.b.c", valid + ".", "Bearer " + valid,
		sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)),
		forge256(`{"alg":"RS256"}`, validPayload()),
		forge256(hdrHS256, `{"sub":1e400,"exp":1e400}`),
		b64(`{"alg":"HS256"}`) + "." + b64(`{"exp":"x"}`) + ".",
	} {
		f.Add(s)
	}
	v := testVerifier(f, both("https://auth.example", "usersvc"))
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(token)
		checkVerifyResult(t, token, id, err)
	})
}

// FuzzVerifyClaims signs arbitrary header and payload texts with the real
// secret, so the fuzzer explores claim handling past the signature check.
func FuzzVerifyClaims(f *testing.F) {
	exp := at(time.Hour)
	for _, p := range []struct{ header, payload string }{
		{hdrHS256, validPayload()},
		{hdrHS256, `{"sub":42,"exp":` + fmt.Sprint(exp) + `,"scope":"a users:admin"}`},
		{hdrHS256, `{"sub":4.5,"exp":` + fmt.Sprint(exp) + `}`},
		{hdrHS256, `{"sub":"42","exp":1e400,"nbf":-1e400,"iat":1e17}`},
		{hdrHS256, `{"sub":"42","exp":` + fmt.Sprint(exp) + `,"iss":"https://auth.example","aud":["usersvc"]}`},
		{hdrHS256, `{"sub":"42","exp":` + fmt.Sprint(exp) + `,"scopes":["users:admin",1,null]}`},
		{hdrHS256, `{"sub":"42"}`},
		{`{"alg":"HS256","crit":["x"]}`, validPayload()},
		{`{"alg":"none"}`, validPayload()},
		{hdrHS256, `null`},
		{hdrHS256, `[]`},
	} {
		f.Add(p.header, p.payload)
	}
	v := testVerifier(f, nil)
	f.Fuzz(func(t *testing.T, header, payload string) {
		token := forge256(header, payload)
		id, err := v.Verify(token)
		checkVerifyResult(t, token, id, err)
		if err != nil {
			return
		}
		// A verified token declared HS256 and carried a numeric exp still in force.
		var h struct{ Alg string }
		var c map[string]any
		if json.Unmarshal([]byte(header), &h) != nil || h.Alg != "HS256" {
			t.Fatalf("verified with header %q", header)
		}
		d := json.NewDecoder(strings.NewReader(payload))
		d.UseNumber()
		if d.Decode(&c) != nil {
			t.Fatalf("verified an unparsable payload %q", payload)
		}
		n, ok := c["exp"].(json.Number)
		if !ok {
			t.Fatalf("verified without a numeric exp: %q", payload)
		}
		if f, err := n.Float64(); err != nil || f <= float64(at(-30*time.Second)) {
			t.Fatalf("verified an expired token: exp %v", n)
		}
	})
}

func FuzzParseAuthorizationHeader(f *testing.F) {
	for _, s := range []string{"", "Bearer", "Bearer ", "Bearer abc", "bearer a.b.c", "Basic x", "Bearer a b", "Bearer\tabc", " Bearer  abc= ", "Bearer ==", "Bearer é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := ParseAuthorizationHeader(h)
		if err != nil {
			var e *Error
			if tok != "" || !errors.As(err, &e) {
				t.Fatalf("%q: %q, %v", h, tok, err)
			}
			if e != ErrNoToken && e.Code != CodeInvalidRequest {
				t.Fatalf("%q: code %q", h, e.Code)
			}
			if c := e.Challenge(DefaultRealm); strings.ContainsAny(c, "\r\n") || (e == ErrNoToken) == strings.Contains(c, "error=") {
				t.Fatalf("%q: challenge %q", h, c)
			}
			return
		}
		if tok == "" || !isB64Token(tok) || !strings.Contains(h, tok) {
			t.Fatalf("%q: token %q", h, tok)
		}
		if again, err := ParseAuthorizationHeader("Bearer " + tok); err != nil || again != tok {
			t.Fatalf("%q: round trip gave %q, %v", h, again, err)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	v, err := NewVerifier(Config{Secret: testSecret, Subject: testSubject, Leeway: 30 * time.Second, Issuer: "https://auth.example", Audience: "usersvc"})
	if err != nil {
		b.Fatal(err)
	}
	c := jwt.MapClaims{
		"sub": "42", "iss": "https://auth.example", "aud": "usersvc", "scope": "profile badges:write",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}
	for _, bc := range []struct {
		name, token string
		ok          bool
	}{
		{"valid", hs256(c), true},
		{"bad signature", sign(jwt.SigningMethodHS256, otherKey, c), false},
		{"garbage", "not-a-token", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(bc.token); (err == nil) != bc.ok {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseAuthorizationHeader(b *testing.B) {
	h := "Bearer " + hs256(claims(nil))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAuthorizationHeader(h); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseKeySet reads arbitrary JWKS documents (what JWKS_URL serves is
// outside input): never a panic; a key is pinned to at most one algorithm,
// one this service verifies; a set with no "keys" member is refused.
func FuzzParseKeySet(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		snap, err := parseKeySet(body)
		if err != nil {
			return
		}
		var doc struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if json.Unmarshal(body, &doc) != nil || doc.Keys == nil {
			t.Fatalf("accepted a document that is not a JWK Set: %q", body)
		}
		if snap.usable() > len(doc.Keys) {
			t.Fatalf("%d usable keys from %d in the set", snap.usable(), len(doc.Keys))
		}
		for kid, alg := range snap.pinned {
			if kid == "" {
				t.Fatal("a key without a kid was kept")
			}
			switch alg {
			case "", "RS256", "ES256", "EdDSA":
			default:
				t.Fatalf("key %q pinned to %q", kid, alg)
			}
		}
	})
}

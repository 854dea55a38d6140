package authref_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"usersvc/modules/authref"
	"usersvc/platform/auth"
)

// TestTokenSubjects: what a token's subject claim must be to name a user
// (CONTRACT §1), as the verifier applies the directory's rule.
func TestTokenSubjects(t *testing.T) {
	secret := []byte("subject-test-secret-0123456789abcdef")
	var d authref.Directory
	verifier := func(t *testing.T, claim string) *auth.Verifier {
		v, err := auth.NewVerifier(auth.Config{Secret: secret, SubjectClaim: claim, Subject: d.FromClaim})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	sign := func(t *testing.T, claims jwt.MapClaims) string {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct {
		name   string
		claim  string // "" is sub
		claims jwt.MapClaims
		want   string // "" when refused
	}{
		{"number 42", "", jwt.MapClaims{"sub": json.Number("42")}, "42"},
		{"number 0", "", jwt.MapClaims{"sub": json.Number("0")}, "0"},
		{"big number", "", jwt.MapClaims{"sub": json.Number("123456789012345678901234567890")}, "123456789012345678901234567890"},
		{"string kept as is", "", jwt.MapClaims{"sub": "007"}, "007"},
		{"case kept", "", jwt.MapClaims{"sub": "Ada.Lovelace"}, "Ada.Lovelace"},
		{"64 characters", "", jwt.MapClaims{"sub": strings.Repeat("a", 64)}, strings.Repeat("a", 64)},
		{"4.5", "", jwt.MapClaims{"sub": json.Number("4.5")}, ""},
		{"42.0", "", jwt.MapClaims{"sub": json.Number("42.0")}, ""},
		{"-1", "", jwt.MapClaims{"sub": json.Number("-1")}, ""},
		{"1e3", "", jwt.MapClaims{"sub": json.Number("1e3")}, ""},
		{"true", "", jwt.MapClaims{"sub": true}, ""},
		{"object", "", jwt.MapClaims{"sub": map[string]any{"id": "42"}}, ""},
		{"array", "", jwt.MapClaims{"sub": []string{"42"}}, ""},
		{"'bad id!'", "", jwt.MapClaims{"sub": "bad id!"}, ""},
		{"65 characters", "", jwt.MapClaims{"sub": strings.Repeat("a", 65)}, ""},
		{"leading dash", "", jwt.MapClaims{"sub": "-42"}, ""},
		{"non-ASCII", "", jwt.MapClaims{"sub": "adé"}, ""},
		{"custom claim as number", "user_id", jwt.MapClaims{"user_id": json.Number("7"), "sub": "svc"}, "7"},
		{"custom claim invalid", "user_id", jwt.MapClaims{"user_id": "a b"}, ""},
		{"admin token with an invalid subject", "", jwt.MapClaims{"sub": "a b", "scope": "users:admin"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := verifier(t, tc.claim).Verify(sign(t, tc.claims))
			switch {
			case tc.want == "" && err == nil:
				t.Fatalf("accepted as %q; want refused", id.UserID)
			case tc.want != "" && (err != nil || id.UserID != tc.want):
				t.Fatalf("got %q, %v; want %q", id.UserID, err, tc.want)
			}
		})
	}
}

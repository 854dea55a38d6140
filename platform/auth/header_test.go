package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAuthorizationHeader(t *testing.T) {
	const tok = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln"
	tests := []struct {
		name    string
		header  string
		want    string
		wantErr *Error
	}{
		{"bearer", "Bearer " + tok, tok, nil},
		{"lower case scheme", "bearer " + tok, tok, nil},
		{"upper case scheme", "BEARER " + tok, tok, nil},
		{"mixed case scheme", "bEaReR " + tok, tok, nil},
		{"several spaces", "Bearer   " + tok, tok, nil},
		{"surrounding blanks", " \tBearer " + tok + " \t", tok, nil},
		{"b64token characters", "Bearer aZ09-._~+/==", "aZ09-._~+/==", nil},
		{"opaque token", "Bearer x", "x", nil},

		{"missing header", "", "", ErrNoToken},
		{"blank header", "  \t ", "", ErrNoToken},
		{"basic scheme", "Basic dXNlcjpwYXNz", "", ErrNoToken},
		{"digest scheme", `Digest username="a"`, "", ErrNoToken},
		{"token without scheme", tok, "", ErrNoToken},
		{"scheme glued to token", "Bearer" + tok, "", ErrNoToken},
		{"bearer-ish scheme", "Bearer: " + tok, "", ErrNoToken},

		{"bearer alone", "Bearer", "", errMissingToken},
		{"bearer and spaces", "Bearer    ", "", errMissingToken},
		{"two tokens", "Bearer " + tok + " " + tok, "", errBadHeader},
		{"token then word", "Bearer " + tok + " extra", "", errBadHeader},
		{"tab after scheme", "Bearer\t" + tok, "", errBadHeader},
		{"comma list", "Bearer " + tok + ", Basic x", "", errBadHeader},
		{"quoted token", `Bearer "` + tok + `"`, "", errBadHeader},
		{"auth-param form", `Bearer token="` + tok + `"`, "", errBadHeader},
		{"padding only", "Bearer ==", "", errBadHeader},
		{"padding in the middle", "Bearer ab=c", "", errBadHeader},
		{"non-ASCII", "Bearer tökén", "", errBadHeader},
		{"control character", "Bearer ab\x00c", "", errBadHeader},
		{"CRLF", "Bearer ab\r\nX-Evil: 1", "", errBadHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAuthorizationHeader(tt.header)
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("= %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if got != "" || err != error(tt.wantErr) {
				t.Fatalf("= %q, %v; want %v", got, err, tt.wantErr)
			}
			assertNoLeak(t, err, tt.header)
		})
	}
	// The codes the HTTP layer sees.
	if errMissingToken.Code != CodeInvalidRequest || errBadHeader.Code != CodeInvalidRequest || ErrNoToken.Code != "" {
		t.Fatal("header errors have the wrong codes")
	}
}

func TestChallenge(t *testing.T) {
	tests := []struct {
		name  string
		err   *Error
		realm string
		want  string
	}{
		{"no token", ErrNoToken, "usersvc", `Bearer realm="usersvc"`},
		{"expired", errExpired, "usersvc", `Bearer realm="usersvc", error="invalid_token", error_description="token expired"`},
		{"missing token", errMissingToken, "usersvc", `Bearer realm="usersvc", error="invalid_request", error_description="missing token"`},
		{"bad header", errBadHeader, DefaultRealm, `Bearer realm="usersvc", error="invalid_request", error_description="malformed authorization header"`},
		{"no realm", errSignature, "", `Bearer error="invalid_token", error_description="signature invalid"`},
		{"no realm, no code", ErrNoToken, "", `Bearer`},
		{"code without description", &Error{Code: CodeInvalidToken}, "r", `Bearer realm="r", error="invalid_token"`},
		{"nil error", nil, "usersvc", `Bearer realm="usersvc"`},
		{"quotes and backslashes dropped", &Error{Code: CodeInvalidToken, Description: `a "b" \c`}, `x"y\z`, `Bearer realm="xyz", error="invalid_token", error_description="a b c"`},
		{"no header injection", &Error{Code: "invalid_token\r\nSet-Cookie: a=b", Description: "d\r\n"}, "r\n", `Bearer realm="r", error="invalid_tokenSet-Cookie: a=b", error_description="d"`},
		{"non-ASCII dropped", &Error{Code: CodeInvalidToken, Description: "jeton expiré"}, "usersvc", `Bearer realm="usersvc", error="invalid_token", error_description="jeton expir"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Challenge(tt.realm); got != tt.want {
				t.Fatalf("Challenge = %s\n                want %s", got, tt.want)
			}
		})
	}
}

func TestErrorValues(t *testing.T) {
	all := []*Error{ErrNoToken, errMissingToken, errBadHeader, errMalformed, errAlgorithm, errSignature, errExpired,
		errNotYetValid, errIssuedFuture, errMissingExpiry, errIssuer, errAudience, errClaims, errCritical,
		errMissingSub, errSubject, errInvalid}
	seen := map[string]bool{}
	for _, e := range all {
		if e.Description == "" || seen[e.Description] {
			t.Errorf("description %q empty or repeated", e.Description)
		}
		seen[e.Description] = true
		if !strings.HasPrefix(e.Error(), "auth: ") {
			t.Errorf("Error() = %q", e.Error())
		}
		// RFC 6750 §3: error_description is printable ASCII without " and \.
		for _, c := range []byte(e.Description) {
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				t.Errorf("description %q has %q", e.Description, c)
			}
		}
		var target *Error
		if !errors.As(error(e), &target) || target != e {
			t.Errorf("errors.As failed for %v", e)
		}
	}
	if !errors.Is(error(ErrNoToken), ErrNoToken) || errors.Is(error(errMissingToken), ErrNoToken) {
		t.Error("ErrNoToken must be matchable with errors.Is, and only it")
	}
	if (*Error)(nil).Error() == "" {
		t.Error("nil *Error has no message")
	}
}

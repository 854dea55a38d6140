package auth

import "strings"

// Error codes of RFC 6750 §3.1 used by this package.
const (
	CodeInvalidRequest = "invalid_request" // the Authorization header is malformed
	CodeInvalidToken   = "invalid_token"   // the token is malformed, expired, badly signed…
)

// DefaultRealm is the realm usersvc names in its challenges.
const DefaultRealm = "usersvc"

// Error is the only error type Verify and ParseAuthorizationHeader return
// (always as *Error). Per the contract every one of them is a 401 whose
// WWW-Authenticate header is Challenge(realm).
//
// Description is short, fixed text chosen by this package: it never contains
// the token, its claims or the secret, so it is safe to send to the client and
// to log. The values returned are shared; treat them as read-only.
type Error struct {
	Code        string // CodeInvalidRequest, CodeInvalidToken, or "" for ErrNoToken
	Description string
}

// ErrNoToken means the request carries no bearer credentials: no
// Authorization header, or one of another scheme. RFC 6750 §3.1 wants no error
// code then, so its challenge is a bare `Bearer realm="…"`.
var ErrNoToken = &Error{Description: "no bearer token"}

func (e *Error) Error() string {
	if e == nil || e.Description == "" {
		return "auth: invalid credentials"
	}
	return "auth: " + e.Description
}

// Challenge returns the value of the WWW-Authenticate header for this error,
// e.g. `Bearer realm="usersvc", error="invalid_token", error_description="token expired"`.
// An empty realm is left out; without a Code (ErrNoToken) only the realm is given.
func (e *Error) Challenge(realm string) string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	param := func(name, value string) {
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteString(`="`)
		writeQuotable(&b, value)
		b.WriteByte('"')
		sep = ", "
	}
	if realm != "" {
		param("realm", realm)
	}
	if e != nil && e.Code != "" {
		param("error", e.Code)
		if e.Description != "" {
			param("error_description", e.Description)
		}
	}
	return b.String()
}

// writeQuotable writes s keeping only the characters RFC 6750 §3 allows inside
// its quoted values (printable ASCII but `"` and `\`): nothing that reaches a
// header can break out of the quotes or inject a line.
func writeQuotable(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b.WriteByte(c)
		}
	}
}

// InvalidToken is an invalid_token error with a fixed, client-safe description.
func InvalidToken(description string) *Error { return invalidToken(description) }

func invalidToken(description string) *Error {
	return &Error{Code: CodeInvalidToken, Description: description}
}

// The errors Verify and ParseAuthorizationHeader return. Descriptions are
// deliberately generic: enough for a client developer, nothing for an attacker.
var (
	errMissingToken  = &Error{Code: CodeInvalidRequest, Description: "missing token"}
	errBadHeader     = &Error{Code: CodeInvalidRequest, Description: "malformed authorization header"}
	errMalformed     = invalidToken("malformed token")
	errAlgorithm     = invalidToken("algorithm not allowed")
	errMissingKeyID  = invalidToken("missing key id")
	errUnknownKey    = invalidToken("unknown key id")
	errSignature     = invalidToken("signature invalid")
	errExpired       = invalidToken("token expired")
	errNotYetValid   = invalidToken("token not yet valid")
	errIssuedFuture  = invalidToken("token issued in the future")
	errMissingExpiry = invalidToken("missing expiration")
	errIssuer        = invalidToken("invalid issuer")
	errAudience      = invalidToken("invalid audience")
	errClaims        = invalidToken("invalid claims")
	errCritical      = invalidToken("unsupported critical header")
	errMissingSub    = invalidToken("missing subject")
	errSubject       = invalidToken("invalid subject")
	errInvalid       = invalidToken("invalid token")
)

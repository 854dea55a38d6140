package auth

import "strings"

// ParseAuthorizationHeader extracts the token from an Authorization header
// value of the form `Bearer <token>` (RFC 6750 §2.1; the scheme is
// case-insensitive, one or more spaces may follow it).
//
//   - "" (no header), blanks, or credentials of another scheme (Basic…):
//     ErrNoToken, whose challenge carries no error code (RFC 6750 §3.1).
//   - "Bearer" with no token: *Error with Code "invalid_request".
//   - anything but exactly one b64token after the scheme (a second word, a
//     character outside [A-Za-z0-9-._~+/] followed by optional "="):
//     *Error with Code "invalid_request".
//
// The token is returned as is, unverified; pass it to Verifier.Verify.
func ParseAuthorizationHeader(h string) (token string, err error) {
	h = strings.Trim(h, " \t")
	if h == "" {
		return "", ErrNoToken
	}
	scheme, rest := h, ""
	if i := strings.IndexAny(h, " \t"); i >= 0 {
		scheme, rest = h[:i], h[i:]
	}
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNoToken
	}
	rest = strings.TrimLeft(rest, " ")
	if rest == "" {
		return "", errMissingToken
	}
	if !isB64Token(rest) {
		return "", errBadHeader
	}
	return rest, nil
}

// isB64Token reports whether s matches RFC 6750's
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	n := len(strings.TrimRight(s, "="))
	if n == 0 {
		return false
	}
	for i := 0; i < n; i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

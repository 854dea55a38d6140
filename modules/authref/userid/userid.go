// Package userid defines what a user id is in usersvc.
//
// A user id is the auth-service's user id, carried as an opaque string: the
// service never parses, normalises or case-folds it. It is 1–64 ASCII
// characters of [A-Za-z0-9_.:-] and starts with a letter or a digit. Ids are
// case-sensitive ("ME" and "me" are two users) and compared byte for byte
// ("007" and "7" are two users too).
//
// Only where an id arrives as a JSON number (an event, a token claim, an
// auth-service answer) is it converted, by FromJSON, to its decimal string:
// 42 becomes "42".
package userid

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
)

// MaxLen is the longest valid id, in bytes (ids are ASCII, so also characters).
const MaxLen = 64

// ErrInvalid is returned by FromJSON for anything that is not a valid id. It
// never carries the offending value: callers decide what, if anything, to log.
var ErrInvalid = errors.New("invalid user id")

// Byte classes for Valid; a table keeps the per-byte test to one load on the
// request hot path.
const (
	notAllowed uint8 = iota
	inner            // allowed after the first byte: _ . : -
	leading          // allowed anywhere: letters and digits
)

var class = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = leading
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = leading
		t[c-'a'+'A'] = leading
	}
	for _, c := range Punctuation {
		t[c] = inner
	}
	return t
}()

// Reserved is the id no user can have: /users/me is always the caller
// (CONTRACT §1), so an event, a token or an auth-service answer naming it
// is invalid, and so is a path naming it below /users/me.
const Reserved = "me"

// Valid reports whether s is a well-formed user id: 1–64 bytes of
// [A-Za-z0-9_.:-], the first a letter or a digit, and not Reserved.
// Non-ASCII bytes are never valid.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxLen || class[s[0]] != leading || s == Reserved {
		return false
	}
	for i := 1; i < len(s); i++ {
		if class[s[i]] == notAllowed {
			return false
		}
	}
	return true
}

// FromJSON converts a user id decoded from JSON into its string form.
//
//   - string: returned as is when Valid.
//   - json.Number (a decoder with UseNumber): a non-negative integer written
//     with digits only, no sign, fraction or exponent, and no leading zero
//     (only "0" itself), so one number has exactly one id; at most 64 digits.
//   - float64 (a decoder without UseNumber): an exact non-negative integer
//     below 2^53, where float64 stops counting every integer; formatted in
//     plain decimal. Such a decoder cannot tell 1000 from 1e3 or 1000.0, so
//     those are accepted here as "1000"; use UseNumber to refuse them.
//
// Anything else (bool, nil, objects, arrays, other Go types, negative or
// fractional numbers) returns ErrInvalid. A returned id always passes Valid.
func FromJSON(v any) (string, error) {
	switch x := v.(type) {
	case string:
		if Valid(x) {
			return x, nil
		}
	case json.Number:
		if canonicalUint(string(x)) {
			return string(x), nil
		}
	case float64:
		// NaN fails every comparison; -0 is 0.
		if x >= 0 && x < 1<<53 && x == math.Trunc(x) {
			return strconv.FormatUint(uint64(x), 10), nil
		}
	}
	return "", ErrInvalid
}

// canonicalUint reports whether s is a non-negative integer in canonical
// decimal form ("0" or a non-zero digit followed by digits), at most MaxLen long.
func canonicalUint(s string) bool {
	if len(s) == 0 || len(s) > MaxLen {
		return false
	}
	if s[0] == '0' {
		return len(s) == 1
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

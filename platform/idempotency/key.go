// Package idempotency stores the answers of idempotent requests (the IETF
// httpapi Idempotency-Key draft): a request repeating a key is answered with
// the first one's stored answer, refused while the first runs, or refused
// when it is another request. The answer commits with the effect.
package idempotency

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"strings"

	"usersvc/platform/errs"
)

// Header is the request header that carries the key.
const Header = "Idempotency-Key"

// MaxKeyLength bounds a key, in characters.
const MaxKeyLength = 255

// ErrMalformedKey answers a key that breaks the rule of ParseKey, or a repeated header.
var ErrMalformedKey = errs.New(errs.Malformed, "the Idempotency-Key must be one value of 1 to 255 visible ASCII characters")

// ParseKey reads a header value: a bare token or a structured-field string
// ("abc" and abc are one key) of 1–255 visible ASCII characters.
func ParseKey(value string) (string, error) {
	key, ok := unquote(value)
	if !ok || key == "" || len(key) > MaxKeyLength || !visibleASCII(key) {
		return "", ErrMalformedKey
	}
	return key, nil
}

// unquote removes the quotes of a structured-field string and its escapes
// (\" and \\); a value without surrounding quotes is taken as is.
func unquote(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v, true
	}
	inner := v[1 : len(v)-1]
	var b strings.Builder
	for i := 0; i < len(inner); i++ {
		switch ch := inner[i]; ch {
		case '"':
			return "", false // an unescaped quote ends the string early
		case '\\':
			if i+1 == len(inner) || (inner[i+1] != '"' && inner[i+1] != '\\') {
				return "", false
			}
			i++
			b.WriteByte(inner[i])
		default:
			b.WriteByte(ch)
		}
	}
	return b.String(), true
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Fingerprint identifies a JSON object body regardless of white space and
// member order: the SHA-256 of its canonical form (numbers kept as written,
// members sorted). ok is false for a body that is not one JSON object, which
// the route's own decoding refuses.
func Fingerprint(body []byte) (sum []byte, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil || v == nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // trailing data
	}
	canonical, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	s := sha256.Sum256(canonical)
	return s[:], true
}

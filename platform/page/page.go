// Package page implements keyset pagination for lists ordered newest first:
// the limit parameter, the opaque cursor and the RFC 8288 next link.
package page

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	DefaultLimit = 50
	MaxLimit     = 100
	// MaxCursorLen bounds the work a forged cursor can cause.
	MaxCursorLen = 512
)

// ErrLimit and ErrCursor are the client's mistakes (400).
var (
	ErrLimit  = errors.New("limit must be an integer from 1 to 100")
	ErrCursor = errors.New("cursor is malformed or belongs to another list")
)

// ParseLimit reads ?limit=: absent is the default; outside 1–100 is an error, never clamped.
func ParseLimit(raw string) (int, error) {
	if raw == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > MaxLimit || raw[0] == '+' {
		return 0, ErrLimit
	}
	return n, nil
}

// Cursor is the position after the last item of a page: its sort time and id.
type Cursor struct {
	At time.Time
	ID int64
}

// cursors carry the list they belong to (user and filter) so that a cursor
// replayed on another list is refused rather than silently misread.
const version = "1"

// Encode makes the opaque cursor of a position in the list (scope = user and filter).
func Encode(c Cursor, scope string) string {
	raw := version + "|" + strconv.FormatInt(c.At.UnixMicro(), 36) + "|" + strconv.FormatInt(c.ID, 36) + "|" + scope
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// Decode reads a cursor and checks that it belongs to scope.
func Decode(s, scope string) (Cursor, error) {
	if len(s) > MaxCursorLen {
		return Cursor{}, ErrCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, ErrCursor
	}
	parts := strings.SplitN(string(raw), "|", 4)
	if len(parts) != 4 || parts[0] != version || parts[3] != scope {
		return Cursor{}, ErrCursor
	}
	micros, err1 := strconv.ParseInt(parts[1], 36, 64)
	id, err2 := strconv.ParseInt(parts[2], 36, 64)
	if err1 != nil || err2 != nil || id < 1 || micros < minMicros || micros > maxMicros {
		return Cursor{}, ErrCursor
	}
	return Cursor{At: time.UnixMicro(micros).UTC(), ID: id}, nil
}

// A forged cursor outside the years 1–9999 is the client's mistake (400),
// not a database error; real positions always lie within.
var (
	minMicros = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxMicros = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
)

// Scope names a list for cursor binding: the user and every filter value.
func Scope(user string, filters ...string) string {
	return user + "|" + strings.Join(filters, "|")
}

// NextLink is the Link header value for the next page of path, keeping the
// filters in query (which must not contain cursor).
func NextLink(path string, query url.Values, cursor string, limit int) string {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("limit", strconv.Itoa(limit))
	q.Set("cursor", cursor)
	return "<" + path + "?" + q.Encode() + `>; rel="next"`
}

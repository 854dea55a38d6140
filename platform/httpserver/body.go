package httpserver

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"usersvc/platform/errs"
)

// Body is a request's JSON object, read field by field so that every broken
// rule is reported at once (422) and nothing unexpected slips through:
// unknown, read-only, duplicated and wrongly typed fields are all errors.
type Body struct {
	fields map[string]json.RawMessage
	order  []string
	used   map[string]bool
	errs   []errs.FieldError
}

// Decode reads the request's JSON object (400 when it is not one) and hands
// it to decode, which applies the route's field rules and reports every
// broken one at once (422). The content type was checked by the route's
// chain (415, CONTRACT §2 order).
func Decode[T any](c *fiber.Ctx, decode func(*Body) (T, error)) (T, error) {
	b, err := ParseBody(c.Body())
	if err != nil {
		var zero T
		return zero, err
	}
	return decode(b)
}

// requireJSON is the 415 step of a route that takes a body.
func requireJSON(c *fiber.Ctx) error {
	if !isJSON(c.Get(fiber.HeaderContentType)) {
		return errs.New(errs.UnsupportedMedia, "the request body must be application/json")
	}
	return nil
}

// ParseBody is ReadBody without the HTTP request; fuzzed directly.
func ParseBody(raw []byte) (*Body, error) {
	trimmed := bytes.TrimSpace(raw)
	switch {
	case len(trimmed) == 0:
		return nil, errs.New(errs.Malformed, "the request body is empty; send a JSON object")
	case !json.Valid(trimmed):
		return nil, errs.New(errs.Malformed, "the request body is not valid JSON (or has data after the JSON value)")
	case trimmed[0] != '{':
		return nil, errs.New(errs.Malformed, "the request body must be a JSON object")
	case !utf8.Valid(trimmed):
		return nil, errs.New(errs.Malformed, "the request body is not valid UTF-8")
	}
	b := &Body{fields: map[string]json.RawMessage{}, used: map[string]bool{}}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if _, err := dec.Token(); err != nil { // the opening brace
		return nil, errs.New(errs.Malformed, "the request body is not valid JSON")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errs.New(errs.Malformed, "the request body is not valid JSON")
		}
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, errs.New(errs.Malformed, "the request body is not valid JSON")
		}
		if _, dup := b.fields[key]; dup {
			b.fail(key, "appears more than once")
			continue
		}
		b.fields[key] = value
		b.order = append(b.order, key)
	}
	return b, nil
}

func isJSON(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != fiber.MIMEApplicationJSON {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}

// Len is the number of distinct fields sent.
func (b *Body) Len() int { return len(b.fields) }

// Has reports whether the field was sent (even as null).
func (b *Body) Has(name string) bool { _, ok := b.fields[name]; return ok }

func (b *Body) fail(field, message string) {
	b.errs = append(b.errs, errs.FieldError{Field: field, Message: message})
}

// take marks a field as known and returns its raw value.
func (b *Body) take(name string) (json.RawMessage, bool) {
	b.used[name] = true
	raw, ok := b.fields[name]
	return raw, ok
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// Text reads a string field: trimmed, NUL-free, minRunes–maxRunes code
// points. It returns ok=false when the field is absent or broken.
func (b *Body) Text(name string, minRunes, maxRunes int) (string, bool) {
	raw, ok := b.take(name)
	if !ok {
		return "", false
	}
	var s string
	if isNull(raw) || json.Unmarshal(raw, &s) != nil {
		b.fail(name, "must be a string")
		return "", false
	}
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	switch {
	case strings.IndexByte(s, 0) >= 0:
		b.fail(name, "must not contain NUL characters")
	case n < minRunes && minRunes == 1:
		b.fail(name, "must not be empty")
	case n < minRunes || n > maxRunes:
		b.fail(name, "must be "+strconv.Itoa(minRunes)+" to "+strconv.Itoa(maxRunes)+" characters long")
	default:
		return s, true
	}
	return "", false
}

// Null reads a field that may be null: sent as null (true), else left for
// another reader (false; a field read by Null alone counts as known).
func (b *Body) Null(name string) bool {
	raw, ok := b.take(name)
	return ok && isNull(raw)
}

// Require records a missing required field.
func (b *Body) Require(name string) {
	if !b.Has(name) {
		b.fail(name, "is required")
	}
}

// URL reads an optional absolute http(s) URL of at most maxLen characters;
// absent or null means none.
func (b *Body) URL(name string, maxLen int) (*string, bool) {
	raw, ok := b.take(name)
	if !ok || isNull(raw) {
		return nil, ok
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		b.fail(name, "must be a string or null")
		return nil, false
	}
	s = strings.TrimSpace(s)
	if strings.IndexByte(s, 0) >= 0 || utf8.RuneCountInString(s) > maxLen {
		b.fail(name, "must be an absolute http or https URL of at most "+strconv.Itoa(maxLen)+" characters")
		return nil, false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		b.fail(name, "must be an absolute http or https URL")
		return nil, false
	}
	return &s, true
}

// Time reads an RFC 3339 timestamp (with a zone) in UTC.
func (b *Body) Time(name string) (time.Time, bool) {
	raw, ok := b.take(name)
	if !ok {
		return time.Time{}, false
	}
	var s string
	if isNull(raw) || json.Unmarshal(raw, &s) != nil {
		b.fail(name, "must be an RFC 3339 timestamp string")
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		b.fail(name, "must be an RFC 3339 timestamp such as 2024-05-01T12:00:00Z")
		return time.Time{}, false
	}
	return t.UTC(), true
}

// Int reads an integer field within lo–hi (a JSON number without fraction or exponent).
func (b *Body) Int(name string, lo, hi int64) (int64, bool) {
	raw, ok := b.take(name)
	if !ok {
		return 0, false
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	// json.Number also takes a quoted number: a string is the wrong type here.
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) ||
		dec.Decode(&n) != nil || strings.ContainsAny(string(n), ".eE") {
		b.fail(name, "must be an integer")
		return 0, false
	}
	v, err := n.Int64()
	if err != nil || v < lo || v > hi {
		b.fail(name, "must be an integer from "+strconv.FormatInt(lo, 10)+" to "+strconv.FormatInt(hi, 10))
		return 0, false
	}
	return v, true
}

// Enum reads a string field that must be one of allowed.
func (b *Body) Enum(name string, allowed ...string) (string, bool) {
	raw, ok := b.take(name)
	if !ok {
		return "", false
	}
	var s string
	if isNull(raw) || json.Unmarshal(raw, &s) != nil {
		b.fail(name, "must be a string")
		return "", false
	}
	for _, a := range allowed {
		if s == a {
			return s, true
		}
	}
	b.fail(name, "must be one of "+strings.Join(allowed, ", "))
	return "", false
}

// Fail records a rule the caller checked itself.
func (b *Body) Fail(name, message string) { b.fail(name, message) }

// Err closes the reading: fields named in readOnly are reported as such,
// any other field not read is unknown. It returns nil when all is well, else
// an Invalid error listing every broken rule.
func (b *Body) Err(readOnly ...string) error {
	for _, name := range b.order {
		if b.used[name] {
			continue
		}
		if contains(readOnly, name) {
			b.fail(name, "is read-only")
		} else {
			b.fail(name, "is not a known field")
		}
	}
	if len(b.errs) == 0 {
		return nil
	}
	return errs.InvalidFields(b.errs...)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

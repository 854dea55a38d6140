package authevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"usersvc/modules/authref/userid"
)

// MaxBody is the largest message body the reader decodes; anything larger is
// not an auth-service event and is dead-lettered.
const MaxBody = 1 << 20

// Message is what the reader needs of an AMQP delivery.
type Message struct {
	Body       []byte
	Type       string // the AMQP type property
	RoutingKey string
	MessageID  string
}

// Reasons a message cannot be read; each dead-letters it.
var (
	ErrUnparseable = errors.New("body is not a JSON object")
	ErrMissingID   = errors.New("no user id (auth_user_id, user_id or id)")
	ErrInvalidID   = errors.New("invalid user id")
	ErrInvalidTime = errors.New("occurred_at is not a time")
)

// Reason names a reader error for metrics and logs.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrUnparseable):
		return "unparseable"
	case errors.Is(err, ErrMissingID):
		return "missing_id"
	case errors.Is(err, ErrInvalidID):
		return "invalid_id"
	case errors.Is(err, ErrInvalidTime):
		return "invalid_occurred_at"
	default:
		return "other"
	}
}

// Envelope is a message whose type is known; its user fields are read only
// once the type is known to matter (unknown types are acknowledged without
// looking for an id).
type Envelope struct {
	Type Type
	top  map[string]any
	msg  Message
}

// Open decodes the body and finds the event type: event_type, type or event
// in the body, else the AMQP type property, else the routing key. A body
// that is not one JSON object returns ErrUnparseable together with the type
// the message's properties give, so the caller can still tell an unknown
// type from a broken event of a known one.
func Open(m Message) (Envelope, error) {
	env := Envelope{msg: m}
	top, err := decodeObject(m.Body)
	if err == nil {
		env.top = top
		for _, k := range []string{"event_type", "type", "event"} {
			if s, ok := top[k].(string); ok && strings.TrimSpace(s) != "" {
				env.Type = NormalizeType(s)
				return env, nil
			}
		}
	}
	switch {
	case strings.TrimSpace(m.Type) != "":
		env.Type = NormalizeType(m.Type)
	default:
		env.Type = NormalizeType(m.RoutingKey)
	}
	return env, err
}

func decodeObject(body []byte) (map[string]any, error) {
	if len(body) > MaxBody {
		return nil, ErrUnparseable
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // ids must keep every digit (userid.FromJSON)
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, ErrUnparseable
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, ErrUnparseable
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrUnparseable // trailing data after the object
	}
	return obj, nil
}

// Event reads the user fields: from data (or payload) when it is an object,
// else from the top level; the id from auth_user_id, user_id or id.
func (env Envelope) Event() (Event, error) {
	e := Event{Type: env.Type}
	if env.top == nil {
		return e, ErrUnparseable
	}
	fields, nested := userFields(env.top)
	e.Fields = fields
	e.ID = eventID(env.top, nested, env.msg.MessageID)

	id, err := readID(fields)
	if err != nil {
		return e, err
	}
	e.UserID = id
	e.Email = readText(fields, "email")
	e.Username = readText(fields, "username")
	if e.OccurredAt, err = readOccurredAt(env.top, fields, nested); err != nil {
		return e, err
	}
	return e, nil
}

// userFields returns data or payload when it is an object (a top-level id
// is then often the event's own id), else the top level.
func userFields(top map[string]any) (map[string]any, bool) {
	for _, k := range []string{"data", "payload"} {
		if obj, ok := top[k].(map[string]any); ok {
			return obj, true
		}
	}
	return top, false
}

func readID(fields map[string]any) (string, error) {
	for _, k := range []string{"auth_user_id", "user_id", "id"} {
		v, ok := fields[k]
		if !ok || v == nil {
			continue
		}
		id, err := userid.FromJSON(v)
		if err != nil {
			return "", ErrInvalidID
		}
		return id, nil
	}
	return "", ErrMissingID
}

// readText keeps strings and nulls; a field of another JSON type is ignored
// as if absent (a tolerant reader does not reject an event over an optional field).
func readText(fields map[string]any, key string) Text {
	v, ok := fields[key]
	if !ok {
		return Text{}
	}
	switch x := v.(type) {
	case nil:
		return Text{Present: true}
	case string:
		return Text{Present: true, Value: &x}
	}
	return Text{}
}

var timeKeysTop = []string{"occurred_at", "occurredAt", "timestamp", "time"}
var timeKeysData = []string{"occurred_at", "occurredAt"}

func readOccurredAt(top, fields map[string]any, nested bool) (time.Time, error) {
	if t, found, err := firstTime(top, timeKeysTop); found || err != nil {
		return t, err
	}
	if nested {
		if t, found, err := firstTime(fields, timeKeysData); found || err != nil {
			return t, err
		}
	}
	return time.Time{}, nil
}

func firstTime(obj map[string]any, keys []string) (time.Time, bool, error) {
	for _, k := range keys {
		v, ok := obj[k]
		if !ok || v == nil {
			continue
		}
		t, err := parseTime(v)
		return t, true, err
	}
	return time.Time{}, false, nil
}

// Layouts seen from real publishers: RFC 3339, and Python's isoformat()
// without a zone (read as UTC) or with a space instead of the T.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// Times before minYear or after maxYear are mistakes, not events.
const (
	minYear = 1970
	maxYear = 9999
)

// parseTime reads an RFC 3339-like string, or a number of seconds since the
// Unix epoch (milliseconds when it is 1e11 or more, as JavaScript writes it).
func parseTime(v any) (time.Time, error) {
	var t time.Time
	switch x := v.(type) {
	case string:
		s := strings.TrimSpace(x)
		var err error = ErrInvalidTime
		for _, layout := range timeLayouts {
			if t, err = time.Parse(layout, s); err == nil {
				break
			}
		}
		if err != nil {
			return time.Time{}, ErrInvalidTime
		}
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
			return time.Time{}, ErrInvalidTime
		}
		micros := f * 1e6
		if f >= 1e11 {
			micros = f * 1e3
		}
		if micros > float64(math.MaxInt64) {
			return time.Time{}, ErrInvalidTime
		}
		t = time.UnixMicro(int64(math.Round(micros)))
	default:
		return time.Time{}, ErrInvalidTime
	}
	t = t.UTC().Truncate(time.Microsecond)
	if t.Year() < minYear || t.Year() > maxYear {
		return time.Time{}, ErrInvalidTime
	}
	return t, nil
}

// maxEventIDLen keeps a hostile event id from flooding the logs.
const maxEventIDLen = 128

func eventID(top map[string]any, nested bool, messageID string) string {
	keys := []string{"event_id", "eventId", "message_id"}
	if nested {
		keys = append(keys, "id") // only then is a top-level id the event's own
	}
	for _, k := range keys {
		var s string
		switch x := top[k].(type) {
		case string:
			s = x
		case json.Number:
			s = string(x)
		}
		if s != "" {
			return clip(s)
		}
	}
	return clip(messageID)
}

func clip(s string) string {
	if len(s) > maxEventIDLen {
		return s[:maxEventIDLen]
	}
	return s
}

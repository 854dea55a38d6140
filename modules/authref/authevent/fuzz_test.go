package authevent

import (
	"errors"
	"strings"
	"testing"

	"usersvc/modules/authref/userid"
)

// FuzzRead checks the reader's promises on any input: it never panics, a
// type is always normalized, an event it accepts has a valid id, and a
// failure is one of the documented reasons.
func FuzzRead(f *testing.F) {
	seeds := []string{
		`{"event_type":"UserCreated","event_id":"e","occurred_at":"2024-05-01T12:00:00Z","data":{"id":42,"email":"a@b.c","username":"a"}}`,
		`{"type":"user.updated","user_id":"u_1","email":null}`,
		`{"event":"USER_DELETED","payload":{"auth_user_id":"9"}}`,
		`{"data":{"id":1e3}}`,
		`{"data":{"id":-0}}`,
		`{"id":"ÿ"}`,
		`{"occurred_at":1e308,"id":1}`,
		`{"timestamp":"2024-05-01 12:00:00","id":"x"}`,
		`[1]`, `null`, ``, `{"id":1}garbage`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), "UserCreated", "user.created")
	}
	f.Fuzz(func(t *testing.T, body []byte, typ, key string) {
		env, err := Open(Message{Body: body, Type: typ, RoutingKey: key})
		if strings.ContainsAny(string(env.Type), "._-") || NormalizeType(string(env.Type)) != env.Type {
			t.Fatalf("type %q is not normalized", env.Type)
		}
		if err != nil {
			if !errors.Is(err, ErrUnparseable) {
				t.Fatalf("Open: unexpected error %v", err)
			}
			return
		}
		e, err := env.Event()
		if err != nil {
			if Reason(err) == "other" {
				t.Fatalf("Event: undocumented error %v", err)
			}
			return
		}
		if !userid.Valid(e.UserID) {
			t.Fatalf("accepted invalid id %q", e.UserID)
		}
		if e.HasOccurredAt() && (e.OccurredAt.Year() < minYear || e.OccurredAt.Year() > maxYear || e.OccurredAt.Location() != e.OccurredAt.UTC().Location()) {
			t.Fatalf("accepted odd time %v", e.OccurredAt)
		}
		if len(e.ID) > maxEventIDLen {
			t.Fatalf("event id of %d bytes", len(e.ID))
		}
		// Reading is deterministic.
		again, _ := env.Event()
		if again.UserID != e.UserID || !again.OccurredAt.Equal(e.OccurredAt) {
			t.Fatal("second read differs")
		}
	})
}

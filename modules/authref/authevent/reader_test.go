package authevent

import (
	"errors"
	"testing"
	"time"
)

func ptr(s string) *string { return &s }

func TestNormalizeType(t *testing.T) {
	for in, want := range map[string]Type{
		"UserCreated":    UserCreated,
		"user.created":   UserCreated,
		"USER_CREATED":   UserCreated,
		"user-created":   UserCreated,
		" User.Updated ": UserUpdated,
		"user__deleted.": UserDeleted,
		"":               "",
		"OrderPlaced":    "orderplaced",
	} {
		if got := NormalizeType(in); got != want {
			t.Errorf("NormalizeType(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReadRealShapes is a table of payload shapes auth-services publish in the wild.
func TestReadRealShapes(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 30, 45, 123456000, time.UTC)
	tests := []struct {
		name     string
		msg      Message
		wantType Type
		wantErr  error
		want     Event // compared field by field: UserID, Email, Username, OccurredAt, ID
	}{
		{
			name:     "contract example: data object, numeric id",
			msg:      Message{Body: []byte(`{"event_type":"UserCreated","event_id":"e-1","occurred_at":"2024-05-01T12:30:45.123456Z","data":{"id":42,"email":"ada@example.com","username":"ada"}}`), RoutingKey: "user.created"},
			wantType: UserCreated,
			want:     Event{ID: "e-1", UserID: "42", Email: Text{true, ptr("ada@example.com")}, Username: Text{true, ptr("ada")}, OccurredAt: at},
		},
		{
			name:     "flat body with type and user_id string",
			msg:      Message{Body: []byte(`{"type":"user.updated","user_id":"u_7","email":"x@example.com","occurred_at":"2024-05-01T14:30:45.123456+02:00"}`)},
			wantType: UserUpdated,
			want:     Event{UserID: "u_7", Email: Text{true, ptr("x@example.com")}, OccurredAt: at},
		},
		{
			name:     "payload object; top-level id is the event's own",
			msg:      Message{Body: []byte(`{"event":"USER_DELETED","id":"evt-9","payload":{"auth_user_id":"9"}}`)},
			wantType: UserDeleted,
			want:     Event{ID: "evt-9", UserID: "9"},
		},
		{
			name:     "type from the AMQP type property",
			msg:      Message{Body: []byte(`{"data":{"id":5,"username":null}}`), Type: "UserCreated", RoutingKey: "user.updated"},
			wantType: UserCreated,
			want:     Event{UserID: "5", Username: Text{Present: true}},
		},
		{
			name:     "type from the routing key",
			msg:      Message{Body: []byte(`{"id":5}`), RoutingKey: "user.deleted"},
			wantType: UserDeleted,
			want:     Event{UserID: "5"},
		},
		{
			name:     "body type wins over property and routing key",
			msg:      Message{Body: []byte(`{"event_type":"user-updated","data":{"id":"5"}}`), Type: "UserDeleted", RoutingKey: "user.deleted"},
			wantType: UserUpdated,
			want:     Event{UserID: "5"},
		},
		{
			name:     "a non-string type in the body is skipped",
			msg:      Message{Body: []byte(`{"type":{"kind":"x"},"event":"user.created","data":{"id":1}}`)},
			wantType: UserCreated,
			want:     Event{UserID: "1"},
		},
		{
			name:     "python isoformat without zone is UTC",
			msg:      Message{Body: []byte(`{"event_type":"UserCreated","occurred_at":"2024-05-01T12:30:45.123456","data":{"id":1}}`)},
			wantType: UserCreated,
			want:     Event{UserID: "1", OccurredAt: at},
		},
		{
			name:     "unix seconds as a number",
			msg:      Message{Body: []byte(`{"event_type":"UserCreated","timestamp":1714566645.123456,"data":{"id":1}}`)},
			wantType: UserCreated,
			want:     Event{UserID: "1", OccurredAt: at},
		},
		{
			name:     "unix milliseconds as a number",
			msg:      Message{Body: []byte(`{"event_type":"UserCreated","occurredAt":1714566645123,"data":{"id":1}}`)},
			wantType: UserCreated,
			want:     Event{UserID: "1", OccurredAt: at.Truncate(time.Millisecond)},
		},
		{
			name:     "occurred_at inside data",
			msg:      Message{Body: []byte(`{"event_type":"UserCreated","data":{"id":1,"occurred_at":"2024-05-01T12:30:45.123456Z"}}`)},
			wantType: UserCreated,
			want:     Event{UserID: "1", OccurredAt: at},
		},
		{
			name:     "nanoseconds are truncated to microseconds",
			msg:      Message{Body: []byte(`{"event_type":"UserCreated","occurred_at":"2024-05-01T12:30:45.123456789Z","data":{"id":1}}`)},
			wantType: UserCreated,
			want:     Event{UserID: "1", OccurredAt: at},
		},
		{
			name:     "null occurred_at is absent",
			msg:      Message{Body: []byte(`{"event_type":"UserCreated","occurred_at":null,"data":{"id":1}}`)},
			wantType: UserCreated,
			want:     Event{UserID: "1"},
		},
		{
			name:     "auth_user_id wins over user_id and id",
			msg:      Message{Body: []byte(`{"type":"UserCreated","auth_user_id":"a","user_id":"b","id":"c"}`)},
			wantType: UserCreated,
			want:     Event{UserID: "a"},
		},
		{
			name:     "null auth_user_id falls through to id",
			msg:      Message{Body: []byte(`{"type":"UserCreated","data":{"auth_user_id":null,"id":77}}`)},
			wantType: UserCreated,
			want:     Event{UserID: "77"},
		},
		{
			name:     "non-string email is ignored",
			msg:      Message{Body: []byte(`{"type":"UserUpdated","data":{"id":1,"email":12,"username":"bob"}}`)},
			wantType: UserUpdated,
			want:     Event{UserID: "1", Username: Text{true, ptr("bob")}},
		},
		{
			name:     "message id when the body has none",
			msg:      Message{Body: []byte(`{"type":"UserUpdated","id":1}`), MessageID: "m-1"},
			wantType: UserUpdated,
			want:     Event{ID: "m-1", UserID: "1"},
		},
		{
			name:     "big number id keeps every digit",
			msg:      Message{Body: []byte(`{"type":"UserCreated","data":{"id":123456789012345678901234567890}}`)},
			wantType: UserCreated,
			want:     Event{UserID: "123456789012345678901234567890"},
		},
		// Broken events of a known type: each is dead-lettered.
		{name: "not JSON", msg: Message{Body: []byte(`not json`), RoutingKey: "user.created"}, wantType: UserCreated, wantErr: ErrUnparseable},
		{name: "empty body", msg: Message{Body: nil, RoutingKey: "user.created"}, wantType: UserCreated, wantErr: ErrUnparseable},
		{name: "JSON array", msg: Message{Body: []byte(`[{"id":1}]`), RoutingKey: "user.created"}, wantType: UserCreated, wantErr: ErrUnparseable},
		{name: "trailing data", msg: Message{Body: []byte(`{"id":1} {"id":2}`), RoutingKey: "user.created"}, wantType: UserCreated, wantErr: ErrUnparseable},
		{name: "no id", msg: Message{Body: []byte(`{"type":"UserCreated","data":{"email":"a@b.c"}}`)}, wantType: UserCreated, wantErr: ErrMissingID},
		{name: "id only at top level beside data", msg: Message{Body: []byte(`{"type":"UserCreated","id":5,"data":{"email":"a@b.c"}}`)}, wantType: UserCreated, wantErr: ErrMissingID},
		{name: "negative id", msg: Message{Body: []byte(`{"type":"UserCreated","id":-1}`)}, wantType: UserCreated, wantErr: ErrInvalidID},
		{name: "fractional id", msg: Message{Body: []byte(`{"type":"UserCreated","id":1.5}`)}, wantType: UserCreated, wantErr: ErrInvalidID},
		{name: "exponent id", msg: Message{Body: []byte(`{"type":"UserCreated","id":1e3}`)}, wantType: UserCreated, wantErr: ErrInvalidID},
		{name: "id with a slash", msg: Message{Body: []byte(`{"type":"UserCreated","id":"a/b"}`)}, wantType: UserCreated, wantErr: ErrInvalidID},
		{name: "boolean id", msg: Message{Body: []byte(`{"type":"UserCreated","id":true}`)}, wantType: UserCreated, wantErr: ErrInvalidID},
		{name: "bad occurred_at", msg: Message{Body: []byte(`{"type":"UserCreated","id":1,"occurred_at":"yesterday"}`)}, wantType: UserCreated, wantErr: ErrInvalidTime},
		{name: "occurred_at year 1", msg: Message{Body: []byte(`{"type":"UserCreated","id":1,"occurred_at":"0001-01-01T00:00:00Z"}`)}, wantType: UserCreated, wantErr: ErrInvalidTime},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := Open(tc.msg)
			if env.Type != tc.wantType {
				t.Fatalf("type = %q, want %q", env.Type, tc.wantType)
			}
			var e Event
			if err == nil {
				e, err = env.Event()
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			w := tc.want
			if e.UserID != w.UserID || e.ID != w.ID || !e.OccurredAt.Equal(w.OccurredAt) {
				t.Errorf("got id=%q event_id=%q at=%v, want id=%q event_id=%q at=%v", e.UserID, e.ID, e.OccurredAt, w.UserID, w.ID, w.OccurredAt)
			}
			if !sameText(e.Email, w.Email) || !sameText(e.Username, w.Username) {
				t.Errorf("email=%s username=%s, want email=%s username=%s", show(e.Email), show(e.Username), show(w.Email), show(w.Username))
			}
		})
	}
}

func TestUnknownTypeIsKnownBeforeTheID(t *testing.T) {
	env, err := Open(Message{Body: []byte(`{"event_type":"PasswordChanged","data":{"no_id":true}}`), RoutingKey: "user.updated"})
	if err != nil || env.Type != "passwordchanged" {
		t.Fatalf("Open = %q, %v; want passwordchanged, nil", env.Type, err)
	}
}

func sameText(a, b Text) bool {
	if a.Present != b.Present || (a.Value == nil) != (b.Value == nil) {
		return false
	}
	return a.Value == nil || *a.Value == *b.Value
}

func show(x Text) string {
	switch {
	case !x.Present:
		return "absent"
	case x.Value == nil:
		return "null"
	}
	return *x.Value
}

// Package events is what feature modules need to react to auth-service
// events (CONTRACT §4): the Event a handler receives, the Handler a module
// contributes to the "event_handlers" value group, and the tolerant reader
// that turns an AMQP message into an Event. The broker machinery lives in
// platform/amqp; this package knows nothing about connections.
package authevent

import (
	"context"
	"strings"
	"time"
	"unicode"

	"go.uber.org/fx"
)

// Type is a normalized event type: lower case, with '.', '_' and '-' removed,
// so "UserCreated", "user.created" and "USER_CREATED" are all "usercreated".
type Type string

// The user lifecycle events of the auth-service.
const (
	UserCreated Type = "usercreated"
	UserUpdated Type = "userupdated"
	UserDeleted Type = "userdeleted"
)

// NormalizeType folds an event type as CONTRACT §4 compares them.
func NormalizeType(s string) Type {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.TrimSpace(s) {
		switch r {
		case '.', '_', '-':
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return Type(b.String())
}

// Text is an optional string field of an event: absent, null, or a value.
// Updates touch only the fields an event carries.
type Text struct {
	Present bool    // the field was in the event (possibly as null)
	Value   *string // nil for JSON null (or when absent)
}

// Event is one auth-service event about one user, as a handler sees it.
type Event struct {
	Type Type
	// ID is the event's own id (event_id or the message id), for logs only; may be "".
	ID string
	// OccurredAt is when the auth-service says the event happened, truncated
	// to microseconds (PostgreSQL's precision); zero when the event has none.
	OccurredAt time.Time
	// UserID is the auth-service's user id, always valid (userid.Valid).
	UserID   string
	Email    Text
	Username Text
	// Fields is the object the user fields were read from (data, payload or
	// the top level), for handlers that need more than the common fields.
	Fields map[string]any
	// Redelivered is the broker's flag: the message was delivered before.
	Redelivered bool
}

// HasOccurredAt reports whether the event carries its own time; without it,
// events are applied in arrival order.
func (e Event) HasOccurredAt() bool { return !e.OccurredAt.IsZero() }

// Handler is a module's reaction to some event types. Handlers must be
// idempotent: the broker redelivers after failures, and a batch that fails
// part-way is applied again event by event.
type Handler struct {
	// Name identifies the handler in logs.
	Name string
	// Types lists the event types handled, in any spelling (normalized on registration).
	Types []string
	// Handle applies one event. A poison error (amqp.Poison, and SQLSTATE
	// classes 22 and 23) dead-letters the message; any other error keeps it
	// in hand and retries it with backoff.
	Handle func(ctx context.Context, e Event) error
	// HandleBatch, when set, applies several events, in order and all or
	// nothing (one transaction), so a burst costs one commit.
	HandleBatch func(ctx context.Context, es []Event) error
}

// AsHandler annotates a constructor of Handler for the "event_handlers" group.
func AsHandler(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"event_handlers"`))
}

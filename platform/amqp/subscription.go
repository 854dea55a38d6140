package amqp

import (
	"context"
	"errors"
	"fmt"

	"usersvc/platform/database"
)

// Message is what a Subscription reads of a delivery.
type Message struct {
	Body        []byte
	Type        string // the AMQP type property
	RoutingKey  string
	MessageID   string
	Redelivered bool // the broker delivered it before
}

// ErrIgnore is what a Read returns for a message its subscription does not
// handle: it is acknowledged and counted with the type "unknown".
var ErrIgnore = errors.New("amqp: message not handled")

// Spec is a module's subscription, in the module's own item type T.
type Spec[T any] struct {
	// Name identifies the subscription in logs.
	Name string
	// Keys are the routing keys bound to the queue.
	Keys []string
	// Read decodes a message. ErrIgnore acknowledges it; any other error
	// dead-letters it, with the reason given by Unreadable (else "other").
	// The item returned with an error still labels the dead letter.
	Read func(Message) (T, error)
	// Label is the item's type for metrics, "" when the subscription does
	// not know it (counted as "unknown"), and its own id for logs.
	Label func(T) (typ, id string)
	// Apply applies items in order, all or nothing (one transaction), and
	// idempotently: the broker redelivers after failures, and a batch with a
	// poison item is applied again item by item. A Poison error or data the
	// database refuses (SQLSTATE classes 22, 23) dead-letters; any other
	// error keeps the deliveries in hand and retries them with backoff.
	Apply func(ctx context.Context, items []T) error
}

// Subscription is a Spec with its item type erased, as the consumer takes it.
type Subscription struct {
	name  string
	keys  []string
	read  func(Message) (item, error)
	apply func(ctx context.Context, values []any) error
}

// item is a read message as the consumer handles it.
type item struct {
	typ, id string
	value   any
}

// Subscribe checks s and erases its item type.
func Subscribe[T any](s Spec[T]) (Subscription, error) {
	if s.Read == nil || s.Label == nil || s.Apply == nil || len(s.Keys) == 0 {
		return Subscription{}, fmt.Errorf("amqp: subscription %q needs Keys, Read, Label and Apply", s.Name)
	}
	read := func(m Message) (item, error) {
		v, err := s.Read(m)
		typ, id := s.Label(v)
		return item{typ: typ, id: id, value: v}, err
	}
	apply := func(ctx context.Context, values []any) error {
		items := make([]T, len(values))
		for i, v := range values {
			items[i] = v.(T)
		}
		return s.Apply(ctx, items)
	}
	return Subscription{name: s.Name, keys: s.Keys, read: read, apply: apply}, nil
}

// Name identifies the subscription in logs.
func (s Subscription) Name() string { return s.name }

// Keys are the routing keys the subscription binds.
func (s Subscription) Keys() []string { return s.keys }

// poisonError marks an error that retrying cannot fix; reason, when set,
// labels the dead letter.
type poisonError struct {
	reason string
	err    error
}

func (p poisonError) Error() string { return "poison message: " + p.err.Error() }
func (p poisonError) Unwrap() error { return p.err }

// Poison marks an Apply error as permanent for the items at hand: the
// message is dead-lettered (reason "handler") instead of retried.
func Poison(err error) error {
	if err == nil {
		return nil
	}
	return poisonError{err: err}
}

// Unreadable is a Read error naming why the message cannot be read (the
// reason label of events_dead_lettered_total).
func Unreadable(reason string, err error) error {
	if err == nil {
		return nil
	}
	return poisonError{reason: reason, err: err}
}

// isPoison tells an item that can never be applied (dead-letter it) from
// a failure that may pass (keep it in hand and retry): Poison marks and
// data the database refuses as invalid (SQLSTATE classes 22, 23).
// Everything else, including errors we cannot classify, is retried: a
// missing table or a bug must pause consumption, not empty the queue into
// the dead-letter queue.
func isPoison(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var p poisonError
	return errors.As(err, &p) || database.IsDataError(err)
}

// readReason labels a message Read could not read.
func readReason(err error) string {
	var p poisonError
	if errors.As(err, &p) && p.reason != "" {
		return p.reason
	}
	return "other"
}

// applyReason labels an item Apply refused.
func applyReason(err error) string {
	if database.IsDataError(err) {
		return "invalid_data"
	}
	var p poisonError
	if errors.As(err, &p) && p.reason != "" {
		return p.reason
	}
	return "handler"
}

// label is the item's type for metrics; types the subscription does not
// know share one label, so foreign types cannot grow the label set.
func (it item) label() string {
	if it.typ == "" {
		return typeUnknown
	}
	return it.typ
}

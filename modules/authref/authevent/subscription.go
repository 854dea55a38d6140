package authevent

import (
	"go.uber.org/fx"

	"usersvc/platform/amqp"
)

// RoutingKeys are the routing keys of the user lifecycle (CONTRACT §4).
var RoutingKeys = []string{"user.created", "user.updated", "user.deleted"}

// SubscriptionParams are the handlers modules contributed.
type SubscriptionParams struct {
	fx.In
	Handlers []Handler `group:"event_handlers"`
}

// NewSubscription is the fx constructor of Subscribe.
func NewSubscription(p SubscriptionParams) (amqp.Subscription, error) {
	return Subscribe(p.Handlers)
}

// Subscribe gives the consumer the auth-service's events, dispatched by
// type to handlers.
func Subscribe(handlers []Handler) (amqp.Subscription, error) {
	d, err := NewDispatcher(handlers)
	if err != nil {
		return amqp.Subscription{}, err
	}
	return amqp.Subscribe(amqp.Spec[Event]{
		Name:  "auth-service events",
		Keys:  RoutingKeys,
		Read:  d.read,
		Label: d.label,
		Apply: d.Apply,
	})
}

// read opens a message. Unparseable JSON is dead-lettered whatever its type
// (CONTRACT §4); a readable event of a type no handler wants is acknowledged
// and counted before any id is looked for.
func (d *Dispatcher) read(m amqp.Message) (Event, error) {
	env, err := Open(Message{Body: m.Body, Type: m.Type, RoutingKey: m.RoutingKey, MessageID: m.MessageID})
	if err == nil && env.Type != "" && !d.Handles(env.Type) {
		return Event{}, amqp.ErrIgnore
	}
	if err != nil {
		return Event{Type: env.Type}, amqp.Unreadable(Reason(err), err)
	}
	e, err := env.Event()
	if err != nil {
		return e, amqp.Unreadable(Reason(err), err)
	}
	e.Redelivered = m.Redelivered
	return e, nil
}

// label names an event for metrics (its normalized type, when a handler
// wants it) and logs (its own id).
func (d *Dispatcher) label(e Event) (typ, id string) {
	if d.Handles(e.Type) {
		typ = string(e.Type)
	}
	return typ, e.ID
}

package outbox

import (
	"go.uber.org/fx"

	"usersvc/platform/asyncapi"
	"usersvc/platform/config"
	"usersvc/platform/openapi"
)

// DocumentModule adds the published events to the AsyncAPI document of `usersvc serve`.
var DocumentModule = fx.Module("outbox-asyncapi", fx.Provide(asyncapi.AsFragment(AsyncAPI)))

// eventsChannel is the AsyncAPI channel of USERSVC_EVENTS_EXCHANGE.
const eventsChannel = "usersvcEvents"

// dataFields gives each routing key the field of data beside auth_user_id
// and its schema; the objects are the API's own (the OpenAPI schemas).
var dataFields = map[string]struct {
	name   string
	schema openapi.Object
}{
	BadgeAwarded:  {"badge", asyncapi.SchemaRef("Badge")},
	GoalCreated:   {"goal", asyncapi.SchemaRef("Goal")},
	GoalUpdated:   {"goal", asyncapi.SchemaRef("Goal")},
	GoalCompleted: {"goal", asyncapi.SchemaRef("Goal")},
	GoalDeleted:   {"goal_id", openapi.Object{"type": "integer", "minimum": 1}},
	GoalCheckedIn: {"check_in", asyncapi.SchemaRef("CheckIn")},
}

// AsyncAPI is the published part of the AsyncAPI document (CONTRACT §4b).
func AsyncAPI(cfg config.Config) asyncapi.Fragment {
	channelMessages, opMessages, messages := openapi.Object{}, []any{}, openapi.Object{}
	for _, key := range Keys {
		name := EventType(key)
		channelMessages[name] = asyncapi.MessageRef(name)
		opMessages = append(opMessages, asyncapi.ChannelMessageRef(eventsChannel, name))
		messages[name] = openapi.Object{
			"name": key, "title": name, "contentType": "application/json",
			"summary":  "Routing key `" + key + "`.",
			"payload":  envelopeSchema(key),
			"bindings": openapi.Object{"amqp": openapi.Object{"messageType": name}},
		}
	}
	return asyncapi.Fragment{
		Servers: asyncapi.BrokerServer(),
		Channels: openapi.Object{eventsChannel: openapi.Object{
			"address":     cfg.EventsExchange,
			"title":       "usersvc events (USERSVC_EVENTS_EXCHANGE)",
			"description": "usersvc's durable topic exchange, declared by `usersvc consume`.",
			"servers":     []any{asyncapi.BrokerRef()},
			"messages":    channelMessages,
			"bindings": openapi.Object{"amqp": openapi.Object{
				"is":       "routingKey",
				"exchange": openapi.Object{"name": cfg.EventsExchange, "type": "topic", "durable": true, "autoDelete": false},
			}},
		}},
		Operations: openapi.Object{"sendUsersvcEvents": openapi.Object{
			"action":  "send",
			"channel": asyncapi.ChannelRef(eventsChannel),
			"summary": "`usersvc consume` publishes each committed change from the transactional outbox.",
			"description": "At least once, with publisher confirms; one user's events in the order of their commits; consumers deduplicate by `event_id`. " +
				"AMQP properties: persistent, `content_type` `application/json`, `message_id` = `event_id`, `type` = `event_type`, `timestamp`.",
			"messages": opMessages,
			"bindings": openapi.Object{"amqp": openapi.Object{"cc": openapi.Strings(Keys...), "deliveryMode": 2}},
		}},
		Messages: messages,
	}
}

// envelopeSchema is exactly {event_id, event_type, occurred_at, data} of one routing key.
func envelopeSchema(key string) openapi.Object {
	field := dataFields[key]
	return openapi.Object{
		"type": "object", "additionalProperties": false,
		"required": openapi.Strings("event_id", "event_type", "occurred_at", "data"),
		"properties": openapi.Object{
			"event_id":    openapi.Object{"type": "string", "format": "uuid"},
			"event_type":  openapi.Object{"const": EventType(key)},
			"occurred_at": openapi.Object{"type": "string", "format": "date-time"},
			"data": openapi.Object{
				"type": "object", "additionalProperties": false,
				"required": openapi.Strings("auth_user_id", field.name),
				"properties": openapi.Object{
					"auth_user_id": asyncapi.SchemaRef("AuthUserID"),
					field.name:     field.schema,
				},
			},
		},
	}
}

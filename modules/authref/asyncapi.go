package authref

import (
	"usersvc/modules/authref/userid"
	"usersvc/platform/asyncapi"
	"usersvc/platform/config"
	"usersvc/platform/openapi"
)

// authChannel is the AsyncAPI channel of the auth-service's exchange.
const authChannel = "authEvents"

// consumedKeys are the routing keys the consumer binds, with their message names.
var consumedKeys = []struct{ key, message string }{
	{"user.created", "UserCreated"},
	{"user.updated", "UserUpdated"},
	{"user.deleted", "UserDeleted"},
}

// AsyncAPI is the consumed part of the AsyncAPI document (CONTRACT §4):
// the auth-service's exchange, what `usersvc consume` receives from it, and
// the tolerant envelope it reads.
func AsyncAPI(cfg config.Config) asyncapi.Fragment {
	channelMessages, opMessages, messages := openapi.Object{}, []any{}, openapi.Object{}
	keys := make([]string, len(consumedKeys))
	for i, k := range consumedKeys {
		keys[i] = k.key
		channelMessages[k.message] = asyncapi.MessageRef(k.message)
		opMessages = append(opMessages, asyncapi.ChannelMessageRef(authChannel, k.message))
		messages[k.message] = openapi.Object{
			"name": k.key, "title": k.message, "contentType": "application/json",
			"summary": "Routing key `" + k.key + "`; the event type may be spelled `" + k.message + "`, `" + k.key + "` or alike (case, `.`, `_` and `-` are ignored).",
			"payload": asyncapi.SchemaRef("AuthEvent"),
		}
	}
	return asyncapi.Fragment{
		Servers: asyncapi.BrokerServer(),
		Channels: openapi.Object{authChannel: openapi.Object{
			"address":     cfg.RabbitMQExchange,
			"title":       "auth-service events (RABBITMQ_EXCHANGE)",
			"description": "The auth-service's durable topic exchange; the consumer binds the durable queue `" + cfg.RabbitMQQueue + "` (RABBITMQ_QUEUE) with the keys of its messages. Poison messages go to `<queue>.dlq`.",
			"servers":     []any{asyncapi.BrokerRef()},
			"messages":    channelMessages,
			"bindings": openapi.Object{"amqp": openapi.Object{
				"is":       "routingKey",
				"exchange": openapi.Object{"name": cfg.RabbitMQExchange, "type": "topic", "durable": true, "autoDelete": false},
			}},
		}},
		Operations: openapi.Object{"receiveAuthEvents": openapi.Object{
			"action":      "receive",
			"channel":     asyncapi.ChannelRef(authChannel),
			"summary":     "`usersvc consume` applies user lifecycle events to its user references.",
			"description": "Acknowledged once applied; an unknown type is acknowledged and counted; unreadable JSON or a missing or invalid user id is dead-lettered.",
			"messages":    opMessages,
			"bindings":    openapi.Object{"amqp": openapi.Object{"cc": openapi.Strings(keys...), "ack": true}},
		}},
		Messages: messages,
		Schemas:  openapi.Object{"AuthEvent": authEventSchema(), "AuthUserFields": userFieldsSchema()},
	}
}

// authEventSchema is the envelope as the tolerant reader takes it: the
// type may come from several fields (or the AMQP properties), the user
// fields from data, payload or the top level.
func authEventSchema() openapi.Object {
	text := openapi.Object{"type": "string"}
	return openapi.Object{
		"type":        "object",
		"description": "The event type comes from `event_type`, `type` or `event`, else the AMQP `type` property, else the routing key. The user fields come from `data` (or `payload`) when it is an object, else from the top level. Other fields are ignored.",
		"properties": openapi.Object{
			"event_type":  text,
			"type":        text,
			"event":       text,
			"event_id":    text,
			"occurred_at": openapi.Object{"type": "string", "format": "date-time"},
			"data":        asyncapi.SchemaRef("AuthUserFields"),
			"payload":     asyncapi.SchemaRef("AuthUserFields"),
		},
	}
}

func userFieldsSchema() openapi.Object {
	id := openapi.Object{"anyOf": []any{
		openapi.Object{"type": "string", "minLength": 1, "maxLength": userid.MaxLen},
		openapi.Object{"type": "integer"},
	}}
	optional := openapi.Object{"type": []any{"string", "null"}}
	return openapi.Object{
		"type":        "object",
		"description": "The user: id from `auth_user_id`, `user_id` or `id` (string or number); `email` and `username` optional (null clears).",
		"properties": openapi.Object{
			"auth_user_id": id, "user_id": id, "id": id,
			"email": optional, "username": optional,
		},
	}
}

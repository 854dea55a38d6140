// Package asyncapi serves GET /asyncapi.json: the AsyncAPI 3.0 description
// of the messages the service receives and sends. Like the OpenAPI
// document, it is assembled once, at start, from the fragments feature
// modules add to the "asyncapi" value group. Message payloads may reference
// the OpenAPI document's schemas ("#/components/schemas/<name>"): those
// referenced are copied in, so a shape is stated once for both documents.
package asyncapi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/fx"

	"usersvc/platform/httpserver"
	"usersvc/platform/openapi"
)

// Path is where the document is served.
const Path = "/asyncapi.json"

// Object is one JSON object of the document.
type Object = openapi.Object

// Fragment is one feature's part of the document. Each map is merged into
// the document's object of the same name (components: messages, schemas).
type Fragment struct {
	Servers, Channels, Operations, Messages, Schemas Object
}

// AsFragment annotates a constructor of a Fragment for the "asyncapi" value group.
func AsFragment(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"asyncapi"`))
}

// MessageRef, ChannelRef and SchemaRef name one object of the document.
func MessageRef(name string) Object { return Object{"$ref": "#/components/messages/" + name} }
func ChannelRef(name string) Object { return Object{"$ref": "#/channels/" + name} }
func SchemaRef(name string) Object  { return Object{"$ref": "#/components/schemas/" + name} }

// ChannelMessageRef names a message of a channel, as operations must.
func ChannelMessageRef(channel, message string) Object {
	return Object{"$ref": "#/channels/" + channel + "/messages/" + message}
}

// BrokerServer is the one AMQP server, named "broker", every channel lives
// on; fragments state it identically.
func BrokerServer() Object {
	return Object{"broker": Object{
		"host": "{host}", "protocol": "amqp", "protocolVersion": "0-9-1",
		"description": "The RabbitMQ broker of RABBITMQ_URL.",
		"variables":   Object{"host": Object{"default": "localhost:5672", "description": "host:port of RABBITMQ_URL"}},
	}}
}

// BrokerRef names BrokerServer in a channel's servers.
func BrokerRef() Object { return Object{"$ref": "#/servers/broker"} }

// Document is the assembled, served document.
type Document struct{ served *openapi.Document }

// Params are what New assembles the document from.
type Params struct {
	fx.In
	Info      openapi.Info
	OpenAPI   *openapi.Document
	Fragments []Fragment `group:"asyncapi"`
}

// Module provides the document, its route and its entry in the OpenAPI
// document; it needs openapi.Module.
var Module = fx.Module("asyncapi",
	fx.Provide(New, httpserver.AsRoutes(Routes), openapi.AsFragment(PathFragment)),
)

// New assembles the document; the OpenAPI document lends its schemas.
func New(p Params) (*Document, error) {
	var oas struct {
		Components struct {
			Schemas Object `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(p.OpenAPI.Bytes(), &oas); err != nil {
		return nil, err
	}
	return Build(p.Info, oas.Components.Schemas, p.Fragments...)
}

// Build assembles the document from the fragments; shared holds the
// schemas their references may name besides their own.
func Build(info openapi.Info, shared Object, fragments ...Fragment) (*Document, error) {
	in := Object{"title": info.Title, "version": info.Version}
	if info.Summary != "" {
		in["description"] = info.Summary
	}
	doc := Object{
		"asyncapi": "3.0.0", "info": in, "defaultContentType": "application/json",
		"servers": Object{}, "channels": Object{}, "operations": Object{},
		"components": Object{"messages": Object{}, "schemas": Object{}},
	}
	components := doc["components"].(Object)
	for _, f := range fragments {
		for _, part := range []struct {
			into Object
			from Object
			what string
		}{
			{doc["servers"].(Object), f.Servers, "server"},
			{doc["channels"].(Object), f.Channels, "channel"},
			{doc["operations"].(Object), f.Operations, "operation"},
			{components["messages"].(Object), f.Messages, "message"},
			{components["schemas"].(Object), f.Schemas, "schema"},
		} {
			if err := mergeNamed(part.into, part.from, part.what); err != nil {
				return nil, err
			}
		}
	}
	if err := lendSchemas(doc, components["schemas"].(Object), shared); err != nil {
		return nil, err
	}
	served, err := openapi.Encode(doc)
	if err != nil {
		return nil, err
	}
	return &Document{served: served}, nil
}

// mergeNamed adds from to into; a name stated twice differently is an error.
func mergeNamed(into, from Object, what string) error {
	for name, v := range from {
		if old, dup := into[name]; dup && !reflect.DeepEqual(old, v) {
			return fmt.Errorf("asyncapi: %s %s is stated twice", what, name)
		}
		into[name] = v
	}
	return nil
}

// lendSchemas copies into schemas every shared schema the document
// references, directly or through another copied schema.
func lendSchemas(doc, schemas, shared Object) error {
	const prefix = "#/components/schemas/"
	pending := refsUnder(doc, prefix)
	for len(pending) > 0 {
		name := pending[0]
		pending = pending[1:]
		if _, ok := schemas[name]; ok {
			continue
		}
		s, ok := shared[name]
		if !ok {
			return fmt.Errorf("asyncapi: schema %s is referenced but stated nowhere", name)
		}
		schemas[name] = s
		pending = append(pending, refsUnder(s, prefix)...)
	}
	return nil
}

// refsUnder lists, sorted, the names of the references under v that start with prefix.
func refsUnder(v any, prefix string) []string {
	var names []string
	var walk func(any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			if ref, ok := t["$ref"].(string); ok && strings.HasPrefix(ref, prefix) {
				names = append(names, strings.TrimPrefix(ref, prefix))
			}
			for _, c := range t {
				walk(c)
			}
		case []any:
			for _, c := range t {
				walk(c)
			}
		}
	}
	walk(v)
	sort.Strings(names)
	return names
}

// Bytes returns the served bytes (a copy).
func (d *Document) Bytes() []byte { return d.served.Bytes() }

// ETag is the strong entity tag the document is served with.
func (d *Document) ETag() string { return d.served.ETag() }

// Routes is GET /asyncapi.json: public, not rate limited, like /openapi.json.
func Routes(d *Document) []httpserver.Route {
	return []httpserver.Route{{Method: fiber.MethodGet, Path: Path, Access: httpserver.Public, Unlimited: true, Handler: d.served.Serve}}
}

// PathFragment documents GET /asyncapi.json in the OpenAPI document.
func PathFragment() openapi.Fragment {
	get := Object{
		"operationId": "getAsyncAPI", "tags": openapi.Strings("operations"), "summary": "The AsyncAPI document",
		"description": "The AsyncAPI 3.0 description of the events the service consumes and publishes. Its strong `ETag` allows conditional requests with `If-None-Match`.",
		"parameters":  []any{openapi.ParameterRef("IfNoneMatch")},
		"responses": openapi.Responses(Object{
			"200": Object{
				"description": "The AsyncAPI document.",
				"headers":     Object{"ETag": openapi.HeaderRef("ETag")},
				"content":     openapi.JSONContent(Object{"type": "object", "required": openapi.Strings("asyncapi", "info")}, nil),
			},
			"304": Object{
				"description": "The document has not changed since the version named by `If-None-Match`.",
				"headers":     Object{"ETag": openapi.HeaderRef("ETag")},
			},
		}, 405),
	}
	return openapi.Fragment{Paths: Object{Path: Object{"get": get}}}
}

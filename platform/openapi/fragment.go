package openapi

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"

	"go.uber.org/fx"
)

// Object is one JSON object of the document.
type Object = map[string]any

// Fragment is one feature's part of the document: its tags, its paths and
// the components it owns. Components of several fragments may reference
// each other by name: the document is checked once it is whole.
type Fragment struct {
	Tags  []Object
	Paths Object
	// Components maps a kind ("schemas", "parameters", "headers",
	// "responses", "securitySchemes") to its named objects.
	Components map[string]Object
}

// AsFragment annotates a constructor of a Fragment for the "openapi" value
// group: fx.Provide(openapi.AsFragment(Fragment)).
func AsFragment(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"openapi"`))
}

// Ref is a local reference to a component.
func Ref(kind, name string) Object { return Object{"$ref": "#/components/" + kind + "/" + name} }

// SchemaRef, ParameterRef, HeaderRef and ResponseRef name one component of their kind.
func SchemaRef(name string) Object    { return Ref("schemas", name) }
func ParameterRef(name string) Object { return Ref("parameters", name) }
func HeaderRef(name string) Object    { return Ref("headers", name) }
func ResponseRef(name string) Object  { return Ref("responses", name) }

// errorResponses names the shared response component of each error status.
var errorResponses = map[int]string{
	400: "BadRequest",
	401: "Unauthorized",
	403: "Forbidden",
	404: "NotFound",
	405: "MethodNotAllowed",
	409: "Conflict",
	412: "PreconditionFailed",
	413: "ContentTooLarge",
	415: "UnsupportedMediaType",
	422: "ValidationFailed",
	429: "TooManyRequests",
	500: "InternalServerError",
	503: "ServiceUnavailable",
}

// Responses is an operation's responses: its own (keyed by status) plus a
// reference to the shared response of each error status listed.
func Responses(own Object, errorStatuses ...int) Object {
	out := Object{}
	for status, name := range own {
		out[status] = name
	}
	for _, status := range errorStatuses {
		name, ok := errorResponses[status]
		if !ok {
			panic(fmt.Sprintf("openapi: no shared response for %d", status))
		}
		out[strconv.Itoa(status)] = ResponseRef(name)
	}
	return out
}

// ProblemSchema is the schema of an RFC 9457 problem of one status; errors
// (the broken field rules) appear on 422 only.
func ProblemSchema(status int) Object {
	s := Object{
		"allOf":      []any{SchemaRef("Problem")},
		"properties": Object{"status": Object{"const": status}, "errors": false},
	}
	if status == 422 {
		s["required"] = []any{"errors"}
		s["properties"] = Object{"status": Object{"const": status}, "errors": Object{"minItems": 1}}
	}
	return s
}

// ProblemResponse is a response of one error status with a problem body.
func ProblemResponse(status int, description string) Object {
	return Object{
		"description": description,
		"content":     Object{"application/problem+json": Object{"schema": ProblemSchema(status)}},
	}
}

// JSONContent is the content of a JSON request or response body; example may be nil.
func JSONContent(schema Object, example any) Object {
	media := Object{"schema": schema}
	if example != nil {
		media["example"] = example
	}
	return Object{"application/json": media}
}

// Strings converts a list of strings to the []any a JSON array of the document holds.
func Strings(values ...string) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	return out
}

// merge adds f to doc; a path operation or a component stated twice
// differently is an error, so two features cannot silently disagree.
func merge(doc Object, f Fragment) error {
	paths := doc["paths"].(Object)
	for path, raw := range f.Paths {
		item := raw.(Object)
		have, ok := paths[path].(Object)
		if !ok {
			have = Object{}
			paths[path] = have
		}
		for key, v := range item {
			if old, dup := have[key]; dup && !reflect.DeepEqual(old, v) {
				return fmt.Errorf("openapi: %s %s is stated twice", path, key)
			}
			have[key] = v
		}
	}
	components := doc["components"].(Object)
	for kind, named := range f.Components {
		group, ok := components[kind].(Object)
		if !ok {
			group = Object{}
			components[kind] = group
		}
		for name, v := range named {
			if old, dup := group[name]; dup && !reflect.DeepEqual(old, v) {
				return fmt.Errorf("openapi: component %s/%s is stated twice", kind, name)
			}
			group[name] = v
		}
	}
	tags := doc["tags"].([]any)
	for _, t := range f.Tags {
		tags = append(tags, t)
	}
	doc["tags"] = tags
	return nil
}

// sortTags orders the tags by name, keeping last the platform's own: the
// fx group gives fragments in no promised order, and the bytes (hence the
// ETag) must not change from one start to the next.
func sortTags(tags []any, last string) {
	sort.SliceStable(tags, func(i, j int) bool {
		a, b := tags[i].(Object)["name"].(string), tags[j].(Object)["name"].(string)
		if (a == last) != (b == last) {
			return b == last
		}
		return a < b
	})
}

// Patterns of the text rules the request decoder applies (httpserver.Body):
// text never holds NUL, and required text is not blank once trimmed.
const (
	NoNULPattern    = `^[^\x00]*$`
	NonBlankPattern = `^[^\x00]*[^\s\x00][^\x00]*$`
)

// bearerSchemeName names the document's one security scheme (base.go).
const bearerSchemeName = "bearerAuth"

// BearerSecurity is the security requirement of a route that needs a token.
func BearerSecurity() []any { return []any{Object{bearerSchemeName: []any{}}} }

// Operation starts an operation of a feature's tag; an empty description is left out.
func Operation(tag, id, summary, description string) Object {
	op := Object{"operationId": id, "tags": Strings(tag), "summary": summary}
	if description != "" {
		op["description"] = description
	}
	return op
}

// Secured marks op as needing the bearer token.
func Secured(op Object) Object {
	op["security"] = BearerSecurity()
	return op
}

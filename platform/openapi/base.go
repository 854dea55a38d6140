package openapi

import (
	"fmt"
	"math"

	"usersvc/platform/auth"
	"usersvc/platform/page"
)

// operationsTag groups the routes every service has: probes, metrics, this document.
const operationsTag = "operations"

// base is the platform's part of the document: the security scheme, the
// shared problem shapes and the probe routes.
func base() Fragment {
	f := Fragment{
		Tags:  []Object{{"name": operationsTag, "description": "Probes, metrics and this document; not rate limited."}},
		Paths: probePaths(),
		Components: map[string]Object{
			"securitySchemes": {bearerSchemeName: bearerScheme()},
			"parameters":      baseParameters(),
			"headers":         baseHeaders(),
			"responses":       baseResponses(),
			"schemas":         baseSchemas(),
		},
	}
	params, headers, responses := idempotencyComponents()
	for name, v := range params {
		f.Components["parameters"][name] = v
	}
	for name, v := range headers {
		f.Components["headers"][name] = v
	}
	for name, v := range responses {
		f.Components["responses"][name] = v
	}
	return f
}

func bearerScheme() Object {
	return Object{
		"type":         "http",
		"scheme":       "bearer",
		"bearerFormat": "JWT",
		"description": fmt.Sprintf("A JWT signed with the shared `SECRET_KEY` (HMAC): %s by default; HS384/HS512 only when `JWT_ALGORITHMS` lists them; any other algorithm is refused. "+
			"The user id is the claim named by `JWT_SUBJECT_CLAIM` (default `%s`; a JSON number becomes its decimal string). "+
			"`exp` is required, `nbf` and `iat` are honoured with a leeway (default 30 s), `iss`/`aud` are checked when configured. "+
			"A token whose `scope` (space-separated) or `scopes` (array) contains the admin scope (default `%s`) may write on any user's resources. "+
			"A missing, malformed, expired or badly signed token, or the token of a deleted user, is 401 with a `WWW-Authenticate: Bearer …` challenge (RFC 6750); a valid token of another user is 403.",
			auth.DefaultAlgorithm, auth.DefaultSubjectClaim, auth.DefaultAdminScope),
	}
}

func baseParameters() Object {
	return Object{
		"Limit": Object{
			"name": "limit", "in": "query", "required": false,
			"description": fmt.Sprintf("Items per page; outside 1–%d is 400 (never clamped).", page.MaxLimit),
			"schema":      Object{"type": "integer", "minimum": 1, "maximum": page.MaxLimit, "default": page.DefaultLimit},
		},
		"Cursor": Object{
			"name": "cursor", "in": "query", "required": false,
			"description": "Opaque position from the previous page's `Link`; bound to its user and filter: a malformed cursor, or one of another list, is 400.",
			"schema":      Object{"type": "string", "minLength": 1, "maxLength": page.MaxCursorLen},
		},
		"IfNoneMatch": Object{
			"name": "If-None-Match", "in": "header", "required": false,
			"description": "The `ETag` of a copy the client holds; 304 when it is current.",
			"schema":      Object{"type": "string"},
		},
	}
}

func baseHeaders() Object {
	return Object{
		"ETag": Object{
			"description": "The strong, quoted entity tag of the representation (RFC 9110).",
			"required":    true,
			"schema":      Object{"type": "string", "pattern": `^"[\x21\x23-\x7e]+"$`},
		},
		"RetryAfter": Object{
			"description": "Seconds to wait before retrying.",
			"required":    true,
			"schema":      Object{"type": "integer", "minimum": 1},
		},
		"WWWAuthenticate": Object{
			"description": "An RFC 6750 Bearer challenge, e.g. `Bearer realm=\"usersvc\", error=\"invalid_token\", error_description=\"token expired\"`.",
			"required":    true,
			"schema":      Object{"type": "string", "pattern": "^Bearer( |$)"},
		},
		"Allow": Object{
			"description": "The methods the path supports.",
			"required":    true,
			"schema":      Object{"type": "string", "pattern": "^[A-Z]+(, [A-Z]+)*$"},
		},
	}
}

func withHeader(response Object, name, component string) Object {
	response["headers"] = Object{name: HeaderRef(component)}
	return response
}

func withExample(response Object, example Object) Object {
	response["content"].(Object)["application/problem+json"].(Object)["example"] = example
	return response
}

func baseResponses() Object {
	return Object{
		"BadRequest": withExample(ProblemResponse(400, "Malformed JSON (an empty body, trailing data after the value, or a body that is not a JSON object included), a malformed path id, a bad query parameter, a bad cursor or a malformed `Idempotency-Key`."),
			Object{"type": "https://usersvc.dev/problems/bad-request", "title": "Bad Request", "status": 400, "detail": page.ErrLimit.Error()}),
		"MethodNotAllowed": withHeader(ProblemResponse(405, "The path exists but does not support the request's method; `Allow` lists those it does. OpenAPI attaches responses to operations only, so this answer to the path's *other* methods is listed on each of its operations."),
			"Allow", "Allow"),
		"ContentTooLarge":      ProblemResponse(413, "The body is larger than `HTTP_BODY_LIMIT` (default 65536 bytes)."),
		"UnsupportedMediaType": ProblemResponse(415, "The body is not `application/json` (a `charset` other than UTF-8 included)."),
		"ValidationFailed": withExample(ProblemResponse(422, "A well-formed JSON object whose fields break a rule: a missing, unknown, read-only, duplicated or wrongly typed field, or a value out of its range. `errors` lists every broken rule. On a POST, an `Idempotency-Key` reused for a different request (its one entry names the header)."),
			Object{"type": "https://usersvc.dev/problems/validation-failed", "title": "Unprocessable Entity", "status": 422,
				"detail": "the request body breaks one or more field rules", "errors": []any{Object{"field": "title", "message": "must not be empty"}}}),
		"TooManyRequests": withHeader(ProblemResponse(429, "Over `RATE_LIMIT_PER_MINUTE` for this client (the token's user when authenticated, else the address)."),
			"Retry-After", "RetryAfter"),
		"InternalServerError": ProblemResponse(500, "An unexpected failure; the body never carries internals."),
	}
}

func baseSchemas() Object {
	return Object{
		"ResourceID": Object{"type": "integer", "format": "int64", "minimum": 1, "maximum": int64(math.MaxInt64)},
		"Timestamp": Object{
			"description": "RFC 3339 in UTC with a `Z`, microsecond precision.",
			"type":        "string",
			"format":      "date-time",
			"pattern":     `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$`,
			"examples":    Strings("2024-05-01T12:00:00.000000Z"),
		},
		"Health": Object{
			"type": "object", "additionalProperties": false, "required": Strings("status"),
			"properties": Object{"status": Object{"const": "ok"}},
		},
		"ReadinessChecks": Object{
			"description":          "One member per dependency.",
			"type":                 "object",
			"required":             Strings("database"),
			"additionalProperties": Object{"type": "string", "enum": Strings("ok", "unavailable")},
		},
		"Readiness": Object{
			"type": "object", "additionalProperties": false, "required": Strings("status", "checks"),
			"properties": Object{"status": Object{"const": "ready"}, "checks": SchemaRef("ReadinessChecks")},
		},
		"FieldError": Object{
			"type": "object", "additionalProperties": false, "required": Strings("field", "message"),
			"properties": Object{
				"field":   Object{"type": "string", "description": "The body field (or `body` for the object as a whole)."},
				"message": Object{"type": "string"},
			},
		},
		"ProblemFields": Object{
			"description": "The members of an RFC 9457 problem this service sends.",
			"type":        "object",
			"required":    Strings("type", "title", "status"),
			"properties": Object{
				"type":   Object{"type": "string", "format": "uri-reference", "examples": Strings("https://usersvc.dev/problems/not-found")},
				"title":  Object{"type": "string", "minLength": 1},
				"status": Object{"type": "integer", "minimum": 400, "maximum": 599},
				"detail": Object{"type": "string"},
				"errors": Object{"description": "Only on 422: every broken field rule.", "type": "array", "items": SchemaRef("FieldError")},
			},
		},
		"Problem": Object{
			"description":           "An RFC 9457 problem (`application/problem+json`).",
			"allOf":                 []any{SchemaRef("ProblemFields")},
			"unevaluatedProperties": false,
		},
		"ReadinessProblem": Object{
			"description": "A 503 problem that keeps the readiness `checks`.",
			"allOf":       []any{SchemaRef("ProblemFields")},
			"required":    Strings("checks"),
			"properties": Object{
				"status": Object{"const": 503},
				"errors": false,
				"checks": SchemaRef("ReadinessChecks"),
			},
			"unevaluatedProperties": false,
		},
	}
}

func probeOperation(id, summary, description string, responses Object) Object {
	return Object{"get": Object{
		"operationId": id, "tags": Strings(operationsTag), "summary": summary, "description": description,
		"responses": responses,
	}}
}

func probePaths() Object {
	notAllowed := func(own Object) Object { return Responses(own, 405) }
	return Object{
		"/health": probeOperation("getHealth", "Liveness", "The process is alive; says nothing about its dependencies (see `/ready`).",
			notAllowed(Object{"200": Object{"description": "The process is alive.", "content": JSONContent(SchemaRef("Health"), nil)}})),
		"/ready": probeOperation("getReadiness", "Readiness", "Ready when every dependency answers (today: the database).",
			notAllowed(Object{
				"200": Object{"description": "Every dependency answers.",
					"content": JSONContent(SchemaRef("Readiness"), Object{"status": "ready", "checks": Object{"database": "ok"}})},
				"503": Object{
					"description": "A dependency does not answer; `checks` tells which.",
					"headers":     Object{"Retry-After": HeaderRef("RetryAfter")},
					"content": Object{"application/problem+json": Object{
						"schema": SchemaRef("ReadinessProblem"),
						"example": Object{"type": "https://usersvc.dev/problems/dependency-unavailable", "title": "Service Unavailable", "status": 503,
							"detail": "a dependency is not ready", "checks": Object{"database": "unavailable"}},
					}},
				},
			})),
		"/metrics": probeOperation("getMetrics", "Prometheus metrics",
			"Prometheus text exposition format: `http_requests_total` and `http_request_duration_seconds` by method and route pattern, Go runtime and process metrics.",
			notAllowed(Object{"200": Object{"description": "The metrics.", "content": Object{"text/plain": Object{"schema": Object{"type": "string"}}}}})),
		Path: documentPath(),
	}
}

func documentPath() Object {
	item := probeOperation("getOpenAPI", "This document",
		"The OpenAPI 3.1 description of every route. Its strong `ETag` allows conditional requests with `If-None-Match`.",
		Responses(Object{
			"200": Object{
				"description": "The OpenAPI document.",
				"headers":     Object{"ETag": HeaderRef("ETag")},
				"content":     JSONContent(Object{"type": "object", "required": Strings("openapi", "info", "paths")}, nil),
			},
			"304": Object{
				"description": "The document has not changed since the version named by `If-None-Match`.",
				"headers":     Object{"ETag": HeaderRef("ETag")},
			},
		}, 405))
	item["get"].(Object)["parameters"] = []any{ParameterRef("IfNoneMatch")}
	return item
}

package openapi

import "strings"

// KeyInProgress describes the 409 of an Idempotency-Key whose first request
// still runs; an operation with a 409 of its own adds it to its description.
const KeyInProgress = "Or a request with the same `Idempotency-Key` is still in progress (with `Retry-After: 1`)."

// idempotencyComponents are the shared parts of Idempotent (CONTRACT §3).
func idempotencyComponents() (parameters, headers, responses Object) {
	parameters = Object{"IdempotencyKey": Object{
		"name": "Idempotency-Key", "in": "header", "required": false,
		"description": "Makes the POST safe to repeat: 1–255 visible ASCII characters, bare or as a structured-field string (`\"abc\"` and `abc` are one key), else 400. " +
			"Scoped to the token's subject, the method and the path. A repeat within 24 hours of a request that succeeded answers its stored status, body, " +
			"`Content-Type`, `Location` and `ETag` with `Idempotent-Replayed: true` and changes nothing; the same key with a different body " +
			"(white space and member order aside) is 422; while the first request runs, 409. A request that failed stores nothing.",
		"schema": Object{"type": "string", "minLength": 1, "maxLength": 257},
	}}
	headers = Object{"IdempotentReplayed": Object{
		"description": "`true` on an answer replayed for a repeated `Idempotency-Key`; absent otherwise.",
		"schema":      Object{"type": "string", "const": "true"},
	}}
	inProgress := ProblemResponse(409, "A request with the same `Idempotency-Key` is still in progress: retry after `Retry-After` seconds.")
	inProgress["headers"] = Object{"Retry-After": RetryAfterOptional()}
	responses = Object{"IdempotencyKeyInProgress": inProgress}
	return parameters, headers, responses
}

// RetryAfterOptional is the Retry-After a 409 carries only when it passes.
func RetryAfterOptional() Object {
	return Object{"description": "Seconds to wait before retrying: present on the 409 of an `Idempotency-Key` in progress.",
		"schema": Object{"type": "integer", "minimum": 1}}
}

// Idempotent documents an operation's Idempotency-Key: the header, the
// replay marker on its successes, and the 409 of a key in progress (an
// operation with its own 409 mentions KeyInProgress and keeps it).
func Idempotent(op Object) Object {
	params, _ := op["parameters"].([]any)
	op["parameters"] = append(params, ParameterRef("IdempotencyKey"))
	responses := op["responses"].(Object)
	for status, r := range responses {
		if res, ok := r.(Object); ok && strings.HasPrefix(status, "2") {
			headers, _ := res["headers"].(Object)
			if headers == nil {
				headers = Object{}
			}
			headers["Idempotent-Replayed"] = HeaderRef("IdempotentReplayed")
			res["headers"] = headers
		}
	}
	if own, ok := responses["409"].(Object); ok && own["$ref"] == nil {
		own["headers"] = Object{"Retry-After": RetryAfterOptional()}
	} else if !ok {
		responses["409"] = ResponseRef("IdempotencyKeyInProgress")
	}
	return op
}

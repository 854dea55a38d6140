package badges

import (
	"fmt"
	"time"

	"usersvc/modules/authref"
	"usersvc/platform/openapi"
	"usersvc/platform/page"
)

const tag = "badges"

// Fragment is the badges feature's part of the OpenAPI document, built from
// the field rules of badge.go.
func Fragment() openapi.Fragment {
	return openapi.Fragment{
		Tags: []openapi.Object{{"name": tag, "description": "Badges a user earned; awarded by the user or by a service holding the admin scope."}},
		Paths: openapi.Object{
			"/users/{auth_user_id}/badges": openapi.Object{
				"parameters": []any{authref.UserParam},
				"get":        listOperation(),
				"post":       createOperation(),
			},
			"/users/{auth_user_id}/badges/{badge_id}": openapi.Object{
				"parameters": []any{authref.UserParam, openapi.ParameterRef("BadgeID")},
				"get":        getOperation(),
			},
		},
		Components: map[string]openapi.Object{
			"schemas": {
				"Badge":       badgeSchema(),
				"BadgeList":   openapi.Object{"type": "array", "items": openapi.SchemaRef("Badge"), "maxItems": page.MaxLimit},
				"BadgeName":   nameSchema(),
				"BadgeCreate": createSchema(),
			},
			"parameters": {"BadgeID": openapi.Object{
				"name": "badge_id", "in": "path", "required": true,
				"description": "The badge's id: a positive integer without sign or leading zeros; anything else is 400.",
				"schema":      openapi.SchemaRef("ResourceID"),
			}},
			"responses": {"Conflict": conflictResponse()},
		},
	}
}

func badgeSchema() openapi.Object {
	return openapi.Object{
		"type": "object", "additionalProperties": false,
		"required": openapi.Strings("id", "auth_user_id", "name", "description", "icon_url", "date_achieved", "created_at"),
		"properties": openapi.Object{
			"id":            openapi.SchemaRef("ResourceID"),
			"auth_user_id":  authref.UserSchema,
			"name":          openapi.Object{"type": "string"},
			"description":   openapi.Object{"type": "string"},
			"icon_url":      openapi.Object{"type": openapi.Strings("string", "null")},
			"date_achieved": openapi.SchemaRef("Timestamp"),
			"created_at":    openapi.SchemaRef("Timestamp"),
		},
	}
}

func nameSchema() openapi.Object {
	return openapi.Object{
		"description": fmt.Sprintf("1–%d characters after trimming surrounding white space; no NUL.", MaxName),
		"type":        "string",
		"minLength":   1,
		"maxLength":   MaxName,
		"pattern":     openapi.NonBlankPattern,
	}
}

func createSchema() openapi.Object {
	return openapi.Object{
		"description":          "A badge to award. Unknown and read-only fields (`id`, `auth_user_id`, `created_at`), wrong types and duplicated keys are 422.",
		"type":                 "object",
		"additionalProperties": false,
		"required":             openapi.Strings("name"),
		"properties": openapi.Object{
			"name": openapi.SchemaRef("BadgeName"),
			"description": openapi.Object{
				"description": fmt.Sprintf("At most %d characters after trimming; no NUL; `null` is refused.", MaxDescription),
				"type":        "string",
				"maxLength":   MaxDescription,
				"pattern":     openapi.NoNULPattern,
				"default":     "",
			},
			"icon_url": openapi.Object{
				"description": fmt.Sprintf("Absent or `null` for none, else an absolute `http` or `https` URL of at most %d characters (`\"\"` is refused).", MaxIconURL),
				"type":        openapi.Strings("string", "null"),
				"format":      "uri",
				"maxLength":   MaxIconURL,
				"pattern":     `^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\s\x00]+[^\x00]*$`,
				"default":     nil,
			},
			"date_achieved": openapi.Object{
				"description": fmt.Sprintf("RFC 3339 with a zone; default now; not in the future (%s of clock skew allowed).", skew()),
				"type":        "string",
				"format":      "date-time",
			},
		},
	}
}

// skew words ClockSkew for the document ("5 minutes").
func skew() string {
	if ClockSkew%time.Minute == 0 {
		return fmt.Sprintf("%d minutes", int(ClockSkew.Minutes()))
	}
	return ClockSkew.String()
}

var example = openapi.Object{
	"id": 17, "auth_user_id": "42", "name": "First Steps", "description": "", "icon_url": nil,
	"date_achieved": "2024-05-01T12:00:00.000000Z", "created_at": "2024-05-01T12:00:00.000000Z",
}

func listOperation() openapi.Object {
	return openapi.Object{
		"operationId": "listBadges",
		"tags":        openapi.Strings(tag),
		"summary":     "A user's badges, newest first",
		"description": "Ordered by `date_achieved`, newest first, ties by id descending. An unknown user is 404; a known user without badges is `[]`.",
		"parameters":  []any{openapi.ParameterRef("Limit"), openapi.ParameterRef("Cursor")},
		"responses": openapi.Responses(openapi.Object{"200": openapi.Object{
			"description": "One page of badges.",
			"headers":     openapi.Object{"Link": openapi.HeaderRef("Link")},
			"content":     openapi.JSONContent(openapi.SchemaRef("BadgeList"), []any{example}),
		}}, 400, 404, 405, 429, 500, 503),
	}
}

func createOperation() openapi.Object {
	return openapi.Idempotent(openapi.Object{
		"operationId": "createBadge",
		"tags":        openapi.Strings(tag),
		"summary":     "Award a badge",
		"description": "By the user named in the path or by an admin token (service-to-service awarding). Names are unique per user, compared as PostgreSQL's `lower()` compares them: a second badge of the same name is 409.",
		"security":    openapi.BearerSecurity(),
		"requestBody": openapi.Object{
			"required": true,
			"content": openapi.JSONContent(openapi.SchemaRef("BadgeCreate"),
				openapi.Object{"name": "First Steps", "icon_url": "https://cdn.example.com/badges/first-steps.png"}),
		},
		"responses": openapi.Responses(openapi.Object{"201": openapi.Object{
			"description": "The badge was awarded.",
			"headers":     openapi.Object{"Location": authref.LocationHeader("badges")},
			"content":     openapi.JSONContent(openapi.SchemaRef("Badge"), nil),
		}}, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503),
	})
}

func getOperation() openapi.Object {
	return openapi.Object{
		"operationId": "getBadge",
		"tags":        openapi.Strings(tag),
		"summary":     "One badge of a user",
		"description": "Another user's badge is 404, as an unknown one.",
		"responses": openapi.Responses(openapi.Object{"200": openapi.Object{
			"description": "The badge.",
			"content":     openapi.JSONContent(openapi.SchemaRef("Badge"), nil),
		}}, 400, 404, 405, 429, 500, 503),
	}
}

// conflictResponse is the 409 of createBadge: the name, or its Idempotency-Key in use.
func conflictResponse() openapi.Object {
	r := openapi.ProblemResponse(409,
		"The user already has a badge of this name (names compare case-insensitively, as PostgreSQL's `lower()`). "+openapi.KeyInProgress)
	r["headers"] = openapi.Object{"Retry-After": openapi.RetryAfterOptional()}
	return r
}

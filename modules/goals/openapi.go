package goals

import (
	"fmt"

	"usersvc/modules/authref"
	"usersvc/platform/openapi"
	"usersvc/platform/page"
)

const tag = "goals"

// Fragment is the goals feature's part of the OpenAPI document, built from
// the field rules and statuses of goal.go.
func Fragment() openapi.Fragment {
	return openapi.Fragment{
		Tags: []openapi.Object{{"name": tag, "description": "Learning goals with status, streak and optimistic concurrency (ETag / If-Match)."}},
		Paths: openapi.Object{
			"/users/{auth_user_id}/goals": openapi.Object{
				"parameters": []any{authref.UserParam},
				"get":        listOperation(),
				"post":       createOperation(),
			},
			"/users/{auth_user_id}/goals/{goal_id}": openapi.Object{
				"parameters": []any{authref.UserParam, openapi.ParameterRef("GoalID")},
				"get":        getOperation(),
				"put":        updateOperation(),
				"delete":     deleteOperation(),
			},
		},
		Components: map[string]openapi.Object{
			"schemas":    schemas(),
			"parameters": parameters(),
			"responses": {"PreconditionFailed": openapi.ProblemResponse(412,
				"`If-Match` does not match the goal's current `ETag`; nothing was changed.")},
		},
	}
}

func schemas() openapi.Object {
	writable := func() openapi.Object {
		return openapi.Object{
			"title":        openapi.SchemaRef("GoalTitle"),
			"description":  openapi.SchemaRef("GoalDescription"),
			"status":       openapi.SchemaRef("GoalStatus"),
			"streak_count": openapi.SchemaRef("StreakCount"),
		}
	}
	create := writable()
	create["description"] = withDefault(create["description"], "")
	create["status"] = withDefault(create["status"], StatusInProgress)
	create["streak_count"] = withDefault(create["streak_count"], 0)
	return openapi.Object{
		"GoalStatus": openapi.Object{"type": "string", "enum": openapi.Strings(statuses...)},
		"Goal":       goalSchema(),
		"GoalList":   openapi.Object{"type": "array", "items": openapi.SchemaRef("Goal"), "maxItems": page.MaxLimit},
		"GoalTitle": openapi.Object{
			"description": fmt.Sprintf("1–%d characters after trimming surrounding white space; no NUL.", MaxTitle),
			"type":        "string", "minLength": 1, "maxLength": MaxTitle, "pattern": openapi.NonBlankPattern,
		},
		"GoalDescription": openapi.Object{
			"description": fmt.Sprintf("At most %d characters after trimming; no NUL; `null` is refused.", MaxDescription),
			"type":        "string", "maxLength": MaxDescription, "pattern": openapi.NoNULPattern,
		},
		"StreakCount": openapi.Object{
			"description": "An integer written without fraction or exponent.",
			"type":        "integer", "minimum": 0, "maximum": MaxStreak,
		},
		"GoalCreate": openapi.Object{
			"description":          "A goal to create. Unknown and read-only fields (`id`, `auth_user_id`, `created_at`, `updated_at`, `completed_at`), wrong types and duplicated keys are 422.",
			"type":                 "object",
			"additionalProperties": false,
			"required":             openapi.Strings("title"),
			"properties":           create,
		},
		"GoalUpdate": openapi.Object{
			"description":          "Any non-empty subset of the writable fields; an empty object is 422, as are unknown and read-only fields, wrong types and duplicated keys.",
			"type":                 "object",
			"additionalProperties": false,
			"minProperties":        1,
			"properties":           writable(),
		},
	}
}

func withDefault(ref any, value any) openapi.Object {
	o := openapi.Object{"default": value}
	for k, v := range ref.(openapi.Object) {
		o[k] = v
	}
	return o
}

func goalSchema() openapi.Object {
	return openapi.Object{
		"type": "object", "additionalProperties": false,
		"required": openapi.Strings("id", "auth_user_id", "title", "description", "status", "streak_count", "created_at", "updated_at", "completed_at"),
		"properties": openapi.Object{
			"id":           openapi.SchemaRef("ResourceID"),
			"auth_user_id": authref.UserSchema,
			"title":        openapi.Object{"type": "string"},
			"description":  openapi.Object{"type": "string"},
			"status":       openapi.SchemaRef("GoalStatus"),
			"streak_count": openapi.Object{"type": "integer", "minimum": 0, "maximum": MaxStreak},
			"created_at":   openapi.SchemaRef("Timestamp"),
			"updated_at":   openapi.SchemaRef("Timestamp"),
			"completed_at": openapi.Object{
				"description": fmt.Sprintf("When the goal became `%s`; null in every other status.", StatusCompleted),
				"anyOf":       []any{openapi.SchemaRef("Timestamp"), openapi.Object{"type": "null"}},
			},
		},
	}
}

func parameters() openapi.Object {
	return openapi.Object{
		"GoalID": openapi.Object{
			"name": "goal_id", "in": "path", "required": true,
			"description": "The goal's id: a positive integer without sign or leading zeros; anything else is 400.",
			"schema":      openapi.SchemaRef("ResourceID"),
		},
		"GoalStatusFilter": openapi.Object{
			"name": "status", "in": "query", "required": false,
			"description": "Only goals of this status; an unknown status is 400.",
			"schema":      openapi.SchemaRef("GoalStatus"),
		},
		"IfMatch": openapi.Object{
			"name": "If-Match", "in": "header", "required": false,
			"description": "Optional precondition (RFC 9110): `*` or a comma-separated list of strong entity tags from `ETag`. When sent and the goal's current `ETag` is not among them (weak tags never match), the request fails with 412 and changes nothing.",
			"schema":      openapi.Object{"type": "string", "examples": openapi.Strings(`"3"`, "*")},
		},
	}
}

func goalResponse(description string, headers openapi.Object) openapi.Object {
	return openapi.Object{"description": description, "headers": headers, "content": openapi.JSONContent(openapi.SchemaRef("Goal"), nil)}
}

var etagHeader = openapi.Object{"ETag": openapi.HeaderRef("ETag")}

func operation(id, summary, description string) openapi.Object {
	op := openapi.Object{"operationId": id, "tags": openapi.Strings(tag), "summary": summary}
	if description != "" {
		op["description"] = description
	}
	return op
}

func secured(op openapi.Object) openapi.Object {
	op["security"] = []any{openapi.Object{"bearerAuth": []any{}}}
	return op
}

func listOperation() openapi.Object {
	op := operation("listGoals", "A user's learning goals, newest first",
		"Ordered by `created_at`, newest first, ties by id descending; optionally filtered by `status`. The next-page link keeps the filter. An unknown user is 404; a known user without goals is `[]`.")
	op["parameters"] = []any{openapi.ParameterRef("Limit"), openapi.ParameterRef("Cursor"), openapi.ParameterRef("GoalStatusFilter")}
	op["responses"] = openapi.Responses(openapi.Object{"200": openapi.Object{
		"description": "One page of goals.",
		"headers":     openapi.Object{"Link": openapi.HeaderRef("Link")},
		"content": openapi.JSONContent(openapi.SchemaRef("GoalList"), []any{openapi.Object{
			"id": 9, "auth_user_id": "42", "title": "Learn Go", "description": "", "status": StatusInProgress, "streak_count": 0,
			"created_at": "2024-05-01T12:00:00.000000Z", "updated_at": "2024-05-01T12:00:00.000000Z", "completed_at": nil,
		}}),
	}}, 400, 404, 405, 429, 500, 503)
	return op
}

func createOperation() openapi.Object {
	op := secured(operation("createGoal", "Create a learning goal",
		fmt.Sprintf("By the user named in the path or by an admin token. `completed_at` is set when the goal is created `%s`.", StatusCompleted)))
	op["requestBody"] = openapi.Object{"required": true,
		"content": openapi.JSONContent(openapi.SchemaRef("GoalCreate"), openapi.Object{"title": "Learn Go", "status": StatusNotStarted})}
	op["responses"] = openapi.Responses(openapi.Object{
		"201": goalResponse("The goal was created.", openapi.Object{"Location": authref.LocationHeader("goals"), "ETag": openapi.HeaderRef("ETag")}),
	}, 400, 401, 403, 404, 405, 413, 415, 422, 429, 500, 503)
	return op
}

func getOperation() openapi.Object {
	op := operation("getGoal", "One learning goal", "Another user's goal is 404, as an unknown one. The `ETag` is the value to send in `If-Match`.")
	op["responses"] = openapi.Responses(openapi.Object{"200": goalResponse("The goal.", etagHeader)}, 400, 404, 405, 429, 500, 503)
	return op
}

func updateOperation() openapi.Object {
	op := secured(operation("updateGoal", "Update a learning goal (partial)",
		fmt.Sprintf("Sets any non-empty subset of `title`, `description`, `status`, `streak_count`; the other fields keep their values. `completed_at` is set when the goal becomes `%s` and cleared when it leaves it. Every successful update changes the `ETag`.", StatusCompleted)))
	op["parameters"] = []any{openapi.ParameterRef("IfMatch")}
	op["requestBody"] = openapi.Object{"required": true,
		"content": openapi.JSONContent(openapi.SchemaRef("GoalUpdate"), openapi.Object{"status": StatusCompleted, "streak_count": 8})}
	op["responses"] = openapi.Responses(openapi.Object{"200": goalResponse("The updated goal.", etagHeader)},
		400, 401, 403, 404, 405, 412, 413, 415, 422, 429, 500, 503)
	return op
}

func deleteOperation() openapi.Object {
	op := secured(operation("deleteGoal", "Delete a learning goal", ""))
	op["parameters"] = []any{openapi.ParameterRef("IfMatch")}
	op["responses"] = openapi.Responses(openapi.Object{"204": openapi.Object{"description": "The goal was deleted."}},
		400, 401, 403, 404, 405, 412, 429, 500, 503)
	return op
}

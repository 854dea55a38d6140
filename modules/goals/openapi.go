package goals

import (
	"fmt"
	"strings"
	"time"

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
			"/users/{auth_user_id}/goals/{goal_id}/check-ins": openapi.Object{
				"parameters": []any{authref.UserParam, openapi.ParameterRef("GoalID")},
				"get":        listCheckInsOperation(),
				"post":       createCheckInOperation(),
			},
			"/users/{auth_user_id}/goals/{goal_id}/check-ins/{check_in_id}": openapi.Object{
				"parameters": []any{authref.UserParam, openapi.ParameterRef("GoalID"), openapi.ParameterRef("CheckInID")},
				"delete":     deleteCheckInOperation(),
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
	out := openapi.Object{
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
			"description": "An integer written without fraction or exponent: a streak carried over from before check-ins. Writable only while the goal has no check-in; once it has one, its streak is derived from its check-ins and writing `streak_count` is 422.",
			"type":        "integer", "minimum": 0, "maximum": MaxStreak,
		},
		"GoalCreate": openapi.Object{
			"description":          "A goal to create. Unknown and read-only fields (" + fieldList(readOnly) + "), wrong types and duplicated keys are 422.",
			"type":                 "object",
			"additionalProperties": false,
			"required":             openapi.Strings("title"),
			"properties":           create,
		},
		"GoalUpdate": openapi.Object{
			"description":          "Any non-empty subset of the writable fields; an empty object is 422, as are unknown and read-only fields (" + fieldList(readOnly) + "), wrong types and duplicated keys. `streak_count` is 422 once the goal has a check-in.",
			"type":                 "object",
			"additionalProperties": false,
			"minProperties":        1,
			"properties":           writable(),
		},
	}
	for name, schema := range checkInSchemas() {
		out[name] = schema
	}
	return out
}

// fieldList words a list of field names for a description: `a`, `b`.
func fieldList(names []string) string {
	return "`" + strings.Join(names, "`, `") + "`"
}

// dateSchema is a civil date as the API writes it: YYYY-MM-DD.
func dateSchema(description string) openapi.Object {
	return openapi.Object{"description": description, "type": "string", "format": "date", "pattern": `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`}
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
		"required": openapi.Strings("id", "auth_user_id", "title", "description", "status", "streak_count", "longest_streak", "last_check_in_on",
			"created_at", "updated_at", "completed_at"),
		"properties": openapi.Object{
			"id":           openapi.SchemaRef("ResourceID"),
			"auth_user_id": authref.UserSchema,
			"title":        openapi.Object{"type": "string"},
			"description":  openapi.Object{"type": "string"},
			"status":       openapi.SchemaRef("GoalStatus"),
			"streak_count": openapi.Object{
				"description": "The current streak in days: the run of active days that ends on the user's today or yesterday, else 0. Derived from the check-ins (plus a hand-written streak carried over), so it may exceed what a client may write.",
				"type":        "integer", "minimum": 0,
			},
			"longest_streak": openapi.Object{
				"description": "The longest run of active days ever, at least `streak_count`. Read-only.",
				"type":        "integer", "minimum": 0,
			},
			"last_check_in_on": openapi.Object{
				"description": "The latest `local_date` among the goal's check-ins; null without check-ins. Read-only.",
				"anyOf":       []any{dateSchema("A local date."), openapi.Object{"type": "null"}},
			},
			"created_at": openapi.SchemaRef("Timestamp"),
			"updated_at": openapi.SchemaRef("Timestamp"),
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
		"CheckInID": openapi.Object{
			"name": "check_in_id", "in": "path", "required": true,
			"description": "The check-in's id: a positive integer without sign or leading zeros; anything else is 400.",
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
	return openapi.Operation(tag, id, summary, description)
}

func listOperation() openapi.Object {
	op := operation("listGoals", "A user's learning goals, newest first",
		"Ordered by `created_at`, newest first, ties by id descending; optionally filtered by `status`. The next-page link keeps the filter. An unknown user is 404; a known user without goals is `[]`.")
	op["parameters"] = []any{openapi.ParameterRef("Limit"), openapi.ParameterRef("Cursor"), openapi.ParameterRef("GoalStatusFilter")}
	op["responses"] = openapi.Responses(openapi.Object{"200": openapi.Object{
		"description": "One page of goals.",
		"headers":     openapi.Object{"Link": openapi.HeaderRef("Link")},
		"content": openapi.JSONContent(openapi.SchemaRef("GoalList"), []any{openapi.Object{
			"id": 9, "auth_user_id": "42", "title": "Learn Go", "description": "", "status": StatusInProgress, "streak_count": 5,
			"longest_streak": 12, "last_check_in_on": "2024-05-01", "created_at": "2024-05-01T12:00:00.000000Z", "updated_at": "2024-05-01T12:00:00.000000Z", "completed_at": nil,
		}}),
	}}, 400, 404, 405, 429, 500, 503)
	return op
}

func createOperation() openapi.Object {
	op := openapi.Secured(operation("createGoal", "Create a learning goal",
		fmt.Sprintf("By the user named in the path or by an admin token. `completed_at` is set when the goal is created `%s`.", StatusCompleted)))
	op["requestBody"] = openapi.Object{"required": true,
		"content": openapi.JSONContent(openapi.SchemaRef("GoalCreate"), openapi.Object{"title": "Learn Go", "status": StatusNotStarted})}
	op["responses"] = openapi.Responses(openapi.Object{
		"201": goalResponse("The goal was created.", openapi.Object{"Location": authref.LocationHeader("goals"), "ETag": openapi.HeaderRef("ETag")}),
	}, 400, 401, 403, 404, 405, 413, 415, 422, 429, 500, 503)
	return openapi.Idempotent(op)
}

func getOperation() openapi.Object {
	op := operation("getGoal", "One learning goal", "Another user's goal is 404, as an unknown one. The `ETag` is the value to send in `If-Match`; it changes with every write (PUT, a check-in or its deletion), never because a day passed.")
	op["responses"] = openapi.Responses(openapi.Object{"200": goalResponse("The goal.", etagHeader)}, 400, 404, 405, 429, 500, 503)
	return op
}

func updateOperation() openapi.Object {
	op := openapi.Secured(operation("updateGoal", "Update a learning goal (partial)",
		fmt.Sprintf("Sets any non-empty subset of `title`, `description`, `status`, `streak_count`; the other fields keep their values. `completed_at` is set when the goal becomes `%s` and cleared when it leaves it. `streak_count` may be written only while the goal has no check-in (else 422). Every successful update changes the `ETag`.", StatusCompleted)))
	op["parameters"] = []any{openapi.ParameterRef("IfMatch")}
	op["requestBody"] = openapi.Object{"required": true,
		"content": openapi.JSONContent(openapi.SchemaRef("GoalUpdate"), openapi.Object{"status": StatusCompleted, "streak_count": 8})}
	op["responses"] = openapi.Responses(openapi.Object{"200": goalResponse("The updated goal.", etagHeader)},
		400, 401, 403, 404, 405, 412, 413, 415, 422, 429, 500, 503)
	return op
}

func deleteOperation() openapi.Object {
	op := openapi.Secured(operation("deleteGoal", "Delete a learning goal", "Its check-ins and their activity items go with it."))
	op["parameters"] = []any{openapi.ParameterRef("IfMatch")}
	op["responses"] = openapi.Responses(openapi.Object{"204": openapi.Object{"description": "The goal was deleted."}},
		400, 401, 403, 404, 405, 412, 429, 500, 503)
	return op
}

// checkInSchemas are the check-in's shapes, from the field rules of checkin.go.
func checkInSchemas() openapi.Object {
	return openapi.Object{
		"CheckIn":     checkInSchema(),
		"CheckInList": openapi.Object{"type": "array", "items": openapi.SchemaRef("CheckIn"), "maxItems": page.MaxLimit},
		"CheckInCreate": openapi.Object{
			"description": "A check-in to record; every field is optional (`{}` records one now). Unknown and read-only fields (" +
				fieldList(checkInReadOnly) + "), wrong types and duplicated keys are 422; `null` is 422 for every field but `minutes`.",
			"type":                 "object",
			"additionalProperties": false,
			"properties": openapi.Object{
				"occurred_at": openapi.Object{
					"description": fmt.Sprintf("RFC 3339 with a zone; default now; not in the future (%s of clock skew allowed). "+
						"The owner may record today and yesterday only: a local date older than yesterday (in the check-in's `timezone`, after `day_start_hour`) is 422 on `occurred_at`. "+
						"An admin token may record any past time (an import of history).", skewWords(ClockSkew)),
					"type":   "string",
					"format": "date-time",
				},
				"timezone": withDescription(openapi.SchemaRef("TimeZone"),
					"The zone the device was in; default the user's `timezone` setting. It decides `local_date`, with the user's `day_start_hour`."),
				"minutes": openapi.Object{
					"description": fmt.Sprintf("Time spent: 1–%d, or `null` (the default) for not said.", MaxMinutes),
					"type":        openapi.Strings("integer", "null"), "minimum": 1, "maximum": MaxMinutes, "default": nil,
				},
				"note": openapi.Object{
					"description": fmt.Sprintf("At most %d characters after trimming; no NUL.", MaxNote),
					"type":        "string", "maxLength": MaxNote, "pattern": openapi.NoNULPattern, "default": "",
				},
			},
		},
	}
}

// withDescription is a reference with its own description (OpenAPI 3.1 allows it beside $ref).
func withDescription(ref openapi.Object, description string) openapi.Object {
	return openapi.Object{"$ref": ref["$ref"], "description": description}
}

// skewWords words a duration for the document ("5 minutes").
func skewWords(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	}
	return d.String()
}

func checkInSchema() openapi.Object {
	return openapi.Object{
		"type": "object", "additionalProperties": false,
		"required": openapi.Strings("id", "goal_id", "auth_user_id", "occurred_at", "local_date", "timezone", "minutes", "note",
			"streak_count", "longest_streak", "created_at"),
		"properties": openapi.Object{
			"id":           openapi.SchemaRef("ResourceID"),
			"goal_id":      openapi.SchemaRef("ResourceID"),
			"auth_user_id": authref.UserSchema,
			"occurred_at":  openapi.SchemaRef("Timestamp"),
			"local_date": dateSchema("The date of `occurred_at` in `timezone`, minus the user's `day_start_hour` hours at the time of recording; " +
				"computed once, never changes."),
			"timezone":       openapi.Object{"type": "string", "description": "The IANA zone the check-in was recorded in."},
			"minutes":        openapi.Object{"type": openapi.Strings("integer", "null"), "minimum": 1, "maximum": MaxMinutes},
			"note":           openapi.Object{"type": "string"},
			"streak_count":   openapi.Object{"type": "integer", "minimum": 0, "description": "The goal's current streak right after this check-in."},
			"longest_streak": openapi.Object{"type": "integer", "minimum": 0, "description": "The goal's longest streak right after this check-in."},
			"created_at":     openapi.SchemaRef("Timestamp"),
		},
	}
}

var checkInExample = openapi.Object{
	"id": 31, "goal_id": 9, "auth_user_id": "42", "occurred_at": "2024-05-01T18:30:00.000000Z", "local_date": "2024-05-01",
	"timezone": "Europe/Berlin", "minutes": 25, "note": "", "streak_count": 5, "longest_streak": 12,
	"created_at": "2024-05-01T18:30:00.000000Z",
}

func createCheckInOperation() openapi.Object {
	op := openapi.Secured(operation("createCheckIn", "Record a check-in on a goal",
		fmt.Sprintf("By the user named in the path or by an admin token. A check-in on a `%s` goal moves it to `%s`; on a `%s` or `%s` goal it is 409. "+
			"Several check-ins on one local date count as one active day. The goal's streak, `longest_streak`, `last_check_in_on`, `updated_at` and `ETag` change with it, "+
			"as do the user's own streak and activity feed. `If-Match` is ignored.",
			StatusNotStarted, StatusInProgress, StatusCompleted, StatusAbandoned)))
	op["requestBody"] = openapi.Object{"required": true,
		"content": openapi.JSONContent(openapi.SchemaRef("CheckInCreate"), openapi.Object{"minutes": 25, "timezone": "Europe/Berlin"})}
	// The Location is /users/{auth_user_id}/goals/{goal_id}/check-ins/{check_in_id}.
	op["responses"] = openapi.Responses(openapi.Object{
		"201": openapi.Object{
			"description": "The check-in was recorded.",
			"headers":     openapi.Object{"Location": authref.LocationHeader("goals/[1-9][0-9]*/check-ins")},
			"content":     openapi.JSONContent(openapi.SchemaRef("CheckIn"), checkInExample),
		},
		"409": openapi.ProblemResponse(409, fmt.Sprintf("The goal is `%s` or `%s`: it takes no more check-ins. ", StatusCompleted, StatusAbandoned)+openapi.KeyInProgress),
	}, 400, 401, 403, 404, 405, 413, 415, 422, 429, 500, 503)
	return openapi.Idempotent(op)
}

func listCheckInsOperation() openapi.Object {
	op := operation("listCheckIns", "A goal's check-ins, newest first",
		"Ordered by `occurred_at`, newest first, ties by id descending. A cursor is bound to its user and goal. An unknown user or goal (or another user's goal) is 404; a goal without check-ins is `[]`.")
	op["parameters"] = []any{openapi.ParameterRef("Limit"), openapi.ParameterRef("Cursor")}
	op["responses"] = openapi.Responses(openapi.Object{"200": openapi.Object{
		"description": "One page of check-ins.",
		"headers":     openapi.Object{"Link": openapi.HeaderRef("Link")},
		"content":     openapi.JSONContent(openapi.SchemaRef("CheckInList"), []any{checkInExample}),
	}}, 400, 404, 405, 429, 500, 503)
	return op
}

func deleteCheckInOperation() openapi.Object {
	op := openapi.Secured(operation("deleteCheckIn", "Delete a check-in",
		"Its activity item goes with it; the goal's and the user's streaks are recomputed, and the goal's `ETag` changes. A check-in of another goal is 404, as an unknown one. `If-Match` is ignored."))
	op["responses"] = openapi.Responses(openapi.Object{"204": openapi.Object{"description": "The check-in was deleted."}},
		400, 401, 403, 404, 405, 429, 500, 503)
	return op
}

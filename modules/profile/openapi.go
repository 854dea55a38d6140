package profile

import (
	"fmt"

	"usersvc/modules/authref"
	"usersvc/platform/openapi"
	"usersvc/platform/tzname"
)

const tag = "profile"

// Fragment is the profile feature's part of the OpenAPI document.
func Fragment() openapi.Fragment {
	return openapi.Fragment{
		Tags: []openapi.Object{{"name": tag, "description": "A user's identity, statistics and tracker settings."}},
		Paths: openapi.Object{
			"/users/me":             openapi.Object{"get": privateProfileOperation()},
			"/users/{auth_user_id}": openapi.Object{"parameters": []any{authref.UserParam}, "get": publicProfileOperation()},
			"/users/{auth_user_id}/settings": openapi.Object{
				"parameters": []any{authref.UserParam},
				"get":        getSettingsOperation(),
				"put":        putSettingsOperation(),
			},
		},
		Components: map[string]openapi.Object{
			"schemas": {
				"ProfileStats":   statsSchema(),
				"PublicProfile":  profileSchema(false),
				"PrivateProfile": profileSchema(true),
				"Settings":       settingsSchema(),
				"SettingsUpdate": settingsUpdateSchema(),
				"DayStartHour":   dayStartHourSchema(),
				"TimeZone":       timeZoneSchema(),
			},
			"headers": {"CacheControlPrivate": openapi.Object{
				"description": "A private answer (the private profile, the settings) must not be stored by any cache.",
				"required":    true,
				"schema":      openapi.Object{"type": "string", "const": "private, no-store"},
			}},
		},
	}
}

func count(description string) openapi.Object {
	return openapi.Object{"type": "integer", "minimum": 0, "description": description}
}

func statsSchema() openapi.Object {
	return openapi.Object{
		"type": "object", "additionalProperties": false,
		"required": openapi.Strings("badges", "goals_total", "goals_completed", "best_streak", "current_streak", "longest_streak"),
		"properties": openapi.Object{
			"badges":          count("Badges the user holds."),
			"goals_total":     count("Goals of every status."),
			"goals_completed": count("Goals whose status is `completed`."),
			"best_streak":     count("The highest `streak_count` among the user's goals; 0 without goals."),
			"current_streak": count("The user's own streak: the run of active days (a day with a check-in on any goal) that ends on the user's today or yesterday, else 0. " +
				"Hand-written goal streaks do not count here."),
			"longest_streak": count("The user's longest run of active days ever, at least `current_streak`."),
		},
	}
}

func fromAuthService() openapi.Object {
	return openapi.Object{"type": openapi.Strings("string", "null"), "description": "From the auth-service; null when unknown."}
}

// profileSchema is the public profile, or the private one (with email).
func profileSchema(private bool) openapi.Object {
	props := openapi.Object{
		"auth_user_id": authref.UserSchema,
		"username":     fromAuthService(),
		"member_since": openapi.SchemaRef("Timestamp"),
		"stats":        openapi.SchemaRef("ProfileStats"),
	}
	s := openapi.Object{"type": "object", "additionalProperties": false, "properties": props,
		"required": openapi.Strings("auth_user_id", "username", "member_since", "stats")}
	if private {
		props["email"] = fromAuthService()
		props["settings"] = openapi.SchemaRef("Settings")
		s["required"] = openapi.Strings("auth_user_id", "username", "email", "member_since", "stats", "settings")
		s["description"] = "The public profile plus the user's email and settings."
	}
	return s
}

func example(private bool) openapi.Object {
	e := openapi.Object{
		"auth_user_id": "42", "username": "ada", "member_since": "2024-05-01T12:00:00.000000Z",
		"stats": openapi.Object{"badges": 3, "goals_total": 5, "goals_completed": 2, "best_streak": 7, "current_streak": 4, "longest_streak": 12},
	}
	if private {
		e["email"] = "ada@example.com"
		e["settings"] = settingsExample
	}
	return e
}

func privateProfileOperation() openapi.Object {
	return openapi.Object{
		"operationId": "getMyProfile",
		"tags":        openapi.Strings(tag),
		"summary":     "The caller's private profile",
		"description": "The profile of the token's user, with `email` and `settings`. Identity fields come from the auth-service when it is configured and answers in time (its values win and refresh the local reference), else from the local reference: an auth-service outage degrades this route to cached data, never to an error. A token whose user has no local reference creates it just in time.",
		"security":    openapi.BearerSecurity(),
		"responses": openapi.Responses(openapi.Object{
			"200": openapi.Object{
				"description": "The caller's private profile.",
				"headers":     openapi.Object{"Cache-Control": openapi.HeaderRef("CacheControlPrivate")},
				"content":     openapi.JSONContent(openapi.SchemaRef("PrivateProfile"), example(true)),
			},
			"404": openapi.ProblemResponse(404, "The token's subject has no local reference and none is created for it: an admin token (an admin token never creates a reference for itself)."),
		}, 401, 405, 429, 500, 503),
	}
}

func publicProfileOperation() openapi.Object {
	return openapi.Object{
		"operationId": "getProfile",
		"tags":        openapi.Strings(tag),
		"summary":     "A user's public profile",
		"description": "Public: no `email`. `/users/me` is not this route: it is the caller's private profile.",
		"responses": openapi.Responses(openapi.Object{
			"200": openapi.Object{
				"description": "The user's public profile.",
				"content":     openapi.JSONContent(openapi.SchemaRef("PublicProfile"), example(false)),
			},
		}, 400, 404, 405, 429, 500, 503),
	}
}

func timeZoneSchema() openapi.Object {
	return openapi.Object{
		"description": "An IANA time zone name such as `Europe/Berlin`, `UTC` or `America/Argentina/Buenos_Aires`, spelled as the zone database spells it " +
			"(case-sensitive; surrounding white space is trimmed). `Local`, offsets such as `+02:00`, `\"\"` and names the zone database does not hold are 422.",
		"type":      "string",
		"minLength": 1,
		"maxLength": tzname.MaxLen,
		// Segments of letters, digits, '_', '-' and '+' between single
		// slashes, the first starting with a letter (tzname.Load).
		"pattern":  `^\s*[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_][A-Za-z0-9_+-]*)*\s*$`,
		"examples": openapi.Strings("Europe/Berlin", "UTC"),
	}
}

func dayStartHourSchema() openapi.Object {
	return openapi.Object{
		"description": fmt.Sprintf("The hour (0–%d) at which the user's day starts: with 1 or more, a night owl's 00:30 still counts for the day before. "+
			"An integer written without fraction or exponent.", MaxDayStartHour),
		"type": "integer", "minimum": 0, "maximum": MaxDayStartHour,
	}
}

var settingsExample = openapi.Object{"timezone": "Europe/Berlin", "day_start_hour": 0}

func settingsSchema() openapi.Object {
	return openapi.Object{
		"description": "The user's tracker settings (defaults `UTC` and 0): they decide a check-in's local date and the user's today.",
		"type":        "object", "additionalProperties": false,
		"required": openapi.Strings("timezone", "day_start_hour"),
		"properties": openapi.Object{
			"timezone":       openapi.Object{"type": "string", "description": "An IANA time zone name."},
			"day_start_hour": openapi.SchemaRef("DayStartHour"),
		},
	}
}

func settingsUpdateSchema() openapi.Object {
	return openapi.Object{
		"description":          "Any non-empty subset of the settings; an empty object, `null`, unknown fields, wrong types and duplicated keys are 422.",
		"type":                 "object",
		"additionalProperties": false,
		"minProperties":        1,
		"properties": openapi.Object{
			"timezone":       openapi.SchemaRef("TimeZone"),
			"day_start_hour": openapi.SchemaRef("DayStartHour"),
		},
	}
}

func settingsResponse(description string) openapi.Object {
	return openapi.Object{
		"description": description,
		"headers":     openapi.Object{"Cache-Control": openapi.HeaderRef("CacheControlPrivate")},
		"content":     openapi.JSONContent(openapi.SchemaRef("Settings"), settingsExample),
	}
}

func getSettingsOperation() openapi.Object {
	return openapi.Object{
		"operationId": "getSettings",
		"tags":        openapi.Strings(tag),
		"summary":     "A user's tracker settings",
		"description": "By the user named in the path or by an admin token; the defaults when never written.",
		"security":    openapi.BearerSecurity(),
		"responses":   openapi.Responses(openapi.Object{"200": settingsResponse("The settings.")}, 400, 401, 403, 404, 405, 429, 500, 503),
	}
}

func putSettingsOperation() openapi.Object {
	return openapi.Object{
		"operationId": "updateSettings",
		"tags":        openapi.Strings(tag),
		"summary":     "Update a user's tracker settings (partial)",
		"description": "By the user named in the path or by an admin token. Sets any non-empty subset; the answer is the whole settings object. " +
			"A change applies from that moment on: check-ins already recorded keep their local dates.",
		"security": openapi.BearerSecurity(),
		"requestBody": openapi.Object{"required": true,
			"content": openapi.JSONContent(openapi.SchemaRef("SettingsUpdate"), openapi.Object{"timezone": "Europe/Berlin", "day_start_hour": 2})},
		"responses": openapi.Responses(openapi.Object{"200": settingsResponse("The whole settings after the update.")},
			400, 401, 403, 404, 405, 413, 415, 422, 429, 500, 503),
	}
}

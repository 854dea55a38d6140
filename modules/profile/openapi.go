package profile

import (
	"usersvc/modules/authref"
	"usersvc/platform/openapi"
)

const tag = "profile"

// Fragment is the profile feature's part of the OpenAPI document.
func Fragment() openapi.Fragment {
	return openapi.Fragment{
		Tags: []openapi.Object{{"name": tag, "description": "A user's identity and statistics."}},
		Paths: openapi.Object{
			"/users/me":             openapi.Object{"get": privateProfileOperation()},
			"/users/{auth_user_id}": openapi.Object{"parameters": []any{authref.UserParam}, "get": publicProfileOperation()},
		},
		Components: map[string]openapi.Object{
			"schemas": {
				"ProfileStats":   statsSchema(),
				"PublicProfile":  profileSchema(false),
				"PrivateProfile": profileSchema(true),
			},
			"headers": {"CacheControlPrivate": openapi.Object{
				"description": "The private profile must not be stored by any cache.",
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
		"required": openapi.Strings("badges", "goals_total", "goals_completed", "best_streak"),
		"properties": openapi.Object{
			"badges":          count("Badges the user holds."),
			"goals_total":     count("Goals of every status."),
			"goals_completed": count("Goals whose status is `completed`."),
			"best_streak":     count("The highest `streak_count` among the user's goals; 0 without goals."),
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
		s["required"] = openapi.Strings("auth_user_id", "username", "email", "member_since", "stats")
		s["description"] = "The public profile plus the user's email."
	}
	return s
}

func example(private bool) openapi.Object {
	e := openapi.Object{
		"auth_user_id": "42", "username": "ada", "member_since": "2024-05-01T12:00:00.000000Z",
		"stats": openapi.Object{"badges": 3, "goals_total": 5, "goals_completed": 2, "best_streak": 7},
	}
	if private {
		e["email"] = "ada@example.com"
	}
	return e
}

func privateProfileOperation() openapi.Object {
	return openapi.Object{
		"operationId": "getMyProfile",
		"tags":        openapi.Strings(tag),
		"summary":     "The caller's private profile",
		"description": "The profile of the token's user, with `email`. Identity fields come from the auth-service when it is configured and answers in time (its values win and refresh the local reference), else from the local reference: an auth-service outage degrades this route to cached data, never to an error. A token whose user has no local reference creates it just in time.",
		"security":    []any{openapi.Object{"bearerAuth": []any{}}},
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

package authref

import (
	"fmt"
	"strings"

	"usersvc/modules/authref/userid"
	"usersvc/platform/openapi"
)

// UserParam is the documented path parameter naming the user a route is about.
var UserParam = openapi.ParameterRef("AuthUserID")

// UserSchema is the documented user id.
var UserSchema = openapi.SchemaRef("AuthUserID")

// LocationHeader documents the Location of a resource created in one of a
// user's collections: /users/{auth_user_id}/<collection>/<id>.
func LocationHeader(collection string) openapi.Object {
	user := strings.TrimSuffix(strings.TrimPrefix(userid.Pattern, "^"), "$")
	return openapi.Object{
		"description": "The path of the created resource.",
		"required":    true,
		"schema": openapi.Object{
			"type":    "string",
			"format":  "uri-reference",
			"pattern": "^/users/" + user + "/" + collection + "/[1-9][0-9]*$",
		},
	}
}

// Fragment is authref's part of the OpenAPI document: what a user id is,
// and the answers every route about a user shares (unknown user, deleted
// user, auth-service down, another user's token).
func Fragment() openapi.Fragment {
	return openapi.Fragment{
		Components: map[string]openapi.Object{
			"schemas": {"AuthUserID": openapi.Object{
				"description": fmt.Sprintf("The auth-service's user id: 1–%d characters of `[A-Za-z0-9%s]`, starting with a letter or digit; case-sensitive and compared byte for byte. `%s` is reserved (`/users/me` is the caller).",
					userid.MaxLen, userid.Punctuation, userid.Reserved),
				"type":      "string",
				"maxLength": userid.MaxLen,
				"pattern":   userid.Pattern,
				"not":       openapi.Object{"const": userid.Reserved},
				"examples":  openapi.Strings("42", "ada.lovelace"),
			}},
			"parameters": {"AuthUserID": openapi.Object{
				"name": "auth_user_id", "in": "path", "required": true,
				"description": "The auth-service's user id, case-sensitive. A malformed id is 400.",
				"schema":      UserSchema,
			}},
			"headers": {"Link": openapi.Object{
				"description": "Present only when another page exists: `<relative URL>; rel=\"next\"` (RFC 8288). The URL keeps the list's filters and carries `limit` and `cursor`.",
				"required":    false,
				"schema":      openapi.Object{"type": "string", "pattern": `^</users/[^>]+>; rel="next"$`},
			}},
			"responses": {
				"Unauthorized": withHeader(openapi.ProblemResponse(401, "The bearer token is missing, malformed, expired or badly signed, or its user was deleted."),
					"WWW-Authenticate", "WWWAuthenticate"),
				"Forbidden": openapi.ProblemResponse(403, "A valid token of another user, without the admin scope."),
				"NotFound":  openapi.ProblemResponse(404, "Unknown route, unknown or deleted user, unknown resource, or a resource of another user (existence is never leaked)."),
				"ServiceUnavailable": withHeader(openapi.ProblemResponse(503, "A dependency this request needs is down: the database (or no pooled connection within `DATABASE_POOL_TIMEOUT`), or the auth-service when it alone could tell whether an unknown user id exists."),
					"Retry-After", "RetryAfter"),
			},
		},
	}
}

func withHeader(response openapi.Object, name, component string) openapi.Object {
	response["headers"] = openapi.Object{name: openapi.HeaderRef(component)}
	return response
}

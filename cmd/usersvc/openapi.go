package main

import (
	"fmt"

	"usersvc/modules/authref/userid"
	"usersvc/platform/auth"
	"usersvc/platform/openapi"
	"usersvc/platform/page"
)

// apiInfo is what the OpenAPI document says about the service as a whole;
// the features describe their own routes (their openapi.go).
func apiInfo() openapi.Info {
	return openapi.Info{
		Title:   "usersvc",
		Version: "1.0.0",
		Summary: "Profiles, badges and learning goals of the auth-service's users.",
		Description: "The user-service keeps, for each user of the auth-service, a profile, the badges they earned and their learning goals.\n\n" +
			fmt.Sprintf("- **Identity.** `auth_user_id` is the auth-service's user id, an opaque, case-sensitive string of 1–%d characters of `[A-Za-z0-9%s]` starting with a letter or digit. `/users/me` is the caller; `/users/ME` is the user `ME`.\n",
				userid.MaxLen, userid.Punctuation) +
			fmt.Sprintf("- **Authentication.** Writes need `Authorization: Bearer <JWT>` of the user named in the path, or a token whose `scope`/`scopes` contains the admin scope (default `%s`). Public routes ignore the `Authorization` header.\n",
				auth.DefaultAdminScope) +
			"- **Errors.** Every error, unknown routes (404) and wrong methods (405) included, is an RFC 9457 `application/problem+json` document; `errors` lists the broken field rules of a 422 and appears on no other status. When several errors apply, the first of this order answers: 404/405, 413, 429, 401, malformed path id (400), 403, 415, malformed query or body (400), unknown user or resource (404), 412, 422, 409.\n" +
			"- **Text.** JSON is UTF-8. Text lengths count Unicode code points after trimming surrounding white space, and the trimmed value is stored; text containing NUL is refused (422). Timestamps are RFC 3339 in UTC with a `Z` and microseconds.\n" +
			fmt.Sprintf("- **Lists** are plain JSON arrays, newest first, paged with `limit` (1–%d, default %d) and an opaque `cursor`; the next page is announced by `Link: <…>; rel=\"next\"` only when another item exists.\n",
				page.MaxLimit, page.DefaultLimit) +
			"- **Rate limit.** `RATE_LIMIT_PER_MINUTE` requests per client (the token's user when authenticated, else the address) on every `/users` route; over it, 429 with `Retry-After`. Probes and this document are not limited.\n" +
			"- **Every GET also answers HEAD.** Every response carries `X-Request-ID` (the caller's, when it sends a short plain one, else a generated one).\n\n" +
			"A human-readable overview is in the repository's `docs/api.md`.",
	}
}

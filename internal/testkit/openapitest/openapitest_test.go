package openapitest

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

const (
	goal  = `{"id":9,"auth_user_id":"42","title":"Learn Go","description":"","status":"in-progress","streak_count":0,"created_at":"2024-05-01T12:00:00.000000Z","updated_at":"2024-05-01T12:00:00.000000Z","completed_at":null}`
	jsonT = "application/json"
	probT = "application/problem+json"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func problem(status int, extra string) string {
	return `{"type":"https://usersvc.dev/problems/x","title":"T","status":` + strconv.Itoa(status) + extra + `}`
}

// TestOpenAPICheckResponse proves the checker refuses what it must, on the real document.
func TestOpenAPICheckResponse(t *testing.T) {
	spec := MustDefault(t)
	item := "/users/:auth_user_id/goals/:goal_id"
	cases := []struct {
		name   string
		method string
		route  string
		status int
		header http.Header
		body   string
		ok     bool
	}{
		{"goal", "GET", item, 200, hdr("Content-Type", jsonT, "ETag", `"1"`), goal, true},
		{"goal without ETag", "GET", item, 200, hdr("Content-Type", jsonT), goal, false},
		{"weak ETag", "GET", item, 200, hdr("Content-Type", jsonT, "ETag", `W/"1"`), goal, false},
		{"goal with an extra field", "GET", item, 200, hdr("Content-Type", jsonT, "ETag", `"1"`), strings.Replace(goal, `"id":9`, `"id":9,"version":3`, 1), false},
		{"goal without a field", "GET", item, 200, hdr("Content-Type", jsonT, "ETag", `"1"`), strings.Replace(goal, `"completed_at":null`, `"x":null`, 1), false},
		{"timestamp without microseconds", "GET", item, 200, hdr("Content-Type", jsonT, "ETag", `"1"`), strings.Replace(goal, `12:00:00.000000Z","updated`, `12:00:00Z","updated`, 1), false},
		{"bad status value", "GET", item, 200, hdr("Content-Type", jsonT, "ETag", `"1"`), strings.Replace(goal, `in-progress`, `done`, 1), false},
		{"repeated key", "GET", item, 200, hdr("Content-Type", jsonT, "ETag", `"1"`), strings.Replace(goal, `"id":9`, `"id":9,"id":9`, 1), false},
		{"wrong content type", "GET", item, 200, hdr("Content-Type", "text/html", "ETag", `"1"`), goal, false},
		{"undocumented status", "GET", item, 418, hdr("Content-Type", probT), problem(418, ""), false},
		{"HEAD has no body", "HEAD", item, 200, hdr("Content-Type", jsonT, "ETag", `"1"`), "", true},
		{"404", "GET", item, 404, hdr("Content-Type", probT), problem(404, ""), true},
		{"404 as JSON", "GET", item, 404, hdr("Content-Type", jsonT), problem(404, ""), false},
		{"404 saying 400", "GET", item, 404, hdr("Content-Type", probT), problem(400, ""), false},
		{"404 with errors", "GET", item, 404, hdr("Content-Type", probT), problem(404, `,"errors":[{"field":"a","message":"b"}]`), false},
		{"problem with an unknown member", "GET", item, 404, hdr("Content-Type", probT), problem(404, `,"trace":"x"`), false},
		{"422", "PUT", item, 422, hdr("Content-Type", probT), problem(422, `,"errors":[{"field":"a","message":"b"}]`), true},
		{"422 without errors", "PUT", item, 422, hdr("Content-Type", probT), problem(422, ""), false},
		{"401 without challenge", "PUT", item, 401, hdr("Content-Type", probT), problem(401, ""), false},
		{"401", "PUT", item, 401, hdr("Content-Type", probT, "WWW-Authenticate", `Bearer realm="usersvc"`), problem(401, ""), true},
		{"401 on a public route", "GET", item, 401, hdr("Content-Type", probT, "WWW-Authenticate", `Bearer realm="usersvc"`), problem(401, ""), false},
		{"204", "DELETE", item, 204, hdr(), "", true},
		{"204 with a body", "DELETE", item, 204, hdr(), "{}", false},
		{"405 for a method the path lacks", "PATCH", item, 405, hdr("Content-Type", probT, "Allow", "DELETE, GET, HEAD, PUT"), problem(405, ""), true},
		{"405 without Allow", "PATCH", item, 405, hdr("Content-Type", probT), problem(405, ""), false},
		{"200 for a method the path lacks", "PATCH", item, 200, hdr("Content-Type", jsonT), goal, false},
		{"unknown path 404", "GET", "", 404, hdr("Content-Type", probT), problem(404, ""), true},
		{"unknown path 200", "GET", "", 200, hdr("Content-Type", jsonT), "{}", false},
		{"429 without Retry-After", "GET", item, 429, hdr("Content-Type", probT), problem(429, ""), false},
		{"429 with Retry-After 0", "GET", item, 429, hdr("Content-Type", probT, "Retry-After", "0"), problem(429, ""), false},
		{"429", "GET", item, 429, hdr("Content-Type", probT, "Retry-After", "12"), problem(429, ""), true},
		{"list with a bad Link", "GET", "/users/{auth_user_id}/goals", 200, hdr("Content-Type", jsonT, "Link", `<https://x/>; rel="prev"`), "[" + goal + "]", false},
		{"list", "GET", "/users/{auth_user_id}/goals", 200, hdr("Content-Type", "application/json; charset=utf-8", "Link", `</users/42/goals?cursor=x&limit=1>; rel="next"`), "[" + goal + "]", true},
		{"ready 503", "GET", "/ready", 503, hdr("Content-Type", probT, "Retry-After", "5"), problem(503, `,"checks":{"database":"unavailable"}`), true},
		{"ready 503 without checks", "GET", "/ready", 503, hdr("Content-Type", probT, "Retry-After", "5"), problem(503, ""), false},
		{"metrics", "GET", "/metrics", 200, hdr("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), "# HELP x\n", true},
	}
	for _, tc := range cases {
		err := spec.CheckResponse(tc.method, tc.route, tc.status, tc.header, []byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s: valid=%v, want %v (%v)", tc.name, err == nil, tc.ok, err)
		}
	}
}

func TestOpenAPIRouteMatching(t *testing.T) {
	spec := MustDefault(t)
	for target, want := range map[string]string{
		"/users/me":             "/users/me",
		"/users/ME":             "/users/{auth_user_id}",
		"/users/me/goals":       "/users/{auth_user_id}/goals",
		"/users/42/goals/7?x=1": "/users/{auth_user_id}/goals/{goal_id}",
		"/users/42/":            "",
		"/users//goals":         "",
		"/nope":                 "",
		"/openapi.json":         "/openapi.json",
	} {
		if got, _ := spec.Route(target); got != want {
			t.Errorf("Route(%q) = %q, want %q", target, got, want)
		}
	}
	if FromFiber("/users/:auth_user_id/goals/:goal_id") != "/users/{auth_user_id}/goals/{goal_id}" {
		t.Error("FromFiber")
	}
}

func TestOpenAPIDuplicateKey(t *testing.T) {
	for text, want := range map[string]string{
		`{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}`: "",
		`{"a":1,"a":2}`:                   "a",
		`{"a":{"b":1,"b":2}}`:             "b",
		`[{"x":[1,{"y":1}],"y":2,"x":3}]`: "x",
		`{"a":{},"b":[],"a":1}`:           "a",
		`"a"`:                             "",
	} {
		if got := duplicateKey([]byte(text)); got != want {
			t.Errorf("duplicateKey(%s) = %q, want %q", text, got, want)
		}
	}
}

func TestOpenAPIOperations(t *testing.T) {
	spec := MustDefault(t)
	op, ok := spec.Operation("PUT", "/users/:auth_user_id/goals/:goal_id")
	if !ok || !op.Secured || !op.Body || !op.HasStatus(412) || op.HasStatus(409) {
		t.Fatalf("PUT goal: %+v", op)
	}
	want := []string{"header:If-Match", "path:auth_user_id", "path:goal_id"}
	if strings.Join(op.Params, " ") != strings.Join(want, " ") {
		t.Fatalf("params %v, want %v", op.Params, want)
	}
	if op, ok := spec.Operation("HEAD", "/users/{auth_user_id}"); !ok || op.Secured || op.Method != "GET" {
		t.Fatalf("HEAD profile: %+v", op)
	}
}

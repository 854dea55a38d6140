package main

// The OpenAPI document (assembled by platform/openapi from the features'
// fragments) against the API that `usersvc serve` really mounts, checked
// with libopenapi-validator (internal/testkit/oascheck):
//   - TestOpenAPIDrift: the mounted route table and the documented operations
//     are the same set, and each route's Access and rate limit agree with its
//     documented security and statuses (no database needed);
//   - TestOpenAPIServedByServe: the real binary serves the document;
//   - TestOpenAPIResponses: a realistic session over every route, every
//     response validated against the document, and the document's request
//     rules proven to be the API's (accepted bodies pass them, bodies refused
//     with 422 fail them).

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"usersvc/internal/testkit/apptest"
	"usersvc/internal/testkit/oascheck"
	"usersvc/internal/testkit/pgtest"
	"usersvc/platform"
	"usersvc/platform/config"
	"usersvc/platform/httpserver"
	"usersvc/platform/openapi"
)

// mountedAPI builds the API server of `usersvc serve` (platform core,
// httpserver.Module and the given options) without starting it or touching
// a database, and returns it with the routes the modules contributed.
func mountedAPI(t *testing.T, opts ...fx.Option) (*httpserver.Server, []httpserver.Route) {
	t.Helper()
	server, routes, _ := servedGraph(t, opts...)
	return server, routes
}

// servedGraph is mountedAPI that also returns the document the graph assembled.
func servedGraph(t *testing.T, opts ...fx.Option) (*httpserver.Server, []httpserver.Route, *openapi.Document) {
	t.Helper()
	cfg := apptest.Config(t, "postgres://postgres@127.0.0.1:1/unused?sslmode=disable")
	var (
		server *httpserver.Server
		routes []httpserver.Route
		doc    *openapi.Document
	)
	capture := fx.Invoke(fx.Annotate(func(rs []httpserver.Route) { routes = rs }, fx.ParamTags(`group:"routes"`)))
	all := append([]fx.Option{platform.Core(cfg, zap.NewNop()), httpserver.Module}, opts...)
	app := fx.New(append(all, capture, fx.Populate(&server, &doc), fx.NopLogger)...)
	if err := app.Err(); err != nil {
		t.Fatalf("building the API graph: %v", err)
	}
	return server, routes, doc
}

// servedDocument is the document `usersvc serve` assembles, and its checker.
func servedDocument(t *testing.T) (*openapi.Document, *oascheck.Spec) {
	t.Helper()
	_, _, doc := servedGraph(t, features)
	return doc, oascheck.Must(t, doc.Bytes())
}

func TestOpenAPIDrift(t *testing.T) {
	_, spec := servedDocument(t)
	server, groupRoutes := mountedAPI(t, features)

	// What Fiber really mounted (probes included), HEAD aside: GET implies it.
	mounted := map[string]int{}
	heads := map[string]bool{}
	for _, r := range server.App().GetRoutes(true) {
		key := r.Method + " " + oascheck.FromFiber(r.Path)
		if r.Method == http.MethodHead {
			heads[oascheck.FromFiber(r.Path)] = true
			continue
		}
		mounted[key]++
	}
	documented := map[string]oascheck.Operation{}
	for _, op := range spec.Operations() {
		documented[op.Method+" "+op.Path] = op
	}
	for key, n := range mounted {
		if n > 1 {
			t.Errorf("%s is mounted %d times", key, n)
		}
		if _, ok := documented[key]; !ok {
			t.Errorf("%s is mounted but not documented (add it to its module's openapi.go)", key)
		}
		if method, path, _ := strings.Cut(key, " "); method == http.MethodGet && !heads[path] {
			t.Errorf("GET %s does not answer HEAD", path)
		}
	}
	for key := range documented {
		if mounted[key] == 0 {
			t.Errorf("%s is documented but no route serves it", key)
		}
	}
	if len(mounted) < 14 {
		t.Errorf("only %d routes mounted: %v", len(mounted), mounted)
	}

	// Each route's rules against its documentation. Routes outside the
	// "routes" group are the platform's probes: public and unlimited.
	rules := map[string]httpserver.Route{}
	for _, r := range server.App().GetRoutes(true) {
		if r.Method != http.MethodHead {
			rules[r.Method+" "+oascheck.FromFiber(r.Path)] = httpserver.Route{Method: r.Method, Path: r.Path, Access: httpserver.Public, Unlimited: true}
		}
	}
	for _, r := range groupRoutes {
		rules[r.Method+" "+oascheck.FromFiber(r.Path)] = r
	}
	for key, r := range rules {
		op, ok := documented[key]
		if !ok {
			continue // reported above
		}
		expect := func(status int, want bool, why string) {
			if op.HasStatus(status) != want {
				t.Errorf("%s: %d documented=%v, want %v (%s)", key, status, op.HasStatus(status), want, why)
			}
		}
		if op.Secured != (r.Access != httpserver.Public) {
			t.Errorf("%s: documented security=%v but the route is %s", key, op.Secured, r.Access)
		}
		expect(401, r.Access != httpserver.Public, "access "+r.Access.String())
		expect(403, r.Access == httpserver.OwnerOrAdmin, "access "+r.Access.String())
		expect(429, !r.Unlimited, "rate limit")
		expect(405, true, "every path answers its other methods with 405")
		if !r.Unlimited {
			expect(500, true, "an API route")
			expect(503, true, "an API route needs the database")
		}
		pathParams := regexp.MustCompile(`:([A-Za-z_]+)`).FindAllStringSubmatch(r.Path, -1)
		for _, m := range pathParams {
			if !slices.Contains(op.Params, "path:"+m[1]) {
				t.Errorf("%s: path parameter %s is not documented", key, m[1])
			}
		}
		if len(pathParams) > 0 {
			expect(400, true, "malformed path id")
			expect(404, true, "unknown user or resource")
		}
		takesBody := r.Method == http.MethodPost || r.Method == http.MethodPut
		if op.Body != takesBody {
			t.Errorf("%s: documented request body=%v", key, op.Body)
		}
		for _, s := range []int{400, 413, 415, 422} {
			if takesBody {
				expect(s, true, "takes a JSON body")
			} else if s != 400 {
				expect(s, false, "takes no body")
			}
		}
	}
}

// TestOpenAPIServedByServe proves the wiring: the real binary serves the
// document. Over a real connection it also checks the 413, which Fiber's
// in-memory transport cannot show.
func TestOpenAPIServedByServe(t *testing.T) {
	t.Parallel()
	doc, spec := servedDocument(t)
	_, addr, logs := startServe(t, pgtest.Migrated(t))
	base := "http://" + addr
	resp, err := http.Get(base + openapi.Path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusOK:
		t.Errorf("usersvc serve answers GET %s with %d: wire openapi.Module in cmd/usersvc/serve.go's features\n%s",
			openapi.Path, resp.StatusCode, logs.String())
	case string(body) != string(doc.Bytes()):
		t.Error("the served document is not the one the features assemble")
	default:
		spec.Validate(t, "GET", openapi.Path, resp.StatusCode, resp.Header, body)
	}

	// The server refuses a body over HTTP_BODY_LIMIT from its Content-Length
	// and closes the connection, so the request is written by hand and the
	// body never sent: a client still writing would only see a broken pipe.
	for _, target := range []string{"/users/ada/goals", "/users/ada/badges"} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n",
			target, addr, apptest.Token(t, "ada", nil), 70<<10)
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			conn.Close()
			t.Fatalf("POST %s with a 70 KiB body: %v", target, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("POST %s with a 70 KiB body: %d, want 413", target, resp.StatusCode)
		}
		spec.Validate(t, "POST", target, resp.StatusCode, resp.Header, body)
	}
}

// call is one request of the session and what the document must say about it.
type call struct {
	method, target string
	body           any    // nil, raw (string), or a value sent as JSON
	contentType    string // default application/json when there is a body
	token          string
	ifMatch        string
	header         map[string]string
	want           int
	// badParams: a 400 for the path or query, which the documented parameters must refuse too.
	badParams bool
	// schemaBlind explains a 422 that JSON Schema cannot express, so the documented schema accepts the body.
	schemaBlind string
}

// session drives one app and validates every exchange against the document.
type session struct {
	t    *testing.T
	app  *apptest.App
	spec *oascheck.Spec
	seen map[string]map[int]bool // "GET /users/{auth_user_id}" → statuses
}

func (s *session) do(c call) apptest.Response {
	t := s.t
	t.Helper()
	var opts []apptest.Option
	header := http.Header{}
	if c.token != "" {
		opts = append(opts, apptest.Bearer(c.token))
	}
	if c.ifMatch != "" {
		opts = append(opts, apptest.Header("If-Match", c.ifMatch))
		header.Set("If-Match", c.ifMatch)
	}
	for k, v := range c.header {
		opts = append(opts, apptest.Header(k, v))
		header.Set(k, v)
	}
	var raw []byte
	switch b := c.body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	ct := c.contentType
	if c.body != nil && ct == "" {
		ct = "application/json"
	}
	if c.contentType != "" {
		opts = append(opts, apptest.Header("Content-Type", c.contentType))
	}
	r := s.app.Do(c.method, c.target, c.body, opts...)
	what := fmt.Sprintf("%s %s", c.method, c.target)
	if r.Status != c.want {
		t.Errorf("%s: status %d, want %d: %s", what, r.Status, c.want, r.Body)
	}
	s.spec.Validate(t, c.method, c.target, r.Status, r.Header, r.Body)

	route, found := s.spec.Route(c.target)
	method := c.method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	if found {
		keys := []string{method + " " + route}
		if r.Status == http.StatusMethodNotAllowed { // the 405 documented on each of the path's operations
			keys = nil
			for _, op := range s.spec.Operations() {
				if op.Path == route {
					keys = append(keys, op.Method+" "+route)
				}
			}
		}
		for _, key := range keys {
			if s.seen[key] == nil {
				s.seen[key] = map[int]bool{}
			}
			s.seen[key][r.Status] = true
		}
	}
	_, hasOp := s.spec.Operation(method, route)
	if !found || !hasOp {
		return r
	}
	// The document's request rules are the API's.
	success := r.Status >= 200 && r.Status < 400
	if success {
		if err := s.spec.CheckParameters(c.method, c.target, header); err != nil {
			t.Errorf("%s answered %d, yet the document refuses its parameters: %v", what, r.Status, err)
		}
	}
	if c.badParams && r.Status == 400 {
		if err := s.spec.CheckParameters(c.method, c.target, header); err == nil {
			t.Errorf("%s answered 400, yet the document accepts its parameters", what)
		}
	}
	if c.body != nil {
		err := s.spec.CheckRequestBody(c.method, c.target, ct, raw)
		switch {
		case success && err != nil:
			t.Errorf("%s answered %d, yet the document refuses its body %.200s: %v", what, r.Status, raw, err)
		case r.Status == 422 && c.schemaBlind == "" && err == nil:
			t.Errorf("%s answered 422, yet the document accepts its body %.200s", what, raw)
		case (r.Status == 415 || r.Status == 400 && !c.badParams) && err == nil:
			t.Errorf("%s answered %d, yet the document accepts its body %.200s", what, r.Status, raw)
		}
	}
	return r
}

func (s *session) run(calls ...call) {
	s.t.Helper()
	for _, c := range calls {
		s.do(c)
	}
}

func newSession(t *testing.T, spec *oascheck.Spec, seen map[string]map[int]bool, tweak func(*config.Config)) *session {
	t.Helper()
	return &session{t: t, app: apptest.New(t, tweak, features), spec: spec, seen: seen}
}

func TestOpenAPIResponses(t *testing.T) {
	doc, spec := servedDocument(t)
	seen := map[string]map[int]bool{}
	s := newSession(t, spec, seen, nil)

	ada := apptest.Token(t, "ada", nil)
	bob := apptest.Token(t, "bob", nil)
	admin := apptest.AdminToken(t)
	expired := apptest.Token(t, "ada", map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	long := func(n int) string { return strings.Repeat("é", n) }

	// Probes, this document, routing.
	s.run(
		call{method: "GET", target: "/health", want: 200},
		call{method: "HEAD", target: "/health", want: 200},
		call{method: "GET", target: "/ready", want: 200},
		call{method: "GET", target: "/metrics", want: 200},
		call{method: "GET", target: "/openapi.json", want: 200},
		call{method: "HEAD", target: "/openapi.json", want: 200},
		call{method: "GET", target: "/openapi.json", header: map[string]string{"If-None-Match": doc.ETag()}, want: 304},
		call{method: "POST", target: "/health", body: map[string]any{}, want: 405},
		call{method: "DELETE", target: "/openapi.json", want: 405},
		call{method: "GET", target: "/asyncapi.json", want: 200},
		call{method: "HEAD", target: "/asyncapi.json", want: 200},
		call{method: "GET", target: "/asyncapi.json", header: map[string]string{"If-None-Match": "*"}, want: 304},
		call{method: "PUT", target: "/asyncapi.json", body: map[string]any{}, want: 405},
		call{method: "GET", target: "/nope", want: 404},
		call{method: "GET", target: "/users/ada/", want: 404},
	)

	// Profiles: /users/me creates the caller's reference.
	s.run(
		call{method: "GET", target: "/users/me", want: 401},
		call{method: "GET", target: "/users/me", token: "not-a-jwt", want: 401},
		call{method: "GET", target: "/users/me", token: expired, want: 401},
		call{method: "GET", target: "/users/me", token: ada, want: 200},
		call{method: "GET", target: "/users/me", token: bob, want: 200},
		call{method: "GET", target: "/users/me", token: admin, want: 404},                      // an admin token never creates a reference for itself
		call{method: "GET", target: "/users/me/goals", token: ada, want: 400, badParams: true}, // "me" is reserved: no user has it
		call{method: "GET", target: "/users/ada", want: 200},
		call{method: "HEAD", target: "/users/ada", want: 200},
		call{method: "GET", target: "/users/ada", token: "ignored-on-public-routes", want: 200},
		call{method: "GET", target: "/users/nobody", want: 404},
		call{method: "GET", target: "/users/-bad", want: 400, badParams: true},
		call{method: "GET", target: "/users/" + strings.Repeat("a", 65), want: 400, badParams: true},
		call{method: "POST", target: "/users/ada", body: map[string]any{}, token: ada, want: 405},
		call{method: "DELETE", target: "/users/me", token: ada, want: 405},
	)

	// Badges.
	badges := "/users/ada/badges"
	first := s.do(call{method: "POST", target: badges, body: map[string]any{"name": "First Steps"}, token: ada, want: 201})
	s.run(
		call{method: "POST", target: badges, token: admin, want: 201, body: map[string]any{
			"name": "Second", "description": "by a service", "icon_url": "https://cdn.example.com/b.png", "date_achieved": "2024-01-01T00:00:00Z"}},
		call{method: "POST", target: badges, token: ada, want: 201, body: map[string]any{"name": "  Third  ", "icon_url": nil, "date_achieved": "2023-06-01T08:30:00.123456+02:00"}},
		call{method: "POST", target: "/users/bob/badges", token: bob, want: 201, body: map[string]any{"name": "Bob's"}},
		call{method: "POST", target: badges, token: ada, want: 409, body: map[string]any{"name": "FIRST steps"}},
		// 422: field rules.
		call{method: "POST", target: badges, token: ada, want: 422, body: map[string]any{}},
		call{method: "POST", target: badges, token: ada, want: 422, body: map[string]any{"name": ""}},
		call{method: "POST", target: badges, token: ada, want: 422, body: map[string]any{"name": "   "}},
		call{method: "POST", target: badges, token: ada, want: 422, body: map[string]any{"name": long(101)}},
		call{method: "POST", target: badges, token: ada, want: 422, body: map[string]any{"name": 5}},
		call{method: "POST", target: badges, token: ada, want: 422, body: map[string]any{"name": "x", "description": nil}},
		call{method: "POST", target: badges, token: ada, want: 422, body: map[string]any{"name": "x", "description": long(1001)}},
		call{method: "POST", target: badges, token: ada, want: 422, body: map[string]any{"name": "x", "icon_url": ""}},
		call{method: "POST", target: badges, token: ada, want: 422, body: map[string]any{"name": "x", "icon_url": "ftp://example.com/a.png"}},
		call{method: "POST", target: badges, token: ada, want: 422, body: map[string]any{"name": "x", "icon_url": "/relative.png"}},
		call{method: "POST", target: badges, token: ada, want: 422, body: map[string]any{"name": "x", "date_achieved": "yesterday"}},
		call{method: "POST", target: badges, token: ada, want: 422, body: map[string]any{"name": "x", "date_achieved": "2999-01-01T00:00:00Z"},
			schemaBlind: "not in the future"},
		call{method: "POST", target: badges, token: ada, want: 422, body: map[string]any{"name": "x", "id": 1}},
		call{method: "POST", target: badges, token: ada, want: 422, body: map[string]any{"name": "x", "created_at": "2024-01-01T00:00:00Z"}},
		call{method: "POST", target: badges, token: ada, want: 422, body: map[string]any{"name": "x", "colour": "red"}},
		call{method: "POST", target: badges, token: ada, want: 422, body: `{"name":"x","name":"y"}`},
		// 400, 415, 401, 403, 404 and the order between them.
		call{method: "POST", target: badges, token: ada, want: 400, body: ""},
		call{method: "POST", target: badges, token: ada, want: 400, body: `{"name":`},
		call{method: "POST", target: badges, token: ada, want: 400, body: `{"name":"a"} {}`},
		call{method: "POST", target: badges, token: ada, want: 400, body: `["name"]`},
		call{method: "POST", target: badges, token: ada, want: 415, body: `{"name":"a"}`, contentType: "text/plain"},
		call{method: "POST", target: badges, want: 401, body: map[string]any{"name": "a"}},
		call{method: "POST", target: badges, token: expired, want: 401, body: map[string]any{"name": "a"}},
		call{method: "POST", target: badges, token: bob, want: 403, body: map[string]any{"name": "a"}},
		call{method: "POST", target: "/users/-x/badges", token: bob, want: 400, body: map[string]any{"name": "a"}, badParams: true},
		call{method: "POST", target: "/users/ghost/badges", token: admin, want: 404, body: map[string]any{"name": "a"}},
		call{method: "POST", target: "/users/ghost/badges", token: admin, want: 404, body: map[string]any{"name": ""}},
	)
	var badge struct {
		ID int64 `json:"id"`
	}
	first.JSON(t, &badge)
	item := fmt.Sprintf("%s/%d", badges, badge.ID)
	s.run(
		call{method: "GET", target: badges, want: 200},
		call{method: "GET", target: "/users/bob/badges?limit=100", want: 200},
		call{method: "GET", target: badges + "?limit=0", want: 400, badParams: true},
		call{method: "GET", target: badges + "?limit=101", want: 400, badParams: true},
		call{method: "GET", target: badges + "?limit=x", want: 400, badParams: true},
		call{method: "GET", target: badges + "?cursor=zzz", want: 400},
		call{method: "GET", target: "/users/nobody/badges", want: 404},
		call{method: "GET", target: item, want: 200},
		call{method: "HEAD", target: item, want: 200},
		call{method: "GET", target: badges + "/0", want: 400, badParams: true},
		call{method: "GET", target: badges + "/abc", want: 400, badParams: true},
		call{method: "GET", target: badges + "/999999", want: 404},
		call{method: "GET", target: fmt.Sprintf("/users/bob/badges/%d", badge.ID), want: 404},
		call{method: "DELETE", target: item, token: ada, want: 405},
		call{method: "PUT", target: badges, token: ada, body: map[string]any{"name": "x"}, want: 405},
	)
	s.walk("/users/ada/badges?limit=1", 3)

	// Goals.
	goals := "/users/ada/goals"
	created := s.do(call{method: "POST", target: goals, token: ada, want: 201, body: map[string]any{"title": "  Learn Go  "}})
	s.run(
		call{method: "POST", target: goals, token: admin, want: 201, body: map[string]any{
			"title": "Ship it", "description": "d", "status": "completed", "streak_count": 3}},
		call{method: "POST", target: goals, token: ada, want: 201, body: map[string]any{
			"title": long(200), "description": long(2000), "status": "not-started", "streak_count": 1000000}},
		// 422.
		call{method: "POST", target: goals, token: ada, want: 422, body: map[string]any{}},
		call{method: "POST", target: goals, token: ada, want: 422, body: map[string]any{"title": "   "}},
		call{method: "POST", target: goals, token: ada, want: 422, body: map[string]any{"title": long(201)}},
		call{method: "POST", target: goals, token: ada, want: 422, body: map[string]any{"title": "a\u0000b"}},
		call{method: "POST", target: goals, token: ada, want: 422, body: map[string]any{"title": "a", "description": nil}},
		call{method: "POST", target: goals, token: ada, want: 422, body: map[string]any{"title": "a", "description": long(2001)}},
		call{method: "POST", target: goals, token: ada, want: 422, body: map[string]any{"title": "a", "status": "done"}},
		call{method: "POST", target: goals, token: ada, want: 422, body: map[string]any{"title": "a", "streak_count": -1}},
		call{method: "POST", target: goals, token: ada, want: 422, body: map[string]any{"title": "a", "streak_count": 1000001}},
		call{method: "POST", target: goals, token: ada, want: 422, body: `{"title":"a","streak_count":1.5}`},
		call{method: "POST", target: goals, token: ada, want: 422, body: `{"title":"a","streak_count":2.0}`,
			schemaBlind: "JSON Schema counts 2.0 as an integer; the API wants integers written without a fraction"},
		call{method: "POST", target: goals, token: ada, want: 422, body: map[string]any{"title": "a", "completed_at": nil}},
		call{method: "POST", target: goals, token: ada, want: 422, body: map[string]any{"title": "a", "auth_user_id": "bob"}},
		call{method: "POST", target: goals, token: ada, want: 422, body: `{"title":"a","title":"b"}`},
		// 400, 415, 401, 403, 404 (413 needs a real connection: TestOpenAPIServedByServe).
		call{method: "POST", target: goals, token: ada, want: 400, body: ""},
		call{method: "POST", target: goals, token: ada, want: 400, body: `{"title":"a"} x`},
		call{method: "POST", target: goals, token: ada, want: 400, body: `"title"`},
		call{method: "POST", target: goals, token: ada, want: 415, body: `{"title":"a"}`, contentType: "application/xml"},
		call{method: "POST", target: goals, token: ada, want: 415, body: `{"title":"a"}`, contentType: "application/json; charset=latin1"},
		call{method: "POST", target: goals, want: 401, body: map[string]any{"title": "a"}},
		call{method: "POST", target: goals, token: bob, want: 403, body: map[string]any{"title": "a"}},
		call{method: "POST", target: "/users/ghost/goals", token: admin, want: 404, body: map[string]any{"title": "a"}},
	)
	var goal struct {
		ID int64 `json:"id"`
	}
	created.JSON(t, &goal)
	gi := fmt.Sprintf("%s/%d", goals, goal.ID)
	etag := created.Header.Get("ETag")
	s.run(
		call{method: "GET", target: goals, want: 200},
		call{method: "GET", target: goals + "?status=completed&limit=5", want: 200},
		call{method: "GET", target: "/users/bob/goals", want: 200},
		call{method: "GET", target: goals + "?status=done", want: 400, badParams: true},
		call{method: "GET", target: goals + "?limit=0", want: 400, badParams: true},
		call{method: "GET", target: goals + "?cursor=zzz", want: 400},
		call{method: "GET", target: "/users/nobody/goals", want: 404},
		call{method: "GET", target: gi, want: 200},
		call{method: "HEAD", target: gi, want: 200},
		call{method: "GET", target: goals + "/0", want: 400, badParams: true},
		call{method: "GET", target: goals + "/007", want: 400, badParams: true},
		call{method: "GET", target: goals + "/999999", want: 404},
		call{method: "GET", target: fmt.Sprintf("/users/bob/goals/%d", goal.ID), want: 404},
	)
	s.walk(goals+"?limit=1", 3)
	updated := s.do(call{method: "PUT", target: gi, token: ada, ifMatch: etag, want: 200, body: map[string]any{"status": "completed", "streak_count": 8}})
	if updated.Header.Get("ETag") == etag {
		t.Errorf("PUT kept the ETag %s", etag)
	}
	s.run(
		call{method: "PUT", target: gi, token: ada, ifMatch: etag, want: 412, body: map[string]any{"title": "stale"}},
		call{method: "PUT", target: gi, token: ada, ifMatch: `W/` + updated.Header.Get("ETag"), want: 412, body: map[string]any{"title": "weak"}},
		call{method: "PUT", target: gi, token: admin, ifMatch: "*", want: 200, body: map[string]any{"title": "Learn Go well"}},
		call{method: "PUT", target: gi, token: ada, want: 200, body: map[string]any{"description": ""}},
		call{method: "PUT", target: gi, token: ada, want: 422, body: map[string]any{}},
		call{method: "PUT", target: gi, token: ada, want: 422, body: map[string]any{"id": 5}},
		call{method: "PUT", target: gi, token: ada, want: 422, body: map[string]any{"title": ""}},
		call{method: "PUT", target: gi, token: ada, want: 422, body: map[string]any{"status": nil}},
		call{method: "PUT", target: gi, token: ada, want: 400, body: `{"title":`},
		call{method: "PUT", target: gi, token: ada, want: 415, body: `{"title":"x"}`, contentType: "text/plain"},
		call{method: "PUT", target: gi, want: 401, body: map[string]any{"title": "x"}},
		call{method: "PUT", target: gi, token: bob, want: 403, body: map[string]any{"title": "x"}},
		call{method: "PUT", target: goals + "/0", token: ada, want: 400, body: map[string]any{"title": "x"}, badParams: true},
		call{method: "PUT", target: goals + "/999999", token: ada, want: 404, body: map[string]any{"title": "x"}},
		call{method: "PATCH", target: gi, token: ada, want: 405, body: map[string]any{"title": "x"}},
		call{method: "DELETE", target: gi, token: ada, ifMatch: etag, want: 412},
		call{method: "DELETE", target: gi, want: 401},
		call{method: "DELETE", target: gi, token: bob, want: 403},
		call{method: "DELETE", target: goals + "/abc", token: ada, want: 400, badParams: true},
	)
	current := s.do(call{method: "GET", target: gi, want: 200}).Header.Get("ETag")
	s.run(
		call{method: "DELETE", target: gi, token: ada, ifMatch: current, want: 204},
		call{method: "GET", target: gi, want: 404},
		call{method: "DELETE", target: gi, token: ada, want: 404},
	)
	s.tracker(ada, bob, admin, expired)

	// The profile counts what the session left (streaks and settings included).
	s.run(
		call{method: "GET", target: "/users/me", token: ada, want: 200},
		call{method: "GET", target: "/users/ada", want: 200},
	)

	// 429: a client over the rate limit.
	limited := newSession(t, spec, seen, func(c *config.Config) { c.RateLimitPerMinute = 2 })
	limited.run(
		call{method: "GET", target: "/users/nobody/goals", want: 404},
		call{method: "GET", target: "/users/nobody/goals", want: 404},
		call{method: "GET", target: "/users/nobody/goals", want: 429},
		call{method: "GET", target: "/health", want: 200}, // probes are not limited
		call{method: "GET", target: "/openapi.json", want: 200},
	)

	// 503: the database is down (from the start, so the server is built, not started).
	down := &session{t: t, app: apptest.NewUnstarted(t, func(c *config.Config) {
		c.DatabaseURL = "postgres://postgres@127.0.0.1:1/down?sslmode=disable&connect_timeout=1"
		c.DatabasePoolTimeout = 2 * time.Second
	}, features), spec: spec, seen: seen}
	down.run(
		call{method: "GET", target: "/health", want: 200},
		call{method: "GET", target: "/ready", want: 503},
		call{method: "GET", target: "/users/ada", want: 503},
		call{method: "GET", target: "/users/me", token: ada, want: 503},
		call{method: "GET", target: "/users/ada/badges", want: 503},
		call{method: "GET", target: "/users/ada/badges/1", want: 503},
		call{method: "POST", target: "/users/ada/badges", token: admin, body: map[string]any{"name": "a"}, want: 503},
		call{method: "GET", target: "/users/ada/goals", want: 503},
		call{method: "POST", target: "/users/ada/goals", token: ada, body: map[string]any{"title": "a"}, want: 503},
		call{method: "GET", target: "/users/ada/goals/1", want: 503},
		call{method: "PUT", target: "/users/ada/goals/1", token: admin, body: map[string]any{"title": "a"}, want: 503},
		call{method: "DELETE", target: "/users/ada/goals/1", token: admin, want: 503},
		call{method: "GET", target: "/users/ada/settings", token: admin, want: 503},
		call{method: "PUT", target: "/users/ada/settings", token: admin, body: map[string]any{"day_start_hour": 1}, want: 503},
		call{method: "POST", target: "/users/ada/goals/1/check-ins", token: admin, body: map[string]any{}, want: 503},
		call{method: "GET", target: "/users/ada/goals/1/check-ins", want: 503},
		call{method: "DELETE", target: "/users/ada/goals/1/check-ins/1", token: admin, want: 503},
		call{method: "GET", target: "/users/ada/activity", want: 503},
		call{method: "GET", target: "/users/ada/activity/calendar", want: 503},
		call{method: "GET", target: "/users/ada/activity/calendar.svg", want: 503},
		call{method: "GET", target: "/openapi.json", want: 200},
	)

	// Every documented operation answered with success at least once; the
	// documented statuses the session never saw are listed for the curious.
	var unseen []string
	for _, op := range spec.Operations() {
		key := op.Method + " " + op.Path
		ok := false
		for status := range seen[key] {
			ok = ok || status < 400
		}
		if !ok {
			t.Errorf("the session never saw %s succeed", key)
		}
		for _, code := range op.Statuses {
			if n, _ := strconv.Atoi(code); !seen[key][n] {
				unseen = append(unseen, key+" "+code)
			}
		}
	}
	sort.Strings(unseen)
	t.Logf("documented but not exercised: %s", strings.Join(unseen, "; "))
}

// tracker drives the learning tracker (issue 10): settings, check-ins with
// their streaks, the activity feed and the calendar. It leaves ada's
// settings at UTC and day start 0.
func (s *session) tracker(ada, bob, admin, expired string) {
	t := s.t
	t.Helper()
	long := func(n int) string { return strings.Repeat("é", n) }

	// Settings: owner or admin, private.
	settings := "/users/ada/settings"
	s.run(
		call{method: "GET", target: settings, token: ada, want: 200},
		call{method: "GET", target: settings, token: admin, want: 200},
		call{method: "GET", target: settings, want: 401},
		call{method: "GET", target: settings, token: expired, want: 401},
		call{method: "GET", target: settings, token: bob, want: 403},
		call{method: "GET", target: "/users/-x/settings", token: admin, want: 400, badParams: true},
		call{method: "GET", target: "/users/ghost/settings", token: admin, want: 404},
		call{method: "PUT", target: settings, token: ada, want: 200, body: map[string]any{"timezone": "America/Argentina/Buenos_Aires", "day_start_hour": 4}},
		call{method: "PUT", target: settings, token: admin, want: 200, body: map[string]any{"day_start_hour": 0}},
		call{method: "PUT", target: settings, token: ada, want: 200, body: map[string]any{"timezone": "  UTC  "}},
		// 422.
		call{method: "PUT", target: settings, token: ada, want: 422, body: map[string]any{}},
		call{method: "PUT", target: settings, token: ada, want: 422, body: map[string]any{"timezone": nil}},
		call{method: "PUT", target: settings, token: ada, want: 422, body: map[string]any{"timezone": ""}},
		call{method: "PUT", target: settings, token: ada, want: 422, body: map[string]any{"timezone": "+02:00"}},
		call{method: "PUT", target: settings, token: ada, want: 422, body: map[string]any{"timezone": "Europe//Berlin"}},
		call{method: "PUT", target: settings, token: ada, want: 422, body: map[string]any{"timezone": "Mars/Olympus"},
			schemaBlind: "a well-formed name the zone database does not hold"},
		call{method: "PUT", target: settings, token: ada, want: 422, body: map[string]any{"timezone": "Local"},
			schemaBlind: "a file of the zone database that is not a zone"},
		call{method: "PUT", target: settings, token: ada, want: 422, body: map[string]any{"day_start_hour": 5}},
		call{method: "PUT", target: settings, token: ada, want: 422, body: map[string]any{"day_start_hour": -1}},
		call{method: "PUT", target: settings, token: ada, want: 422, body: map[string]any{"day_start_hour": "1"}},
		call{method: "PUT", target: settings, token: ada, want: 422, body: map[string]any{"day_start_hour": nil}},
		call{method: "PUT", target: settings, token: ada, want: 422, body: map[string]any{"colour": "red"}},
		call{method: "PUT", target: settings, token: ada, want: 422, body: `{"day_start_hour":1,"day_start_hour":2}`},
		// 400, 415, 401, 403, 404, 405.
		call{method: "PUT", target: settings, token: ada, want: 400, body: `{"timezone":`},
		call{method: "PUT", target: settings, token: ada, want: 400, body: `["UTC"]`},
		call{method: "PUT", target: settings, token: ada, want: 415, body: `{"timezone":"UTC"}`, contentType: "text/plain"},
		call{method: "PUT", target: settings, want: 401, body: map[string]any{"timezone": "UTC"}},
		call{method: "PUT", target: settings, token: bob, want: 403, body: map[string]any{"timezone": "UTC"}},
		call{method: "PUT", target: "/users/ghost/settings", token: admin, want: 404, body: map[string]any{"timezone": "UTC"}},
		call{method: "DELETE", target: settings, token: ada, want: 405},
	)

	// Check-ins: on a not-started goal (it moves to in-progress) and on a completed one (409).
	var goal struct {
		ID int64 `json:"id"`
	}
	s.do(call{method: "POST", target: "/users/ada/goals", token: ada, want: 201, body: map[string]any{"title": "Practice", "status": "not-started", "streak_count": 2}}).JSON(t, &goal)
	gi := fmt.Sprintf("/users/ada/goals/%d", goal.ID)
	checkIns := gi + "/check-ins"
	var done struct {
		ID int64 `json:"id"`
	}
	s.do(call{method: "POST", target: "/users/ada/goals", token: ada, want: 201, body: map[string]any{"title": "Done", "status": "completed"}}).JSON(t, &done)
	var first struct {
		ID int64 `json:"id"`
	}
	s.do(call{method: "POST", target: checkIns, token: ada, want: 201, body: map[string]any{}}).JSON(t, &first)
	hourAgo := time.Now().Add(-time.Hour).Format(time.RFC3339Nano)
	s.run(
		call{method: "POST", target: checkIns, token: ada, want: 201, body: map[string]any{"minutes": 25, "note": "  chapter 3  ", "timezone": "Europe/Berlin"}},
		call{method: "POST", target: checkIns, token: ada, want: 201, body: map[string]any{"minutes": nil, "occurred_at": hourAgo, "note": long(500)}},
		call{method: "POST", target: checkIns, token: admin, want: 201, body: map[string]any{"occurred_at": "2020-01-01T10:00:00Z", "minutes": 1440}},
		// 422.
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"minutes": 0}},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"minutes": 1441}},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"minutes": "5"}},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: `{"minutes":2.0}`,
			schemaBlind: "JSON Schema counts 2.0 as an integer; the API wants integers written without a fraction"},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"note": long(501)}},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"note": nil}},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"note": "a\u0000b"}},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"timezone": nil}},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"timezone": "+02:00"}},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"timezone": "Nowhere/Land"},
			schemaBlind: "a well-formed name the zone database does not hold"},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"occurred_at": "yesterday"}},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"occurred_at": nil}},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"occurred_at": "2999-01-01T00:00:00Z"},
			schemaBlind: "not in the future"},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"occurred_at": "2020-01-01T10:00:00Z"},
			schemaBlind: "an owner records today and yesterday only"},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"streak_count": 3}},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"local_date": "2024-01-01"}},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: map[string]any{"colour": "red"}},
		call{method: "POST", target: checkIns, token: ada, want: 422, body: `{"note":"a","note":"b"}`},
		// 400, 415, 401, 403, 404, 409, 405.
		call{method: "POST", target: checkIns, token: ada, want: 400, body: ""},
		call{method: "POST", target: checkIns, token: ada, want: 400, body: `{"note":`},
		call{method: "POST", target: checkIns, token: ada, want: 400, body: `[]`},
		call{method: "POST", target: checkIns, token: ada, want: 415, body: `{}`, contentType: "text/plain"},
		call{method: "POST", target: checkIns, want: 401, body: map[string]any{}},
		call{method: "POST", target: checkIns, token: expired, want: 401, body: map[string]any{}},
		call{method: "POST", target: checkIns, token: bob, want: 403, body: map[string]any{}},
		call{method: "POST", target: "/users/ada/goals/0/check-ins", token: ada, want: 400, body: map[string]any{}, badParams: true},
		call{method: "POST", target: "/users/ada/goals/999999/check-ins", token: ada, want: 404, body: map[string]any{}},
		call{method: "POST", target: "/users/ada/goals/999999/check-ins", token: ada, want: 404, body: map[string]any{"minutes": 0}},
		call{method: "POST", target: "/users/ghost/goals/1/check-ins", token: admin, want: 404, body: map[string]any{}},
		call{method: "POST", target: fmt.Sprintf("/users/ada/goals/%d/check-ins", done.ID), token: ada, want: 409, body: map[string]any{"note": "too late"}},
		call{method: "PUT", target: checkIns, token: ada, want: 405, body: map[string]any{}},
		// The goal now derives its streak: writing it is 422, a rule JSON Schema cannot see.
		call{method: "GET", target: gi, want: 200},
		call{method: "PUT", target: gi, token: ada, want: 422, body: map[string]any{"streak_count": 9},
			schemaBlind: "streak_count is writable only while the goal has no check-in"},
		call{method: "PUT", target: gi, token: ada, want: 200, body: map[string]any{"title": "Practice daily"}},
	)
	s.run(
		call{method: "GET", target: checkIns, want: 200},
		call{method: "HEAD", target: checkIns, want: 200},
		call{method: "GET", target: checkIns + "?limit=0", want: 400, badParams: true},
		call{method: "GET", target: checkIns + "?cursor=zzz", want: 400},
		call{method: "GET", target: "/users/ada/goals/abc/check-ins", want: 400, badParams: true},
		call{method: "GET", target: "/users/ada/goals/999999/check-ins", want: 404},
		call{method: "GET", target: fmt.Sprintf("/users/bob/goals/%d/check-ins", goal.ID), want: 404},
		call{method: "GET", target: "/users/nobody/goals/1/check-ins", want: 404},
	)
	s.walk(checkIns+"?limit=1", 4)
	item := fmt.Sprintf("%s/%d", checkIns, first.ID)
	s.run(
		call{method: "DELETE", target: item, want: 401},
		call{method: "DELETE", target: item, token: bob, want: 403},
		call{method: "DELETE", target: checkIns + "/abc", token: ada, want: 400, badParams: true},
		call{method: "DELETE", target: checkIns + "/999999", token: ada, want: 404},
		call{method: "DELETE", target: fmt.Sprintf("/users/ada/goals/%d/check-ins/%d", done.ID, first.ID), token: ada, want: 404},
		call{method: "GET", target: item, want: 405},
		call{method: "DELETE", target: item, token: ada, want: 204},
		call{method: "DELETE", target: item, token: ada, want: 404},
	)

	// The activity feed and the calendar: public.
	feed := "/users/ada/activity"
	s.run(
		call{method: "GET", target: feed, want: 200},
		call{method: "HEAD", target: feed, want: 200},
		call{method: "GET", target: feed + "?type=goal.checked_in&limit=100", want: 200},
		call{method: "GET", target: feed + "?type=goal.completed", want: 200},
		call{method: "GET", target: "/users/bob/activity", want: 200},
		call{method: "GET", target: feed + "?type=", want: 400, badParams: true},
		call{method: "GET", target: feed + "?type=goal.deleted", want: 400, badParams: true},
		call{method: "GET", target: feed + "?type=goal.created&type=goal.completed", want: 400},
		call{method: "GET", target: feed + "?limit=101", want: 400, badParams: true},
		call{method: "GET", target: feed + "?cursor=zzz", want: 400},
		call{method: "GET", target: "/users/-x/activity", want: 400, badParams: true},
		call{method: "GET", target: "/users/nobody/activity", want: 404},
		call{method: "POST", target: feed, token: ada, body: map[string]any{}, want: 405},
	)
	s.walk(feed+"?type=badge.awarded&limit=1", 3)
	calendar := feed + "/calendar"
	recent := time.Now().UTC().AddDate(0, 0, -10).Format(time.DateOnly)
	s.run(
		call{method: "GET", target: calendar, want: 200},
		call{method: "HEAD", target: calendar, want: 200},
		call{method: "GET", target: calendar + "?from=" + recent, want: 200},
		call{method: "GET", target: calendar + "?from=2020-01-01&to=2020-01-31", want: 200},
		call{method: "GET", target: calendar + "?to=2020-01-01", want: 200},
		call{method: "GET", target: calendar + "?from=2099-01-01&to=2099-01-01", want: 200},
		call{method: "GET", target: "/users/bob/activity/calendar", want: 200},
		call{method: "GET", target: calendar + "?from=", want: 400, badParams: true},
		call{method: "GET", target: calendar + "?from=2020-1-1", want: 400, badParams: true},
		call{method: "GET", target: calendar + "?to=yesterday", want: 400, badParams: true},
		call{method: "GET", target: calendar + "?from=2020-02-01&to=2020-01-01", want: 400},
		call{method: "GET", target: calendar + "?from=2020-01-01&to=2021-01-02", want: 400},
		call{method: "GET", target: calendar + "?from=2020-01-01&from=2020-01-02", want: 400},
		call{method: "GET", target: "/users/nobody/activity/calendar", want: 404},
		call{method: "DELETE", target: calendar, token: ada, want: 405},
	)
	svg := calendar + ".svg"
	etag := s.do(call{method: "GET", target: svg, want: 200}).Header.Get("ETag")
	s.run(
		call{method: "HEAD", target: svg, want: 200},
		call{method: "GET", target: svg + "?from=2020-01-01&to=2020-03-31", want: 200},
		call{method: "GET", target: svg, header: map[string]string{"If-None-Match": etag}, want: 304},
		call{method: "GET", target: svg + "?to=2020-13-01", want: 400, badParams: true},
		call{method: "GET", target: svg + "?from=2020-02-01&to=2020-01-01", want: 400},
		call{method: "GET", target: "/users/nobody/activity/calendar.svg", want: 404},
		call{method: "PUT", target: svg, token: ada, body: map[string]any{}, want: 405},
	)
}

// walk follows the next links of a list from first, expecting total items.
func (s *session) walk(first string, total int) {
	s.t.Helper()
	next, n := first, 0
	for next != "" {
		r := s.do(call{method: "GET", target: next, want: 200})
		var items []json.RawMessage
		r.JSON(s.t, &items)
		n += len(items)
		next = ""
		if link := r.Header.Get("Link"); link != "" {
			m := regexp.MustCompile(`^<([^>]+)>; rel="next"$`).FindStringSubmatch(link)
			if m == nil {
				s.t.Fatalf("Link %q", link)
			}
			next = m[1]
		}
		if n > total {
			break
		}
	}
	if n != total {
		s.t.Errorf("walking %s gave %d items, want %d", first, n, total)
	}
}

package badges_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"usersvc/internal/testkit/apptest"
	"usersvc/platform/config"
	"usersvc/platform/page"
)

// TestCreateBadgeFieldRules drives every field rule of CONTRACT §3 "Badge"
// at and beyond its bounds, plus the 400/415/413 cases of a POST body.
func TestCreateBadgeFieldRules(t *testing.T) {
	t.Parallel()
	app := newApp(t, nil)
	owner := bearer(t, "42")

	name100 := strings.Repeat("n", 100)
	umlaut100 := strings.Repeat("ä", 100) // 2 bytes each
	emoji100 := strings.Repeat("😀", 100)  // 4 bytes each, outside the BMP
	desc1000 := strings.Repeat("d", 1000)
	url2048 := "https://example.com/" + strings.Repeat("p", 2048-len("https://example.com/"))
	inFuture := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339Nano) }

	cases := []struct {
		name        string
		body        any // string: sent as is; anything else: as JSON
		contentType string
		status      int
		fields      []string              // the fields a 422 names
		check       func(wireBadge) error // on a 201
	}{
		// 400: not one JSON object.
		{name: "malformed JSON", body: `{"name":`, status: 400},
		{name: "empty body", body: ``, status: 400},
		{name: "blank body", body: " \n\t", status: 400},
		{name: "trailing data", body: `{"name":"x"} x`, status: 400},
		{name: "two values", body: `{"name":"x"}{}`, status: 400},
		{name: "array", body: `[{"name":"x"}]`, status: 400},
		{name: "string", body: `"x"`, status: 400},
		{name: "null", body: `null`, status: 400},
		{name: "number", body: `42`, status: 400},
		{name: "invalid UTF-8", body: "{\"name\":\"\xff\"}", status: 400},
		// 415: not application/json.
		{name: "text/plain", body: `{"name":"x"}`, contentType: "text/plain", status: 415},
		{name: "no content type", body: `{"name":"x"}`, contentType: "-", status: 415},
		{name: "form", body: `name=x`, contentType: "application/x-www-form-urlencoded", status: 415},
		{name: "latin1 charset", body: `{"name":"x"}`, contentType: "application/json; charset=latin1", status: 415},
		{name: "utf-8 charset", body: `{"name":"charset ok"}`, contentType: "application/json; charset=utf-8", status: 201},

		// name: required, 1–100 code points after trimming, no NUL.
		{name: "name missing", body: map[string]any{"description": "x"}, status: 422, fields: []string{"name"}},
		{name: "name empty", body: map[string]any{"name": ""}, status: 422, fields: []string{"name"}},
		{name: "name blank", body: map[string]any{"name": " \t\n "}, status: 422, fields: []string{"name"}},
		{name: "name 100 ASCII", body: map[string]any{"name": name100}, status: 201,
			check: wantName(name100)},
		{name: "name 101 ASCII", body: map[string]any{"name": name100 + "n"}, status: 422, fields: []string{"name"}},
		{name: "name 100 two-byte", body: map[string]any{"name": umlaut100}, status: 201, check: wantName(umlaut100)},
		{name: "name 101 two-byte", body: map[string]any{"name": umlaut100 + "ä"}, status: 422, fields: []string{"name"}},
		{name: "name 100 four-byte", body: map[string]any{"name": emoji100}, status: 201, check: wantName(emoji100)},
		{name: "name 101 four-byte", body: map[string]any{"name": emoji100 + "😀"}, status: 422, fields: []string{"name"}},
		{name: "name trimmed to 100", body: map[string]any{"name": "  \t" + strings.Repeat("t", 100) + " \n"}, status: 201,
			check: wantName(strings.Repeat("t", 100))},
		{name: "name with NUL", body: `{"name":"a\u0000b"}`, status: 422, fields: []string{"name"}},
		{name: "name number", body: `{"name":5}`, status: 422, fields: []string{"name"}},
		{name: "name null", body: `{"name":null}`, status: 422, fields: []string{"name"}},
		{name: "name bool", body: `{"name":true}`, status: 422, fields: []string{"name"}},
		{name: "name array", body: `{"name":["a"]}`, status: 422, fields: []string{"name"}},
		{name: "name object", body: `{"name":{"a":1}}`, status: 422, fields: []string{"name"}},

		// description: ≤ 1000, default "", null is 422.
		{name: "description default", body: map[string]any{"name": "no description"}, status: 201,
			check: func(b wireBadge) error { return want("description", b.Description, "") }},
		{name: "description 1000", body: map[string]any{"name": "desc 1000", "description": desc1000}, status: 201,
			check: func(b wireBadge) error { return want("description", b.Description, desc1000) }},
		{name: "description 1001", body: map[string]any{"name": "desc 1001", "description": desc1000 + "d"}, status: 422, fields: []string{"description"}},
		{name: "description trimmed", body: map[string]any{"name": "desc trimmed", "description": "  hello  "}, status: 201,
			check: func(b wireBadge) error { return want("description", b.Description, "hello") }},
		{name: "description null", body: `{"name":"desc null","description":null}`, status: 422, fields: []string{"description"}},
		{name: "description NUL", body: `{"name":"desc nul","description":"x\u0000"}`, status: 422, fields: []string{"description"}},
		{name: "description number", body: `{"name":"desc number","description":1}`, status: 422, fields: []string{"description"}},

		// icon_url: absent or null for none, else absolute http(s) ≤ 2048.
		{name: "icon absent", body: map[string]any{"name": "icon absent"}, status: 201,
			check: func(b wireBadge) error { return wantNil("icon_url", b.IconURL) }},
		{name: "icon null", body: `{"name":"icon null","icon_url":null}`, status: 201,
			check: func(b wireBadge) error { return wantNil("icon_url", b.IconURL) }},
		{name: "icon https", body: map[string]any{"name": "icon https", "icon_url": "https://cdn.example.com/a.png?x=1&y=<2>"}, status: 201,
			check: func(b wireBadge) error {
				return wantPtr("icon_url", b.IconURL, "https://cdn.example.com/a.png?x=1&y=<2>")
			}},
		{name: "icon http", body: map[string]any{"name": "icon http", "icon_url": "http://example.com/i.svg"}, status: 201},
		{name: "icon 2048", body: map[string]any{"name": "icon 2048", "icon_url": url2048}, status: 201,
			check: func(b wireBadge) error { return wantPtr("icon_url", b.IconURL, url2048) }},
		{name: "icon 2049", body: map[string]any{"name": "icon 2049", "icon_url": url2048 + "p"}, status: 422, fields: []string{"icon_url"}},
		{name: "icon empty", body: map[string]any{"name": "icon empty", "icon_url": ""}, status: 422, fields: []string{"icon_url"}},
		{name: "icon blank", body: map[string]any{"name": "icon blank", "icon_url": "   "}, status: 422, fields: []string{"icon_url"}},
		{name: "icon ftp", body: map[string]any{"name": "icon ftp", "icon_url": "ftp://example.com/i.png"}, status: 422, fields: []string{"icon_url"}},
		{name: "icon javascript", body: map[string]any{"name": "icon js", "icon_url": "javascript:alert(1)"}, status: 422, fields: []string{"icon_url"}},
		{name: "icon relative", body: map[string]any{"name": "icon relative", "icon_url": "/img/a.png"}, status: 422, fields: []string{"icon_url"}},
		{name: "icon no host", body: map[string]any{"name": "icon no host", "icon_url": "https://"}, status: 422, fields: []string{"icon_url"}},
		{name: "icon not a URL", body: map[string]any{"name": "icon garbage", "icon_url": "not a url"}, status: 422, fields: []string{"icon_url"}},
		{name: "icon NUL", body: `{"name":"icon nul","icon_url":"https://example.com/\u0000"}`, status: 422, fields: []string{"icon_url"}},
		{name: "icon number", body: `{"name":"icon number","icon_url":7}`, status: 422, fields: []string{"icon_url"}},

		// date_achieved: RFC 3339, default now, at most 5 minutes in the future.
		{name: "date default now", body: map[string]any{"name": "date default"}, status: 201,
			check: func(b wireBadge) error {
				if b.DateAchieved != b.CreatedAt {
					return fmt.Errorf("date_achieved %s, want created_at %s", b.DateAchieved, b.CreatedAt)
				}
				return nil
			}},
		{name: "date with offset", body: map[string]any{"name": "date offset", "date_achieved": "2024-05-01T12:00:00.1234567+02:00"}, status: 201,
			check: func(b wireBadge) error { return want("date_achieved", b.DateAchieved, "2024-05-01T10:00:00.123456Z") }},
		{name: "date far past", body: map[string]any{"name": "date past", "date_achieved": "0001-01-01T00:00:00Z"}, status: 201,
			check: func(b wireBadge) error { return want("date_achieved", b.DateAchieved, "0001-01-01T00:00:00.000000Z") }},
		{name: "date before year 1", body: map[string]any{"name": "date bc", "date_achieved": "0000-12-31T23:59:59Z"}, status: 422, fields: []string{"date_achieved"}},
		{name: "date year 1 by offset", body: map[string]any{"name": "date offset bc", "date_achieved": "0001-01-01T00:00:00+00:01"}, status: 422, fields: []string{"date_achieved"}},
		{name: "date 4 minutes ahead", body: map[string]any{"name": "date skew", "date_achieved": inFuture(4 * time.Minute)}, status: 201},
		{name: "date 6 minutes ahead", body: map[string]any{"name": "date future", "date_achieved": inFuture(6 * time.Minute)}, status: 422, fields: []string{"date_achieved"}},
		{name: "date next year", body: map[string]any{"name": "date next year", "date_achieved": inFuture(365 * 24 * time.Hour)}, status: 422, fields: []string{"date_achieved"}},
		{name: "date only", body: map[string]any{"name": "date only", "date_achieved": "2024-05-01"}, status: 422, fields: []string{"date_achieved"}},
		{name: "date without zone", body: map[string]any{"name": "date no zone", "date_achieved": "2024-05-01T12:00:00"}, status: 422, fields: []string{"date_achieved"}},
		{name: "date words", body: map[string]any{"name": "date words", "date_achieved": "yesterday"}, status: 422, fields: []string{"date_achieved"}},
		{name: "date null", body: `{"name":"date null","date_achieved":null}`, status: 422, fields: []string{"date_achieved"}},
		{name: "date number", body: `{"name":"date number","date_achieved":1714557600}`, status: 422, fields: []string{"date_achieved"}},

		// Unknown, read-only and duplicated fields are 422 too.
		{name: "unknown field", body: map[string]any{"name": "unknown", "colour": "red"}, status: 422, fields: []string{"colour"}},
		{name: "read-only id", body: map[string]any{"name": "ro id", "id": 5}, status: 422, fields: []string{"id"}},
		{name: "read-only auth_user_id", body: map[string]any{"name": "ro user", "auth_user_id": "42"}, status: 422, fields: []string{"auth_user_id"}},
		{name: "read-only created_at", body: map[string]any{"name": "ro created", "created_at": "2024-05-01T12:00:00Z"}, status: 422, fields: []string{"created_at"}},
		{name: "duplicate key", body: `{"name":"dup a","name":"dup b"}`, status: 422, fields: []string{"name"}},
		{name: "every rule at once", body: `{"name":"","description":null,"icon_url":"","date_achieved":"soon","id":1,"x":1}`, status: 422,
			fields: []string{"date_achieved", "description", "icon_url", "id", "name", "x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := []apptest.Option{owner}
			switch tc.contentType {
			case "":
			case "-":
				opts = append(opts, apptest.Header("Content-Type", ""))
			default:
				opts = append(opts, apptest.Header("Content-Type", tc.contentType))
			}
			r := app.Do(http.MethodPost, "/users/42/badges", tc.body, opts...)
			if tc.status != http.StatusCreated {
				p := apptest.ExpectProblem(t, r, tc.status)
				if got := errorFields(p); tc.status == 422 && !slices.Equal(got, tc.fields) {
					t.Fatalf("422 names fields %v, want %v (%s)", got, tc.fields, r.Body)
				}
				if tc.status != 422 && len(p.Errors) > 0 {
					t.Fatalf("a %d carries field errors: %s", tc.status, r.Body)
				}
				return
			}
			if r.Status != http.StatusCreated {
				t.Fatalf("status = %d, want 201; body %s", r.Status, r.Body)
			}
			b := checkBadgeShape(t, r.Body)
			if tc.check != nil {
				if err := tc.check(b); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func want(field, got, want string) error {
	if got != want {
		return fmt.Errorf("%s = %q, want %q", field, got, want)
	}
	return nil
}

func wantName(name string) func(wireBadge) error {
	return func(b wireBadge) error { return want("name", b.Name, name) }
}

func wantNil(field string, got *string) error {
	if got != nil {
		return fmt.Errorf("%s = %q, want null", field, *got)
	}
	return nil
}

func wantPtr(field string, got *string, w string) error {
	if got == nil {
		return fmt.Errorf("%s = null, want %q", field, w)
	}
	return want(field, *got, w)
}

// TestCreateBadgeStatusOrder checks which error answers when several apply (CONTRACT §2).
func TestCreateBadgeStatusOrder(t *testing.T) {
	t.Parallel()
	app := newApp(t, nil)
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('42')`)
	app.Exec(`INSERT INTO badges (auth_user_id, name) VALUES ('42', 'Taken')`)
	app.Exec(`INSERT INTO auth_user_tombstones (auth_user_id, deleted_at) VALUES ('99', now())`)
	invalid := map[string]any{"name": "", "colour": "red"}

	cases := []struct {
		name   string
		path   string
		body   any
		opts   []apptest.Option
		status int
	}{
		{"no token beats path id", "/users/-bad/badges", invalid, nil, 401},
		{"no token beats everything after", "/users/42/badges", "not json", nil, 401},
		{"bad token", "/users/42/badges", invalid, []apptest.Option{apptest.Bearer("not.a.jwt")}, 401},
		{"token of a deleted user", "/users/99/badges", map[string]any{"name": "x"}, []apptest.Option{bearer(t, "99")}, 401},
		{"path id beats ownership", "/users/-bad/badges", invalid, []apptest.Option{bearer(t, "42")}, 400},
		{"path id too long", "/users/" + strings.Repeat("a", 65) + "/badges", invalid, []apptest.Option{admin(t)}, 400},
		{"ownership beats content type", "/users/43/badges", "x", []apptest.Option{bearer(t, "42"), apptest.Header("Content-Type", "text/plain")}, 403},
		{"content type beats malformed body", "/users/42/badges", "{", []apptest.Option{bearer(t, "42"), apptest.Header("Content-Type", "text/plain")}, 415},
		{"malformed body beats unknown user", "/users/nobody/badges", "{", []apptest.Option{admin(t)}, 400},
		{"unknown user beats field rules", "/users/nobody/badges", invalid, []apptest.Option{admin(t)}, 404},
		{"deleted user beats field rules", "/users/99/badges", invalid, []apptest.Option{admin(t)}, 404},
		{"unknown user, valid body", "/users/nobody/badges", map[string]any{"name": "x"}, []apptest.Option{admin(t)}, 404},
		{"field rules beat conflict", "/users/42/badges", map[string]any{"name": "taken", "icon_url": ""}, []apptest.Option{bearer(t, "42")}, 422},
		{"conflict", "/users/42/badges", map[string]any{"name": "TAKEN"}, []apptest.Option{bearer(t, "42")}, 409},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				r := app.Do(http.MethodPost, tc.path, tc.body, tc.opts...)
				apptest.ExpectProblem(t, r, tc.status)
				if tc.status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("401 without a Bearer challenge: %q", r.Header.Get("WWW-Authenticate"))
				}
			})
		}
	})
	t.Run("admin writes never create the admin's own reference", func(t *testing.T) {
		var n int
		if err := app.DB.QueryRow(context.Background(), `SELECT count(*) FROM auth_users WHERE auth_user_id = 'service-awarder'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("admin reference count = %d, %v; want 0", n, err)
		}
	})
}

// TestCreateBadgeOwnership is the ownership matrix of POST /users/{id}/badges.
func TestCreateBadgeOwnership(t *testing.T) {
	t.Parallel()
	app := newApp(t, nil)
	expired := apptest.Token(t, "42", map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	cases := []struct {
		caller string
		opts   []apptest.Option
		status int
	}{
		{"owner", []apptest.Option{bearer(t, "42")}, 201},
		{"other user", []apptest.Option{bearer(t, "43")}, 403},
		{"admin", []apptest.Option{admin(t)}, 201},
		{"anonymous", nil, 401},
		{"expired token", []apptest.Option{apptest.Bearer(expired)}, 401},
		{"malformed header", []apptest.Option{apptest.Header("Authorization", "Basic Zm9vOmJhcg==")}, 401},
		{"owner id in another case", []apptest.Option{bearer(t, "Ada")}, 403},
	}
	for i, tc := range cases {
		t.Run(tc.caller, func(t *testing.T) {
			path := "/users/42/badges"
			if tc.caller == "owner id in another case" {
				path = "/users/ada/badges"
			}
			r := app.Do(http.MethodPost, path, map[string]any{"name": "badge " + strconv.Itoa(i)}, tc.opts...)
			if tc.status == 201 {
				if r.Status != 201 {
					t.Fatalf("status = %d, want 201; body %s", r.Status, r.Body)
				}
				b := checkBadgeShape(t, r.Body)
				if b.UserID != "42" {
					t.Fatalf("auth_user_id = %q, want 42", b.UserID)
				}
				return
			}
			apptest.ExpectProblem(t, r, tc.status)
		})
	}
	t.Run("the owner's first write creates the reference just in time", func(t *testing.T) {
		r := app.Do(http.MethodPost, "/users/first-timer/badges", map[string]any{"name": "Welcome"}, bearer(t, "first-timer"))
		if r.Status != 201 {
			t.Fatalf("status = %d; body %s", r.Status, r.Body)
		}
	})
}

// TestBadgeShapes checks the exact representation of a badge on every route.
func TestBadgeShapes(t *testing.T) {
	t.Parallel()
	app := newApp(t, nil)
	r := app.Do(http.MethodPost, "/users/u.s-e_r:1/badges", map[string]any{
		"name": "First <Steps> & \"quotes\"", "description": "line\nbreak\u2028end", "icon_url": "https://example.com/a.png",
		"date_achieved": "2024-05-01T12:00:00Z",
	}, bearer(t, "u.s-e_r:1"))
	if r.Status != 201 {
		t.Fatalf("POST status = %d; body %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	created := checkBadgeShape(t, r.Body)
	wantLocation := "/users/u.s-e_r:1/badges/" + strconv.FormatInt(created.ID, 10)
	if loc := r.Header.Get("Location"); loc != wantLocation {
		t.Fatalf("Location = %q, want %q", loc, wantLocation)
	}
	if created.Name != `First <Steps> & "quotes"` || created.Description != "line\nbreak\u2028end" ||
		created.DateAchieved != "2024-05-01T12:00:00.000000Z" || created.UserID != "u.s-e_r:1" {
		t.Fatalf("created badge = %+v", created)
	}

	got := app.Do(http.MethodGet, wantLocation, nil)
	if got.Status != 200 || string(got.Body) != string(r.Body) {
		t.Fatalf("GET %s = %d %s, want the POST's body %s", wantLocation, got.Status, got.Body, r.Body)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}

	list := app.Do(http.MethodGet, "/users/u.s-e_r:1/badges", nil)
	var items []json.RawMessage
	list.JSON(t, &items)
	if list.Status != 200 || len(items) != 1 || string(items[0]) != string(r.Body) {
		t.Fatalf("list = %d %s", list.Status, list.Body)
	}
	if head := app.Do(http.MethodHead, wantLocation, nil); head.Status != 200 || len(head.Body) != 0 {
		t.Fatalf("HEAD = %d %q", head.Status, head.Body)
	}
}

// TestGetBadge covers the single-badge route's errors.
func TestGetBadge(t *testing.T) {
	t.Parallel()
	app := newApp(t, nil)
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('42'), ('43')`)
	app.Exec(`INSERT INTO auth_user_tombstones (auth_user_id, deleted_at) VALUES ('99', now())`)
	var mine, theirs int64
	if err := app.DB.QueryRow(context.Background(), `INSERT INTO badges (auth_user_id, name) VALUES ('42', 'Mine') RETURNING id`).Scan(&mine); err != nil {
		t.Fatal(err)
	}
	if err := app.DB.QueryRow(context.Background(), `INSERT INTO badges (auth_user_id, name) VALUES ('43', 'Theirs') RETURNING id`).Scan(&theirs); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		path   string
		opts   []apptest.Option
		status int
	}{
		{"own badge", fmt.Sprintf("/users/42/badges/%d", mine), nil, 200},
		{"public route ignores a bad token", fmt.Sprintf("/users/42/badges/%d", mine), []apptest.Option{apptest.Bearer("garbage")}, 200},
		{"another user's badge", fmt.Sprintf("/users/42/badges/%d", theirs), nil, 404},
		{"no such badge", "/users/42/badges/9223372036854775807", nil, 404},
		{"unknown user", fmt.Sprintf("/users/nobody/badges/%d", mine), nil, 404},
		{"deleted user", fmt.Sprintf("/users/99/badges/%d", mine), nil, 404},
		{"malformed user id", fmt.Sprintf("/users/_42/badges/%d", mine), nil, 400},
		{"badge id not a number", "/users/42/badges/abc", nil, 400},
		{"badge id zero", "/users/42/badges/0", nil, 400},
		{"badge id negative", "/users/42/badges/-1", nil, 400},
		{"badge id fraction", "/users/42/badges/1.5", nil, 400},
		{"badge id leading zero", fmt.Sprintf("/users/42/badges/0%d", mine), nil, 400},
		{"badge id overflows int64", "/users/42/badges/9223372036854775808", nil, 400},
		{"malformed badge id beats unknown user", "/users/nobody/badges/abc", nil, 400},
		{"trailing slash", fmt.Sprintf("/users/42/badges/%d/", mine), nil, 404},
		{"wrong method", fmt.Sprintf("/users/42/badges/%d", mine), nil, 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			method := http.MethodGet
			if tc.name == "wrong method" {
				method = http.MethodDelete
			}
			r := app.Do(method, tc.path, nil, tc.opts...)
			if tc.status == 200 {
				if r.Status != 200 {
					t.Fatalf("status = %d; body %s", r.Status, r.Body)
				}
				checkBadgeShape(t, r.Body)
				return
			}
			apptest.ExpectProblem(t, r, tc.status)
		})
	}
}

// TestListBadges covers the list's query parameters, order and errors.
func TestListBadges(t *testing.T) {
	t.Parallel()
	app := newApp(t, nil)
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('42'), ('43'), ('empty')`)
	app.Exec(`INSERT INTO auth_user_tombstones (auth_user_id, deleted_at) VALUES ('99', now())`)
	// Three badges share one date: ties order by id, descending.
	app.Exec(`INSERT INTO badges (auth_user_id, name, date_achieved) VALUES
		('42', 'old', '2020-01-01T00:00:00Z'),
		('42', 'tie 1', '2024-01-01T00:00:00Z'),
		('42', 'tie 2', '2024-01-01T00:00:00Z'),
		('42', 'new', '2025-01-01T00:00:00Z'),
		('42', 'tie 3', '2024-01-01T00:00:00Z'),
		('43', 'other', '2030-01-01T00:00:00Z')`)
	first := app.Do(http.MethodGet, "/users/42/badges?limit=2", nil)
	otherCursor := cursorOf(t, first.Header.Get("Link"))

	t.Run("order", func(t *testing.T) {
		t.Parallel()
		r := app.Do(http.MethodGet, "/users/42/badges?unknown=1&status=x", nil)
		if r.Status != 200 || r.Header.Get("Link") != "" {
			t.Fatalf("status = %d, Link = %q; body %s", r.Status, r.Header.Get("Link"), r.Body)
		}
		if got := names(t, r); !slices.Equal(got, []string{"new", "tie 3", "tie 2", "tie 1", "old"}) {
			t.Fatalf("order = %v", got)
		}
	})
	t.Run("empty list of a known user", func(t *testing.T) {
		t.Parallel()
		r := app.Do(http.MethodGet, "/users/empty/badges", nil)
		if r.Status != 200 || string(r.Body) != "[]" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Link") != "" {
			t.Fatalf("= %d %q %q", r.Status, r.Body, r.Header.Get("Link"))
		}
	})
	t.Run("exactly limit items: no next link", func(t *testing.T) {
		t.Parallel()
		r := app.Do(http.MethodGet, "/users/42/badges?limit=5", nil)
		if r.Status != 200 || r.Header.Get("Link") != "" || len(names(t, r)) != 5 {
			t.Fatalf("= %d %q %s", r.Status, r.Header.Get("Link"), r.Body)
		}
	})
	t.Run("limit bounds", func(t *testing.T) {
		t.Parallel()
		for _, q := range []string{"limit=1", "limit=100", "limit=05", "", "limit=", "cursor=", "limit=&cursor="} {
			if r := app.Do(http.MethodGet, "/users/42/badges?"+q, nil); r.Status != 200 {
				t.Fatalf("?%s = %d %s", q, r.Status, r.Body)
			}
		}
	})
	errs := []struct {
		name, target string
		status       int
	}{
		{"limit 0", "/users/42/badges?limit=0", 400},
		{"limit 101", "/users/42/badges?limit=101", 400},
		{"limit negative", "/users/42/badges?limit=-1", 400},
		{"limit word", "/users/42/badges?limit=ten", 400},
		{"limit fraction", "/users/42/badges?limit=1.5", 400},
		{"limit plus sign", "/users/42/badges?limit=%2B5", 400},
		{"limit huge", "/users/42/badges?limit=99999999999999999999999", 400},
		{"limit twice", "/users/42/badges?limit=5&limit=6", 400},
		{"cursor garbage", "/users/42/badges?cursor=!!!", 400},
		{"cursor of another user", "/users/43/badges?cursor=" + otherCursor, 400},
		{"cursor twice", "/users/42/badges?cursor=" + otherCursor + "&cursor=" + otherCursor, 400},
		{"cursor forged before PostgreSQL's time", "/users/42/badges?cursor=" + page.Encode(page.Cursor{At: time.UnixMicro(-1 << 62), ID: 1}, page.Scope("42")), 400},
		{"cursor too long", "/users/42/badges?cursor=" + strings.Repeat("A", 600), 400},
		{"bad query beats unknown user", "/users/nobody/badges?limit=0", 400},
		{"unknown user", "/users/nobody/badges", 404},
		{"deleted user", "/users/99/badges", 404},
		{"malformed user id", "/users/a%20b/badges", 400},
		{"user id 65 characters", "/users/" + strings.Repeat("7", 65) + "/badges", 400},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			apptest.ExpectProblem(t, app.Do(http.MethodGet, tc.target, nil), tc.status)
		})
	}
	t.Run("cursor forged far in the future", func(t *testing.T) {
		t.Parallel()
		cur := page.Encode(page.Cursor{At: time.UnixMicro(1 << 62), ID: 1}, page.Scope("42"))
		apptest.ExpectProblem(t, app.Do(http.MethodGet, "/users/42/badges?cursor="+cur, nil), 400)
	})
}

func names(t *testing.T, r apptest.Response) []string {
	t.Helper()
	var items []json.RawMessage
	r.JSON(t, &items)
	var out []string
	for _, raw := range items {
		out = append(out, checkBadgeShape(t, raw).Name)
	}
	return out
}

var linkRE = regexp.MustCompile(`^<(/[^>]*)>; rel="next"$`)

// nextLink returns the target of a Link: <…>; rel="next" header, or "".
func nextLink(t *testing.T, header string) string {
	t.Helper()
	if header == "" {
		return ""
	}
	m := linkRE.FindStringSubmatch(header)
	if m == nil {
		t.Fatalf("Link = %q, want </…>; rel=\"next\"", header)
	}
	return m[1]
}

func cursorOf(t *testing.T, header string) string {
	t.Helper()
	target := nextLink(t, header)
	i := strings.Index(target, "cursor=")
	if i < 0 {
		t.Fatalf("Link %q has no cursor", header)
	}
	c := target[i+len("cursor="):]
	if j := strings.IndexByte(c, '&'); j >= 0 {
		c = c[:j]
	}
	return c
}

// TestListPaginationWalk follows the next links over 120 badges, many of
// them sharing a date, and expects every badge exactly once, in order.
func TestListPaginationWalk(t *testing.T) {
	t.Parallel()
	app := newApp(t, nil)
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('42'), ('fourteen')`)
	app.Exec(`INSERT INTO badges (auth_user_id, name, date_achieved)
		SELECT '42', 'badge ' || g, timestamptz '2024-01-01T00:00:00Z' - make_interval(mins => g / 5)
		FROM generate_series(1, 120) g`)
	app.Exec(`INSERT INTO badges (auth_user_id, name) SELECT 'fourteen', 'b' || g FROM generate_series(1, 14) g`)

	var wantIDs []int64
	rows, err := app.DB.Query(context.Background(), `SELECT id FROM badges WHERE auth_user_id = '42' ORDER BY date_achieved DESC, id DESC`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		wantIDs = append(wantIDs, id)
	}
	rows.Close()

	walk := func(start string, limit int) (ids []int64, pages int) {
		target := start
		for target != "" {
			pages++
			if pages > 100 {
				t.Fatal("the walk does not end")
			}
			r := app.Do(http.MethodGet, target, nil)
			if r.Status != 200 {
				t.Fatalf("GET %s = %d %s", target, r.Status, r.Body)
			}
			var items []json.RawMessage
			r.JSON(t, &items)
			if len(items) == 0 || len(items) > limit {
				t.Fatalf("page %d has %d items", pages, len(items))
			}
			for _, raw := range items {
				ids = append(ids, checkBadgeShape(t, raw).ID)
			}
			target = nextLink(t, r.Header.Get("Link"))
			if target != "" && (!strings.Contains(target, "limit="+strconv.Itoa(limit)) || !strings.HasPrefix(target, strings.SplitN(start, "?", 2)[0]+"?")) {
				t.Fatalf("next link %q does not keep the path and limit", target)
			}
		}
		return ids, pages
	}

	ids, pages := walk("/users/42/badges?limit=7", 7)
	if pages != 18 || !slices.Equal(ids, wantIDs) {
		t.Fatalf("walked %d pages, ids %v; want 18 pages, ids %v", pages, ids, wantIDs)
	}
	ids, pages = walk("/users/42/badges", 50)
	if pages != 3 || !slices.Equal(ids, wantIDs) {
		t.Fatalf("default limit: %d pages, %d ids", pages, len(ids))
	}
	if _, pages = walk("/users/fourteen/badges?limit=7", 7); pages != 2 {
		t.Fatalf("14 badges by 7: %d pages, want 2 (no link after the last full page)", pages)
	}
}

// TestDuplicateBadgeNames: names are unique per user as lower() compares them.
func TestDuplicateBadgeNames(t *testing.T) {
	t.Parallel()
	app := newApp(t, nil)
	steps := []struct {
		user, name string
		status     int
	}{
		{"42", "First Steps", 201},
		{"42", "First Steps", 409},
		{"42", "first steps", 409},
		{"42", "FIRST STEPS", 409},
		{"42", "  First Steps\t", 409}, // stored trimmed, compared trimmed
		{"43", "first steps", 201},     // per user
		{"42", "Ärger", 201},
		{"42", "ärger", 409}, // lower() folds non-ASCII in a UTF-8 cluster
		{"42", "ÄRGER", 409},
		{"42", "Ελλάδα", 201},
		{"42", "ελλάδα", 409},
		{"42", "straße", 201},
		{"42", "STRASSE", 201}, // lower('STRASSE') is 'strasse', not 'straße'
	}
	for _, s := range steps {
		r := app.Do(http.MethodPost, "/users/"+s.user+"/badges", map[string]any{"name": s.name}, bearer(t, s.user))
		if s.status == 201 && r.Status != 201 {
			t.Fatalf("POST %q for %s = %d %s, want 201", s.name, s.user, r.Status, r.Body)
		}
		if s.status != 201 {
			apptest.ExpectProblem(t, r, s.status)
		}
	}
}

// TestConcurrentDuplicateBadge: 20 simultaneous awards of one name make
// exactly one badge; the unique index, not a read-then-write, decides.
func TestConcurrentDuplicateBadge(t *testing.T) {
	t.Parallel()
	app := newApp(t, nil)
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('42')`)
	app.Do(http.MethodGet, "/users/42/badges", nil) // builds Fiber's route tree before the race
	token := apptest.Token(t, "42", nil)
	adminToken := apptest.AdminToken(t)

	const n = 20
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name, tok := "Speed Demon", token
			if i%2 == 1 { // half of them by the admin, in another case
				name, tok = "SPEED demon", adminToken
			}
			req := httptest.NewRequest(http.MethodPost, "/users/42/badges", strings.NewReader(`{"name":"`+name+`"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			<-start
			resp, err := app.Fiber.Test(req, 30_000)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	created, conflicts := 0, 0
	for _, s := range statuses {
		switch s {
		case 201:
			created++
		case 409:
			conflicts++
		}
	}
	if created != 1 || conflicts != n-1 {
		t.Fatalf("statuses %v: %d created, %d conflicts; want 1 and %d", statuses, created, conflicts, n-1)
	}
	var rows int
	if err := app.DB.QueryRow(context.Background(), `SELECT count(*) FROM badges WHERE auth_user_id = '42'`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("badges stored = %d, %v; want 1", rows, err)
	}
}

// TestBadgesResolveThroughAuthService: an id without a local reference is
// asked of the auth-service; known ids never are.
func TestBadgesResolveThroughAuthService(t *testing.T) {
	t.Parallel()
	auth := apptest.NewFakeAuthService(t, map[string]string{
		"555": `{"id": 555, "email": "ada@example.com", "username": "ada"}`,
		"556": `{"id": "556", "email": null, "username": "bob"}`,
	})
	app := newApp(t, func(c *config.Config) { c.AuthServiceURL = auth.URL })
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('local')`)

	if r := app.Do(http.MethodGet, "/users/local/badges", nil); r.Status != 200 || auth.Calls.Load() != 0 {
		t.Fatalf("known id: %d %s, %d auth-service calls; want 200 and none", r.Status, r.Body, auth.Calls.Load())
	}
	if r := app.Do(http.MethodGet, "/users/555/badges", nil); r.Status != 200 || string(r.Body) != "[]" {
		t.Fatalf("id known to the auth-service: %d %s", r.Status, r.Body)
	}
	var username string
	if err := app.DB.QueryRow(context.Background(), `SELECT username FROM auth_users WHERE auth_user_id = '555'`).Scan(&username); err != nil || username != "ada" {
		t.Fatalf("reference of 555: %q, %v", username, err)
	}
	if r := app.Do(http.MethodPost, "/users/556/badges", map[string]any{"name": "Awarded"}, admin(t)); r.Status != 201 {
		t.Fatalf("admin award to an id known to the auth-service: %d %s", r.Status, r.Body)
	}
	if r := app.Do(http.MethodPost, "/users/557/badges", map[string]any{"name": ""}, admin(t)); r.Status != 404 {
		t.Fatalf("admin award with broken fields to an unknown id: %d %s, want 404", r.Status, r.Body)
	}
	apptest.ExpectProblem(t, app.Do(http.MethodGet, "/users/557/badges/1", nil), 404)
	before := auth.Calls.Load()
	apptest.ExpectProblem(t, app.Do(http.MethodGet, "/users/557/badges", nil), 404)
	if auth.Calls.Load() != before {
		t.Fatal("a recent 404 of the auth-service was asked again")
	}

	down := newApp(t, func(c *config.Config) { c.AuthServiceURL = downAuthService(t) })
	for _, r := range []apptest.Response{
		down.Do(http.MethodGet, "/users/555/badges", nil),
		down.Do(http.MethodGet, "/users/555/badges/1", nil),
		down.Do(http.MethodPost, "/users/555/badges", map[string]any{"name": "x"}, admin(t)),
	} {
		apptest.ExpectProblem(t, r, 503)
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
	}
}

// TestBadgesRateLimit: the 429 comes before authentication and carries Retry-After.
func TestBadgesRateLimit(t *testing.T) {
	t.Parallel()
	app := newApp(t, func(c *config.Config) { c.RateLimitPerMinute = 2 })
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('42')`)
	for i := range 2 {
		if r := app.Do(http.MethodGet, "/users/42/badges", nil); r.Status != 200 {
			t.Fatalf("request %d = %d", i, r.Status)
		}
	}
	r := app.Do(http.MethodGet, "/users/42/badges", nil)
	apptest.ExpectProblem(t, r, 429)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// Anonymous writes count against the address too, and 429 answers before 401.
	apptest.ExpectProblem(t, app.Do(http.MethodPost, "/users/42/badges", map[string]any{"name": "x"}), 429)
}

// TestBadgeBodyTooLarge runs on a real socket: Fiber's in-memory transport
// fails the request itself instead of answering 413.
func TestBadgeBodyTooLarge(t *testing.T) {
	t.Parallel()
	app := newApp(t, nil)
	base := app.URL()
	big := `{"name":"x","description":"` + strings.Repeat("d", 70_000) + `"}`
	cases := []struct {
		name, path, token string
		status            int
	}{
		{"owner", "/users/42/badges", apptest.Token(t, "42", nil), 413},
		{"413 beats 401", "/users/42/badges", "", 413},
		{"413 beats 403", "/users/43/badges", apptest.Token(t, "42", nil), 413},
		{"unknown route beats 413", "/users/42/medals", "", 404},
		{"just below the limit", "/users/42/badges", apptest.Token(t, "42", nil), 422},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := big
			if tc.status == 422 { // 65 536 bytes exactly, with a description far over 1000
				body = `{"name":"x","description":"` + strings.Repeat("d", 65_536-len(`{"name":"x","description":""}`)) + `"}`
			}
			req, _ := http.NewRequest(http.MethodPost, base+tc.path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			apptest.ExpectProblem(t, apptest.Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, tc.status)
		})
	}
}

package profile_test

import (
	"net/http"
	"slices"
	"testing"

	"usersvc/internal/testkit/apptest"
)

func TestSettings(t *testing.T) {
	t.Parallel()
	app := newApp(t, nil)
	owner := apptest.Bearer(apptest.Token(t, "ada", nil))
	other := apptest.Bearer(apptest.Token(t, "bob", nil))
	admin := apptest.Bearer(apptest.AdminToken(t))
	app.Exec(`INSERT INTO auth_users (auth_user_id) VALUES ('bob')`)

	// Defaults, for a user created just in time by the owner's token.
	r := app.Do(http.MethodGet, "/users/ada/settings", nil, owner)
	if r.Status != 200 || string(r.Body) != `{"timezone":"UTC","day_start_hour":0}` {
		t.Fatalf("defaults: %d %s", r.Status, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "private, no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	// Any non-empty subset; the answer is the whole object.
	r = app.Do(http.MethodPut, "/users/ada/settings", map[string]any{"timezone": "Europe/Berlin"}, owner)
	if r.Status != 200 || string(r.Body) != `{"timezone":"Europe/Berlin","day_start_hour":0}` {
		t.Fatalf("PUT timezone: %d %s", r.Status, r.Body)
	}
	r = app.Do(http.MethodPut, "/users/ada/settings", map[string]any{"day_start_hour": 4}, owner)
	if r.Status != 200 || string(r.Body) != `{"timezone":"Europe/Berlin","day_start_hour":4}` {
		t.Fatalf("PUT hour: %d %s", r.Status, r.Body)
	}
	r = app.Do(http.MethodPut, "/users/ada/settings", map[string]any{"timezone": "America/Argentina/Buenos_Aires", "day_start_hour": 0}, admin)
	if r.Status != 200 || string(r.Body) != `{"timezone":"America/Argentina/Buenos_Aires","day_start_hour":0}` {
		t.Fatalf("admin PUT: %d %s", r.Status, r.Body)
	}
	if r = app.Do(http.MethodGet, "/users/ada/settings", nil, admin); string(r.Body) != `{"timezone":"America/Argentina/Buenos_Aires","day_start_hour":0}` {
		t.Fatalf("GET after PUT: %s", r.Body)
	}
	// /users/me shows them; the public profile does not.
	r = app.Do(http.MethodGet, "/users/me", nil, owner)
	var me struct {
		Settings map[string]any `json:"settings"`
	}
	r.JSON(t, &me)
	if me.Settings["timezone"] != "America/Argentina/Buenos_Aires" || me.Settings["day_start_hour"] != float64(0) {
		t.Fatalf("/users/me: %s", r.Body)
	}
	checkProfile(t, app.Do(http.MethodGet, "/users/ada", nil), false)

	cases := []struct {
		name, method, path string
		body               any
		opts               []apptest.Option
		status             int
		fields             []string
	}{
		{"anonymous GET", "GET", "/users/ada/settings", nil, nil, 401, nil},
		{"anonymous PUT", "PUT", "/users/ada/settings", map[string]any{"day_start_hour": 1}, nil, 401, nil},
		{"another user's", "GET", "/users/ada/settings", nil, []apptest.Option{other}, 403, nil},
		{"another user's PUT", "PUT", "/users/ada/settings", map[string]any{"day_start_hour": 1}, []apptest.Option{other}, 403, nil},
		{"malformed id", "GET", "/users/-a/settings", nil, []apptest.Option{owner}, 400, nil},
		{"unknown user", "GET", "/users/ghost/settings", nil, []apptest.Option{admin}, 404, nil},
		{"unknown user PUT", "PUT", "/users/ghost/settings", map[string]any{"day_start_hour": 1}, []apptest.Option{admin}, 404, nil},
		{"unknown user bad body", "PUT", "/users/ghost/settings", map[string]any{"day_start_hour": 9}, []apptest.Option{admin}, 404, nil},
		{"not JSON", "PUT", "/users/ada/settings", nil, []apptest.Option{owner, apptest.Header("Content-Type", "text/plain")}, 415, nil},
		{"malformed JSON", "PUT", "/users/ada/settings", `{"timezone":`, []apptest.Option{owner}, 400, nil},
		{"empty object", "PUT", "/users/ada/settings", map[string]any{}, []apptest.Option{owner}, 422, []string{"body"}},
		{"null timezone", "PUT", "/users/ada/settings", map[string]any{"timezone": nil}, []apptest.Option{owner}, 422, []string{"timezone"}},
		{"null hour", "PUT", "/users/ada/settings", map[string]any{"day_start_hour": nil}, []apptest.Option{owner}, 422, []string{"day_start_hour"}},
		{"Local", "PUT", "/users/ada/settings", map[string]any{"timezone": "Local"}, []apptest.Option{owner}, 422, []string{"timezone"}},
		{"empty zone", "PUT", "/users/ada/settings", map[string]any{"timezone": ""}, []apptest.Option{owner}, 422, []string{"timezone"}},
		{"offset", "PUT", "/users/ada/settings", map[string]any{"timezone": "+02:00"}, []apptest.Option{owner}, 422, []string{"timezone"}},
		{"case differs", "PUT", "/users/ada/settings", map[string]any{"timezone": "europe/Berlin"}, []apptest.Option{owner}, 422, []string{"timezone"}},
		{"path trick", "PUT", "/users/ada/settings", map[string]any{"timezone": "Europe//Berlin"}, []apptest.Option{owner}, 422, []string{"timezone"}},
		{"unknown zone", "PUT", "/users/ada/settings", map[string]any{"timezone": "Europe/Atlantis"}, []apptest.Option{owner}, 422, []string{"timezone"}},
		{"hour 5", "PUT", "/users/ada/settings", map[string]any{"day_start_hour": 5}, []apptest.Option{owner}, 422, []string{"day_start_hour"}},
		{"hour -1", "PUT", "/users/ada/settings", map[string]any{"day_start_hour": -1}, []apptest.Option{owner}, 422, []string{"day_start_hour"}},
		{"hour as text", "PUT", "/users/ada/settings", map[string]any{"day_start_hour": "1"}, []apptest.Option{owner}, 422, []string{"day_start_hour"}},
		{"unknown field", "PUT", "/users/ada/settings", map[string]any{"locale": "de"}, []apptest.Option{owner}, 422, []string{"locale"}},
		{"wrong method", "POST", "/users/ada/settings", map[string]any{}, []apptest.Option{owner}, 405, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := app.Do(tc.method, tc.path, tc.body, tc.opts...)
			p := apptest.ExpectProblem(t, r, tc.status)
			if tc.fields != nil && !slices.Equal(p.Fields(), tc.fields) {
				t.Fatalf("fields %v, want %v: %s", p.Fields(), tc.fields, r.Body)
			}
		})
	}
	// Nothing refused changed anything.
	if r = app.Do(http.MethodGet, "/users/ada/settings", nil, owner); string(r.Body) != `{"timezone":"America/Argentina/Buenos_Aires","day_start_hour":0}` {
		t.Fatalf("after the refusals: %s", r.Body)
	}
}

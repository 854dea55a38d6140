package badges_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"usersvc/internal/testkit/apptest"
)

// FuzzCreateBadgeHTTP sends arbitrary bodies through the whole stack (body
// reader, rules, PostgreSQL): a client's bytes never earn a 5xx.
func FuzzCreateBadgeHTTP(f *testing.F) {
	for _, seed := range []string{
		`{"name":"First Steps"}`, `{"name":"first steps"}`, `{"name":"Ärger","date_achieved":"0000-01-01T00:00:00+23:59"}`,
		`{"name":"x","date_achieved":"9999-12-31T23:59:59-23:59"}`, `{"name":"y","icon_url":"http://[::1]:80/a"}`,
		`{"name":"\ud83d\ude00\udc00","description":"\u2028\u2029<>&"}`, `{"name":"z","description":"` + "\x7f" + `"}`,
		`{"name":"a","icon_url":"https://example.com/%zz"}`, `{"name":` + "\"\t\"" + `}`, `{`, `{"name":"b"}{"name":"c"}`,
	} {
		f.Add([]byte(seed))
	}
	app := newApp(f, nil)
	token := "Bearer " + apptest.Token(f, "42", nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		// app.Do reports through the F, which a fuzz target may not use: drive Fiber directly.
		req := httptest.NewRequest(http.MethodPost, "/users/42/badges", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", token)
		resp, err := app.Fiber.Test(req, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			t.Fatalf("POST %q = %d %s", body, resp.StatusCode, data)
		}
		if resp.StatusCode == http.StatusCreated {
			checkBadgeShape(t, data)
		}
	})
}

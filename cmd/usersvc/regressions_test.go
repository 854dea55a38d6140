package main

// Regression tests from the QA audit of §1–§3 and §8 of CONTRACT.md. Each
// test names the clause it checks; all of them run the real binary.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"usersvc/internal/testkit/apptest"
	"usersvc/internal/testkit/pgtest"
	"usersvc/platform/database"
	"usersvc/platform/errs"
)

type auditResp struct {
	status int
	header http.Header
	body   string
}

func auditDo(t *testing.T, method, url string, body io.Reader, headers ...string) auditResp {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	// A new connection per request, like most black-box clients (curl).
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return auditResp{resp.StatusCode, resp.Header, string(b)}
}

// §2 413: a body over HTTP_BODY_LIMIT sent with chunked transfer coding is a
// 413 like one with a Content-Length (today: 404 "no resource at /", because
// fasthttp resets the request before the error handler looks at the route).
func TestRegressionChunkedOverLimitIs413(t *testing.T) {
	_, addr, _ := startServe(t, pgtest.Migrated(t))
	tok := apptest.Token(t, "chunky", nil)
	body := `{"title":"` + strings.Repeat("a", 70_000) + `"}`
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/users/chunky/goals", io.MultiReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked over-limit body: status %d, want 413; body %s", resp.StatusCode, b)
	}
}

// §2 400-or-422: a field of the wrong type is 422. "streak_count":"5" (a JSON
// string) is accepted today as 5 (json.Number accepts quoted numbers).
func TestRegressionStreakCountStringIs422(t *testing.T) {
	_, addr, _ := startServe(t, pgtest.Migrated(t))
	tok := apptest.Token(t, "typed", nil)
	base := "http://" + addr + "/users/typed/goals"
	r := auditDo(t, "POST", base, strings.NewReader(`{"title":"t","streak_count":"5"}`),
		"Authorization", "Bearer "+tok, "Content-Type", "application/json")
	if r.status != 422 {
		t.Errorf(`POST streak_count "5": status %d, want 422; body %s`, r.status, r.body)
	}
	r = auditDo(t, "POST", base, strings.NewReader(`{"title":"t"}`),
		"Authorization", "Bearer "+tok, "Content-Type", "application/json")
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	loc := r.header.Get("Location")
	r = auditDo(t, "PUT", "http://"+addr+loc, strings.NewReader(`{"streak_count":"7"}`),
		"Authorization", "Bearer "+tok, "Content-Type", "application/json")
	if r.status != 422 {
		t.Errorf(`PUT streak_count "7": status %d, want 422; body %s`, r.status, r.body)
	}
}

// §3 ETag is strong: If-Match uses strong comparison (RFC 9110 §8.8.3.2),
// i.e. the opaque tags must be equal character by character. "01" and "+1"
// are not "1" (today both match, ParseInt reads them as 1).
func TestRegressionIfMatchComparesTagsExactly(t *testing.T) {
	_, addr, _ := startServe(t, pgtest.Migrated(t))
	tok := apptest.Token(t, "etags", nil)
	r := auditDo(t, "POST", "http://"+addr+"/users/etags/goals", strings.NewReader(`{"title":"t"}`),
		"Authorization", "Bearer "+tok, "Content-Type", "application/json")
	if r.status != 201 || r.header.Get("ETag") != `"1"` {
		t.Fatalf("create: %d ETag %q %s", r.status, r.header.Get("ETag"), r.body)
	}
	url := "http://" + addr + r.header.Get("Location")
	for _, tag := range []string{`"01"`, `"+1"`} {
		r = auditDo(t, "PUT", url, strings.NewReader(`{"title":"x"}`),
			"Authorization", "Bearer "+tok, "Content-Type", "application/json", "If-Match", tag)
		if r.status != 412 {
			t.Errorf("PUT If-Match %s against ETag \"1\": status %d, want 412", tag, r.status)
		}
		r = auditDo(t, "DELETE", url, nil, "Authorization", "Bearer "+tok, "If-Match", tag)
		if r.status != 412 {
			t.Errorf("DELETE If-Match %s against ETag \"1\": status %d, want 412", tag, r.status)
		}
	}
}

// §2: every error, wrong methods included, is application/problem+json. A
// method Fiber does not know (FOO, PROPFIND) gets a text/plain 400 today.
func TestRegressionUnknownMethodIsProblem(t *testing.T) {
	_, addr, _ := startServe(t, pgtest.Migrated(t))
	for _, m := range []string{"FOO", "PROPFIND"} {
		r := auditDo(t, m, "http://"+addr+"/users/someone", nil)
		if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s /users/someone: status %d Content-Type %q body %q, want a problem (405 with Allow)", m, r.status, ct, r.body)
		}
		if r.status != 405 || r.header.Get("Allow") == "" {
			t.Errorf("%s /users/someone: status %d Allow %q, want 405 with Allow", m, r.status, r.header.Get("Allow"))
		}
	}
}

// §3 /metrics: Prometheus text. The "unmatched" series keeps the request's
// method as an unsafe string into fasthttp's buffer (observe.go knownMethod +
// unmatchedKey), so later requests rewrite the label ("GET" → "DEL", "POS"…)
// and /metrics eventually answers 500 ("collected before with the same name
// and label values").
func TestRegressionMetricsMethodLabelsStayIntact(t *testing.T) {
	_, addr, _ := startServe(t, pgtest.Migrated(t))
	base := "http://" + addr
	for i := 0; i < 3; i++ {
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"} {
			auditDo(t, m, base+"/nope", nil)
			auditDo(t, m, base+"/users/x1/goals/1", nil)
			auditDo(t, "DELETE", base+"/users/x1", nil)
			auditDo(t, "OPTIONS", base+"/health", nil)
		}
	}
	r := auditDo(t, "GET", base+"/metrics", nil)
	if r.status != 200 {
		t.Fatalf("/metrics: status %d: %.300s", r.status, r.body)
	}
	known := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true,
		"OPTIONS": true, "CONNECT": true, "TRACE": true, "OTHER": true}
	for _, m := range regexp.MustCompile(`method="([^"]*)"`).FindAllStringSubmatch(r.body, -1) {
		if !known[m[1]] {
			t.Errorf("/metrics has a corrupted method label %q", m[1])
		}
	}
}

// §3/§5: "not found" answers of the auth-service are cached (≤ 30 s), so an
// unknown id is asked once. The cache key is the path parameter, an unsafe
// string into fasthttp's buffer: after other requests it no longer matches
// and the auth-service is asked again (it could also turn into another id).
func TestRegressionNotFoundCacheSurvivesOtherRequests(t *testing.T) {
	var calls atomic.Int64
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/users/ghost") {
			calls.Add(1)
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer auth.Close()
	_, addr, _ := startServe(t, pgtest.Migrated(t), "AUTH_SERVICE_URL="+auth.URL)
	base := "http://" + addr
	// A known user (created just in time by its own token).
	if r := auditDo(t, "GET", base+"/users/me", nil, "Authorization", "Bearer "+apptest.Token(t, "kn1", nil)); r.status != 200 {
		t.Fatalf("/users/me: %d %s", r.status, r.body)
	}
	// Nondeterministic (it depends on which pooled buffer a request gets):
	// several ids make a false pass unlikely.
	const ids = 6
	for n := 0; n < ids; n++ {
		ghost := fmt.Sprintf("/users/ghost%d", n)
		if r := auditDo(t, "GET", base+ghost, nil); r.status != 404 {
			t.Fatalf("unknown id: %d %s", r.status, r.body)
		}
		for i := 0; i < 3; i++ {
			auditDo(t, "GET", base+"/users/kn1/goals", nil)
			auditDo(t, "GET", base+"/users/kn1", nil)
		}
		if r := auditDo(t, "GET", base+ghost, nil); r.status != 404 {
			t.Fatalf("unknown id again: %d %s", r.status, r.body)
		}
	}
	if n := calls.Load(); n != ids {
		t.Errorf("auth-service asked %d times about %d unknown ids, each twice within 30 s: want %d (404 cached)", n, ids, ids)
	}
}

// §2 503: a database connection dropped mid-query (PostgreSQL killed) gives
// pgx's io.ErrUnexpectedEOF; it must be a 503, never a 500 (seen live with
// PG_STOP_MODE=immediate: GET /users/{id}/goals → 500 "unexpected EOF").
func TestRegressionUnexpectedEOFIsUnavailable(t *testing.T) {
	for _, err := range []error{io.ErrUnexpectedEOF, fmt.Errorf("list goals: %w", io.ErrUnexpectedEOF)} {
		if !database.IsUnavailable(err) {
			t.Errorf("IsUnavailable(%v) = false, want true (503)", err)
		}
		if got := errs.CodeOf(database.Classify(err)); got != errs.Unavailable {
			t.Errorf("Classify(%v) has code %q, want %q (503)", err, got, errs.Unavailable)
		}
	}
}

// §3 Badge icon_url: an absolute http/https URL (docs/api-badges-profile.md:
// "with a host"). "http://:80/" has an empty host (RFC 9110 §4.2.1: invalid).
func TestRegressionIconURLNeedsHost(t *testing.T) {
	_, addr, _ := startServe(t, pgtest.Migrated(t))
	tok := apptest.Token(t, "icons", nil)
	for i, u := range []string{"http://:80/", "https://:443/x"} {
		body := fmt.Sprintf(`{"name":"b%d","icon_url":%q}`, i, u)
		r := auditDo(t, "POST", "http://"+addr+"/users/icons/badges", bytes.NewBufferString(body),
			"Authorization", "Bearer "+tok, "Content-Type", "application/json")
		if r.status != 422 {
			t.Errorf("icon_url %q: status %d, want 422", u, r.status)
		}
	}
}

package badges_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"

	"usersvc/internal/testkit/apptest"
	"usersvc/modules/authref"
	"usersvc/modules/badges"
	"usersvc/platform/config"
)

// newApp starts the API with the badges module on a fresh database.
func newApp(t testing.TB, tweak func(*config.Config)) *apptest.App {
	t.Helper()
	return apptest.New(t, tweak, authref.Module, badges.Module)
}

func bearer(t *testing.T, sub string) apptest.Option {
	return apptest.Bearer(apptest.Token(t, sub, nil))
}

func admin(t *testing.T) apptest.Option { return apptest.Bearer(apptest.AdminToken(t)) }

// timestampRE is the contract's timestamp: RFC 3339, UTC, microseconds, Z.
var timestampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)

// badgeFields are exactly the fields of a badge object.
var badgeFields = []string{"auth_user_id", "created_at", "date_achieved", "description", "icon_url", "id", "name"}

// wireBadge is a badge as clients see it.
type wireBadge struct {
	ID           int64   `json:"id"`
	UserID       string  `json:"auth_user_id"`
	Name         string  `json:"name"`
	Description  string  `json:"description"`
	IconURL      *string `json:"icon_url"`
	DateAchieved string  `json:"date_achieved"`
	CreatedAt    string  `json:"created_at"`
}

// checkBadgeShape fails unless raw is a badge object with exactly the contract's fields.
func checkBadgeShape(t *testing.T, raw json.RawMessage) wireBadge {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("badge %s is not an object: %v", raw, err)
	}
	var keys []string
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != strings.Join(badgeFields, ",") {
		t.Fatalf("badge fields = %v, want exactly %v", keys, badgeFields)
	}
	var b wireBadge
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("badge %s: %v", raw, err)
	}
	for name, ts := range map[string]string{"date_achieved": b.DateAchieved, "created_at": b.CreatedAt} {
		if !timestampRE.MatchString(ts) {
			t.Fatalf("%s = %q, want RFC 3339 UTC with 6 fractional digits and Z", name, ts)
		}
	}
	if b.ID < 1 {
		t.Fatalf("id = %d", b.ID)
	}
	return b
}

// errorFields are the fields a 422 names, sorted.
func errorFields(p apptest.Problem) []string {
	fields := p.Fields()
	sort.Strings(fields)
	return fields
}

// downAuthService is the URL of an auth-service that refuses connections.
func downAuthService(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	url := s.URL
	s.Close()
	return url
}

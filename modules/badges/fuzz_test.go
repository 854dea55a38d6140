package badges

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"usersvc/platform/errs"
	"usersvc/platform/httpserver"
	"usersvc/platform/jsonw"
)

// FuzzNewBadgeBody feeds arbitrary bytes to the body reader and the badge
// rules: they must never panic, must answer only 400 or 422, and whatever
// they accept must obey every rule and encode as valid JSON.
func FuzzNewBadgeBody(f *testing.F) {
	for _, seed := range []string{
		`{"name":"First Steps"}`,
		`{"name":"  x  ","description":"","icon_url":null,"date_achieved":"2024-05-01T12:00:00Z"}`,
		`{"name":"x","icon_url":"https://example.com/a.png","date_achieved":"2024-05-01T12:00:00.123456789+14:00"}`,
		`{"name":"a\u0000b"}`, `{"name":"x","name":"y"}`, `{"id":1,"auth_user_id":"42","created_at":"x"}`,
		`{"name":"😀","description":null,"icon_url":"","date_achieved":"9999-12-31T23:59:59Z"}`,
		`{"name":1e999}`, `{"name":"\ud800"}`, `{}`, `[]`, `{"name":"x"} trailing`, "", "\xff", `{"a":{"b":[1,2,{"c":null}]}}`,
	} {
		f.Add([]byte(seed))
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw []byte) {
		body, err := httpserver.ParseBody(raw)
		if err != nil {
			if !errs.Is(err, errs.Malformed) {
				t.Fatalf("ParseBody(%q) = %v, want Malformed (400)", raw, err)
			}
			return
		}
		nb, invalid := decodeNewBadge(body, now)
		if invalid != nil {
			if e, ok := errs.As(invalid); !ok || e.Code != errs.Invalid || len(e.Fields) == 0 {
				t.Fatalf("decode(%q) = %v, want a 422 naming fields", raw, invalid)
			}
			return
		}
		if n := utf8.RuneCountInString(nb.Name); n < 1 || n > MaxName || nb.Name != strings.TrimSpace(nb.Name) || strings.ContainsRune(nb.Name, 0) {
			t.Fatalf("accepted name %q", nb.Name)
		}
		if utf8.RuneCountInString(nb.Description) > MaxDescription || strings.ContainsRune(nb.Description, 0) {
			t.Fatalf("accepted description %q", nb.Description)
		}
		if nb.IconURL != nil && (utf8.RuneCountInString(*nb.IconURL) > MaxIconURL ||
			!(strings.HasPrefix(*nb.IconURL, "http://") || strings.HasPrefix(*nb.IconURL, "https://"))) {
			t.Fatalf("accepted icon_url %q", *nb.IconURL)
		}
		if nb.DateAchieved != nil && (TooFarInFuture(*nb.DateAchieved, now) || nb.DateAchieved.Before(EarliestDate)) {
			t.Fatalf("accepted date_achieved %v", nb.DateAchieved)
		}
		b := Badge{ID: 1, UserID: nb.UserID, Name: nb.Name, Description: nb.Description, IconURL: nb.IconURL, CreatedAt: now}
		if nb.DateAchieved != nil {
			b.DateAchieved = *nb.DateAchieved
		}
		out := b.AppendJSON(nil)
		var back struct {
			Name         string `json:"name"`
			DateAchieved string `json:"date_achieved"`
		}
		if err := json.Unmarshal(out, &back); err != nil || back.Name != nb.Name {
			t.Fatalf("badge encodes as %s (%v), name %q", out, err, back.Name)
		}
		if _, err := time.Parse(time.RFC3339Nano, back.DateAchieved); err != nil || len(back.DateAchieved) != len(jsonw.TimeLayout) {
			t.Fatalf("date_achieved encodes as %q", back.DateAchieved)
		}
	})
}

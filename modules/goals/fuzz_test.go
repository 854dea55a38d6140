package goals

import (
	"slices"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"usersvc/internal/testkit/fuzzkit"
	"usersvc/platform/httpserver"
	"usersvc/platform/page"
	"usersvc/platform/tzname"
)

// The fuzz targets of the goal routes' parsers: what a client sends never
// panics, is refused only as a client's mistake, and what is accepted keeps
// the field rules of CONTRACT §3.

func checkGoalFields(t *testing.T, title, description, status *string, streak *int64) {
	t.Helper()
	if title != nil {
		fuzzkit.Text(t, "title", *title, 1, MaxTitle)
	}
	if description != nil {
		fuzzkit.Text(t, "description", *description, 0, MaxDescription)
	}
	if status != nil && !ValidStatus(*status) {
		t.Fatalf("status accepted as %q", *status)
	}
	if streak != nil && (*streak < 0 || *streak > MaxStreak) {
		t.Fatalf("streak_count accepted as %d", *streak)
	}
}

func FuzzDecodeNewGoal(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		g, ok := fuzzkit.Decode(t, data, decodeNewGoal)
		if ok {
			checkGoalFields(t, &g.Title, &g.Description, &g.Status, &g.Streak)
		}
	})
}

func FuzzDecodePatch(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		p, ok := fuzzkit.Decode(t, data, decodePatch)
		if !ok {
			return
		}
		if p.Title == nil && p.Description == nil && p.Status == nil && p.Streak == nil {
			t.Fatalf("an empty update accepted: %q", data)
		}
		checkGoalFields(t, p.Title, p.Description, p.Status, p.Streak)
	})
}

func FuzzDecodeCheckIn(f *testing.F) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		nc, ok := fuzzkit.Decode(t, data, func(b *httpserver.Body) (NewCheckIn, error) { return decodeCheckIn(b, now) })
		if !ok {
			return
		}
		if at := nc.OccurredAt; at != nil && (at.After(now.Add(ClockSkew)) || !at.Equal(at.Truncate(time.Microsecond))) {
			t.Fatalf("occurred_at accepted as %s", at)
		}
		if tz := nc.Timezone; tz != nil {
			if _, err := tzname.Load(*tz); err != nil {
				t.Fatalf("timezone accepted as %q", *tz)
			}
		}
		if m := nc.Minutes; m != nil && (*m < 1 || *m > MaxMinutes) {
			t.Fatalf("minutes accepted as %d", *m)
		}
		fuzzkit.Text(t, "note", nc.Note, 0, MaxNote)
	})
}

// FuzzParseListQuery: ?status=, ?limit= and ?cursor= of GET /users/{id}/goals.
func FuzzParseListQuery(f *testing.F) {
	app := fiber.New()
	f.Fuzz(func(t *testing.T, query string) {
		fuzzkit.Query(app, query, func(c *fiber.Ctx) {
			q, err := parseListQuery(c, "42")
			fuzzkit.Malformed(t, "?"+query, err)
			if err != nil {
				return
			}
			if (q.Status != "" && !slices.Contains(statuses, q.Status)) || q.Limit < 1 || q.Limit > page.MaxLimit || q.UserID != "42" {
				t.Fatalf("?%s accepted as %+v", query, q)
			}
			if q.After != nil {
				// The cursor is bound to this list: it reads back under the same scope.
				if _, err := page.Decode(page.Encode(*q.After, page.Scope("42", q.Status)), page.Scope("42", q.Status)); err != nil {
					t.Fatalf("?%s: accepted cursor does not re-encode: %v", query, err)
				}
			}
		})
	})
}

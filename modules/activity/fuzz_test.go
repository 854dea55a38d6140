package activity

import (
	"slices"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"usersvc/internal/testkit/fuzzkit"
)

// FuzzCalendarRange: ?from= and ?to= of the calendar, resolved against a
// user's today. Never a panic; refused only as a client's mistake; an
// accepted date is the one sent (it prints back as sent), and a resolved
// range runs forward over at most 366 days.
func FuzzCalendarRange(f *testing.F) {
	app := fiber.New()
	f.Fuzz(func(t *testing.T, query string, todayShift int16) {
		today := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(todayShift))
		fuzzkit.Query(app, query, func(c *fiber.Ctx) {
			q, err := readRange(c)
			fuzzkit.Malformed(t, "?"+query, err)
			if err != nil {
				return
			}
			args := c.Context().QueryArgs()
			if q.hasFrom && q.from.Format(time.DateOnly) != string(args.Peek("from")) ||
				q.hasTo && q.to.Format(time.DateOnly) != string(args.Peek("to")) {
				t.Fatalf("?%s read as %+v", query, q)
			}
			from, to, err := q.resolve(today)
			fuzzkit.Malformed(t, "?"+query, err)
			if err != nil {
				return
			}
			if from.After(to) || daysBetween(from, to)+1 > maxSpan {
				t.Fatalf("?%s (today %s) resolved to %s – %s", query, today.Format(time.DateOnly), from, to)
			}
		})
	})
}

// FuzzFeedType: ?type= of the activity feed; accepted only as one of Types.
func FuzzFeedType(f *testing.F) {
	app := fiber.New()
	f.Fuzz(func(t *testing.T, query string) {
		fuzzkit.Query(app, query, func(c *fiber.Ctx) {
			typ, err := readType(c)
			fuzzkit.Malformed(t, "?"+query, err)
			if err == nil && typ != "" && !slices.Contains(Types, typ) {
				t.Fatalf("?%s accepted type %q", query, typ)
			}
		})
	})
}

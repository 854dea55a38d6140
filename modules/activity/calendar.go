package activity

import (
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/gofiber/fiber/v2"

	"usersvc/platform/errs"
	"usersvc/platform/httpserver"
	"usersvc/platform/jsonw"
)

// Calendar is the user's check-ins by local date over a range (CONTRACT §3 "Calendar").
type Calendar struct {
	Timezone string
	From, To time.Time
	Days     []CalendarDay // every date of the range, oldest first
}

// CalendarDay is one date of the calendar.
type CalendarDay struct {
	Date     time.Time
	CheckIns int64
	Minutes  int64
	Level    int // 0–4
}

const (
	defaultSpan = 365 // days shown without from or to
	maxSpan     = 366 // days a range may cover
)

// rangeQuery is ?from= and ?to= as sent.
type rangeQuery struct {
	from, to       time.Time
	hasFrom, hasTo bool
}

// readRange reads the parameters' syntax (400 before anything else is looked up).
func readRange(c *fiber.Ctx) (rangeQuery, error) {
	var q rangeQuery
	var err error
	if q.from, q.hasFrom, err = readDate(c, "from"); err != nil {
		return q, err
	}
	q.to, q.hasTo, err = readDate(c, "to")
	return q, err
}

// resolve applies the from/to rules to the user's today.
func (q rangeQuery) resolve(today time.Time) (time.Time, time.Time, error) {
	from, to := q.from, q.to
	switch {
	case !q.hasFrom && !q.hasTo:
		to = today
		from = to.AddDate(0, 0, -(defaultSpan - 1))
	case !q.hasTo:
		to = today
	case !q.hasFrom:
		from = to.AddDate(0, 0, -(defaultSpan - 1))
	}
	switch {
	case from.After(to):
		return from, to, errs.New(errs.Malformed, "from must not be after to (without to, the range ends on the user's today)")
	case daysBetween(from, to)+1 > maxSpan:
		return from, to, errs.New(errs.Malformed, "the range must not cover more than 366 days")
	}
	return from, to, nil
}

// readDate reads a YYYY-MM-DD query parameter; present but empty, malformed
// or repeated is 400.
func readDate(c *fiber.Ctx, name string) (time.Time, bool, error) {
	values := c.Context().QueryArgs().PeekMulti(name)
	switch len(values) {
	case 0:
		return time.Time{}, false, nil
	case 1:
		d, err := time.Parse(time.DateOnly, string(values[0]))
		if err != nil {
			return d, true, errs.New(errs.Malformed, "the query parameter "+name+" must be a date such as 2026-12-05")
		}
		return d, true, nil
	}
	return time.Time{}, true, errs.New(errs.Malformed, "the query parameter "+name+" is given more than once")
}

func daysBetween(from, to time.Time) int { return int(to.Sub(from).Hours()/24 + 0.5) }

// load builds the calendar of the request: the user's zone and today, then the counts.
func (h *handlers) load(c *fiber.Ctx) (Calendar, error) {
	q, err := readRange(c)
	if err != nil {
		return Calendar{}, err
	}
	ctx, userID := c.UserContext(), httpserver.Owner(c)
	zone, today, err := h.store.Today(ctx, userID)
	if err != nil {
		return Calendar{}, err
	}
	from, to, err := q.resolve(today)
	if err != nil {
		return Calendar{}, err
	}
	counts, err := h.store.Days(ctx, userID, from, to)
	if err != nil {
		return Calendar{}, err
	}
	return Build(zone, from, to, counts), nil
}

// Build lays out every date with its level: 0 without check-ins, else
// ⌈4 × check_ins ÷ M⌉ where M is the busiest day of the range.
func Build(zone string, from, to time.Time, counts map[time.Time]DayCount) Calendar {
	cal := Calendar{Timezone: zone, From: from, To: to}
	var most int64
	for _, dc := range counts {
		most = max(most, dc.CheckIns)
	}
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		dc := counts[d]
		day := CalendarDay{Date: d, CheckIns: dc.CheckIns, Minutes: dc.Minutes}
		if dc.CheckIns > 0 {
			day.Level = int((4*dc.CheckIns + most - 1) / most)
		}
		cal.Days = append(cal.Days, day)
	}
	return cal
}

func (h *handlers) calendarJSON(c *fiber.Ctx) error {
	cal, err := h.load(c)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(cal.AppendJSON(make([]byte, 0, 96+len(cal.Days)*64)))
}

// AppendJSON appends the calendar's representation.
func (cal *Calendar) AppendJSON(b []byte) []byte {
	b = append(b, `{"timezone":`...)
	b = jsonw.String(b, cal.Timezone)
	b = append(b, `,"from":`...)
	b = appendDate(b, cal.From)
	b = append(b, `,"to":`...)
	b = appendDate(b, cal.To)
	b = append(b, `,"days":[`...)
	for i, d := range cal.Days {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"date":`...)
		b = appendDate(b, d.Date)
		b = append(b, `,"check_ins":`...)
		b = jsonw.Int(b, d.CheckIns)
		b = append(b, `,"minutes":`...)
		b = jsonw.Int(b, d.Minutes)
		b = append(b, `,"level":`...)
		b = jsonw.Int(b, int64(d.Level))
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func appendDate(b []byte, d time.Time) []byte {
	b = append(b, '"')
	b = d.AppendFormat(b, time.DateOnly)
	return append(b, '"')
}

func (h *handlers) calendarSVG(c *fiber.Ctx) error {
	cal, err := h.load(c)
	if err != nil {
		return err
	}
	body := cal.AppendSVG(make([]byte, 0, 4096+len(cal.Days)*160))
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	c.Set(fiber.HeaderETag, etag)
	if matchesETag(c.Get(fiber.HeaderIfNoneMatch), etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, "image/svg+xml")
	return c.Send(body)
}

// matchesETag applies If-None-Match (weak comparison, RFC 9110 §13.1.2).
func matchesETag(header, etag string) bool {
	for _, tag := range splitTags(header) {
		if tag == "*" || tag == etag || tag == "W/"+etag {
			return true
		}
	}
	return false
}

func splitTags(h string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(h); i++ {
		if i == len(h) || h[i] == ',' {
			tag := h[start:i]
			for len(tag) > 0 && (tag[0] == ' ' || tag[0] == '\t') {
				tag = tag[1:]
			}
			for len(tag) > 0 && (tag[len(tag)-1] == ' ' || tag[len(tag)-1] == '\t') {
				tag = tag[:len(tag)-1]
			}
			if tag != "" {
				out = append(out, tag)
			}
			start = i + 1
		}
	}
	return out
}

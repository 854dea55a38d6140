package activity

import (
	"fmt"
	"strings"
	"time"

	"usersvc/modules/authref"
	"usersvc/platform/openapi"
	"usersvc/platform/page"
)

const tag = "activity"

// Fragment is the activity feature's part of the OpenAPI document, built
// from the types of record.go and the range rules of calendar.go.
func Fragment() openapi.Fragment {
	return openapi.Fragment{
		Tags: []openapi.Object{{"name": tag, "description": "A user's activity feed and check-in calendar; public, read-only."}},
		Paths: openapi.Object{
			"/users/{auth_user_id}/activity": openapi.Object{
				"parameters": []any{authref.UserParam},
				"get":        feedOperation(),
			},
			"/users/{auth_user_id}/activity/calendar": openapi.Object{
				"parameters": []any{authref.UserParam},
				"get":        calendarOperation(),
			},
			"/users/{auth_user_id}/activity/calendar.svg": openapi.Object{
				"parameters": []any{authref.UserParam},
				"get":        calendarSVGOperation(),
			},
		},
		Components: map[string]openapi.Object{
			"schemas": {
				"ActivityType": openapi.Object{"type": "string", "enum": openapi.Strings(Types...)},
				"ActivityItem": itemSchema(),
				"ActivityList": openapi.Object{"type": "array", "items": openapi.SchemaRef("ActivityItem"), "maxItems": page.MaxLimit},
				"CalendarDay":  daySchema(),
				"Calendar":     calendarSchema(),
			},
			"parameters": {
				"ActivityTypeFilter": openapi.Object{
					"name": "type", "in": "query", "required": false,
					"description": "Only items of this type, compared exactly; an empty, unknown or repeated type is 400. The next-page link keeps the filter.",
					"schema":      openapi.SchemaRef("ActivityType"),
				},
				"CalendarFrom": dateParam("from", fmt.Sprintf("The first date shown. Alone, the range runs to the user's today; without `from` or `to`, the %d days ending on today.", defaultSpan)),
				"CalendarTo":   dateParam("to", fmt.Sprintf("The last date shown; dates after today are allowed (and empty). Alone, the %d days ending on `to`.", defaultSpan)),
			},
			"headers": {"CacheControlCalendar": openapi.Object{
				"description": "The heat map may be cached, publicly, for a few minutes.",
				"required":    true,
				"schema":      openapi.Object{"type": "string", "const": svgCacheControl},
			}},
		},
	}
}

// svgCacheControl is what calendarSVG sends; the document states it so that
// the session test notices a change.
const svgCacheControl = "public, max-age=300"

// maxLevel is the level of the busiest day of any range: Build's top shade.
var maxLevel = func() int {
	d := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	return Build("UTC", d, d, map[time.Time]DayCount{d: {CheckIns: 1}}).Days[0].Level
}()

func dateSchema() openapi.Object {
	return openapi.Object{"type": "string", "format": "date", "pattern": `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`}
}

func dateParam(name, description string) openapi.Object {
	return openapi.Object{
		"name": name, "in": "query", "required": false,
		"description": "A date, YYYY-MM-DD (the user's local dates). " + description +
			fmt.Sprintf(" An empty, malformed or repeated date, `from` after `to`, or a range of more than %d days is 400.", maxSpan),
		"schema": dateSchema(),
	}
}

func nullableID() openapi.Object {
	return openapi.Object{"anyOf": []any{openapi.SchemaRef("ResourceID"), openapi.Object{"type": "null"}}}
}

func itemSchema() openapi.Object {
	return openapi.Object{
		"type": "object", "additionalProperties": false,
		"required": openapi.Strings("id", "type", "occurred_at", "goal_id", "badge_id", "title", "streak_count"),
		"properties": openapi.Object{
			"id":   openapi.SchemaRef("ResourceID"),
			"type": openapi.SchemaRef("ActivityType"),
			"occurred_at": openapi.Object{"allOf": []any{openapi.SchemaRef("Timestamp")},
				"description": fmt.Sprintf("`%s`: the badge's `date_achieved`; `%s`: the goal's `created_at`; `%s`: its `completed_at`; `%s`: the check-in's `occurred_at`.",
					BadgeAwarded, GoalCreated, GoalCompleted, GoalCheckedIn)},
			"goal_id":  nullableID(),
			"badge_id": nullableID(),
			"title":    openapi.Object{"type": "string", "description": "The goal's title or the badge's name when the item was recorded."},
			"streak_count": openapi.Object{
				"description": fmt.Sprintf("`%s` only: the goal's streak right after the check-in; null for every other type.", GoalCheckedIn),
				"type":        openapi.Strings("integer", "null"), "minimum": 0,
			},
		},
		"if":   openapi.Object{"properties": openapi.Object{"type": openapi.Object{"const": GoalCheckedIn}}},
		"then": openapi.Object{"properties": openapi.Object{"streak_count": openapi.Object{"type": "integer"}}},
		"else": openapi.Object{"properties": openapi.Object{"streak_count": openapi.Object{"type": "null"}}},
	}
}

func daySchema() openapi.Object {
	return openapi.Object{
		"type": "object", "additionalProperties": false,
		"required": openapi.Strings("date", "check_ins", "minutes", "level"),
		"properties": openapi.Object{
			"date":      dateSchema(),
			"check_ins": openapi.Object{"type": "integer", "minimum": 0, "description": "Check-ins whose `local_date` is this date."},
			"minutes":   openapi.Object{"type": "integer", "minimum": 0, "description": "Their `minutes`, summed (null counts 0)."},
			"level": openapi.Object{
				"description": fmt.Sprintf("0 for a day without check-ins, else ⌈%d × `check_ins` ÷ M⌉ where M is the most check-ins of any day of the range.", maxLevel),
				"type":        "integer", "minimum": 0, "maximum": maxLevel,
			},
		},
	}
}

func calendarSchema() openapi.Object {
	return openapi.Object{
		"type": "object", "additionalProperties": false,
		"required": openapi.Strings("timezone", "from", "to", "days"),
		"properties": openapi.Object{
			"timezone": openapi.Object{"type": "string", "description": "The user's `timezone` setting, in which the dates are counted."},
			"from":     dateSchema(),
			"to":       dateSchema(),
			"days": openapi.Object{
				"description": "Every date from `from` to `to`, oldest first.",
				"type":        "array", "items": openapi.SchemaRef("CalendarDay"), "minItems": 1, "maxItems": maxSpan,
			},
		},
	}
}

func operation(id, summary, description string) openapi.Object {
	return openapi.Operation(tag, id, summary, description)
}

var itemExample = openapi.Object{
	"id": 77, "type": GoalCheckedIn, "occurred_at": "2024-05-01T18:30:00.000000Z", "goal_id": 9, "badge_id": nil,
	"title": "Learn Go", "streak_count": 5,
}

func feedOperation() openapi.Object {
	op := operation("listActivity", "A user's activity feed, newest first",
		fmt.Sprintf("What the user did: %s. Ordered by `occurred_at`, newest first, ties by id descending; optionally filtered by `type`. "+
			"An item is recorded with its change; deleting a goal or a check-in removes its items. An unknown user is 404; a known user without activity is `[]`.",
			"`"+strings.Join(Types, "`, `")+"`"))
	op["parameters"] = []any{openapi.ParameterRef("Limit"), openapi.ParameterRef("Cursor"), openapi.ParameterRef("ActivityTypeFilter")}
	op["responses"] = openapi.Responses(openapi.Object{"200": openapi.Object{
		"description": "One page of activity items.",
		"headers":     openapi.Object{"Link": openapi.HeaderRef("Link")},
		"content":     openapi.JSONContent(openapi.SchemaRef("ActivityList"), []any{itemExample}),
	}}, 400, 404, 405, 429, 500, 503)
	return op
}

var rangeParams = []any{openapi.ParameterRef("CalendarFrom"), openapi.ParameterRef("CalendarTo")}

func calendarOperation() openapi.Object {
	op := operation("getActivityCalendar", "A user's check-ins by local date",
		"Every date of the range with its check-ins counted by their `local_date`, and a level for a contribution-calendar shade.")
	op["parameters"] = rangeParams
	op["responses"] = openapi.Responses(openapi.Object{"200": openapi.Object{
		"description": "The calendar.",
		"content": openapi.JSONContent(openapi.SchemaRef("Calendar"), openapi.Object{
			"timezone": "Europe/Berlin", "from": "2024-04-30", "to": "2024-05-01",
			"days": []any{
				openapi.Object{"date": "2024-04-30", "check_ins": 0, "minutes": 0, "level": 0},
				openapi.Object{"date": "2024-05-01", "check_ins": 2, "minutes": 50, "level": maxLevel},
			},
		}),
	}}, 400, 404, 405, 429, 500, 503)
	return op
}

func calendarSVGOperation() openapi.Object {
	op := operation("getActivityCalendarSVG", "The calendar as an SVG heat map",
		"The same parameters and days as the calendar, drawn as a heat map: weeks as columns, Sunday to Saturday as rows, one shade per level, "+
			"and a `<title>` on each day that begins with its ISO date. Its strong `ETag` allows conditional requests with `If-None-Match`.")
	op["parameters"] = append(append([]any{}, rangeParams...), openapi.ParameterRef("IfNoneMatch"))
	headers := openapi.Object{"ETag": openapi.HeaderRef("ETag"), "Cache-Control": openapi.HeaderRef("CacheControlCalendar")}
	op["responses"] = openapi.Responses(openapi.Object{
		"200": openapi.Object{
			"description": "The heat map.",
			"headers":     headers,
			"content":     openapi.Object{"image/svg+xml": openapi.Object{"schema": openapi.Object{"type": "string"}}},
		},
		"304": openapi.Object{"description": "The heat map has not changed since the version named by `If-None-Match`.", "headers": headers},
	}, 400, 404, 405, 429, 500, 503)
	return op
}

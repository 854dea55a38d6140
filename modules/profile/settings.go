package profile

import (
	"usersvc/platform/httpserver"
	"usersvc/platform/jsonw"
	"usersvc/platform/tzname"
)

// Settings are a user's tracker settings (CONTRACT §3 "Settings"): the zone
// and the hour at which the user's day starts decide a check-in's local
// date and the user's "today".
type Settings struct {
	Timezone     string
	DayStartHour int64
}

// MaxDayStartHour is the latest hour a day may start at.
const MaxDayStartHour = 4

// SettingsPatch is a partial update; nil fields stay as they are.
type SettingsPatch struct {
	Timezone     *string
	DayStartHour *int64
}

// AppendJSON appends the settings object; exactly these fields.
func (s *Settings) AppendJSON(b []byte) []byte {
	b = append(b, `{"timezone":`...)
	b = jsonw.String(b, s.Timezone)
	b = append(b, `,"day_start_hour":`...)
	b = jsonw.Int(b, s.DayStartHour)
	return append(b, '}')
}

// decodeSettingsPatch applies the rules: a non-empty subset, no nulls, an
// IANA zone name, an hour of 0–4.
func decodeSettingsPatch(b *httpserver.Body) (SettingsPatch, error) {
	var p SettingsPatch
	if v, ok := b.Text("timezone", 1, tzname.MaxLen); ok {
		if _, err := tzname.Load(v); err != nil {
			b.Fail("timezone", err.Error())
		} else {
			p.Timezone = &v
		}
	}
	if v, ok := b.Int("day_start_hour", 0, MaxDayStartHour); ok {
		p.DayStartHour = &v
	}
	if b.Len() == 0 {
		b.Fail("body", "the update must set at least one of timezone, day_start_hour")
	}
	return p, b.Err()
}

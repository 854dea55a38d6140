package profile

import (
	"testing"

	"usersvc/internal/testkit/fuzzkit"
	"usersvc/platform/tzname"
)

// FuzzDecodeSettingsPatch: the body of PUT /users/{id}/settings never
// panics, is refused only as a client's mistake, and an accepted update sets
// something, names a zone that loads, and an hour of 0–4.
func FuzzDecodeSettingsPatch(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		p, ok := fuzzkit.Decode(t, data, decodeSettingsPatch)
		if !ok {
			return
		}
		if p.Timezone == nil && p.DayStartHour == nil {
			t.Fatalf("an empty update accepted: %q", data)
		}
		if p.Timezone != nil {
			if _, err := tzname.Load(*p.Timezone); err != nil {
				t.Fatalf("timezone accepted as %q", *p.Timezone)
			}
		}
		if h := p.DayStartHour; h != nil && (*h < 0 || *h > MaxDayStartHour) {
			t.Fatalf("day_start_hour accepted as %d", *h)
		}
	})
}

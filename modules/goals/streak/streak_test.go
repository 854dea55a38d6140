package streak

import (
	"testing"
	"time"
)

func d(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// at is a check-in at an RFC 3339 instant made in zone, with the day starting at dsh.
func at(t *testing.T, instant, zoneName string, dsh int) CheckIn {
	t.Helper()
	when, err := time.Parse(time.RFC3339, instant)
	if err != nil {
		t.Fatal(err)
	}
	loc := zone(t, zoneName)
	return CheckIn{Date: LocalDate(when, loc, dsh), Offset: Offset(when, loc), At: when}
}

// on is a check-in made in UTC at noon of a date.
func on(date string) CheckIn {
	return CheckIn{Date: d(date), At: d(date).Add(12 * time.Hour)}
}

func TestLocalDate(t *testing.T) {
	cases := []struct {
		name, instant, zone string
		dsh                 int
		want                string
	}{
		{"UTC noon", "2026-12-05T12:00:00Z", "UTC", 0, "2026-12-05"},
		{"Berlin just after midnight", "2026-12-04T23:30:00Z", "Europe/Berlin", 0, "2026-12-05"},
		{"night owl with day_start_hour 1", "2026-12-04T23:30:00Z", "Europe/Berlin", 1, "2026-12-04"},
		{"day_start_hour 4 at 04:00 is the new day", "2026-12-05T03:00:00Z", "Europe/Berlin", 4, "2026-12-05"},
		{"day_start_hour 4 at 03:59 is the day before", "2026-12-05T02:59:00Z", "Europe/Berlin", 4, "2026-12-04"},
		{"Berlin spring forward, 03:30 CEST", "2026-03-29T01:30:00Z", "Europe/Berlin", 0, "2026-03-29"},
		{"Berlin fall back, second 02:30", "2026-10-25T01:30:00Z", "Europe/Berlin", 0, "2026-10-25"},
		{"New York spring forward, 23:30 EDT", "2026-03-09T03:30:00Z", "America/New_York", 0, "2026-03-08"},
		{"New York fall back, 00:30 EST with dsh 1", "2026-11-02T05:30:00Z", "America/New_York", 1, "2026-11-01"},
		{"Honolulu evening is the UTC day before", "2026-12-05T06:00:00Z", "Pacific/Honolulu", 0, "2026-12-04"},
		{"Kiritimati morning is the UTC day after", "2026-12-05T20:00:00Z", "Pacific/Kiritimati", 0, "2026-12-06"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := at(t, tc.instant, tc.zone, tc.dsh).Date; !got.Equal(d(tc.want)) {
				t.Fatalf("local date = %s, want %s", got.Format(time.DateOnly), tc.want)
			}
		})
	}
}

func TestCompute(t *testing.T) {
	today := "2026-12-05"
	cases := []struct {
		name             string
		checkIns         []CheckIn
		base             Base
		current, longest int
		runEnd           string
	}{
		{name: "nothing", current: 0, longest: 0},
		{name: "one check-in today", checkIns: []CheckIn{on("2026-12-05")}, current: 1, longest: 1, runEnd: "2026-12-05"},
		{name: "consecutive days", checkIns: []CheckIn{on("2026-12-03"), on("2026-12-04"), on("2026-12-05")}, current: 3, longest: 3, runEnd: "2026-12-05"},
		{name: "order does not matter", checkIns: []CheckIn{on("2026-12-05"), on("2026-12-03"), on("2026-12-04")}, current: 3, longest: 3, runEnd: "2026-12-05"},
		{name: "a gap breaks the run", checkIns: []CheckIn{on("2026-11-28"), on("2026-11-29"), on("2026-11-30"), on("2026-12-04"), on("2026-12-05")}, current: 2, longest: 3, runEnd: "2026-12-05"},
		{name: "several check-ins a day count once", checkIns: []CheckIn{on("2026-12-04"), on("2026-12-04"), on("2026-12-05"), on("2026-12-05"), on("2026-12-05")}, current: 2, longest: 2, runEnd: "2026-12-05"},
		{name: "ending yesterday is alive", checkIns: []CheckIn{on("2026-12-03"), on("2026-12-04")}, current: 2, longest: 2, runEnd: "2026-12-04"},
		{name: "ending the day before yesterday is over", checkIns: []CheckIn{on("2026-12-02"), on("2026-12-03")}, current: 0, longest: 2, runEnd: "2026-12-03"},
		{name: "manual base alone, written today", base: Base{Days: 5, On: d("2026-12-05")}, current: 5, longest: 5, runEnd: "2026-12-05"},
		{name: "manual base written yesterday is alive", base: Base{Days: 5, On: d("2026-12-04")}, current: 5, longest: 5, runEnd: "2026-12-04"},
		{name: "manual base written two days ago is over", base: Base{Days: 5, On: d("2026-12-03")}, current: 0, longest: 5, runEnd: "2026-12-03"},
		{name: "a check-in continues the base", base: Base{Days: 5, On: d("2026-12-04")}, checkIns: []CheckIn{on("2026-12-05")}, current: 6, longest: 6, runEnd: "2026-12-05"},
		{name: "a check-in on the base's last day adds nothing", base: Base{Days: 5, On: d("2026-12-05")}, checkIns: []CheckIn{on("2026-12-05")}, current: 5, longest: 5, runEnd: "2026-12-05"},
		{name: "a base of 0 is no base", base: Base{Days: 0, On: d("2026-12-05")}, checkIns: []CheckIn{on("2026-12-05")}, current: 1, longest: 1, runEnd: "2026-12-05"},
		{name: "deletion splits a run (the 3rd is gone)", checkIns: []CheckIn{on("2026-12-01"), on("2026-12-02"), on("2026-12-04"), on("2026-12-05")}, current: 2, longest: 2, runEnd: "2026-12-05"},
		{
			name: "day_start_hour: a night owl's 00:30 keeps the run",
			checkIns: []CheckIn{
				at(t, "2026-12-03T20:00:00Z", "UTC", 2), at(t, "2026-12-05T00:30:00Z", "UTC", 2), // the 3rd, and the 4th after midnight
				at(t, "2026-12-05T19:00:00Z", "UTC", 2),
			},
			current: 3, longest: 3, runEnd: "2026-12-05",
		},
		{
			name: "DST in Europe/Berlin: each local day counts once",
			checkIns: []CheckIn{
				at(t, "2026-03-28T22:30:00Z", "Europe/Berlin", 0), // 23:30 CET on the 28th
				at(t, "2026-03-29T22:30:00Z", "Europe/Berlin", 0), // 00:30 CEST on the 30th
				at(t, "2026-03-29T21:30:00Z", "Europe/Berlin", 0), // 23:30 CEST on the 29th
				at(t, "2026-10-24T22:30:00Z", "Europe/Berlin", 0), // 00:30 CEST on the 25th
				at(t, "2026-10-25T22:30:00Z", "Europe/Berlin", 0), // 23:30 CET on the 25th
				at(t, "2026-10-25T23:30:00Z", "Europe/Berlin", 0), // 00:30 CET on the 26th
			},
			current: 0, longest: 3, runEnd: "2026-10-26",
		},
		{
			name: "DST in America/New_York: late-evening check-ins stay on their dates",
			checkIns: []CheckIn{
				at(t, "2026-03-08T04:30:00Z", "America/New_York", 0), // 23:30 EST on the 7th
				at(t, "2026-03-09T03:30:00Z", "America/New_York", 0), // 23:30 EDT on the 8th
				at(t, "2026-03-10T03:30:00Z", "America/New_York", 0), // 23:30 EDT on the 9th
				at(t, "2026-11-01T03:30:00Z", "America/New_York", 0), // 23:30 EDT on Oct 31
				at(t, "2026-11-02T04:30:00Z", "America/New_York", 0), // 23:30 EST on Nov 1
			},
			current: 0, longest: 3, runEnd: "2026-11-01",
		},
		{
			name: "eastward across the date line, Honolulu to Kiritimati: the skipped date does not break",
			checkIns: []CheckIn{
				at(t, "2026-12-03T06:00:00Z", "Pacific/Honolulu", 0),   // 20:00 on the 2nd
				at(t, "2026-12-04T06:00:00Z", "Pacific/Honolulu", 0),   // 20:00 on the 3rd
				at(t, "2026-12-04T20:00:00Z", "Pacific/Kiritimati", 0), // 10:00 on the 5th: the 4th never happened
			},
			current: 3, longest: 3, runEnd: "2026-12-05",
		},
		{
			name: "a gap at the same offsets is still a gap",
			checkIns: []CheckIn{
				at(t, "2026-12-03T06:00:00Z", "Pacific/Honolulu", 0), // the 2nd
				at(t, "2026-12-05T06:00:00Z", "Pacific/Honolulu", 0), // the 4th
			},
			current: 1, longest: 1, runEnd: "2026-12-04",
		},
		{
			name: "westward across the date line, Kiritimati to Honolulu: a date lived twice counts once",
			checkIns: []CheckIn{
				at(t, "2026-12-02T20:00:00Z", "Pacific/Kiritimati", 0), // 10:00 on the 3rd
				at(t, "2026-12-03T20:00:00Z", "Pacific/Kiritimati", 0), // 10:00 on the 4th
				at(t, "2026-12-04T06:00:00Z", "Pacific/Honolulu", 0),   // 20:00 on the 3rd again
				at(t, "2026-12-05T06:00:00Z", "Pacific/Honolulu", 0),   // 20:00 on the 4th
				at(t, "2026-12-05T22:00:00Z", "Pacific/Honolulu", 0),   // 12:00 on the 5th
			},
			current: 3, longest: 3, runEnd: "2026-12-05",
		},
		{
			name: "a user changing zone mid-streak (Berlin to New York)",
			checkIns: []CheckIn{
				at(t, "2026-12-02T18:00:00Z", "Europe/Berlin", 0),    // the 2nd
				at(t, "2026-12-03T07:00:00Z", "Europe/Berlin", 0),    // the 3rd, morning, before the flight
				at(t, "2026-12-05T03:00:00Z", "America/New_York", 0), // 22:00 on the 4th
				at(t, "2026-12-05T20:00:00Z", "America/New_York", 0), // the 5th
			},
			current: 4, longest: 4, runEnd: "2026-12-05",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := Compute(Days(tc.checkIns), tc.base)
			if got := st.Current(d(today)); got != tc.current {
				t.Errorf("current = %d, want %d (%+v)", got, tc.current, st)
			}
			if got := st.LongestShown(d(today)); got != tc.longest {
				t.Errorf("longest = %d, want %d", got, tc.longest)
			}
			switch {
			case tc.runEnd == "" && st.RunEnd != nil:
				t.Errorf("run end = %s, want none", st.RunEnd)
			case tc.runEnd != "" && (st.RunEnd == nil || !st.RunEnd.Equal(d(tc.runEnd))):
				t.Errorf("run end = %v, want %s", st.RunEnd, tc.runEnd)
			}
		})
	}
}

func TestDaysKeepsTheFirstAndLastOffsetOfADate(t *testing.T) {
	days := Days([]CheckIn{
		{Date: d("2026-12-05"), Offset: 3600, At: d("2026-12-05").Add(2 * time.Hour), ID: 2},
		{Date: d("2026-12-05"), Offset: -36000, At: d("2026-12-05").Add(9 * time.Hour), ID: 3},
		{Date: d("2026-12-05"), Offset: 50400, At: d("2026-12-05").Add(1 * time.Hour), ID: 9},
	})
	if len(days) != 1 || days[0].First != 50400 || days[0].Last != -36000 || !days[0].HasOffsets {
		t.Fatalf("days = %+v", days)
	}
}

func TestEastwardSkipNeedsTwentyFourHoursPerSkippedDate(t *testing.T) {
	prev := Day{Date: d("2026-12-02"), First: -36000, Last: -36000, HasOffsets: true}
	cases := []struct {
		next Day
		want bool
	}{
		{Day{Date: d("2026-12-04"), First: 50400, Last: 50400, HasOffsets: true}, true},  // +24h, one date skipped
		{Day{Date: d("2026-12-04"), First: 46800, Last: 50400, HasOffsets: true}, false}, // +23h
		{Day{Date: d("2026-12-05"), First: 50400, Last: 50400, HasOffsets: true}, false}, // two dates skipped need 48h
		{Day{Date: d("2026-12-04")}, false},                                              // a base day has no offsets
	}
	for i, tc := range cases {
		if got := follows(prev, tc.next); got != tc.want {
			t.Errorf("case %d: follows = %v, want %v", i, got, tc.want)
		}
	}
}

// TestAddEqualsDays: folding check-ins one by one gives what Days gives for all of them.
func TestAddEqualsDays(t *testing.T) {
	base := d("2026-12-01")
	var all []CheckIn
	var days []Day
	for i := int64(1); i <= 200; i++ {
		c := CheckIn{
			Date:   base.AddDate(0, 0, int((i*7)%11)),
			Offset: int((i*37)%29-14) * 3600,
			At:     base.Add(time.Duration((i*13)%17) * time.Hour), // ties on purpose
			ID:     i,
		}
		all = append(all, c)
		days = Add(days, c)
		want := Days(all)
		if len(want) != len(days) {
			t.Fatalf("after %d: %d days, want %d", i, len(days), len(want))
		}
		for k := range want {
			if want[k] != days[k] {
				t.Fatalf("after %d, day %d: %+v, want %+v", i, k, days[k], want[k])
			}
		}
	}
}

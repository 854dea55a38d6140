// Package streak holds the rules of CONTRACT §3 "Streaks" as pure functions
// over dates: which local date a moment belongs to, which active days form a
// run (the date-line rule included), and what a read shows today. It knows
// no database and no clock; its callers pass both in.
package streak

import (
	"sort"
	"time"
)

// A date is a civil date, held as midnight UTC of that date.
func dateOf(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// dayNumber counts days since 1970-01-01; dates are midnights UTC.
func dayNumber(d time.Time) int64 { return d.Unix() / 86400 }

// LocalDate is the date of at in loc, minus dayStartHour hours of wall
// clock: with 1 or more, a night owl's 00:30 still counts for the day before.
func LocalDate(at time.Time, loc *time.Location, dayStartHour int) time.Time {
	l := at.In(loc)
	wall := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
	wall = wall.Add(-time.Duration(dayStartHour) * time.Hour)
	return dateOf(wall.Year(), wall.Month(), wall.Day())
}

// Offset is at's offset east of UTC in loc, in seconds.
func Offset(at time.Time, loc *time.Location) int {
	_, off := at.In(loc).Zone()
	return off
}

// CheckIn is what the rules need of one check-in.
type CheckIn struct {
	Date   time.Time // its local_date
	Offset int       // seconds east of UTC where it was made
	At     time.Time // occurred_at
	ID     int64
}

// Day is one active day. First and Last are the UTC offsets of its first
// and last check-in (by occurred_at, then id); a day of the hand-written
// base alone has none (HasOffsets false).
type Day struct {
	Date        time.Time
	First, Last int
	HasOffsets  bool
	// FirstAt and LastAt are when the first and last check-in were made (Add needs them).
	FirstAt, LastAt time.Time
}

// Days folds check-ins (in any order) into active days, oldest first.
func Days(checkIns []CheckIn) []Day {
	sorted := append([]CheckIn(nil), checkIns...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if !a.Date.Equal(b.Date) {
			return a.Date.Before(b.Date)
		}
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		return a.ID < b.ID
	})
	var days []Day
	for _, c := range sorted {
		if n := len(days); n > 0 && days[n-1].Date.Equal(c.Date) {
			days[n-1].Last, days[n-1].LastAt = c.Offset, c.At
			continue
		}
		days = append(days, Day{Date: c.Date, First: c.Offset, Last: c.Offset, HasOffsets: true, FirstAt: c.At, LastAt: c.At})
	}
	return days
}

// Add folds one new check-in into days (oldest first, as Days gives them)
// and returns the result; days is not changed. The check-in is newer than
// every one already folded in (a higher id), so it wins ties of occurred_at
// for "last" and loses them for "first".
func Add(days []Day, c CheckIn) []Day {
	out := make([]Day, 0, len(days)+1)
	i := sort.Search(len(days), func(i int) bool { return !days[i].Date.Before(c.Date) })
	out = append(out, days[:i]...)
	if i < len(days) && days[i].Date.Equal(c.Date) {
		d := days[i]
		if c.At.Before(d.FirstAt) {
			d.First, d.FirstAt = c.Offset, c.At
		}
		if !c.At.Before(d.LastAt) {
			d.Last, d.LastAt = c.Offset, c.At
		}
		out = append(out, d)
		i++
	} else {
		out = append(out, Day{Date: c.Date, First: c.Offset, Last: c.Offset, HasOffsets: true, FirstAt: c.At, LastAt: c.At})
	}
	return append(out, days[i:]...)
}

// Base is a streak written by hand: Days days ending on On (none when Days is 0).
type Base struct {
	Days int
	On   time.Time
}

// State is what a read needs: the latest active day, the length of the
// run that ends on it, and the longest run ever. Liveness is the reader's.
type State struct {
	RunEnd  *time.Time // nil without an active day
	RunDays int
	Longest int
}

// Compute applies the rules to a goal's active days (oldest first, as Days
// gives them) and its hand-written base. The user's own streak passes no base.
func Compute(days []Day, base Base) State {
	all := withBase(days, base)
	var st State
	run := 0
	for i, d := range all {
		if i > 0 && follows(all[i-1], d) {
			run++
		} else {
			run = 1
		}
		st.Longest = max(st.Longest, run)
	}
	if n := len(all); n > 0 {
		end := all[n-1].Date
		st.RunEnd, st.RunDays = &end, run
	}
	return st
}

// withBase merges the base's days into the check-ins' days; a date that has
// check-ins keeps their offsets.
func withBase(days []Day, base Base) []Day {
	if base.Days <= 0 {
		return days
	}
	byDate := make(map[int64]Day, len(days)+base.Days)
	for _, d := range days {
		byDate[dayNumber(d.Date)] = d
	}
	for i := 0; i < base.Days; i++ {
		date := base.On.AddDate(0, 0, -i)
		if _, ok := byDate[dayNumber(date)]; !ok {
			byDate[dayNumber(date)] = Day{Date: date}
		}
	}
	all := make([]Day, 0, len(byDate))
	for _, d := range byDate {
		all = append(all, d)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Date.Before(all[j].Date) })
	return all
}

// follows reports whether next continues the run of prev: it is the next
// date, or a later one reached by moving east across the date line — the
// first check-in of next was made at least 24 hours per skipped date
// further east than the last check-in of prev.
func follows(prev, next Day) bool {
	gap := dayNumber(next.Date) - dayNumber(prev.Date)
	if gap == 1 {
		return true
	}
	if gap < 1 || !prev.HasOffsets || !next.HasOffsets {
		return false
	}
	return int64(next.First-prev.Last) >= (gap-1)*24*3600
}

// Current is the streak a read shows on today (the user's today in the
// current settings): the run that ends today or yesterday, else 0.
func (s State) Current(today time.Time) int {
	if s.RunEnd == nil || dayNumber(*s.RunEnd) < dayNumber(today)-1 {
		return 0
	}
	return s.RunDays
}

// LongestShown is the longest streak a read shows: never below Current.
func (s State) LongestShown(today time.Time) int { return max(s.Longest, s.Current(today)) }

// Command calendarsample prints the heat map of a made-up year of
// check-ins, for looking at the SVG in a browser (scripts/render-calendar.sh).
package main

import (
	"math/rand/v2"
	"os"
	"time"

	"usersvc/modules/activity"
)

func main() {
	to := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	from := to.AddDate(0, 0, -364)
	rng := rand.New(rand.NewPCG(7, 2026))
	counts := map[time.Time]activity.DayCount{}
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		if rng.IntN(10) < 3 {
			continue // a day off
		}
		n := int64(1 + rng.IntN(6))
		counts[d] = activity.DayCount{CheckIns: n, Minutes: n * 25}
	}
	cal := activity.Build("Europe/Berlin", from, to, counts)
	os.Stdout.Write(cal.AppendSVG(nil))
}

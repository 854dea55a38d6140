package activity

import (
	"strconv"
	"time"
)

// The heat map's geometry, in pixels: a GitHub-style contribution calendar.
const (
	cell     = 11
	step     = 14 // cell and gap
	leftPad  = 32 // weekday labels
	topPad   = 20 // month labels
	rightPad = 10
	legendH  = 28
)

// svgStyle gives the five levels shades that read on light pages and, when
// the page is dark (prefers-color-scheme, which an <img> follows), darker
// ones; the empty level keeps a faint outline on either.
const svgStyle = `<style>
text{font:10px -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;fill:#656d76}
rect.d{rx:2px;ry:2px;stroke:rgba(27,31,35,.08);stroke-width:1px}
.l0{fill:#ebedf0}.l1{fill:#9be9a8}.l2{fill:#40c463}.l3{fill:#30a14e}.l4{fill:#216e39}
@media (prefers-color-scheme:dark){text{fill:#8d96a0}rect.d{stroke:rgba(255,255,255,.06)}
.l0{fill:#161b22}.l1{fill:#0e4429}.l2{fill:#006d32}.l3{fill:#26a641}.l4{fill:#39d353}}
</style>`

// AppendSVG draws the calendar: weeks as columns, Sunday to Saturday as
// rows, month labels on top, weekday labels on the left, a legend below,
// and a <title> on every day that begins with its ISO date.
func (cal *Calendar) AppendSVG(b []byte) []byte {
	start := cal.From.AddDate(0, 0, -int(cal.From.Weekday())) // the Sunday of the first week
	weeks := daysBetween(start, cal.To)/7 + 1
	width := leftPad + weeks*step + rightPad
	height := topPad + 7*step + legendH
	b = append(b, `<svg xmlns="http://www.w3.org/2000/svg" width="`...)
	b = strconv.AppendInt(b, int64(width), 10)
	b = append(b, `" height="`...)
	b = strconv.AppendInt(b, int64(height), 10)
	b = append(b, `" viewBox="0 0 `...)
	b = strconv.AppendInt(b, int64(width), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(height), 10)
	b = append(b, `" role="img" aria-label="Check-ins from `...)
	b = cal.From.AppendFormat(b, time.DateOnly)
	b = append(b, ` to `...)
	b = cal.To.AppendFormat(b, time.DateOnly)
	b = append(b, `"><title>Check-ins from `...)
	b = cal.From.AppendFormat(b, time.DateOnly)
	b = append(b, ` to `...)
	b = cal.To.AppendFormat(b, time.DateOnly)
	b = append(b, ` (`...)
	b = appendEscaped(b, cal.Timezone)
	b = append(b, `)</title>`...)
	b = append(b, svgStyle...)
	b = cal.appendMonthLabels(b, start, weeks)
	for row, label := range []string{"", "Mon", "", "Wed", "", "Fri", ""} {
		if label == "" {
			continue
		}
		b = appendText(b, 0, topPad+row*step+cell-1, "", label)
	}
	for _, d := range cal.Days {
		offset := daysBetween(start, d.Date)
		b = appendDay(b, leftPad+(offset/7)*step, topPad+(offset%7)*step, d)
	}
	b = appendLegend(b, width, topPad+7*step+10)
	return append(b, `</svg>`...)
}

// appendMonthLabels names a month above the first column that shows its
// first days, skipping a label that would crowd the one before.
func (cal *Calendar) appendMonthLabels(b []byte, start time.Time, weeks int) []byte {
	lastCol, lastMonth := -10, time.Month(0)
	for col := 0; col < weeks; col++ {
		first := start.AddDate(0, 0, col*7)
		if first.Before(cal.From) {
			first = cal.From
		}
		if first.After(cal.To) || first.Month() == lastMonth {
			continue
		}
		lastMonth = first.Month()
		if col-lastCol < 3 && lastCol >= 0 {
			continue
		}
		if col == 0 && weeks > 1 && first.AddDate(0, 0, 14).Month() != first.Month() {
			continue // a month with under two weeks in view at the start: no room for its name
		}
		b = appendText(b, leftPad+col*step, topPad-7, "", first.Month().String()[:3])
		lastCol = col
	}
	return b
}

func appendDay(b []byte, x, y int, d CalendarDay) []byte {
	b = append(b, `<rect class="d l`...)
	b = strconv.AppendInt(b, int64(d.Level), 10)
	b = append(b, `" x="`...)
	b = strconv.AppendInt(b, int64(x), 10)
	b = append(b, `" y="`...)
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, `" width="11" height="11" rx="2" data-date="`...)
	b = d.Date.AppendFormat(b, time.DateOnly)
	b = append(b, `" data-level="`...)
	b = strconv.AppendInt(b, int64(d.Level), 10)
	b = append(b, `"><title>`...)
	b = d.Date.AppendFormat(b, time.DateOnly)
	switch d.CheckIns {
	case 0:
		b = append(b, `: no check-ins`...)
	case 1:
		b = append(b, `: 1 check-in`...)
	default:
		b = append(b, `: `...)
		b = strconv.AppendInt(b, d.CheckIns, 10)
		b = append(b, ` check-ins`...)
	}
	if d.Minutes > 0 {
		b = append(b, `, `...)
		b = strconv.AppendInt(b, d.Minutes, 10)
		b = append(b, ` minutes`...)
	}
	return append(b, `</title></rect>`...)
}

// appendLegend draws "Less ■■■■■ More" at the bottom right.
func appendLegend(b []byte, width, y int) []byte {
	x := width - rightPad - 5*step - 30
	b = appendText(b, x-30, y+cell-1, "", "Less")
	for level := 0; level <= 4; level++ {
		b = append(b, `<rect class="d l`...)
		b = strconv.AppendInt(b, int64(level), 10)
		b = append(b, `" x="`...)
		b = strconv.AppendInt(b, int64(x+level*step), 10)
		b = append(b, `" y="`...)
		b = strconv.AppendInt(b, int64(y), 10)
		b = append(b, `" width="11" height="11" rx="2"/>`...)
	}
	return appendText(b, x+5*step+4, y+cell-1, "", "More")
}

func appendText(b []byte, x, y int, anchor, s string) []byte {
	b = append(b, `<text x="`...)
	b = strconv.AppendInt(b, int64(x), 10)
	b = append(b, `" y="`...)
	b = strconv.AppendInt(b, int64(y), 10)
	if anchor != "" {
		b = append(b, `" text-anchor="`...)
		b = append(b, anchor...)
	}
	b = append(b, `">`...)
	b = appendEscaped(b, s)
	return append(b, `</text>`...)
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '&':
			b = append(b, "&amp;"...)
		case '"':
			b = append(b, "&quot;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

package authref

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// NewBackfillBar draws a progress bar on w, a terminal.
func NewBackfillBar(w io.Writer) BackfillProgress { return &barProgress{w: w} }

type barProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (p *barProgress) Start(total, done int64) {
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription("backfill"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("users"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
	)
	_ = p.bar.Set64(done)
}

func (p *barProgress) Add(n int) { _ = p.bar.Add(n) }

func (p *barProgress) Finish() {
	if p.bar.GetMax64() < 0 {
		_ = p.bar.Exit() // a spinner: there is no end to reach
		fmt.Fprintln(p.w)
		return
	}
	_ = p.bar.Finish()
}

// NewBackfillLog writes a plain progress line on w every interval, for logs
// and pipes where a bar would be noise.
func NewBackfillLog(w io.Writer, every time.Duration) BackfillProgress {
	return &logProgress{w: w, every: every, now: time.Now}
}

type logProgress struct {
	w     io.Writer
	every time.Duration
	now   func() time.Time

	mu                sync.Mutex
	total, done, base int64
	start, last       time.Time
}

func (p *logProgress) Start(total, done int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.done, p.base = total, done, done
	p.start = p.now()
	p.last = p.start
	if done > 0 {
		p.line("resumed")
	} else {
		p.line("started")
	}
}

func (p *logProgress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += int64(n)
	if now := p.now(); now.Sub(p.last) >= p.every {
		p.last = now
		p.line("progress")
	}
}

func (p *logProgress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line("listed")
}

func (p *logProgress) line(what string) {
	rate := ""
	if d := p.now().Sub(p.start); d > 0 && p.done > p.base {
		rate = fmt.Sprintf(", %.0f users/s", float64(p.done-p.base)/d.Seconds())
	}
	if p.total >= 0 {
		pct := 100.0
		if p.total > 0 {
			pct = 100 * float64(p.done) / float64(p.total)
		}
		fmt.Fprintf(p.w, "backfill: %s %d of %d users (%.0f%%)%s\n", what, p.done, p.total, pct, rate)
		return
	}
	fmt.Fprintf(p.w, "backfill: %s %d users%s\n", what, p.done, rate)
}

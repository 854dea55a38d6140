package proctest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPU is the CPU time (user + system) the process has used: read from
// /proc while it runs, from its resource usage once it has exited.
func (p *Process) CPU() (time.Duration, error) {
	select {
	case <-p.exited:
		s := p.Cmd.ProcessState
		return s.UserTime() + s.SystemTime(), nil
	default:
		return ProcCPU(p.Pid())
	}
}

// ExitCode is the exit status once the process has exited (-1 when a
// signal ended it), else an error.
func (p *Process) ExitCode() (int, error) {
	select {
	case <-p.exited:
		return p.Cmd.ProcessState.ExitCode(), nil
	default:
		return 0, ErrStillRunning
	}
}

// ProcCPU reads a live process's user + system CPU time from /proc/PID/stat
// (in clock ticks of 1/100 s, the USER_HZ Linux always reports in).
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count fields after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 { // fields 3.. follow; utime and stime are fields 14 and 15
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

package proctest

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		signal syscall.Signal
		want   int
	}{
		{"success", "exit 0", 0, 0},
		{"failure", "exit 3", 0, 3},
		{"SIGTERM handled", "trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done", syscall.SIGTERM, 0},
		{"SIGKILL", "echo ready; while :; do sleep 0.05; done", syscall.SIGKILL, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Start(t, tc.name, "/bin/sh", nil, "-c", tc.script)
			if tc.signal != 0 {
				for p.Logs() == "" { // the trap is in place
					time.Sleep(5 * time.Millisecond)
				}
				if err := p.Signal(tc.signal); err != nil {
					t.Fatal(err)
				}
			}
			code, err := p.Wait(10 * time.Second)
			if err != nil || code != tc.want {
				t.Fatalf("exit %d, %v; want %d", code, err, tc.want)
			}
			if !p.Exited() {
				t.Fatal("Exited is false after Wait")
			}
		})
	}
}

func TestWaitIsBounded(t *testing.T) {
	p := Start(t, "sleeper", "/bin/sh", nil, "-c", "sleep 30")
	if _, err := p.Wait(50 * time.Millisecond); !errors.Is(err, ErrStillRunning) {
		t.Fatalf("Wait on a running process: %v, want ErrStillRunning", err)
	}
}

func TestCPUGrowsWithWork(t *testing.T) {
	p := Start(t, "busy", "/bin/sh", nil, "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
	if _, err := p.Wait(time.Minute); err != nil {
		t.Fatal(err)
	}
	cpu, err := p.CPU()
	if err != nil || cpu <= 0 {
		t.Fatalf("CPU of a busy loop: %v, %v", cpu, err)
	}
	own, err := ProcCPU(os.Getpid())
	if err != nil || own <= 0 {
		t.Fatalf("CPU of this test from /proc: %v, %v", own, err)
	}
}

func TestLogsAreKept(t *testing.T) {
	p := Start(t, "echo", "/bin/sh", nil, "-c", "echo out; echo err >&2")
	if _, err := p.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := p.Logs(); got != "out\nerr\n" {
		t.Fatalf("logs %q", got)
	}
}

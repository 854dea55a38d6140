package proctest

import (
	"os"
	"syscall"
	"testing"
	"time"
)

func start(t *testing.T, script string) *Process {
	t.Helper()
	p, err := Start("/bin/sh", t.TempDir(), []string{"PATH=" + os.Getenv("PATH")}, "-c", script)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

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
			p := start(t, tc.script)
			if tc.signal != 0 {
				for p.Logs.String() == "" { // the trap is in place
					time.Sleep(5 * time.Millisecond)
				}
				if err := p.Signal(tc.signal); err != nil {
					t.Fatal(err)
				}
			}
			_ = p.Wait(10 * time.Second)
			code, err := p.ExitCode()
			if err != nil || code != tc.want {
				t.Fatalf("exit %d, %v; want %d", code, err, tc.want)
			}
		})
	}
}

func TestExitCodeOfARunningProcess(t *testing.T) {
	p := start(t, "exec sleep 30")
	if _, err := p.ExitCode(); err != ErrStillRunning {
		t.Fatalf("ExitCode of a running process: %v, want ErrStillRunning", err)
	}
}

func TestCPUGrowsWithWork(t *testing.T) {
	p := start(t, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
	if err := p.Wait(time.Minute); err != nil {
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

// Package proctest runs the real binaries in end-to-end tests: build them,
// start them with their logs captured, signal them, wait for them to answer
// over HTTP or to exit, and read what the kernel says about them.
package proctest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Build compiles the package pkg (an import path such as
// "usersvc/cmd/usersvc") into dir and returns the binary's path.
func Build(dir, pkg string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// Output collects a process's output; safe for the process and a test to share.
type Output struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Process is a started binary whose exit is watched.
type Process struct {
	Cmd  *exec.Cmd
	Logs *Output // stdout and stderr together

	exited chan struct{}
	err    error // the exit, once exited is closed
}

// ErrStillRunning is returned by Wait when the process outlived the timeout.
var ErrStillRunning = errors.New("process still running")

// Start runs bin with args in dir, with env as its whole environment.
func Start(bin, dir string, env []string, args ...string) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	p := &Process{Cmd: cmd, Logs: &Output{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Logs, p.Logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Signal sends sig; a process that has already exited is not an error.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := p.Cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Wait waits up to timeout for the exit and returns it (nil for status 0),
// or ErrStillRunning.
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		return ErrStillRunning
	}
}

// Stop kills the process if it still runs and waits for it: for cleanups.
func (p *Process) Stop() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.exited
}

// RSS is the process's resident set size in bytes, as /proc reports it.
func (p *Process) RSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// WaitOK polls url until it answers 200, the process exits, or timeout
// passes. p may be nil for a service that is not a Process.
func WaitOK(ctx context.Context, p *Process, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if ok, _ := answersOK(ctx, client, url); ok {
			return nil
		}
		if p != nil {
			select {
			case <-p.exited:
				return fmt.Errorf("%s exited before %s answered 200: %v", filepath.Base(p.Cmd.Path), url, p.err)
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %s", url, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func answersOK(ctx context.Context, client *http.Client, url string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

// Package proctest runs real binaries for tests: it builds a command into a
// temporary folder, starts processes with their logs kept, waits for an HTTP
// probe, signals them, waits for their exit with a bound, reads their CPU
// time, and starts a private PostgreSQL and RabbitMQ with scripts/services.sh
// (never the shared test stack, which other packages use at the same time).
package proctest

import (
	"bytes"
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
	"testing"
	"time"

	"usersvc/internal/testkit/amqptest"
)

// Build compiles the package pkg (an import path such as usersvc/cmd/usersvc)
// into a temporary folder and returns the binary's path. It is a plain build,
// not a -race one: the processes under test run as they do in production.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Proc is one running (or finished) process.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error // Wait's, once done is closed
}

// Start runs bin with args and env (on top of PATH and HOME) and kills it
// when the test ends if it still runs. Its stdout and stderr are kept for
// Logs.
func Start(t testing.TB, name, bin string, env []string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, env...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	// A child that outlives the process keeps the log pipe open: stop
	// reading it soon after the process itself ends.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, logs: logs, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Logs is everything the process wrote so far.
func (p *Proc) Logs() string { return p.logs.String() }

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ErrStillRunning is Wait's error when the process outlived the bound.
var ErrStillRunning = errors.New("still running")

// Wait waits up to within for the process to end and returns its exit code
// (-1 when a signal ended it).
func (p *Proc) Wait(within time.Duration) (int, error) {
	select {
	case <-p.done:
	case <-time.After(within):
		return 0, fmt.Errorf("%s after %s: %w", p.Name, within, ErrStillRunning)
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		return 0, p.err
	}
	return p.cmd.ProcessState.ExitCode(), nil
}

// CPU is the CPU time (user + system) the process has used: read from
// /proc while it runs, from its resource usage once it has ended.
func (p *Proc) CPU() (time.Duration, error) {
	if p.Exited() {
		s := p.cmd.ProcessState
		return s.UserTime() + s.SystemTime(), nil
	}
	return ProcCPU(p.Pid())
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

// WaitHTTP polls url until it answers 200, the process ends, or within passes.
func (p *Proc) WaitHTTP(url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		if OK(client, url) {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s ended before %s answered 200: %s", p.Name, url, tail(p.Logs(), 2000))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s did not answer 200 within %s: %s", p.Name, url, within, tail(p.Logs(), 2000))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// OK reports whether GET url answers 200.
func OK(client *http.Client, url string) bool {
	resp, err := client.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Stack is a private PostgreSQL and RabbitMQ, destroyed when the test ends.
type Stack struct {
	DatabaseURL string
	RabbitMQURL string
}

// StartStack starts both servers at once on free ports (about 10 s, the
// broker's boot). PostgreSQL runs with fsync off: a throwaway cluster.
func StartStack(t testing.TB) *Stack {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // the postgres user enters it
		t.Fatal(err)
	}
	pg, amqpPort, dist, epmd := amqptest.FreePort(t), amqptest.FreePort(t), amqptest.FreePort(t), amqptest.FreePort(t)
	t.Cleanup(func() { amqptest.RunServices(t, nil, "destroy", dir) })
	var wg sync.WaitGroup
	errs := make([]error, 2)
	run := func(i int, env []string, args ...string) {
		defer wg.Done()
		cmd := exec.Command("bash", append([]string{amqptest.ServicesScript(t)}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			errs[i] = fmt.Errorf("services.sh %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	wg.Add(2)
	go run(0, []string{"PG_FAST=1"}, "start-pg", dir, strconv.Itoa(pg))
	go run(1, nil, "start-rabbit", dir, strconv.Itoa(amqpPort), strconv.Itoa(dist), strconv.Itoa(epmd))
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return &Stack{
		DatabaseURL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg),
		RabbitMQURL: fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", amqpPort),
	}
}

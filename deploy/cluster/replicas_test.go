package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"usersvc/internal/testkit/amqptest"
	"usersvc/internal/testkit/proctest"
)

// replica is one usersvc process of the cluster, restartable with the same
// command, environment and port.
type replica struct {
	name string
	bin  string
	args []string
	env  []string
	base string // http://127.0.0.1:port: the API (serve) or the probes (consume)
	proc *proctest.Process
	cpu  time.Duration // CPU of the runs that have ended
}

func newReplica(t *testing.T, bin, name string, env []string, command string) *replica {
	t.Helper()
	port := amqptest.FreePort(t)
	addrVar := "HTTP_ADDR"
	if command == "consume" {
		addrVar = "CONSUMER_HEALTH_ADDR"
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return &replica{
		name: name, bin: bin, args: []string{command},
		env:  append(append([]string{}, env...), addrVar+"="+addr),
		base: "http://" + addr,
	}
}

// start runs the process and waits until /ready answers 200.
func (r *replica) start(t *testing.T) {
	t.Helper()
	env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, r.env...)
	p, err := proctest.Start(r.bin, t.TempDir(), env, r.args...)
	if err != nil {
		t.Fatalf("start %s: %v", r.name, err)
	}
	t.Cleanup(p.Stop)
	r.proc = p
	if err := proctest.WaitOK(context.Background(), p, r.base+"/ready", 30*time.Second); err != nil {
		t.Fatalf("%s: %v\n%s", r.name, err, p.Logs.String())
	}
}

// stop sends sig and waits for the exit; it returns the exit code.
func (r *replica) stop(t *testing.T, sig syscall.Signal, within time.Duration) int {
	t.Helper()
	if err := r.proc.Signal(sig); err != nil {
		t.Fatalf("%s: %v", r.name, err)
	}
	return r.awaitExit(t, within)
}

// awaitExit waits for the process to end and returns its exit code.
func (r *replica) awaitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	if err := r.proc.Wait(within); errors.Is(err, proctest.ErrStillRunning) {
		t.Fatalf("%s: still running %s after the signal\n%s", r.name, within, r.proc.Logs.String())
	}
	code, _ := r.proc.ExitCode()
	cpu, _ := r.proc.CPU()
	r.cpu += cpu
	return code
}

// totalCPU is the CPU this replica used over all its runs so far.
func (r *replica) totalCPU() time.Duration {
	cpu, err := r.proc.CPU()
	if err != nil {
		return r.cpu
	}
	if _, err := r.proc.ExitCode(); err == nil {
		return r.cpu // already added by stop
	}
	return r.cpu + cpu
}

// metric sums the samples of the metric name on the replica's /metrics whose
// labels contain every one of labels (e.g. `outcome="applied"`); ok is false
// when /metrics did not answer.
func (r *replica) metric(name string, labels ...string) (float64, bool) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(r.base + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := sample(sc.Text(), name, labels); ok {
			sum += v
		}
	}
	return sum, sc.Err() == nil
}

// sample reads one line of the Prometheus text format when it is a sample
// of name carrying labels.
func sample(line, name string, labels []string) (float64, bool) {
	rest, found := strings.CutPrefix(line, name)
	if !found || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
		return 0, false
	}
	set := ""
	if strings.HasPrefix(rest, "{") {
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return 0, false
		}
		set, rest = rest[1:end], rest[end+1:]
	}
	for _, l := range labels {
		if !strings.Contains(set, l) {
			return 0, false
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	return v, err == nil
}

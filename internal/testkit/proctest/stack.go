package proctest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"usersvc/internal/testkit/amqptest"
)

// Stack is a private PostgreSQL and RabbitMQ, destroyed when the test ends:
// for tests that stop, kill or load them, never the shared test stack
// other packages use at the same time.
type Stack struct {
	DatabaseURL string
	RabbitMQURL string
}

// StartStack starts both servers at once with scripts/services.sh on free
// ports (about 10 s on a quiet machine, the broker's boot). PostgreSQL runs
// with fsync off: a throwaway cluster.
func StartStack(t testing.TB) *Stack {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // the postgres user enters it
		t.Fatal(err)
	}
	pg, amqpPort, dist, epmd := amqptest.FreePort(t), amqptest.FreePort(t), amqptest.FreePort(t), amqptest.FreePort(t)
	t.Cleanup(func() { amqptest.RunServices(t, nil, "destroy", dir) })
	script := amqptest.ServicesScript(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	run := func(i int, env []string, args ...string) {
		defer wg.Done()
		cmd := exec.Command("bash", append([]string{script}, args...)...)
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

package soak

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"usersvc/internal/testkit/amqptest"
	"usersvc/internal/testkit/apptest"
	"usersvc/internal/testkit/proctest"
)

// stack is the soak's own PostgreSQL and RabbitMQ (never the shared test
// stack: the soak stops them) and the two usersvc processes on top.
type stack struct {
	t         *testing.T
	dir       string
	dbURL     string
	brokerURL string
	serve     *service
	consume   *service
}

func startStack(t *testing.T, bin string) *stack {
	dir := t.TempDir()
	pg, amqpPort, dist, epmd := amqptest.FreePort(t), amqptest.FreePort(t), amqptest.FreePort(t), amqptest.FreePort(t)
	s := &stack{t: t, dir: dir,
		dbURL:     fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg),
		brokerURL: fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", amqpPort),
	}
	t.Cleanup(func() { amqptest.RunServices(t, nil, "destroy", dir) })
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = services(t, "start-pg", dir, fmt.Sprint(pg)) })
	wg.Go(func() {
		errs[1] = services(t, "start-rabbit", dir, fmt.Sprint(amqpPort), fmt.Sprint(dist), fmt.Sprint(epmd))
	})
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "DATABASE_URL=" + s.dbURL,
		"SECRET_KEY=" + apptest.Secret, "LOG_LEVEL=warn", "DATABASE_POOL_SIZE=8", "DATABASE_MAX_OVERFLOW=8"}
	if out, err := run(bin, dir, env, "migrate", "up"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if err := amqptest.BindAll(s.brokerURL, outboxExchange, outboxQueue); err != nil {
		t.Fatalf("binding a queue to %s: %v", outboxExchange, err)
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", amqptest.FreePort(t))
	healthAddr := fmt.Sprintf("127.0.0.1:%d", amqptest.FreePort(t))
	s.serve = &service{name: "serve", bin: bin, dir: dir, base: "http://" + httpAddr,
		env: append(env, "HTTP_ADDR="+httpAddr, "RATE_LIMIT_PER_MINUTE=0", "DATABASE_POOL_TIMEOUT=5")}
	s.consume = &service{name: "consume", bin: bin, dir: dir, base: "http://" + healthAddr,
		env: append(env, "RABBITMQ_URL="+s.brokerURL, "CONSUMER_HEALTH_ADDR="+healthAddr)}
	for _, svc := range []*service{s.serve, s.consume} {
		t.Cleanup(svc.stop)
		if err := svc.start(); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// services runs scripts/services.sh; its error carries the script's output.
func services(t *testing.T, args ...string) error {
	out, err := run("bash", "", os.Environ(), append([]string{amqptest.ServicesScript(t)}, args...)...)
	if err != nil {
		return fmt.Errorf("services.sh %v: %v\n%s", args, err, out)
	}
	return nil
}

func run(bin, dir string, env []string, args ...string) (string, error) {
	p, err := proctest.Start(bin, dir, env, args...)
	if err != nil {
		return "", err
	}
	if err := p.Wait(5 * time.Minute); err != nil {
		p.Stop()
		return p.Logs.String(), err
	}
	return p.Logs.String(), nil
}

// service is one usersvc command, restarted by the harness; instance counts its starts.
type service struct {
	name, bin, dir, base string
	env                  []string

	mu       sync.Mutex
	proc     *proctest.Process
	instance int
	logs     []string // the logs of the instances that ended
}

// start runs a new instance and waits until its /ready answers 200.
func (s *service) start() error {
	p, err := proctest.Start(s.bin, s.dir, s.env, s.name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proc, s.instance = p, s.instance+1
	s.mu.Unlock()
	if err := proctest.WaitOK(context.Background(), p, s.base+"/ready", 60*time.Second); err != nil {
		return fmt.Errorf("%s: %v\n%s", s.name, err, tail(p.Logs.String()))
	}
	return nil
}

func (s *service) current() *proctest.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// end signals the running instance and waits for its exit (status 0 wanted
// after SIGTERM within the contract's 25 s).
func (s *service) end(sig syscall.Signal) error {
	p := s.current()
	if err := p.Signal(sig); err != nil {
		return err
	}
	err := p.Wait(30 * time.Second)
	s.mu.Lock()
	s.logs = append(s.logs, p.Logs.String())
	s.mu.Unlock()
	if sig == syscall.SIGKILL {
		if err == proctest.ErrStillRunning {
			return err
		}
		return nil
	}
	return err
}

func (s *service) stop() {
	if p := s.current(); p != nil {
		p.Stop()
	}
}

// allLogs is every instance's output, for a failure report.
func (s *service) allLogs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := ""
	for i, l := range s.logs {
		out += fmt.Sprintf("--- %s instance %d\n%s", s.name, i+1, tail(l))
	}
	if s.proc != nil {
		out += fmt.Sprintf("--- %s instance %d (last)\n%s", s.name, s.instance, tail(s.proc.Logs.String()))
	}
	return out
}

func tail(s string) string {
	const max = 4000
	if len(s) > max {
		return "…" + s[len(s)-max:]
	}
	return s
}

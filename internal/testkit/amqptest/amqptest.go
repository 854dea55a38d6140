// Package amqptest gives tests RabbitMQ: the shared test broker `make test`
// starts (USERSVC_TEST_RABBITMQ_URL), unique names on it, a broker of their
// own to restart at will, and a publisher with confirms that survives restarts.
package amqptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"usersvc/platform/amqp"
)

// EnvURL names the variable holding the shared test broker's URL.
const EnvURL = "USERSVC_TEST_RABBITMQ_URL"

// URL returns the shared test broker's URL or fails the test with what to do.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts PostgreSQL and RabbitMQ", EnvURL)
	}
	return u
}

// Topology returns unique exchange and queue names, so tests sharing a
// broker never see each other's messages, bound with keys (none: a consumer
// binds its subscription's). The queues are deleted afterwards when
// brokerURL is reachable.
func Topology(t testing.TB, brokerURL string, keys ...string) amqp.Topology {
	t.Helper()
	suffix := Suffix()
	topo := amqp.Topology{
		Exchange:      "test.events." + suffix,
		Queue:         "test.queue." + suffix,
		BindingKeys:   keys,
		DeliveryLimit: amqp.MinDeliveryLimit,
	}
	t.Cleanup(func() {
		conn, err := amqp091.Dial(brokerURL)
		if err != nil {
			return
		}
		defer conn.Close()
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(topo.Queue, false, false, false)
			_, _ = ch.QueueDelete(topo.DeadLetterQueue(), false, false, false)
			_ = ch.ExchangeDelete(topo.Exchange, false, false)
			_ = ch.ExchangeDelete(topo.DeadLetterExchange(), false, false)
		}
	})
	return topo
}

// Suffix is a short random name part.
func Suffix() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// FreePort returns a TCP port nothing listens on right now, chosen below the
// kernel's ephemeral range: a broker restarted by a test leaves its port
// free for a few seconds, and a port of the ephemeral range may then be taken
// as the source port of any outgoing connection on the machine.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 1000 {
		port := 10000 + mathrand.IntN(ephemeralLow()-10000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("free port: none found below the ephemeral range")
	return 0
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768 when unknown).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 32768
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil || low <= 11000 {
		return 32768
	}
	return low
}

// ServicesScript is scripts/services.sh: USERSVC_SERVICES_SCRIPT (set by
// scripts/test.sh), else found above the working directory.
func ServicesScript(t testing.TB) string {
	t.Helper()
	if s := os.Getenv("USERSVC_SERVICES_SCRIPT"); s != "" {
		return s
	}
	dir, _ := os.Getwd()
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		s := filepath.Join(dir, "scripts", "services.sh")
		if _, err := os.Stat(s); err == nil {
			return s
		}
	}
	t.Fatal("scripts/services.sh not found (set USERSVC_SERVICES_SCRIPT)")
	return ""
}

// RunServices runs scripts/services.sh with args, failing the test on error.
func RunServices(t testing.TB, env []string, args ...string) {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("bash", append([]string{ServicesScript(t)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("services.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("services.sh %s: %s", strings.Join(args, " "), time.Since(start).Round(10*time.Millisecond))
}

// Broker is a RabbitMQ of the test's own, on free ports, stopped when the test ends.
type Broker struct {
	URL string
	dir string
}

// StartBroker starts a private broker (about 10 s): restarting the shared
// one would disturb the packages testing beside this one.
func StartBroker(t testing.TB) *Broker {
	t.Helper()
	dir := t.TempDir()
	amqpPort, distPort, epmdPort := FreePort(t), FreePort(t), FreePort(t)
	t.Cleanup(func() { RunServices(t, nil, "destroy", dir) })
	RunServices(t, nil, "start-rabbit", dir, fmt.Sprint(amqpPort), fmt.Sprint(distPort), fmt.Sprint(epmdPort))
	return &Broker{URL: fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", amqpPort), dir: dir}
}

// Restart stops the broker (clients get CONNECTION_FORCED) and starts it again.
func (b *Broker) Restart(t testing.TB) { t.Helper(); RunServices(t, nil, "restart-rabbit", b.dir) }

// Message is one message to publish.
type Message struct {
	Key  string
	Body []byte
	Type string // AMQP type property, optional
}

// PublishAll publishes msgs in order with publisher confirms, window at a
// time, redialing after a lost connection and republishing whatever was not
// confirmed (so a message may arrive twice, as in production). progress, if
// set, is told how many are confirmed after each window.
func PublishAll(ctx context.Context, brokerURL, exchange string, msgs []Message, window int, progress func(confirmed int)) error {
	next := 0
	var ch *amqp091.Channel
	var conn *amqp091.Connection
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for next < len(msgs) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if ch == nil || ch.IsClosed() {
			if conn != nil {
				_ = conn.Close()
			}
			var err error
			conn, ch, err = confirmChannel(brokerURL)
			if err != nil {
				conn, ch = nil, nil
				select {
				case <-ctx.Done():
					return fmt.Errorf("%w (last dial: %v)", ctx.Err(), err)
				case <-time.After(200 * time.Millisecond):
				}
				continue
			}
		}
		end := min(next+window, len(msgs))
		if ok := publishWindow(ctx, ch, exchange, msgs[next:end]); !ok {
			continue // republish the whole window on a fresh channel
		}
		next = end
		if progress != nil {
			progress(next)
		}
	}
	return nil
}

func confirmChannel(brokerURL string) (*amqp091.Connection, *amqp091.Channel, error) {
	conn, err := amqp091.DialConfig(brokerURL, amqp091.Config{Dial: amqp091.DefaultDial(5 * time.Second)})
	if err != nil {
		return nil, nil, err
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return conn, ch, nil
}

func publishWindow(ctx context.Context, ch *amqp091.Channel, exchange string, msgs []Message) bool {
	pending := make([]*amqp091.DeferredConfirmation, 0, len(msgs))
	for i, m := range msgs {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, m.Key, false, false, amqp091.Publishing{
			ContentType:  "application/json",
			DeliveryMode: amqp091.Persistent,
			Type:         m.Type,
			MessageId:    fmt.Sprintf("test-%d", i),
			Body:         m.Body,
		})
		if err != nil {
			_ = ch.Close()
			return false
		}
		pending = append(pending, dc)
	}
	for _, dc := range pending {
		ok, err := dc.WaitContext(ctx)
		if err != nil || !ok {
			_ = ch.Close()
			return false
		}
	}
	return true
}

// BindAll declares the topic exchange (durable) and a durable queue bound
// to every routing key of it: where a test collects all that is published.
func BindAll(brokerURL, exchange, queue string) error {
	conn, err := amqp091.Dial(brokerURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.ExchangeDeclare(exchange, amqp091.ExchangeTopic, true, false, false, false, nil); err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		return err
	}
	return ch.QueueBind(queue, "#", exchange, false, nil)
}

// QueueDepth returns the ready messages of queue.
func QueueDepth(brokerURL, queue string) (int, error) {
	conn, err := amqp091.Dial(brokerURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return 0, err
	}
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		return 0, err
	}
	return q.Messages, nil
}

// Drain takes every message left in queue (acknowledging them) and returns their bodies.
func Drain(brokerURL, queue string) ([][]byte, error) {
	conn, err := amqp091.Dial(brokerURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	var bodies [][]byte
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			return bodies, err
		}
		if !ok {
			return bodies, nil
		}
		bodies = append(bodies, d.Body)
	}
}

// ErrTimeout is returned by Eventually when the condition never held.
var ErrTimeout = errors.New("condition not met in time")

// Eventually polls cond every interval until it is true or timeout passes.
func Eventually(timeout, interval time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return ErrTimeout
		}
		time.Sleep(interval)
	}
}

// Proxy is a TCP proxy in front of a broker whose connections the test can
// cut at will: a cheap, precise stand-in for a network failure.
type Proxy struct {
	URL    string // the broker's URL, through the proxy
	target string
	ln     net.Listener

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// NewProxy listens on a free port and forwards to the broker at brokerURL.
func NewProxy(t testing.TB, brokerURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &Proxy{target: u.Host, ln: ln, conns: map[net.Conn]struct{}{}}
	u.Host = ln.Addr().String()
	p.URL = u.String()
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.Cut() })
	return p
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *Proxy) pipe(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = client.Close()
		return
	}
	p.mu.Lock()
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(server, client); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, server); done <- struct{}{} }()
	<-done
	_ = client.Close()
	_ = server.Close()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// Cut closes every connection through the proxy; new ones are accepted.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}

// WaitFor fails the test unless cond holds within 30 s (polled every 10 ms).
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if err := Eventually(30*time.Second, 10*time.Millisecond, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Depth is the number of ready messages in queue, failing the test when it cannot tell.
func Depth(t testing.TB, brokerURL, queue string) int {
	t.Helper()
	n, err := QueueDepth(brokerURL, queue)
	if err != nil {
		t.Fatalf("depth of %s: %v", queue, err)
	}
	return n
}

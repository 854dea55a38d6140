package faultproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"usersvc/internal/testkit/faultproxy"
)

// echo is an upstream that sends back every line it reads.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

type client struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, p *faultproxy.Proxy) *client {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &client{Conn: c, r: bufio.NewReader(c)}
}

// roundTrip writes a line and reads its echo within wait.
func (c *client) roundTrip(line string, wait time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := c.r.ReadString('\n')
	return got, err
}

func mustEcho(t *testing.T, c *client, line string) {
	t.Helper()
	got, err := c.roundTrip(line, 5*time.Second)
	if err != nil || got != line+"\n" {
		t.Fatalf("echo of %q = %q, %v", line, got, err)
	}
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func TestPassesBytesBothWays(t *testing.T) {
	t.Parallel()
	p := faultproxy.Start(t, echo(t))
	c := dial(t, p)
	mustEcho(t, c, "hello")
	mustEcho(t, c, "again")
}

func TestLatencyDelaysEveryAnswer(t *testing.T) {
	t.Parallel()
	p := faultproxy.Start(t, echo(t))
	c := dial(t, p)
	mustEcho(t, c, "warm")
	p.Latency(300 * time.Millisecond)
	start := time.Now()
	mustEcho(t, c, "slow")
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("round trip took %s with 300ms of latency", d)
	}
	p.Heal()
	mustEcho(t, c, "healed")
}

func TestResetOpenResetsOpenConnectionsOnly(t *testing.T) {
	t.Parallel()
	p := faultproxy.Start(t, echo(t))
	c := dial(t, p)
	mustEcho(t, c, "before")
	p.ResetOpen()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.r.ReadString('\n'); !isReset(err) {
		t.Fatalf("read on a reset connection: %v, want connection reset", err)
	}
	mustEcho(t, dial(t, p), "new connections pass")
}

func TestResetRefusesNewConnectionsUntilHeal(t *testing.T) {
	t.Parallel()
	p := faultproxy.Start(t, echo(t))
	p.Reset()
	for range 5 {
		// The reset may reach the client while it connects, or on its first read.
		c, err := net.Dial("tcp", p.Addr())
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Read(make([]byte, 1))
			_ = c.Close()
		}
		if !isReset(err) {
			t.Fatalf("a new connection during Reset: %v, want a reset", err)
		}
	}
	p.Heal()
	mustEcho(t, dial(t, p), "after heal")
}

func TestBlackholeHoldsBytesUntilHeal(t *testing.T) {
	t.Parallel()
	p := faultproxy.Start(t, echo(t))
	open := dial(t, p)
	mustEcho(t, open, "before")
	p.Blackhole()
	if _, err := open.roundTrip("held", 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("open connection in a blackhole: %v, want a timeout", err)
	}
	fresh := dial(t, p) // accepted, never answered
	if _, err := fresh.roundTrip("new", 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("new connection in a blackhole: %v, want a timeout", err)
	}
	p.Heal()
	// What was held flows now, in order.
	for _, c := range []*client{open, fresh} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got, err := c.r.ReadString('\n'); err != nil || (got != "held\n" && got != "new\n") {
			t.Fatalf("after heal: %q, %v", got, err)
		}
	}
}

func TestCloseEndsEveryConnection(t *testing.T) {
	t.Parallel()
	p := faultproxy.Start(t, echo(t))
	c := dial(t, p)
	mustEcho(t, c, "x")
	p.Blackhole()
	p.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.r.ReadString('\n'); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after Close: %v, want the connection ended", err)
	}
	if p.Open() != 0 {
		t.Fatalf("%d connections left after Close", p.Open())
	}
}

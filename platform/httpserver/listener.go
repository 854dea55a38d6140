package httpserver

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// A connection closed with unread input makes the kernel send a reset,
	// which destroys the answer still on its way to the client. So after an
	// early answer (a body over the limit) the server reads and discards what
	// the client still sends, this much or this long at most (CONTRACT §2).
	drainBytes = 4 << 20
	drainTime  = 5 * time.Second
	// backlogWait lets a stopping listener hand over the connections the
	// kernel accepted before the stop: closing it would reset them.
	backlogWait = 50 * time.Millisecond
	// lastReadGrace bounds the reads of every connection once the server
	// stops: an idle kept-alive connection still reads what its client had
	// sent, answers it and closes (CONTRACT §3).
	lastReadGrace = time.Second
)

// listener tracks the connections it hands out, so that a stop can bound
// their reads and wait until each one is closed.
type listener struct {
	net.Listener
	stopping  atomic.Bool
	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex
	conns    map[*conn]struct{}
	lastRead time.Time // zero until the stop
}

func newListener(ln net.Listener) *listener {
	return &listener{Listener: ln, conns: map[*conn]struct{}{}}
}

// Accept hands out the next connection; once stopping, it ends when the
// backlog is empty.
func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		if l.stopping.Load() {
			_ = l.Close()
			return nil, net.ErrClosed // fasthttp's Serve returns nil on it
		}
		return nil, err
	}
	return l.track(nc), nil
}

// Close closes the listening socket once; a second call (fasthttp's
// Shutdown after the stop) is not an error.
func (l *listener) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.Listener.Close() })
	return l.closeErr
}

// stopAccepting lets Accept take what the kernel already accepted, then end.
func (l *listener) stopAccepting() {
	l.stopping.Store(true)
	d, ok := l.Listener.(interface{ SetDeadline(time.Time) error })
	if !ok || d.SetDeadline(time.Now().Add(backlogWait)) != nil {
		_ = l.Close()
	}
}

func (l *listener) track(nc net.Conn) *conn {
	c := &conn{Conn: nc, l: l}
	l.mu.Lock()
	l.conns[c] = struct{}{}
	at := l.lastRead
	l.mu.Unlock()
	if !at.IsZero() {
		c.limitReads(at)
	}
	return c
}

func (l *listener) untrack(c *conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// limitReads bounds every connection's reads, present and future, by at.
func (l *listener) limitReads(at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastRead = at
	for c := range l.conns {
		c.limitReads(at)
	}
}

func (l *listener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// wait returns when every connection is closed, or with ctx's error.
func (l *listener) wait(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for l.open() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// closeAll ends the connections a stop's deadline left open.
func (l *listener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		_ = c.Conn.Close()
	}
}

// conn is one accepted connection. Its read deadlines pass through limit,
// so fasthttp cannot extend a stopping connection's wait for a request.
type conn struct {
	net.Conn
	l         *listener
	drain     atomic.Bool
	closeOnce sync.Once

	mu     sync.Mutex
	wanted time.Time // the read deadline fasthttp asked for
	limit  time.Time // the stop's bound; zero while serving
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wanted = t
	return c.Conn.SetReadDeadline(c.readDeadline())
}

func (c *conn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

func (c *conn) readDeadline() time.Time {
	if !c.limit.IsZero() && (c.wanted.IsZero() || c.wanted.After(c.limit)) {
		return c.limit
	}
	return c.wanted
}

func (c *conn) limitReads(at time.Time) {
	if c.drain.Load() {
		return // its own deadline bounds the drain
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit = at
	_ = c.Conn.SetReadDeadline(c.readDeadline())
}

// drainOnClose asks Close to read what the client still sends first.
func (c *conn) drainOnClose() { c.drain.Store(true) }

func (c *conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		if c.drain.Load() {
			c.discardInput()
		}
		err = c.Conn.Close()
		c.l.untrack(c)
	})
	return err
}

// discardInput ends the answer (FIN) and reads the client's input until it
// closes its side, drainBytes or drainTime: the kernel then has nothing
// unread to reset the connection over.
func (c *conn) discardInput() {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	c.mu.Lock()
	_ = c.Conn.SetReadDeadline(time.Now().Add(drainTime))
	c.mu.Unlock()
	_, _ = io.CopyN(io.Discard, c.Conn, drainBytes)
}

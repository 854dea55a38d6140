package httpserver

import (
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
)

// listener hands fasthttp connections that can close gently.
type listener struct{ net.Listener }

func newListener(ln net.Listener) *listener { return &listener{Listener: ln} }

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: nc}, nil
}

// conn is one accepted connection.
type conn struct {
	net.Conn
	drain     atomic.Bool
	closeOnce sync.Once
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
	_ = c.Conn.SetReadDeadline(time.Now().Add(drainTime))
	_, _ = io.CopyN(io.Discard, c.Conn, drainBytes)
}

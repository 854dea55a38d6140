package pgtest

import (
	"bufio"
	"io"
	"sync"
)

// hold is an armed HoldExecute.
type hold struct {
	left    int
	held    chan struct{}
	release chan struct{}
}

// HoldExecute holds the n-th statement execution any connection sends from
// now until release is called (or the test ends). When held is closed, the
// server has processed everything the connection sent before it, the
// statement's Bind included (where PostgreSQL takes a READ COMMITTED
// statement's snapshot), and the statement has not started: a test can
// commit another transaction exactly there. held is never closed when fewer
// than n executions come.
func (r *Recorder) HoldExecute(n int) (held <-chan struct{}, release func()) {
	h := &hold{left: n, held: make(chan struct{}), release: make(chan struct{})}
	r.mu.Lock()
	r.hold = h
	r.mu.Unlock()
	var once sync.Once
	return h.held, func() { once.Do(func() { close(h.release) }) }
}

// maybeHold counts an execution and holds it if it is the armed one: it asks
// the server to flush (a Flush message changes nothing else) and waits until
// every Bind sent has been answered, then until release.
func (r *Recorder) maybeHold(server io.Writer, s *session) error {
	r.mu.Lock()
	h := r.hold
	if h != nil {
		h.left--
		if h.left > 0 {
			h = nil
		} else {
			r.hold = nil
		}
	}
	r.mu.Unlock()
	if h == nil {
		return nil
	}
	if _, err := server.Write([]byte{'H', 0, 0, 0, 4}); err != nil {
		return err
	}
	if !s.waitBound(r.done) {
		return nil
	}
	close(h.held)
	select {
	case <-h.release:
	case <-r.done:
	}
	return nil
}

// session follows one connection's Binds and the server's answers to them.
type session struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every change
	binds   int           // Binds sent
	bound   int           // Binds answered (BindComplete), or skipped after an error
	failed  bool          // an error since the last ReadyForQuery: the rest is skipped
}

func newSession() *session { return &session{changed: make(chan struct{})} }

func (s *session) update(f func()) {
	s.mu.Lock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *session) bind() { s.update(func() { s.binds++ }) }

// saw notes a message from the server. At ReadyForQuery every Bind sent
// before has been dealt with (pgx sends nothing past a Sync until then).
func (s *session) saw(kind byte) {
	switch kind {
	case '2': // BindComplete
		s.update(func() { s.bound++ })
	case 'E': // ErrorResponse
		s.update(func() { s.failed = true })
	case 'Z': // ReadyForQuery
		s.update(func() { s.failed = false; s.bound = s.binds })
	}
}

// waitBound waits until the server has answered every Bind sent; false if done closed first.
func (s *session) waitBound(done <-chan struct{}) bool {
	for {
		s.mu.Lock()
		ok, changed := s.bound >= s.binds || s.failed, s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-done:
			return false
		}
	}
}

// answer forwards what the server sends, message by message, noting it.
func (s *session) answer(client io.Writer, server io.Reader) error {
	in := bufio.NewReaderSize(server, 64<<10)
	out := bufio.NewWriterSize(client, 64<<10)
	started := false
	for {
		if !started {
			b, err := in.Peek(1)
			if err != nil {
				return err
			}
			// Before authentication, 'N' is a refused encryption request: one byte.
			if b[0] == 'N' {
				_, _ = in.ReadByte()
				if err := out.WriteByte('N'); err != nil {
					return err
				}
				if err := out.Flush(); err != nil {
					return err
				}
				continue
			}
			started = true
		}
		kind, _, msg, err := readMessage(in)
		if err != nil {
			return err
		}
		s.saw(kind)
		if _, err := out.Write(msg); err != nil {
			return err
		}
		if in.Buffered() == 0 {
			if err := out.Flush(); err != nil {
				return err
			}
		}
	}
}

package pgtest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Recorder stands between an application and the test server and records the
// text of every statement the application executes, as PostgreSQL receives it:
// tests then prove properties of the real statements (their plans, that values
// travel as parameters) without knowing how a store spells them. It also
// counts round trips: each Sync or simple Query the client sends is a point
// where it waits for the server's answer.
type Recorder struct {
	// URL is the database URL to give the application instead of the server's.
	URL string

	ln     net.Listener
	mu     sync.Mutex
	stmts  []string
	trips  int
	hold   *hold
	conns  map[net.Conn]struct{}
	closed bool
	done   chan struct{} // closed by close: nothing is held any more
	wg     sync.WaitGroup
}

// Record starts a Recorder in front of the database at dbURL; it stops when
// the test ends.
func Record(t testing.TB, dbURL string) *Recorder {
	t.Helper()
	upstream, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: recorder: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: recorder: %v", err)
	}
	front := *upstream
	front.Host = ln.Addr().String()
	q := front.Query()
	q.Set("sslmode", "disable") // the recorder reads the protocol, so it must be in clear
	front.RawQuery = q.Encode()
	r := &Recorder{URL: front.String(), ln: ln, conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	r.wg.Add(1)
	go r.accept(upstream.Host)
	t.Cleanup(r.close)
	return r
}

// Take returns the statements executed since the last Take, in order, and forgets them.
func (r *Recorder) Take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	stmts := r.stmts
	r.stmts = nil
	return stmts
}

// TakeRoundTrips returns how many round trips were made since the last
// TakeRoundTrips, and forgets them.
func (r *Recorder) TakeRoundTrips() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.trips
	r.trips = 0
	return n
}

func (r *Recorder) trip() {
	r.mu.Lock()
	r.trips++
	r.mu.Unlock()
}

func (r *Recorder) record(stmt string) {
	r.mu.Lock()
	r.stmts = append(r.stmts, stmt)
	r.mu.Unlock()
}

func (r *Recorder) close() {
	_ = r.ln.Close()
	r.mu.Lock()
	if !r.closed {
		close(r.done)
	}
	r.closed = true
	for c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// track remembers c so close can end it (or ends it now if close has run).
func (r *Recorder) track(c net.Conn, add bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case add && r.closed:
		_ = c.Close()
	case add:
		r.conns[c] = struct{}{}
	default:
		delete(r.conns, c)
	}
}

func (r *Recorder) accept(upstream string) {
	defer r.wg.Done()
	for {
		client, err := r.ln.Accept()
		if err != nil {
			return // closed
		}
		server, err := net.Dial("tcp", upstream)
		if err != nil {
			_ = client.Close()
			continue
		}
		r.track(client, true)
		r.track(server, true)
		s := newSession()
		r.wg.Add(2)
		go func() {
			defer r.wg.Done()
			_ = s.answer(client, server)
			_ = client.Close()
		}()
		go func() {
			defer r.wg.Done()
			_ = r.relay(server, client, s)
			_ = server.Close()
			r.track(client, false)
			r.track(server, false)
		}()
	}
}

// Startup-phase request codes of the protocol (no message type byte).
const (
	sslRequest    = 80877103
	gssEncRequest = 80877104
)

// relay forwards what the client sends, noting each statement it executes:
// a simple Query's text, or the text Parse gave the statement a Bind runs.
func (r *Recorder) relay(server io.Writer, client io.Reader, s *session) error {
	in := bufio.NewReader(client)
	for {
		msg, err := readStartup(in)
		if err != nil {
			return err
		}
		if _, err := server.Write(msg); err != nil {
			return err
		}
		if code := binary.BigEndian.Uint32(msg[4:8]); code != sslRequest && code != gssEncRequest {
			break // the server refuses encryption (sslmode=disable): a startup message follows
		}
	}
	parsed := map[string]string{} // statement name → text, for this connection
	for {
		kind, body, msg, err := readMessage(in)
		if err != nil {
			return err
		}
		switch kind {
		case 'Q':
			r.record(cstring(body))
			r.trip()
		case 'S':
			r.trip()
		case 'P':
			name, rest := cut(body)
			parsed[name] = cstring(rest)
		case 'B':
			_, rest := cut(body) // the portal
			name, _ := cut(rest)
			r.record(parsed[name])
			s.bind()
		case 'E':
			if err := r.maybeHold(server, s); err != nil {
				return err
			}
		}
		if _, err := server.Write(msg); err != nil {
			return err
		}
	}
}

func readStartup(in *bufio.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(in, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 8 || n > 1<<16 {
		return nil, errors.New("pgtest: recorder: bad startup message")
	}
	msg := make([]byte, n)
	copy(msg, size[:])
	_, err := io.ReadFull(in, msg[4:])
	return msg, err
}

// readMessage reads one typed message and returns its type, its body, and the whole message.
func readMessage(in *bufio.Reader) (byte, []byte, []byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(in, head[:]); err != nil {
		return 0, nil, nil, err
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n < 4 || n > 1<<30 {
		return 0, nil, nil, errors.New("pgtest: recorder: bad message length")
	}
	msg := make([]byte, 1+n)
	copy(msg, head[:])
	if _, err := io.ReadFull(in, msg[5:]); err != nil {
		return 0, nil, nil, err
	}
	return head[0], msg[5:], msg, nil
}

// cut splits a NUL-terminated string off the front of b.
func cut(b []byte) (string, []byte) {
	s, rest, _ := bytes.Cut(b, []byte{0})
	return string(s), rest
}

func cstring(b []byte) string { s, _ := cut(b); return s }

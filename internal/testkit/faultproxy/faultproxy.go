// Package faultproxy is a TCP proxy for tests that puts a fault between a
// client and its server: added latency, connections reset, or a peer that
// accepts and never answers. Each fault holds until Heal.
//
// toxiproxy (usable as a Go library) was the first choice; it was set aside
// because it cannot reset connections that are already open (its reset toxic
// sets SO_LINGER only on connections opened after the toxic, and acts only
// when the next byte flows), and resetting a pool's idle connections is the
// fault the tests need most.
package faultproxy

import (
	"errors"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Proxy forwards every connection it accepts to one upstream address.
type Proxy struct {
	ln       net.Listener
	upstream string

	mu        sync.Mutex
	latency   time.Duration // added to every chunk the upstream sends back
	blackhole bool          // hold every byte, both ways; accept but never dial
	reset     bool          // reset every new connection at once
	changed   chan struct{} // closed and replaced on each change of the fault
	links     map[*link]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// link is one proxied connection: the client's side and the upstream's.
type link struct {
	client *net.TCPConn
	done   chan struct{}
	once   sync.Once

	mu       sync.Mutex
	upstream net.Conn // nil until dialed
	closed   bool
}

// Start listens on a free loopback port and forwards to upstream
// ("host:port"); the proxy closes when the test ends.
func Start(t testing.TB, upstream string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultproxy: %v", err)
	}
	p := &Proxy{ln: ln, upstream: upstream, changed: make(chan struct{}), links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Front starts a proxy in front of the server a URL names and returns it
// with the same URL pointing at the proxy (postgres://, amqp://, http://).
func Front(t testing.TB, rawURL string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("faultproxy: %v", err)
	}
	p := Start(t, u.Host)
	u.Host = p.Addr()
	return p, u.String()
}

// Addr is the proxy's "host:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Latency delays every chunk the upstream sends by d (so every round trip
// takes d longer), on open and new connections.
func (p *Proxy) Latency(d time.Duration) { p.set(func() { p.latency = d }) }

// Blackhole turns the upstream into a peer that accepts and never answers:
// open connections stop moving (bytes are held, as in a network partition,
// and flow again on Heal), new connections are accepted and left waiting.
func (p *Proxy) Blackhole() { p.set(func() { p.blackhole = true }) }

// Reset resets (RST) every open connection, and every new one at once until Heal.
func (p *Proxy) Reset() {
	p.set(func() { p.reset = true })
	p.ResetOpen()
}

// ResetOpen resets every open connection once; new connections pass.
func (p *Proxy) ResetOpen() {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.abort()
	}
}

// Heal ends every fault: held bytes flow, new connections pass.
func (p *Proxy) Heal() {
	p.set(func() { p.latency, p.blackhole, p.reset = 0, false, false })
}

// Open is the number of connections the proxy holds now.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Close stops accepting, closes every connection and waits for them.
func (p *Proxy) Close() {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if already {
		return
	}
	_ = p.ln.Close()
	p.ResetOpen()
	p.wg.Wait()
}

func (p *Proxy) set(change func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	change()
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		l := &link{client: c.(*net.TCPConn), done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			l.abort()
			return
		}
		reset := p.reset
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		if reset {
			l.abort()
		}
		go p.serve(l)
	}
}

// serve dials the upstream once the proxy lets bytes through, then pipes
// both ways until either side ends or the link is aborted.
func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	defer p.forget(l)
	if p.hold(l, false) != nil {
		return
	}
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		l.abort()
		return
	}
	if !l.attach(up) {
		return // aborted while dialing
	}
	var both sync.WaitGroup
	both.Add(2)
	go func() { defer both.Done(); p.pipe(l, up, l.client, false) }()
	go func() { defer both.Done(); p.pipe(l, l.client, up, true) }()
	both.Wait()
}

// pipe copies src to dst chunk by chunk, each chunk waiting for the fault of
// the moment; the first side to end closes the link.
func (p *Proxy) pipe(l *link, dst, src net.Conn, fromUpstream bool) {
	defer l.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if p.hold(l, fromUpstream) != nil {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = p.hold(l, false) // an end is news too: a blackhole keeps it
			return
		}
	}
}

var errAborted = errors.New("faultproxy: link closed")

// hold keeps a chunk that has just arrived for as long as the fault of the
// moment says: while the proxy is a blackhole, and for the latency (on the
// upstream's answers). A change of fault applies to chunks already held.
func (p *Proxy) hold(l *link, delayed bool) error {
	arrived := time.Now()
	for {
		p.mu.Lock()
		blackhole, latency, changed := p.blackhole, p.latency, p.changed
		p.mu.Unlock()
		var wait <-chan time.Time
		switch {
		case blackhole:
		case delayed && time.Since(arrived) < latency:
			wait = time.After(latency - time.Since(arrived))
		default:
			return nil
		}
		select {
		case <-wait:
			return nil
		case <-changed:
		case <-l.done:
			return errAborted
		}
	}
}

func (p *Proxy) forget(l *link) {
	l.close()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// attach gives the link its upstream connection, or closes that connection
// and reports false when the link was closed while it was being dialed.
func (l *link) attach(up net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = up.Close()
		return false
	}
	l.upstream = up
	return true
}

// abort resets both sides: SO_LINGER 0 makes Close send RST, not FIN, so the
// client sees "connection reset by peer" at once, whatever it was doing.
func (l *link) abort() {
	_ = l.client.SetLinger(0)
	l.mu.Lock()
	if tc, ok := l.upstream.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	l.mu.Unlock()
	l.close()
}

// close ends the link once: both sockets close, waiting pipes return.
func (l *link) close() {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		up := l.upstream
		l.mu.Unlock()
		close(l.done)
		_ = l.client.Close()
		if up != nil {
			_ = up.Close()
		}
	})
}

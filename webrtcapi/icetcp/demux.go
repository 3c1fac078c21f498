// Package icetcp lets ICE-TCP (RFC 6544, passive candidates) share a TCP
// port with another protocol: in Liveloop, the HTTP server's port, so that
// WebRTC reaches viewers on networks that block UDP through the one port
// they can already reach.
//
// A Demux accepts every connection on the port, peeks at its first bytes
// without consuming them (Classify decides in at most ClassifyLen bytes)
// and hands the connection, untouched, to one of two listeners: ICE, for
// pion's ICE TCP mux (ice.NewTCPMuxDefault), or Other, for net/http. A
// connection that does not say what it is within Config.PeekTimeout is
// closed. The connections being classified and those waiting in each
// listener's queue are bounded.
//
// Life cycle: New starts accepting. Closing one of the two listeners (as
// http.Server.Shutdown does) closes the connections later routed to it.
// Close closes the port, both listeners and every connection not yet
// accepted from them, and waits for every goroutine the Demux started.
package icetcp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Demux. Zero values select the documented defaults.
type Config struct {
	// PeekTimeout bounds the wait for a new connection's first bytes: one
	// that has not said what it is by then is closed. Default 5 s.
	PeekTimeout time.Duration
	// MaxPending bounds the connections being classified at once; beyond
	// it the Demux stops accepting until one is decided (the kernel's
	// backlog holds the others). Default 256.
	MaxPending int
	// QueueLen bounds each listener's queue of connections not yet
	// accepted. An ICE connection that finds its queue full is closed and
	// counted (ICE agents try again), so that a flood of them cannot hold
	// up HTTP; an other connection waits for room. Default 64.
	QueueLen int
	// Logger receives accept errors. Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.PeekTimeout <= 0 {
		c.PeekTimeout = 5 * time.Second
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 256
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 64
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Demux shares one TCP listener between ICE-TCP and another protocol.
type Demux struct {
	cfg   Config
	ln    net.Listener
	ice   *listener
	other *listener
	slots chan struct{} // one per connection being classified
	done  chan struct{} // closed by Close
	wg    sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	pending map[net.Conn]struct{} // being classified

	closeOnce sync.Once
	stats     struct{ ice, other, dropped, unclassified atomic.Uint64 }
}

// Stats counts the connections a Demux has seen.
type Stats struct {
	ICE, Other uint64 // handed to each listener
	// Dropped counts ICE connections closed because the ICE listener's
	// queue was full or the listener closed.
	Dropped uint64
	// Unclassified counts connections closed before they said what they
	// are: silent past PeekTimeout, closed by the peer, or failed.
	Unclassified uint64
}

// New starts demultiplexing the connections of ln, which the Demux owns
// from now on.
func New(ln net.Listener, cfg Config) (*Demux, error) {
	if !canPeek {
		return nil, fmt.Errorf("icetcp: %w: peeking at TCP connections", errors.ErrUnsupported)
	}
	cfg = cfg.withDefaults()
	d := &Demux{
		cfg:     cfg,
		ln:      ln,
		slots:   make(chan struct{}, cfg.MaxPending),
		done:    make(chan struct{}),
		pending: make(map[net.Conn]struct{}),
	}
	d.ice = newListener(ln.Addr(), cfg.QueueLen)
	d.other = newListener(ln.Addr(), cfg.QueueLen)
	d.wg.Add(1)
	go d.accept()
	return d, nil
}

// ICE returns the listener of ICE-TCP connections, for ice.TCPMuxParams.
func (d *Demux) ICE() net.Listener { return d.ice }

// Other returns the listener of every other connection, for
// http.Server.Serve.
func (d *Demux) Other() net.Listener { return d.other }

// Addr returns the address of the shared port.
func (d *Demux) Addr() net.Addr { return d.ln.Addr() }

// Stats returns the Demux's counters.
func (d *Demux) Stats() Stats {
	return Stats{
		ICE:          d.stats.ice.Load(),
		Other:        d.stats.other.Load(),
		Dropped:      d.stats.dropped.Load(),
		Unclassified: d.stats.unclassified.Load(),
	}
}

// Close closes the port, both listeners, the connections being classified
// and those not yet accepted, and waits for the Demux's goroutines.
func (d *Demux) Close() error {
	var err error
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		for c := range d.pending {
			c.Close()
		}
		d.mu.Unlock()
		close(d.done)
		err = d.ln.Close()
		d.wg.Wait()
		d.ice.Close()
		d.other.Close()
	})
	return err
}

// accept takes connections from the port while fewer than MaxPending are
// being classified.
func (d *Demux) accept() {
	defer d.wg.Done()
	var backoff time.Duration
	for {
		select {
		case d.slots <- struct{}{}:
		case <-d.done:
			return
		}
		c, err := d.ln.Accept()
		if err != nil {
			<-d.slots
			if errors.Is(err, net.ErrClosed) {
				// Closed by Close, or by someone else: either way the
				// listeners can have no more connections.
				d.ice.fail(err)
				d.other.fail(err)
				return
			}
			// Out of file descriptors and the like: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			d.cfg.Logger.Warn("icetcp: accept", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-d.done:
				return
			}
		}
		backoff = 0
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			c.Close()
			<-d.slots
			return
		}
		d.pending[c] = struct{}{}
		d.wg.Add(1)
		d.mu.Unlock()
		go d.route(c)
	}
}

// route classifies c and hands it to its listener.
func (d *Demux) route(c net.Conn) {
	defer d.wg.Done()
	kind := d.classify(c)
	d.mu.Lock()
	delete(d.pending, c)
	closed := d.closed
	d.mu.Unlock()
	<-d.slots
	// Each counter moves before the connection is handed over or closed,
	// so whoever sees the connection's fate also sees it counted.
	switch {
	case closed:
		c.Close()
	case kind == ICE:
		d.stats.ice.Add(1)
		if !d.ice.offer(c) {
			d.stats.ice.Add(^uint64(0))
			d.stats.dropped.Add(1)
			c.Close()
		}
	case kind == Other:
		d.stats.other.Add(1)
		if !d.other.put(c, d.done) {
			d.stats.other.Add(^uint64(0))
			c.Close()
		}
	default:
		d.stats.unclassified.Add(1)
		c.Close()
	}
}

// classify peeks at c's first bytes until they decide, the peer closes,
// or PeekTimeout passes (NeedMore).
func (d *Demux) classify(c net.Conn) Kind {
	if err := c.SetReadDeadline(time.Now().Add(d.cfg.PeekTimeout)); err != nil {
		return NeedMore
	}
	var buf [ClassifyLen]byte
	have := 0
	for {
		n, err := peek(c, buf[:], have)
		if err != nil || n == 0 {
			return NeedMore
		}
		have = n
		if k := Classify(buf[:n]); k != NeedMore {
			if c.SetReadDeadline(time.Time{}) != nil {
				return NeedMore
			}
			return k
		}
	}
}

// listener is one side of a Demux: a queue of classified connections.
type listener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}

	mu   sync.Mutex
	err  error // why Accept fails; set once, with done closed
	once sync.Once
}

func newListener(addr net.Addr, queue int) *listener {
	return &listener{addr: addr, conns: make(chan net.Conn, queue), done: make(chan struct{})}
}

// offer queues c if there is room, and reports whether it did.
func (l *listener) offer(c net.Conn) bool {
	select {
	case <-l.done:
		return false
	default:
	}
	select {
	case l.conns <- c:
		return true
	default:
		return false
	}
}

// put queues c, waiting for room until the listener or stop closes, and
// reports whether it did.
func (l *listener) put(c net.Conn, stop <-chan struct{}) bool {
	select {
	case <-l.done:
		return false
	default:
	}
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	case <-stop:
		return false
	}
}

// Accept returns the next connection of the listener's kind.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		return nil, l.err
	}
}

// Close stops the listener and closes the connections in its queue; the
// shared port stays open for the other listener. It may be called more
// than once.
func (l *listener) Close() error {
	l.fail(net.ErrClosed)
	return nil
}

// fail makes Accept return err from now on and closes the queued
// connections.
func (l *listener) fail(err error) {
	l.once.Do(func() {
		l.mu.Lock()
		l.err = fmt.Errorf("icetcp: %w", err)
		l.mu.Unlock()
		close(l.done)
	})
	for {
		select {
		case c := <-l.conns:
			c.Close()
		default:
			return
		}
	}
}

// Addr returns the address of the shared port.
func (l *listener) Addr() net.Addr { return l.addr }

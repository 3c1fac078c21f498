package webrtcapi

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/transport/v4"
)

// Batched writes to one peer.
//
// Every packet pion sends goes out with a sendto of its own, and on a
// server with many viewers the kernel's work per UDP packet (routing,
// queueing, the loopback or NIC driver) is most of the CPU. A viewer's
// session writes a video frame's packets one after another, so it opens
// the peer's Batch around them: the ICE socket (batchConn) then keeps
// each packet written to that peer instead of sending it, and Flush sends
// them together: on Linux with one sendmmsg (one system call for the
// batch), in which each run of equal-sized packets is one message with UDP
// generic segmentation offload (GSO, Linux 4.18+: one trip through the
// stack for the run, cut into datagrams by the NIC or at the end of the
// stack) where the kernel allows it, and each other packet a message of
// its own; elsewhere one by one.
//
// Whatever else is written to the peer while its batch is open (an RTCP
// report, a retransmission, an ICE keepalive, from any goroutine) joins
// the batch, in order. A batch holds at most maxBatch packets or
// maxBatchBytes bytes: a write that would pass either sends what is held
// first. The bounds are those of a keyframe (80 packets at 720p and 2.5
// Mbit/s), so that it goes out in one system call, like any other frame:
// a session that sent half a frame and was descheduled in the system call
// (Go hands its processor to another session while it is in the kernel)
// waited behind every other session of the fan-out for the rest.

const (
	maxBatch      = 160        // packets
	maxBatchBytes = 192 * 1024 // bytes
	// A GSO message carries at most maxSegments packets and
	// maxGSOBytes bytes (an IPv4 datagram's UDP payload, at most 65507
	// bytes, with room to spare).
	maxSegments = 64 // the kernel's limit (UDP_MAX_SEGMENTS)
	maxGSOBytes = 65000
	// bufSize is the size a batch buffer starts with: a frame at a
	// few Mbit/s; a larger batch grows it.
	bufSize = 64 * 1024
)

// batchBuf holds a batch's packets while it is open. A batch takes one
// when it first holds a packet and gives it back when it sends, so that a
// viewer's batch costs no memory between frames. Free buffers wait in
// freeBatchBufs, a few at most: a sync.Pool would keep as many as were
// ever in use at once (a burst of viewers starting), since a busy server
// touches every pooled buffer between two collections.
type batchBuf struct {
	conn  *batchConn // the socket they were written to
	buf   []byte     // the packets held, one after another
	sizes []int
	runs  []sendRun // how sendLocked sends them
	mm    mmsg      // sendmmsg's scratch (Linux)
}

// sendRun is what one message of a send carries: buf[off:end], n packets,
// in one GSO send of seg-byte segments if seg > 0.
type sendRun struct {
	off, end, n, seg int
}

// freeBatchBufs holds free batch buffers; more than it holds are left to
// the garbage collector.
var freeBatchBufs = make(chan *batchBuf, 8)

func getBatchBuf() *batchBuf {
	select {
	case h := <-freeBatchBufs:
		return h
	default:
		return &batchBuf{buf: make([]byte, 0, bufSize), sizes: make([]int, 0, maxSegments), runs: make([]sendRun, 0, maxSegments)}
	}
}

func putBatchBuf(h *batchBuf) {
	h.conn, h.buf, h.sizes, h.runs = nil, h.buf[:0], h.sizes[:0], h.runs[:0]
	select {
	case freeBatchBufs <- h:
	default:
	}
}

// batcher is the registry of the batches of every ICE UDP socket of a
// Transport (one, or one per local address), by the peer's address.
type batcher struct {
	// peers holds the registered batches, open or not, by address
	// (netip.AddrPort to *Batch). Every packet written looks its peer up,
	// from every CPU: a sync.Map's lookups write nothing shared, where an
	// RWMutex's read lock is two atomic adds on one cache line.
	peers sync.Map
	open  atomic.Int32  // how many are open: 0 skips the lookup
	slots atomic.Uint32 // the next Batch's slot (see batchConn.sender)

	held, gsoSends, gsoPackets atomic.Uint64
}

func newBatcher() *batcher { return &batcher{} }

func (r *batcher) batch(addr netip.AddrPort) *Batch {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	bt, _ := r.peers.Load(addr)
	b, _ := bt.(*Batch)
	return b
}

// BatchStats counts the packets batches held, and the GSO sends that
// carried some of them.
type BatchStats struct {
	Held       uint64 // packets held by a batch, then sent together
	GSOSends   uint64 // sendmsg calls with UDP GSO
	GSOPackets uint64 // the packets they carried
}

// BatchStats returns the counters of the Transport's batches.
func (t *Transport) BatchStats() BatchStats {
	r := t.batcher
	return BatchStats{Held: r.held.Load(), GSOSends: r.gsoSends.Load(), GSOPackets: r.gsoPackets.Load()}
}

// batchConn is an ICE UDP socket: what pion's UDP mux reads and writes.
// Writes to a peer with an open Batch are held. Pion's mux uses ReadFrom,
// WriteTo and their netip forms; the other methods of *net.UDPConn are
// there for transport.UDPConn.
type batchConn struct {
	*net.UDPConn
	r      *batcher
	gso    atomic.Bool // UDP GSO works on this socket (cleared on the first failure)
	family int         // the socket's address family (AF_INET or AF_INET6), 0 if not known
	// senders are duplicates of the socket's descriptor that batches send
	// through (see sender), or nil: send through UDPConn.
	senders []*net.UDPConn
}

// sendHandles is how many duplicates of an ICE socket's descriptor the
// batches send through. Go lets one write at a time through a descriptor
// (its fdMutex), and a sendmmsg to loopback or a busy device may take long
// (the kernel delivers to the peer before returning, and is preempted by
// the peer's wake-up): every other session would wait for it with its
// batch encrypted and held. Peers are spread over the duplicates, which
// are the same socket (same port, same buffers) to the kernel, so that
// the CPUs send at once.
const sendHandles = 8

func newBatchConn(conn *net.UDPConn, r *batcher) *batchConn {
	c := &batchConn{UDPConn: conn, r: r, family: socketFamily(conn)}
	c.gso.Store(gsoSupported(conn))
	for range sendHandles {
		d, err := dupUDP(conn)
		if err != nil {
			break // send through conn alone
		}
		c.senders = append(c.senders, d)
	}
	return c
}

// dupUDP returns a *net.UDPConn on a duplicate of conn's descriptor.
func dupUDP(conn *net.UDPConn) (*net.UDPConn, error) {
	f, err := conn.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, err
	}
	u, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return nil, errors.New("webrtcapi: not a UDP socket")
	}
	return u, nil
}

// sender returns the descriptor that the batch in slot sends through.
func (c *batchConn) sender(slot uint32) *net.UDPConn {
	if len(c.senders) == 0 {
		return c.UDPConn
	}
	return c.senders[slot%uint32(len(c.senders))]
}

// Close closes the socket and its duplicates.
func (c *batchConn) Close() error {
	errs := []error{c.UDPConn.Close()}
	for _, d := range c.senders {
		errs = append(errs, d.Close())
	}
	return errors.Join(errs...)
}

// ReadFromAddrPort is pion's allocation-free read (ice.AddrPortReaderWriter).
func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.ReadFromUDPAddrPort(b)
}

// WriteTo implements net.PacketConn.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.r.open.Load() > 0 {
		if ua, ok := addr.(*net.UDPAddr); ok {
			if bt := c.r.batch(ua.AddrPort()); bt != nil {
				if n, held, err := bt.hold(c, b); held {
					return n, err
				}
			}
		}
	}
	return c.UDPConn.WriteTo(b, addr)
}

// WriteToAddrPort is pion's allocation-free write (ice.AddrPortReaderWriter).
func (c *batchConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if c.r.open.Load() > 0 {
		if bt := c.r.batch(addr); bt != nil {
			if n, held, err := bt.hold(c, b); held {
				return n, err
			}
		}
	}
	return c.WriteToUDPAddrPort(b, addr)
}

// batchNet is the transport.Net that pion's multi-socket UDP mux listens
// with: its sockets are batchConns.
type batchNet struct {
	transport.Net
	r *batcher
}

func (n batchNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	if uc, ok := c.(*net.UDPConn); ok {
		return newBatchConn(uc, n.r), nil
	}
	return c, nil
}

// Batch gathers the packets written to one peer between Open and Flush,
// and sends them together. Its owner (one goroutine) calls Open, Flush
// and Close; any goroutine may write to the peer meanwhile.
type Batch struct {
	r    *batcher
	addr netip.AddrPort
	slot uint32 // which of a socket's descriptors it sends through

	mu     sync.Mutex
	isOpen bool
	held   *batchBuf // nil when nothing is held
}

// Batch returns the batch of the peer at addr (the remote UDP address of
// its selected candidate pair), or nil if addr is not valid. Close
// releases it; one Batch per peer at a time.
func (t *Transport) Batch(addr netip.AddrPort) *Batch {
	if !addr.IsValid() {
		return nil
	}
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	bt := &Batch{r: t.batcher, addr: addr, slot: t.batcher.slots.Add(1)}
	t.batcher.peers.Store(addr, bt)
	return bt
}

// Open starts holding the packets written to the peer.
func (b *Batch) Open() {
	b.mu.Lock()
	if !b.isOpen {
		b.isOpen = true
		b.r.open.Add(1)
	}
	b.mu.Unlock()
}

// hold keeps a copy of p, written to the peer through c, if the batch is
// open (held), sending what it holds first if p would not fit (or was
// written through another socket).
func (b *Batch) hold(c *batchConn, p []byte) (n int, held bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.isOpen {
		return 0, false, nil
	}
	if h := b.held; h != nil && (len(h.sizes) == maxBatch || len(h.buf)+len(p) > maxBatchBytes || h.conn != c) {
		if err := b.sendLocked(); err != nil {
			return 0, true, err
		}
	}
	if b.held == nil {
		b.held = getBatchBuf()
		b.held.conn = c
	}
	b.held.buf = append(b.held.buf, p...)
	b.held.sizes = append(b.held.sizes, len(p))
	return len(p), true, nil
}

// Flush sends the packets held and stops holding.
func (b *Batch) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.isOpen {
		b.isOpen = false
		b.r.open.Add(-1)
	}
	return b.sendLocked()
}

// Close flushes and forgets the batch.
func (b *Batch) Close() error {
	err := b.Flush()
	b.r.peers.CompareAndDelete(b.addr, b)
	return err
}

// sendLocked sends the packets held: each run of packets of one size (the
// last of a run may be shorter) as one GSO message, the rest one by one,
// all with one sendmmsg where the system has it.
func (b *Batch) sendLocked() error {
	h := b.held
	if h == nil {
		return nil
	}
	b.held = nil
	defer putBatchBuf(h)
	// The counters are shared by every session on every CPU: added to
	// once a send, not once a packet.
	b.r.held.Add(uint64(len(h.sizes)))
	gso := h.conn.gso.Load()
	off := 0
	for i := 0; i < len(h.sizes); {
		// The run from i: packets of i's size, and one shorter to end it,
		// as many as one GSO message takes.
		size := h.sizes[i]
		j, end := i+1, off+size
		for j < len(h.sizes) && h.sizes[j] <= size && j-i < maxSegments && end+h.sizes[j]-off <= maxGSOBytes {
			end += h.sizes[j]
			j++
			if h.sizes[j-1] < size {
				break
			}
		}
		if j-i > 1 && gso {
			h.runs = append(h.runs, sendRun{off: off, end: end, n: j - i, seg: size})
			i, off = j, end
			continue
		}
		for ; i < j; i++ {
			h.runs = append(h.runs, sendRun{off: off, end: off + h.sizes[i], n: 1})
			off += h.sizes[i]
		}
	}
	return h.conn.sendRuns(h.conn.sender(b.slot), h, b.addr)
}

// sendEach sends h's runs packet by packet through conn.
func (c *batchConn) sendEach(conn *net.UDPConn, h *batchBuf, addr netip.AddrPort) error {
	var errs []error
	for _, r := range h.runs {
		size := r.end - r.off
		if r.seg > 0 {
			size = r.seg
		}
		for off := r.off; off < r.end; off += size {
			if _, err := conn.WriteToUDPAddrPort(h.buf[off:min(off+size, r.end)], addr); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// countSent counts runs sent.
func (r *batcher) countSent(runs []sendRun) {
	var sends, packets uint64
	for _, run := range runs {
		if run.seg > 0 {
			sends++
			packets += uint64(run.n)
		}
	}
	if sends > 0 {
		r.gsoSends.Add(sends)
		r.gsoPackets.Add(packets)
	}
}

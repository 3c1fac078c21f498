package webrtcapi

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/transport/v4/stdnet"
)

// TestBatch: packets written to a peer while its batch is open arrive
// when it is flushed, each its own datagram, in order, whatever their
// sizes (runs of one size go in one GSO send, the others alone), with GSO
// and without; others are sent at once.
func TestBatch(t *testing.T) {
	cases := []struct {
		name  string
		sizes []int
	}{
		{"one", []int{1200}},
		{"a frame", []int{1240, 1228, 1228, 1228, 1228, 700}},
		{"runs", []int{1000, 1000, 400, 200, 200, 200, 1000, 90}},
		{"growing", []int{10, 20, 30, 40}},
		{"more than a GSO message takes", repeat(1228, 70)},
		{"more bytes than a GSO message takes", repeat(1400, 60)},
		{"more than a batch holds", repeat(1000, 170)},
		{"more bytes than a batch holds", repeat(1400, 150)},
	}
	for _, gso := range []bool{true, false} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/gso=%v", c.name, gso), func(t *testing.T) {
				tr, bc, rx := newBatchPair(t)
				bc.gso.Store(gso && gsoSupported(nil))
				b := tr.Batch(rx.LocalAddr().(*net.UDPAddr).AddrPort())
				defer b.Close()
				// Read as they arrive: the socket's buffer holds less
				// than the largest case.
				got := make(chan [][]byte, 1)
				go func() {
					var ps [][]byte
					buf := make([]byte, 65536)
					rx.SetReadDeadline(time.Now().Add(5 * time.Second))
					for range c.sizes {
						n, _, err := rx.ReadFromUDP(buf)
						if err != nil {
							break
						}
						ps = append(ps, bytes.Clone(buf[:n]))
					}
					got <- ps
				}()
				var want [][]byte
				b.Open()
				for i, n := range c.sizes {
					p := bytes.Repeat([]byte{byte(i)}, n)
					want = append(want, p)
					if _, err := bc.WriteToAddrPort(p, rx.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
						t.Fatal(err)
					}
				}
				if err := b.Flush(); err != nil {
					t.Fatal(err)
				}
				if gso && gsoSupported(nil) && !bc.gso.Load() {
					t.Errorf("the kernel refused GSO on loopback")
				}
				ps := <-got
				if len(ps) != len(want) {
					t.Fatalf("%d datagrams, want %d", len(ps), len(want))
				}
				for i, w := range want {
					if !bytes.Equal(ps[i], w) {
						t.Fatalf("datagram %d: %d bytes of %x, want %d of %x", i, len(ps[i]), ps[i][:1], len(w), w[0])
					}
				}
			})
		}
	}
}

// TestBatchClosed: without an open batch a write goes out at once, and a
// closed batch holds nothing.
func TestBatchClosed(t *testing.T) {
	tr, c, rx := newBatchPair(t)
	to := rx.LocalAddr()
	b := tr.Batch(to.(*net.UDPAddr).AddrPort())
	if _, err := c.WriteTo([]byte("now"), to); err != nil {
		t.Fatal(err)
	}
	if got := readPacket(t, rx); string(got) != "now" {
		t.Fatalf("got %q", got)
	}
	b.Open()
	b.Close()
	if _, err := c.WriteTo([]byte("after"), to); err != nil {
		t.Fatal(err)
	}
	if got := readPacket(t, rx); string(got) != "after" {
		t.Fatalf("got %q", got)
	}
	if n := tr.batcher.open.Load(); n != 0 {
		t.Errorf("%d batches counted open", n)
	}
}

// newBatchPair returns a Transport's batcher with one socket, and a
// socket to send to.
func newBatchPair(t *testing.T) (*Transport, *batchConn, *net.UDPConn) {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	tr := &Transport{batcher: newBatcher()}
	c := newBatchConn(listen(), tr.batcher)
	t.Cleanup(func() { c.Close() })
	rx := listen()
	rx.SetReadBuffer(1 << 20) // a burst of 64 datagrams, however slowly the test reads
	return tr, c, rx
}

// TestBatchNet: the sockets of the multi-socket mux (a Transport on every
// interface) batch too.
func TestBatchNet(t *testing.T) {
	ifs, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	c, err := batchNet{ifs, newBatcher()}.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*batchConn); !ok {
		t.Errorf("batchNet listens with a %T", c)
	}
}

func readPacket(t *testing.T, c *net.UDPConn) []byte {
	t.Helper()
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func repeat(n, count int) []int {
	s := make([]int, count)
	for i := range s {
		s[i] = n
	}
	return s
}

// TestBatchSenders: batches send through duplicates of the socket's
// descriptor (the same port), spread by batch, and closing the socket
// closes them.
func TestBatchSenders(t *testing.T) {
	tr, c, rx := newBatchPair(t)
	if len(c.senders) != sendHandles {
		t.Fatalf("%d send handles, want %d", len(c.senders), sendHandles)
	}
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	from := c.LocalAddr().(*net.UDPAddr).AddrPort()
	// Two batches of one peer in turn (one at a time, as a session
	// replaces its own), on two descriptors.
	for i := range 2 {
		b := tr.Batch(to)
		b.Open()
		if _, err := c.WriteToAddrPort([]byte{byte(i)}, to); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		rx.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, src, err := rx.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 || buf[0] != byte(i) || src.Port() != from.Port() {
			t.Fatalf("batch %d: got %x from %v, want %x from port %d", i, buf[:n], src, i, from.Port())
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for i, d := range c.senders {
		if _, err := d.WriteToUDPAddrPort([]byte{0}, to); err == nil {
			t.Fatalf("send handle %d still open after Close", i)
		}
	}
}

package loadtest

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/transport/v4/stdnet"
	"golang.org/x/sys/unix"
)

// TestGROConn: a viewer's socket with UDP GRO reads a GSO run of
// datagrams, and datagrams sent one by one, as the datagrams that were
// sent, in order.
func TestGROConn(t *testing.T) {
	ifs, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	c, err := groNet{ifs}.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rx, ok := c.(*groConn)
	if !ok {
		t.Skipf("no UDP GRO here: %T", c)
	}
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()

	var want [][]byte
	var run []byte
	for i, n := range []int{1200, 1200, 1200, 700} {
		p := bytes.Repeat([]byte{byte(i)}, n)
		want = append(want, p)
		run = append(run, p...)
	}
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], 1200)
	if _, _, err := tx.WriteMsgUDPAddrPort(run, oob, to); err != nil {
		t.Skipf("no UDP GSO here: %v", err)
	}
	for i, n := range []int{100, 50} {
		p := bytes.Repeat([]byte{byte(10 + i)}, n)
		want = append(want, p)
		if _, err := tx.WriteToUDPAddrPort(p, to); err != nil {
			t.Fatal(err)
		}
	}
	rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	from := tx.LocalAddr().(*net.UDPAddr).AddrPort()
	for i, w := range want {
		n, src, err := rx.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], w) || src != netip.AddrPortFrom(from.Addr(), from.Port()) {
			t.Fatalf("datagram %d: %d bytes of %x from %v, want %d of %x from %v", i, n, buf[:1], src, len(w), w[0], from)
		}
	}
}

// TestGROConnArrivals: the socket reader notes the read time of the
// marked RTP packets of a watched SSRC, and of nothing else (unmarked
// packets, RTCP, SSRCs no viewer watches); the log forgets the oldest.
func TestGROConnArrivals(t *testing.T) {
	const watched, other = 0x1234, 0x5678
	log, stop := watchArrivals(watched)
	defer stop()
	rtpPkt := func(ssrc uint32, seq uint16, marker bool) []byte {
		p := make([]byte, 20)
		p[0], p[1] = 0x80, 96
		if marker {
			p[1] |= 0x80
		}
		binary.BigEndian.PutUint16(p[2:], seq)
		binary.BigEndian.PutUint32(p[8:], ssrc)
		return p
	}
	rtcp := rtpPkt(watched, 7, false)
	rtcp[1] = 200 // a sender report: its second byte reads as a marker
	c := &groConn{}
	at := time.Unix(100, 0)
	for _, tc := range []struct {
		pkt  []byte
		seq  uint16
		want bool
	}{
		{rtpPkt(watched, 1, true), 1, true},
		{rtpPkt(watched, 2, false), 2, false},
		{rtpPkt(other, 3, true), 3, false},
		{rtcp, 7, false},
		{rtpPkt(watched, 4, true), 4, true},
	} {
		at = at.Add(time.Millisecond)
		c.readAt = at
		c.noteArrival(tc.pkt)
		got, ok := log.arrival(tc.seq)
		if ok != tc.want || ok && !got.Equal(at) {
			t.Errorf("seq %d: arrival %v, %v; want %v at %v", tc.seq, got, ok, tc.want, at)
		}
	}
	for seq := uint16(10); seq < 10+uint16(len(log.seq)); seq++ {
		c.noteArrival(rtpPkt(watched, seq, true))
	}
	if _, ok := log.arrival(1); ok {
		t.Error("seq 1 still in a full log")
	}
	stop()
	if arrivalLogOf(watched) != nil {
		t.Error("log still registered after stop")
	}
}

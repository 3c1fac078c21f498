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

package loadtest

import (
	"encoding/binary"
	"net"
	"net/netip"
	"time"
	"unsafe"

	"github.com/pion/transport/v4"
	"golang.org/x/sys/unix"
)

// The WHEP viewers' sockets receive with UDP GRO (UDP_GRO, Linux 5.0),
// as QUIC stacks do: a run of equal-sized datagrams that the server sent
// with one GSO send reaches the viewer's socket as it was sent, in one
// piece with the size of its datagrams, and the viewer cuts it into its
// datagrams itself, handing them to pion one by one (see groConn).
//
// Why: on loopback the kernel delivers a datagram to its receiver inside
// the sender's system call, so without GRO every viewer's kernel work
// (cutting the GSO run into datagrams, queueing each on the socket) is
// counted as the server's CPU, and the viewer then makes a system call
// per datagram, on the same two cores as the server. A client on
// another machine costs the server neither. The arrival instant is the
// same: the last packet of a frame is in the viewer when the run holding
// it is, and pion reads every packet as before.

// groNet is the transport.Net the viewers' ICE agents listen with.
type groNet struct{ transport.Net }

func (n groNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UDPConn)
	if !ok {
		return c, nil
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return c, nil
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1)
	}); err != nil || serr != nil {
		return c, nil // no GRO: datagrams arrive one by one
	}
	return &groConn{UDPConn: uc, buf: make([]byte, 1<<16), oob: make([]byte, unix.CmsgSpace(4))}, nil
}

// groConn is a viewer's socket with UDP GRO on: each read returns one
// datagram of what the kernel delivered. One goroutine reads (pion's
// candidate loop); any may write.
type groConn struct {
	*net.UDPConn
	buf, oob []byte
	rest     []byte // datagrams not yet read
	seg      int    // their size (the last may be shorter)
	from     netip.AddrPort
	readAt   time.Time // when the read that returned rest did
	// log is the arrival log of the SSRC of the last marked packet.
	log     *arrivalLog
	logSSRC uint32
}

// noteArrival adds the read time of d, if it is a marked RTP packet of
// an SSRC a viewer watches, to that SSRC's arrival log (see
// arrivalLog). RTP, not RTCP (RFC 5761 4: second byte 192-223 is RTCP;
// the viewers' payload types are 96 and up).
func (c *groConn) noteArrival(d []byte) {
	if len(d) < 12 || d[0]>>6 != 2 || d[1]&0x80 == 0 || d[1]&0x7f < 96 {
		return
	}
	ssrc := binary.BigEndian.Uint32(d[8:12])
	if c.log == nil || c.logSSRC != ssrc {
		l := arrivalLogOf(ssrc)
		if l == nil {
			return // audio, or a track no viewer reads yet
		}
		c.log, c.logSSRC = l, ssrc
	}
	c.log.add(binary.BigEndian.Uint16(d[2:4]), c.readAt)
}

// ReadFromAddrPort is pion's allocation-free read.
func (c *groConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	if len(c.rest) == 0 {
		n, oobn, _, from, err := c.ReadMsgUDPAddrPort(c.buf, c.oob)
		if err != nil {
			return 0, from, err
		}
		c.rest, c.from, c.seg = c.buf[:n], from, groSegment(c.oob[:oobn], n)
		c.readAt = time.Now()
	}
	seg := min(c.seg, len(c.rest))
	c.noteArrival(c.rest[:seg])
	n := copy(p, c.rest[:seg])
	c.rest = c.rest[seg:]
	return n, c.from, nil
}

// ReadFrom implements net.PacketConn.
func (c *groConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// WriteToAddrPort is pion's allocation-free write.
func (c *groConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.WriteToUDPAddrPort(b, addr)
}

// groSegment returns the size of the datagrams of a read of n bytes
// from its control messages: the UDP_GRO message's, or n without one.
func groSegment(oob []byte, n int) int {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && l >= unix.CmsgLen(4) {
			if s := int(binary.NativeEndian.Uint32(oob[unix.CmsgLen(0):])); s > 0 {
				return s
			}
		}
		oob = oob[min(unix.CmsgSpace(l-unix.SizeofCmsghdr), len(oob)):]
	}
	return n
}

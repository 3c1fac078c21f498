package webrtcapi

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpSegment is the UDP_SEGMENT socket option and control message (Linux
// 4.18, include/uapi/linux/udp.h): the size of the datagrams a GSO send is
// cut into.
const udpSegment = 103

func gsoSupported(*net.UDPConn) bool { return true }

// refusesGSO reports whether a send's error means the kernel or the
// device does not do UDP GSO.
func refusesGSO(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINVAL) ||
		errors.Is(err, syscall.ENOPROTOOPT) || errors.Is(err, syscall.EOPNOTSUPP)
}

// putSegmentCmsg writes a UDP_SEGMENT control message header into oob
// (CmsgSpace(2) bytes) and the segment size after it.
func putSegmentCmsg(oob []byte, size int) {
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = syscall.IPPROTO_UDP // SOL_UDP
	h.Type = udpSegment
	h.SetLen(syscall.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[syscall.CmsgLen(0):], uint16(size))
}

// mmsg is the scratch of sendmmsg(2): one message per run of a batch (see
// sendRuns), their iovecs and control messages, and the peer's address.
// A batchBuf carries one, so a viewer holds none between frames.
type mmsg struct {
	msgs []unix.Mmsghdr
	iovs []unix.Iovec
	oob  []byte // a UDP_SEGMENT control message per message
	sa   unix.RawSockaddrInet6
	// The state of the send in progress, for write (a method value made
	// once, so that RawConn.Write allocates nothing).
	from, sent int
	errno      syscall.Errno
	write      func(fd uintptr) bool
}

// sendRuns sends h's runs to addr through conn (c's descriptor or a
// duplicate of it) with as few sendmmsg calls as
// the kernel takes (one, but for a full socket buffer): one message per
// run, a GSO run's with a UDP_SEGMENT control message. It returns the
// errors of the runs that failed; if the kernel refuses GSO it turns GSO
// off for c and sends those runs one packet at a time.
func (c *batchConn) sendRuns(conn *net.UDPConn, h *batchBuf, addr netip.AddrPort) error {
	m := &h.mm
	if m.write == nil {
		m.write = m.send
	}
	namelen, ok := m.setAddr(addr, c.family)
	if !ok {
		return c.sendEach(conn, h, addr)
	}
	n := len(h.runs)
	if cap(m.msgs) < n {
		m.msgs = make([]unix.Mmsghdr, n, max(n, maxSegments))
		m.iovs = make([]unix.Iovec, n, max(n, maxSegments))
	}
	m.msgs, m.iovs = m.msgs[:n], m.iovs[:n]
	space := syscall.CmsgSpace(2)
	if len(m.oob) < n*space {
		m.oob = make([]byte, max(n, maxSegments)*space)
		for i := range len(m.oob) / space {
			putSegmentCmsg(m.oob[i*space:], 0)
		}
	}
	for i, r := range h.runs {
		m.iovs[i] = unix.Iovec{Base: &h.buf[r.off]}
		m.iovs[i].SetLen(r.end - r.off)
		hdr := &m.msgs[i].Hdr
		*hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&m.sa)), Namelen: namelen, Iov: &m.iovs[i]}
		hdr.SetIovlen(1)
		if r.seg > 0 {
			binary.NativeEndian.PutUint16(m.oob[i*space+syscall.CmsgLen(0):], uint16(r.seg))
			hdr.Control = &m.oob[i*space]
			hdr.SetControllen(syscall.CmsgLen(2))
		}
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var errs []error
	for m.from = 0; m.from < n; {
		if err := rc.Write(m.write); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if m.errno == 0 {
			c.r.countSent(h.runs[m.from : m.from+m.sent])
			m.from += m.sent
			continue
		}
		// The message at from failed: the others may go.
		r := h.runs[m.from]
		err := error(m.errno)
		if r.seg > 0 && refusesGSO(err) {
			c.gso.Store(false) // refused: one by one from now on
			h.runs = append(h.runs[:0], h.runs[m.from:]...)
			return errors.Join(append(errs, c.sendEach(conn, h, addr))...)
		}
		errs = append(errs, err)
		m.from++
	}
	return errors.Join(errs...)
}

// send is RawConn.Write's function: one sendmmsg of the messages from
// m.from. It reports false to wait until the socket is writable.
//
// The call is raw (RawSyscall6: the Go scheduler is not told): the socket
// is non-blocking (O_NONBLOCK is the open file's, shared by the
// duplicates), so the call never waits, it only works: tens to a few
// hundred microseconds for a batch (on loopback the kernel delivers to
// the peer inside it). Told, the runtime's monitor takes the processor
// from a goroutine that has been 20 µs in the kernel and wakes another
// thread to run the next session; on a machine whose cores are all
// fanning out a frame that thread only competes with the one in the
// kernel, and the hand-back is a second wake-up: at 100 WHEP viewers on
// 2 cores, server CPU 2.42-2.47 to 1.87-2.43 ms/v·s and p99 latency
// 8.8-9.9 to 6.9-8.6 ms. The price: the processor runs nothing else and
// a stop-the-world waits while the call lasts.
func (m *mmsg) send(fd uintptr) bool {
	msgs := m.msgs[m.from:]
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
	switch errno {
	case unix.EAGAIN:
		return false
	case unix.EINTR:
		return m.send(fd)
	}
	m.sent, m.errno = int(n), errno
	if errno == 0 && n == 0 {
		m.errno = unix.EAGAIN // cannot happen; do not spin
	}
	return true
}

// setAddr writes addr as a socket address of family into m.sa and returns
// its length, or false if a socket of that family cannot send to addr.
func (m *mmsg) setAddr(addr netip.AddrPort, family int) (uint32, bool) {
	a := addr.Addr()
	switch {
	case family == unix.AF_INET && a.Is4():
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&m.sa))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], addr.Port())
		return unix.SizeofSockaddrInet4, true
	case family == unix.AF_INET6:
		m.sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()} // a v4 address mapped
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&m.sa.Port))[:], addr.Port())
		return unix.SizeofSockaddrInet6, true
	}
	return 0, false
}

// socketFamily returns the address family of conn's socket (a socket
// bound to a wildcard address may be IPv6 though it sends to IPv4), or 0.
func socketFamily(conn *net.UDPConn) int {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0
	}
	family := 0
	rc.Control(func(fd uintptr) {
		if sa, err := unix.Getsockname(int(fd)); err == nil {
			switch sa.(type) {
			case *unix.SockaddrInet4:
				family = unix.AF_INET
			case *unix.SockaddrInet6:
				family = unix.AF_INET6
			}
		}
	})
	return family
}

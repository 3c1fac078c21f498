//go:build unix

package icetcp

import (
	"errors"
	"net"
	"syscall"
)

// canPeek: peek works on this platform.
const canPeek = true

// peek waits until c has more than have bytes to read, or the peer closed
// its side, and copies what it has into buf without consuming it
// (recv(2) with MSG_PEEK): the connection goes on untouched, still a
// *net.TCPConn, so net/http keeps sendfile and writev. It returns 0 when
// the peer closed without sending more. The read deadline of c applies.
func peek(c net.Conn, buf []byte, have int) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, errors.ErrUnsupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, _, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			return false
		}
		// The bytes seen already are still there: wait for new ones (the
		// poller is edge-triggered, so this waits for the next arrival).
		return rerr != nil || n == 0 || n > have
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
}

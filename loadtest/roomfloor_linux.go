package loadtest

import (
	"net"
	"syscall"
)

// roomFloorConn is one of the room floor writer's connections. On Linux
// it is written with one raw write(2) (see rawWrite), as the server's
// fan-out writes (websocket's sysWrite), falling back to the Go
// connection when the socket does not take the whole frame.
type roomFloorConn struct {
	nc net.Conn
	fd int // -1: write through nc
}

func newRoomFloorConn(nc net.Conn) roomFloorConn {
	c := roomFloorConn{nc: nc, fd: -1}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			raw.Control(func(fd uintptr) { c.fd = int(fd) })
		}
	}
	return c
}

// write writes b whole (nc stays open while the share's goroutine, the
// only writer and closer, writes).
func (c roomFloorConn) write(b []byte) error {
	if c.fd >= 0 {
		n, err := rawWrite(c.fd, b)
		switch {
		case err == nil && n == len(b):
			return nil
		case err == nil:
			b = b[n:]
		case err != syscall.EAGAIN && err != syscall.EINTR:
			return err
		}
	}
	_, err := c.nc.Write(b)
	return err
}

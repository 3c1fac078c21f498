//go:build !linux

package loadtest

import "net"

// roomFloorConn is one of the room floor writer's connections.
type roomFloorConn struct{ nc net.Conn }

func newRoomFloorConn(nc net.Conn) roomFloorConn { return roomFloorConn{nc: nc} }

func (c roomFloorConn) write(b []byte) error {
	_, err := c.nc.Write(b)
	return err
}

//go:build !linux

package webrtcapi

import (
	"net"
	"net/netip"
)

func gsoSupported(*net.UDPConn) bool { return false }

// mmsg is sendmmsg(2)'s scratch on Linux.
type mmsg struct{}

// sendRuns sends h's packets one by one through conn.
func (c *batchConn) sendRuns(conn *net.UDPConn, h *batchBuf, addr netip.AddrPort) error {
	return c.sendEach(conn, h, addr)
}

func socketFamily(*net.UDPConn) int { return 0 }

//go:build !linux

package webrtcapi

import (
	"net"
	"net/netip"
)

func gsoSupported(*net.UDPConn) bool { return false }

func sendGSO(*net.UDPConn, []byte, int, netip.AddrPort, []byte) ([]byte, error) {
	return nil, errGSO
}

package webrtcapi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// udpSegment is the UDP_SEGMENT socket option and control message (Linux
// 4.18, include/uapi/linux/udp.h): the size of the datagrams a GSO send is
// cut into.
const udpSegment = 103

func gsoSupported(*net.UDPConn) bool { return true }

// sendGSO sends buf, packets of size bytes one after another (the last
// may be shorter), to addr in one sendmsg with a UDP_SEGMENT control
// message, which it writes into oob (reused when given). It wraps errGSO
// if the kernel or the device refuses GSO.
func sendGSO(conn *net.UDPConn, buf []byte, size int, addr netip.AddrPort, oob []byte) ([]byte, error) {
	if len(oob) != syscall.CmsgSpace(2) {
		oob = make([]byte, syscall.CmsgSpace(2))
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		h.Level = syscall.IPPROTO_UDP // SOL_UDP
		h.Type = udpSegment
		h.SetLen(syscall.CmsgLen(2))
	}
	binary.NativeEndian.PutUint16(oob[syscall.CmsgLen(0):], uint16(size))
	_, _, err := conn.WriteMsgUDPAddrPort(buf, oob, addr)
	if err != nil && (errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINVAL) ||
		errors.Is(err, syscall.ENOPROTOOPT) || errors.Is(err, syscall.EOPNOTSUPP)) {
		return oob, fmt.Errorf("%w: %v", errGSO, err)
	}
	return oob, err
}

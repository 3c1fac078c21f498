package webrtcapi

import (
	"errors"
	"io"
	"net"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// Every peer's ICE agent gathers a passive ICE-TCP candidate when the
// Transport has a TCP listener, and reads it from a goroutine of its own
// that holds an 8 KB receive buffer; pion's TCP mux waits on the
// candidate's connection from another goroutine. A peer that connected
// over UDP never uses it: ReleaseUnusedTCP closes it (about 16 KB and two
// goroutines a peer). A peer that connected over TCP keeps it.

// quietTCPMux is the Transport's ICE-TCP mux as pion's agents see it: the
// connections it hands out report their closing as net.ErrClosed, which
// the agent's reader takes as the end (pion's io.ErrClosedPipe is logged
// as a warning, once for every peer that ends).
type quietTCPMux struct{ ice.TCPMux }

// LocalAddr is the listener's address. pion's agent looks for it to
// gather passive TCP candidates only on the address the listener is bound
// to (every interface's, if it is bound to none): without it a listener on
// one address announced candidates on every interface, unreachable ones
// too, each with a connection object of its own in every peer.
func (m quietTCPMux) LocalAddr() net.Addr {
	if a, ok := m.TCPMux.(interface{ LocalAddr() net.Addr }); ok {
		return a.LocalAddr()
	}
	return nil
}

func (m quietTCPMux) GetConnByUfrag(ufrag string, isIPv6 bool, local net.IP) (net.PacketConn, error) {
	c, err := m.TCPMux.GetConnByUfrag(ufrag, isIPv6, local)
	if err != nil {
		return nil, err
	}
	return quietConn{c}, nil
}

type quietConn struct{ net.PacketConn }

func (c quietConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(b)
	if errors.Is(err, io.ErrClosedPipe) {
		err = net.ErrClosed
	}
	return n, a, err
}

// ReleaseUnusedTCP closes the ICE-TCP candidate of pc, a PeerConnection of
// an API built on the Transport's SettingEngine, if pc has connected over
// UDP (its selected candidate pair's local candidate is UDP). Call it once
// pc has connected: the controlled side (the server, in WHEP and WHIP)
// keeps the pair its peer nominated, so TCP is not used later. It does
// nothing without a TCP listener, before a pair is selected, or over TCP.
func (t *Transport) ReleaseUnusedTCP(pc *webrtc.PeerConnection) {
	if t.tcp == nil {
		return
	}
	sctp := pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local == nil || pair.Local.Protocol != webrtc.ICEProtocolUDP {
		return
	}
	if ufrag := localUfrag(pc); ufrag != "" {
		t.tcp.RemoveConnByUfrag(ufrag)
	}
}

// localUfrag returns the ICE username fragment of pc's local description
// (every media section has the same one), or "".
func localUfrag(pc *webrtc.PeerConnection) string {
	ld := pc.LocalDescription()
	if ld == nil {
		return ""
	}
	for line := range strings.Lines(ld.SDP) {
		if v, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok {
			return strings.TrimRight(v, "\r\n")
		}
	}
	return ""
}

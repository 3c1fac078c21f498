// Package webrtcapi builds what Liveloop's WebRTC endpoints (deliver/whep
// and ingest/whip) share on top of pion: the ICE sockets (one UDP socket
// for every peer, an ICE UDP mux; optionally an ICE-TCP listener, which
// may be one side of the HTTP port, see package webrtcapi/icetcp), the
// addresses announced to peers (NAT 1:1), the ICE settings, batched
// writes to a peer (Batch: a frame's packets sent together, in one
// sendmmsg with UDP GSO), pion's logging sent to slog, and reading SDP offers
// (OfferedCodecs, trickled candidates). Package webrtcapi/resource serves their session resources
// over HTTP and runs the sessions' life cycle.
//
// Life cycle: NewTransport binds the sockets; SettingEngine returns a
// pion SettingEngine that uses them, for as many webrtc.APIs as wanted
// (sockets demultiplex peers by ICE username, so a WHEP and a WHIP API may
// share one Transport); Close closes the sockets.
package webrtcapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
	"github.com/pion/webrtc/v4"
)

// ErrConfig means a Config cannot be used.
var ErrConfig = errors.New("webrtcapi: bad config")

// Config configures a Transport.
type Config struct {
	// UDPAddr is the host:port of the one UDP socket that carries every
	// peer's ICE, DTLS and SRTP. Port 0 picks a free port; an unspecified
	// host listens on every interface (one socket per interface address).
	// Required.
	UDPAddr string
	// TCPAddr, if set, is the host:port of a listener for ICE-TCP (RFC
	// 6544, passive), for networks that block UDP. TCPListener, if set, is
	// used instead (e.g. the ICE side of an icetcp.Demux on the HTTP
	// port); the Transport closes it. Candidates announce its port.
	TCPAddr     string
	TCPListener net.Listener
	// PublicIPs are announced in host candidates instead of the local
	// addresses (NAT 1:1).
	PublicIPs []string
	// Logger receives pion's logs: errors as warnings, the rest at debug
	// level. Default: discard.
	Logger *slog.Logger
}

// Transport is a bound set of ICE sockets and the SettingEngine that uses
// them.
type Transport struct {
	udp     ice.UDPMux
	batcher *batcher // the batches of the UDP sockets (see Batch)
	tcp     ice.TCPMux
	se      webrtc.SettingEngine
}

// NewTransport binds the sockets of cfg.
func NewTransport(cfg Config) (*Transport, error) {
	if cfg.UDPAddr == "" {
		return nil, fmt.Errorf("%w: UDPAddr is required", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	lf := NewLoggerFactory(cfg.Logger.With("component", "pion"))
	t := &Transport{batcher: newBatcher()}
	se := webrtc.SettingEngine{LoggerFactory: lf}
	// One list of the host's interfaces for every peer, taken now: pion's
	// ICE agent would otherwise list them (a netlink dump) for each
	// PeerConnection and keep its own copy, about 7 KB a peer. The
	// sockets are bound now too, so the addresses they announce are the
	// ones listed now.
	ifs, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("webrtcapi: interfaces: %w", err)
	}
	se.SetNet(fixedNet{ifs})
	udpAddr, err := net.ResolveUDPAddr("udp", cfg.UDPAddr)
	if err != nil {
		return nil, fmt.Errorf("%w: UDP address: %v", ErrConfig, err)
	}
	if udpAddr.IP == nil || udpAddr.IP.IsUnspecified() {
		mux, err := ice.NewMultiUDPMuxFromPort(udpAddr.Port, ice.UDPMuxFromPortWithLogger(lf.NewLogger("ice")),
			ice.UDPMuxFromPortWithLoopback(), ice.UDPMuxFromPortWithNet(batchNet{ifs, t.batcher}))
		if err != nil {
			return nil, fmt.Errorf("webrtcapi: UDP listen: %w", err)
		}
		t.udp = mux
	} else {
		conn, err := net.ListenUDP("udp", udpAddr)
		if err != nil {
			return nil, fmt.Errorf("webrtcapi: UDP listen: %w", err)
		}
		t.udp = ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: newBatchConn(conn, t.batcher), Logger: lf.NewLogger("ice")})
		se.SetIncludeLoopbackCandidate(udpAddr.IP.IsLoopback())
	}
	se.SetICEUDPMux(t.udp)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	ln := cfg.TCPListener
	if ln == nil && cfg.TCPAddr != "" {
		if ln, err = net.Listen("tcp", cfg.TCPAddr); err != nil {
			t.Close()
			return nil, fmt.Errorf("webrtcapi: TCP listen: %w", err)
		}
	}
	if ln != nil {
		// A connection that has not sent its first Binding request within
		// FirstStunBindTimeout is closed (pion's default is 30 s). Each
		// peer's ICE-TCP candidate queues up to ReadBufferSize packets
		// read from its connection (a full queue holds the reader back, it
		// does not drop): 8 keep up with a WHIP publisher, and cost 450
		// bytes a peer, not 3.5 KB as 64 did. With a WriteBufferSize,
		// pion queues what is written to each connection and fails a
		// write once the queue is full, rather than block the writer
		// (WHEP's live writers serve many peers; see deliver/whep).
		t.tcp = ice.NewTCPMuxDefault(ice.TCPMuxParams{Listener: ln, Logger: lf.NewLogger("ice"), ReadBufferSize: 8,
			WriteBufferSize: 4 << 20, FirstStunBindTimeout: 5 * time.Second})
		if a, ok := ln.Addr().(*net.TCPAddr); ok && a.IP.IsLoopback() {
			se.SetIncludeLoopbackCandidate(true)
		}
		se.SetICETCPMux(quietTCPMux{t.tcp})
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(networks)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(4*time.Second, 8*time.Second, time.Second)
	if len(cfg.PublicIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: cfg.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			t.Close()
			return nil, fmt.Errorf("%w: PublicIPs: %v", ErrConfig, err)
		}
	}
	t.se = se
	return t, nil
}

// SettingEngine returns a SettingEngine that uses the Transport's sockets;
// callers may change their copy further before building an API with it.
func (t *Transport) SettingEngine() webrtc.SettingEngine { return t.se }

// UDPAddr returns the address of the ICE UDP socket (the first, if it
// listens on every interface).
func (t *Transport) UDPAddr() net.Addr {
	if addrs := t.udp.GetListenAddresses(); len(addrs) > 0 {
		return addrs[0]
	}
	return nil
}

// TCPAddr returns the address of the ICE-TCP listener, or nil.
func (t *Transport) TCPAddr() net.Addr {
	if tm, ok := t.tcp.(*ice.TCPMuxDefault); ok {
		return tm.LocalAddr()
	}
	return nil
}

// Close closes the sockets.
func (t *Transport) Close() error {
	var errs []error
	if t.udp != nil {
		errs = append(errs, t.udp.Close())
	}
	if t.tcp != nil {
		errs = append(errs, t.tcp.Close())
	}
	return errors.Join(errs...)
}

// fixedNet is a transport.Net whose interfaces are never listed again: it
// hides the *stdnet.Net inside from pion, which would refresh it (under
// the continual gathering policy) while other peers read it.
type fixedNet struct{ transport.Net }

// Package whep delivers live streams to WebRTC players with WHEP, the
// WebRTC-HTTP Egress Protocol (draft-ietf-wish-whep): a player POSTs an SDP
// offer to /whep/{stream} and gets an SDP answer and the URL of its session
// resource, which it DELETEs to leave.
//
// H.264 is passed through as the publisher sent it (RFC 6184,
// packetization-mode=1, a profile-level-id negotiated against the stream's
// SPS); audio is Opus, from the stream itself or from its companion stream
// {stream}/opus that package transcode makes from AAC. A new viewer's
// first frame is the newest keyframe of the hub's GOP cache, with its
// parameter sets in band, sent as soon as DTLS completes; the frames from
// it to the live edge follow at once on a compressed RTP clock, so the
// picture appears at once and plays live from the next frame.
//
// Every peer shares one webrtc.API: one UDP socket for ICE (a UDP mux), an
// optional ICE-TCP listener, the announced addresses (NAT 1:1), and no
// interceptors: a session answers NACKs from its own retransmission
// history of each viewer's video and sends the RTCP sender reports
// itself, so that a packet goes straight to SRTP, with no interceptor
// chain, goroutine or allocation per packet on the way. PLI and FIR are
// answered from the GOP cache, since an RTMP publisher cannot be asked
// for a keyframe. Each frame's first RTP packet carries abs-capture-time:
// the frame's ingest wall clock, so a player measures its true latency.
// Cues go on a data channel, when the player opens one (see CueChannel).
//
// Life cycle: New binds the sockets; ServeHTTP creates sessions; a session
// ends on DELETE, peer disconnection or ICE failure, the end of its stream,
// a connect timeout, or Close, which ends them all and waits for every
// goroutine the handler started.
package whep

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/webrtcapi"
	"github.com/liveloop/liveloop/webrtcapi/resource"
)

// Errors of the handler. Those that reach a client carry a stable code in
// a JSON body {"error": code, "message": text}: the codes of package
// webrtcapi/resource (400 bad_sdp, 404 session_not_found, 405
// method_not_allowed, 406 no_compatible_codec, 415 unsupported_media_type,
// 503 shutting_down, ...) and
//
//	404 not_found            no such stream (or it has no tracks yet)
//
// ErrBadSDP, ErrNoCodec and ErrClosed are those of package resource, which
// WHIP shares.
var (
	ErrBadSDP   = resource.ErrBadSDP
	ErrNotFound = errors.New("whep: stream not found")
	ErrNoCodec  = resource.ErrNoCodec
	ErrClosed   = resource.ErrClosed
)

// Header extension URIs.
const (
	// AbsCaptureTimeURI is the abs-capture-time extension
	// (webrtc.googlesource.com/src/+/refs/heads/main/docs/native-code/rtp-hdrext/abs-capture-time).
	AbsCaptureTimeURI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"
)

// Config configures a Handler. Zero values select the documented defaults.
type Config struct {
	// Hub is where streams are found. Required.
	Hub *hub.Hub
	// Logger receives session events (start, end and why); nothing per
	// packet. Default: discard.
	Logger *slog.Logger
	// UDPAddr is the host:port of the one UDP socket that carries every
	// peer's ICE, DTLS and SRTP (an ICE UDP mux). Port 0 picks a free port;
	// an unspecified host listens on every interface. Default ":8189".
	UDPAddr string
	// TCPAddr, if set, is the host:port of a listener for ICE-TCP (RFC
	// 6544, passive), for networks that block UDP. TCPListener, if set,
	// is used instead (e.g. one half of a mux on the HTTP port); the
	// handler closes it.
	TCPAddr     string
	TCPListener net.Listener
	// Transport, if set, is the ICE sockets to use, shared with other
	// handlers (WHIP) so that every peer uses one UDP port; the handler
	// does not close it. Otherwise the handler binds UDPAddr/TCPAddr.
	Transport *webrtcapi.Transport
	// PublicIPs are the addresses announced in host candidates instead of
	// the local ones (NAT 1:1), e.g. a cloud instance's public address.
	PublicIPs []string
	// Prefix is the URL path the handler is mounted at: offers go to
	// {Prefix}/{stream}, and session resources are
	// {Prefix}/session/{id}. Default "/whep".
	Prefix string
	// AudioSuffix names a stream's companion audio stream: when a stream
	// has no Opus track, its audio is taken from the stream {name}{suffix}
	// if that exists (package transcode publishes it). Default "/opus".
	AudioSuffix string
	// ConnectTimeout ends a session whose peer does not connect (ICE and
	// DTLS) within it. Default 15 s.
	ConnectTimeout time.Duration
	// NACKBuffer is the number of video RTP packets each viewer keeps for
	// retransmission: a power of two. Default 128 (about half a second of
	// 2.5 Mbit/s video: enough for round trips up to about 400 ms; kept
	// as the frames they belong to, 48 bytes a frame, the payloads being
	// the frames' shared bytes, and NACKBuffer/4 frames at most).
	NACKBuffer uint16
	// MTU is the largest RTP payload, bytes. Default 1200.
	MTU int
	// KeyframeInterval is the shortest interval between two answers to
	// PLI or FIR of one viewer. Default 500 ms.
	KeyframeInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.UDPAddr == "" {
		c.UDPAddr = ":8189"
	}
	if c.Prefix == "" {
		c.Prefix = "/whep"
	}
	c.Prefix = strings.TrimSuffix(c.Prefix, "/")
	if c.AudioSuffix == "" {
		c.AudioSuffix = "/opus"
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 15 * time.Second
	}
	if c.NACKBuffer == 0 {
		c.NACKBuffer = 128
	}
	if c.MTU <= 0 {
		c.MTU = 1200
	}
	if c.KeyframeInterval <= 0 {
		c.KeyframeInterval = 500 * time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Handler serves WHEP. It is an http.Handler for the paths under
// Config.Prefix: POST {Prefix}/{stream} (the stream name may contain '/'),
// DELETE and PATCH {Prefix}/session/{id}, and OPTIONS of both.
type Handler struct {
	cfg   Config
	log   *slog.Logger
	api   *webrtc.API
	tr    *webrtcapi.Transport
	ownTr bool // tr was bound by this handler, which closes it
	res   *resource.Server

	// ssrcs holds the SSRCs of the sessions' senders (uint32 to the video
	// sender's *rtcpSink, or a nil one for audio; see rtcp.go).
	ssrcs sync.Map

	live      live // the live writers (live.go)
	closeOnce sync.Once
	stats     counters
}

type counters struct {
	packets, bytes          atomic.Uint64
	keyframeRequests, nacks atomic.Uint64
	resent                  atomic.Uint64
	catchUps                atomic.Uint64
	cuesSent, cuesDropped   atomic.Uint64
	cueChannelsRefused      atomic.Uint64
	firstKeyframeNanos      atomic.Int64
	firstKeyframeMaxNanos   atomic.Int64
	firstKeyframeSumNanos   atomic.Int64
	firstKeyframeCount      atomic.Int64
}

// Stats is a snapshot of the handler's counters.
type Stats struct {
	Sessions      int    // sessions open now
	SessionsTotal uint64 // sessions created
	Rejected      uint64 // offers refused with a 4xx
	PacketsSent   uint64 // RTP packets written, retransmissions excluded
	BytesSent     uint64 // RTP payload bytes written
	// KeyframeRequests counts PLI and FIR received; NACKs the generic NACK
	// packets received; Resent the packets written again for them (those
	// the history still held).
	KeyframeRequests uint64
	NACKs            uint64
	Resent           uint64
	// CatchUps counts starts from the GOP cache: a new viewer's first, and
	// each answer to a keyframe request or a hub skip.
	CatchUps uint64
	// FirstKeyframe is the time from a session's connection (ICE and DTLS
	// done) to its first keyframe's last packet written: the last one, the
	// mean and the largest.
	FirstKeyframe, FirstKeyframeMean, FirstKeyframeMax time.Duration
	// Timeouts counts sessions whose peer never connected.
	Timeouts uint64
	// CuesSent counts cue messages sent on cue data channels; CuesDropped
	// the cues not sent (the channel failed, or too many waited for it to
	// open). CueChannelsRefused counts channels labelled CueChannel that
	// were not ordered and reliable.
	CuesSent, CuesDropped, CueChannelsRefused uint64
	// PacketsBatched counts the packets written to a peer together (a
	// frame's, see webrtcapi.Batch), GSOSends the UDP GSO sends that
	// carried runs of them, GSOPackets the packets in those. They count
	// the transport's batches, WHIP's too if it shares the transport.
	PacketsBatched, GSOSends, GSOPackets uint64
	// UDPAddr is the address of the ICE UDP socket.
	UDPAddr string
	// TCPAddr is the address of the ICE-TCP listener, if any.
	TCPAddr string
}

// New binds the ICE sockets and returns a handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Hub == nil {
		return nil, errors.New("whep: Config.Hub is required")
	}
	cfg = cfg.withDefaults()
	if cfg.NACKBuffer&(cfg.NACKBuffer-1) != 0 {
		return nil, fmt.Errorf("whep: NACKBuffer %d is not a power of two", cfg.NACKBuffer)
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, tr: cfg.Transport}
	h.live.quit = make(chan struct{})
	if h.tr == nil {
		tr, err := webrtcapi.NewTransport(webrtcapi.Config{UDPAddr: cfg.UDPAddr, TCPAddr: cfg.TCPAddr,
			TCPListener: cfg.TCPListener, PublicIPs: cfg.PublicIPs, Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("whep: %w", err)
		}
		h.tr, h.ownTr = tr, true
	}
	tr := h.tr
	se := tr.SettingEngine()
	se.BufferFactory = h.newBuffer

	me, ir, err := mediaEngine(cfg)
	if err != nil {
		h.closeSockets()
		return nil, err
	}
	h.api = webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir))
	h.res, err = resource.New(resource.Config{
		Name: "whep", Prefix: cfg.Prefix, API: h.api, Accept: h.accept, Logger: cfg.Logger,
		ConnectTimeout: cfg.ConnectTimeout, Now: cfg.Now, Connected: tr.ReleaseUnusedTCP,
		Codes: []resource.Code{{Err: ErrNotFound, Status: http.StatusNotFound, Code: "not_found"}},
	})
	if err != nil {
		h.closeSockets()
		return nil, fmt.Errorf("whep: %w", err)
	}
	return h, nil
}

// h264Variants are the H.264 payload types the media engine knows, one per
// profile WebRTC endpoints offer; the answer uses the offer's own fmtp.
var h264Variants = []string{"42001f", "42e01f", "4d001f", "64001f", "640c1f", "f4001f"}

// mediaEngine registers H.264 (packetization-mode 1), Opus, and the
// feedback and header extensions the handler uses; the interceptor
// registry it returns is empty.
func mediaEngine(cfg Config) (*webrtc.MediaEngine, *interceptor.Registry, error) {
	me := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	for i, plid := range h264Variants {
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + plid,
				RTCPFeedback: fb,
			},
			PayloadType: webrtc.PayloadType(102 + 2*i),
		}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, nil, err
		}
	}
	if err := webrtcapi.RegisterOpus(me); err != nil {
		return nil, nil, err
	}
	for _, typ := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: AbsCaptureTimeURI}, typ); err != nil {
			return nil, nil, err
		}
	}
	// No interceptors: the session answers NACKs from its own history
	// and sends its sender reports (see sender), so that a packet goes
	// straight from the session to the SRTP session.
	ir := &interceptor.Registry{}
	return me, ir, nil
}

func (h *Handler) closeSockets() {
	if h.ownTr {
		h.tr.Close()
	}
}

// UDPAddr returns the address of the ICE UDP socket (the first, if it
// listens on every interface).
func (h *Handler) UDPAddr() net.Addr { return h.tr.UDPAddr() }

// Stats returns a snapshot of the handler's counters.
func (h *Handler) Stats() Stats {
	rs := h.res.Stats()
	st := Stats{
		Sessions:         rs.Sessions,
		SessionsTotal:    rs.Total,
		Rejected:         rs.Rejected,
		PacketsSent:      h.stats.packets.Load(),
		BytesSent:        h.stats.bytes.Load(),
		KeyframeRequests: h.stats.keyframeRequests.Load(),
		NACKs:            h.stats.nacks.Load(),
		Resent:           h.stats.resent.Load(),
		CatchUps:         h.stats.catchUps.Load(),
		FirstKeyframe:    time.Duration(h.stats.firstKeyframeNanos.Load()),
		FirstKeyframeMax: time.Duration(h.stats.firstKeyframeMaxNanos.Load()),
		Timeouts:         rs.Timeouts,

		CuesSent:           h.stats.cuesSent.Load(),
		CuesDropped:        h.stats.cuesDropped.Load(),
		CueChannelsRefused: h.stats.cueChannelsRefused.Load(),
	}
	bs := h.tr.BatchStats()
	st.PacketsBatched, st.GSOSends, st.GSOPackets = bs.Held, bs.GSOSends, bs.GSOPackets
	if c := h.stats.firstKeyframeCount.Load(); c > 0 {
		st.FirstKeyframeMean = time.Duration(h.stats.firstKeyframeSumNanos.Load() / c)
	}
	if a := h.UDPAddr(); a != nil {
		st.UDPAddr = a.String()
	}
	if a := h.tr.TCPAddr(); a != nil {
		st.TCPAddr = a.String()
	}
	return st
}

func (h *Handler) recordFirstKeyframe(d time.Duration) {
	h.stats.firstKeyframeNanos.Store(int64(d))
	h.stats.firstKeyframeSumNanos.Add(int64(d))
	h.stats.firstKeyframeCount.Add(1)
	for {
		m := h.stats.firstKeyframeMaxNanos.Load()
		if int64(d) <= m || h.stats.firstKeyframeMaxNanos.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// Close stops the live writers, letting go of their viewers, ends every
// session, waits for their goroutines and closes the sockets. ServeHTTP
// answers 503 afterwards.
func (h *Handler) Close() error {
	h.closeOnce.Do(func() {
		h.closeLive()
		h.res.Close()
		h.closeSockets()
	})
	return nil
}

// ServeHTTP routes WHEP requests under Config.Prefix (package
// webrtcapi/resource serves them).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.res.ServeHTTP(w, r) }

// Package whip ingests live streams from WebRTC publishers with WHIP, the
// WebRTC-HTTP Ingestion Protocol (RFC 9725): a publisher (a browser, OBS)
// POSTs an SDP offer to /whip/{stream} with its publish key as a bearer
// token, gets an SDP answer and the URL of its session resource, and sends
// H.264 and Opus over the PeerConnection; it DELETEs the resource to stop.
//
// The H.264 RTP stream (RFC 6184, packetization modes 1 and 0) is put back
// in order, depacketized into access units (by RTP timestamp and marker
// bit; a picture that lost a packet is dropped and a keyframe asked for)
// and converted to AVCC, with the parameter sets seen in band as the
// track's decoder configuration. Each Opus RTP packet is one audio frame.
// Both are stamped on one timeline, aligned by the sender's RTCP sender
// reports, and written to a media.Sink (the hub), so a WHIP source plays
// on every delivery path. VP8 is not accepted: Liveloop cannot carry it
// to WebSocket or LL-HLS viewers.
//
// Every peer shares one webrtc.API (package webrtcapi): one UDP socket for
// ICE, optional ICE-TCP, NACK generation and receiver reports
// (interceptors), and transport-wide congestion control feedback so the
// browser's encoder ramps up its bitrate.
//
// Life cycle: New binds the sockets (or uses a shared webrtcapi.Transport);
// ServeHTTP creates sessions; a session ends on DELETE, ICE or DTLS
// failure, the peer closing, a connect timeout, the hub ending its
// publisher (another took over the stream), or Close, which ends them all
// and waits for every goroutine the handler started. A session that ends
// closes its Sink, so the hub keeps the stream's viewers for its grace
// period.
package whip

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
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/webrtc/v4"

	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/webrtcapi"
	"github.com/liveloop/liveloop/webrtcapi/resource"
)

// Errors of the handler. Those that reach a client carry a stable code in
// a JSON body {"error": code, "message": text}: the codes of package
// webrtcapi/resource (400 bad_sdp, 404 session_not_found, 405
// method_not_allowed, 406 no_compatible_codec: the offer has no H.264 video
// this handler takes, 415 unsupported_media_type, 503 shutting_down, ...)
// and
//
//	401 unauthorized         no bearer token (WWW-Authenticate: Bearer)
//	403 forbidden            Authorize refused the token for this stream
//	409 busy                 Publish refused the stream (e.g. it has a publisher)
//
// ErrBadSDP, ErrNoCodec and ErrClosed are those of package resource, which
// WHEP shares.
var (
	ErrBadSDP       = resource.ErrBadSDP
	ErrUnauthorized = errors.New("whip: no bearer token")
	ErrForbidden    = errors.New("whip: publish key refused")
	ErrNoCodec      = resource.ErrNoCodec
	ErrBusy         = errors.New("whip: publish refused")
	ErrClosed       = resource.ErrClosed
)

// codes map the errors of this package to responses.
var codes = []resource.Code{
	{Err: ErrUnauthorized, Status: http.StatusUnauthorized, Code: "unauthorized",
		Message: "an Authorization: Bearer publish key is required",
		Header:  http.Header{"Www-Authenticate": {`Bearer realm="liveloop"`}}},
	{Err: ErrForbidden, Status: http.StatusForbidden, Code: "forbidden", Message: "the publish key is not valid for this stream"},
	{Err: ErrBusy, Status: http.StatusConflict, Code: "busy"},
}

// Config configures a Handler. Zero values select the documented defaults.
type Config struct {
	// Publish opens the hub side of a stream (hub.Hub.Publish); an error
	// refuses the publisher with 409 busy. Required.
	Publish func(stream string) (media.Sink, error)
	// Authorize maps the stream named in the URL and the bearer token to
	// the stream to publish to, or refuses with an error (403). A missing
	// token is refused before it is called (401). Default DefaultAuthorize.
	Authorize func(stream, bearer string) (string, error)
	// Logger receives session events (start, end and why); nothing per
	// packet. Default: discard.
	Logger *slog.Logger

	// Transport, if set, supplies the ICE sockets (shared, e.g. with the
	// WHEP handler); the handler does not close it. Otherwise the handler
	// binds its own from UDPAddr, TCPAddr and PublicIPs.
	Transport *webrtcapi.Transport
	// UDPAddr is the host:port of the UDP socket that carries every
	// peer's ICE, DTLS and SRTP. Default ":8190".
	UDPAddr string
	// TCPAddr, if set, is the host:port of a listener for ICE-TCP.
	TCPAddr string
	// PublicIPs are announced in host candidates instead of the local
	// addresses (NAT 1:1).
	PublicIPs []string

	// Prefix is the URL path the handler is mounted at: offers go to
	// {Prefix}/{stream}, session resources are {Prefix}/session/{id}.
	// Default "/whip".
	Prefix string
	// ConnectTimeout ends a session whose peer does not connect (ICE and
	// DTLS) within it. Default 15 s.
	ConnectTimeout time.Duration
	// ReorderDelay is how long a packet after a gap waits for the missing
	// one (reordered, or retransmitted after a NACK) before the gap is
	// declared lost. Default 100 ms.
	ReorderDelay time.Duration
	// NACKInterval is how often missing packets are NACKed. Default 20 ms.
	NACKInterval time.Duration
	// KeyframeInterval: a keyframe is requested (PLI) when none came for
	// this long, so the hub's GOP cache stays short. Default 2 s.
	KeyframeInterval time.Duration
	// KeyframeRetry is the shortest interval between two keyframe
	// requests. Default 500 ms.
	KeyframeRetry time.Duration
	// Now is the clock stamped on frames as Frame.Wall. Default time.Now.
	Now func() time.Time
}

// DefaultAuthorize is the Authorize used when Config.Authorize is nil: the
// key must equal the stream's name.
func DefaultAuthorize(stream, bearer string) (string, error) {
	if bearer != stream {
		return "", fmt.Errorf("%w for stream %q", ErrForbidden, stream)
	}
	return stream, nil
}

// OpenAuthorize is the open development rule: any key publishes to the
// stream named in the URL.
func OpenAuthorize(stream, bearer string) (string, error) { return stream, nil }

func (c Config) withDefaults() Config {
	if c.Authorize == nil {
		c.Authorize = DefaultAuthorize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.UDPAddr == "" {
		c.UDPAddr = ":8190"
	}
	if c.Prefix == "" {
		c.Prefix = "/whip"
	}
	c.Prefix = strings.TrimSuffix(c.Prefix, "/")
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 15 * time.Second
	}
	if c.ReorderDelay <= 0 {
		c.ReorderDelay = 100 * time.Millisecond
	}
	if c.NACKInterval <= 0 {
		c.NACKInterval = 20 * time.Millisecond
	}
	if c.KeyframeInterval <= 0 {
		c.KeyframeInterval = 2 * time.Second
	}
	if c.KeyframeRetry <= 0 {
		c.KeyframeRetry = 500 * time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Handler serves WHIP. It is an http.Handler for the paths under
// Config.Prefix: POST {Prefix}/{stream} (the stream name may contain '/'),
// DELETE and PATCH {Prefix}/session/{id}, and OPTIONS of both.
type Handler struct {
	cfg   Config
	log   *slog.Logger
	api   *webrtc.API
	tr    *webrtcapi.Transport
	ownTr bool
	res   *resource.Server

	closeOnce sync.Once
	stats     counters
}

type counters struct {
	packets, bytes               atomic.Uint64
	framesIn, framesDropped      atomic.Uint64
	keyframes, keyframeRequests  atomic.Uint64
	brokenFrames, badPayloads    atomic.Uint64
	lost, late                   atomic.Uint64
	announcements, senderReports atomic.Uint64
}

// Stats is a snapshot of the handler's counters.
type Stats struct {
	Sessions      int    // sessions open now
	SessionsTotal uint64 // sessions created
	Rejected      uint64 // offers refused with a 4xx
	PacketsIn     uint64 // RTP packets received, audio and video
	BytesIn       uint64 // RTP payload bytes received
	FramesIn      uint64 // frames written to the hub
	FramesDropped uint64 // access units not written (before tracks or a keyframe, after a loss)
	Keyframes     uint64 // IDR pictures written
	// KeyframeRequests counts PLIs sent; BrokenFrames pictures dropped
	// because a packet was lost or malformed; BadPayloads malformed RTP
	// payloads; Lost packets given up on; Late packets that came after
	// their place was given up (or twice).
	KeyframeRequests, BrokenFrames, BadPayloads, Lost, Late uint64
	// Announcements counts track announcements (codec parameters changes).
	Announcements uint64
	// SenderReports counts RTCP sender reports received.
	SenderReports uint64
	// UDPAddr is the address of the ICE UDP socket.
	UDPAddr string
}

// New builds a handler and binds its sockets (unless cfg.Transport is set).
func New(cfg Config) (*Handler, error) {
	if cfg.Publish == nil {
		return nil, errors.New("whip: Config.Publish is required")
	}
	cfg = cfg.withDefaults()
	h := &Handler{cfg: cfg, log: cfg.Logger, tr: cfg.Transport}
	if h.tr == nil {
		tr, err := webrtcapi.NewTransport(webrtcapi.Config{UDPAddr: cfg.UDPAddr, TCPAddr: cfg.TCPAddr,
			PublicIPs: cfg.PublicIPs, Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("whip: %w", err)
		}
		h.tr, h.ownTr = tr, true
	}
	me, ir, err := mediaEngine(cfg)
	if err != nil {
		h.closeTransport()
		return nil, fmt.Errorf("whip: media engine: %w", err)
	}
	h.api = webrtc.NewAPI(webrtc.WithSettingEngine(h.tr.SettingEngine()), webrtc.WithMediaEngine(me),
		webrtc.WithInterceptorRegistry(ir))
	h.res, err = resource.New(resource.Config{
		Name: "whip", Prefix: cfg.Prefix, API: h.api, Accept: h.accept, Authorize: h.authorize, Codes: codes,
		Logger: cfg.Logger, ConnectTimeout: cfg.ConnectTimeout, Now: cfg.Now,
	})
	if err != nil {
		h.closeTransport()
		return nil, fmt.Errorf("whip: %w", err)
	}
	return h, nil
}

// h264Profiles are the profile-level-ids of the H.264 payload types the
// media engine knows, each in packetization modes 1 and 0; the answer uses
// the offer's own payload type and fmtp.
var h264Profiles = []string{"42001f", "42e01f", "4d001f", "4d401f", "64001f", "640c1f"}

// mediaEngine registers H.264, Opus, their feedback, and the interceptors:
// NACK generator, receiver reports, transport-wide congestion control
// feedback.
func mediaEngine(cfg Config) (*webrtc.MediaEngine, *interceptor.Registry, error) {
	me := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	pt := webrtc.PayloadType(96)
	for _, plid := range h264Profiles {
		for _, mode := range []string{"1", "0"} {
			if err := me.RegisterCodec(webrtc.RTPCodecParameters{
				RTPCodecCapability: webrtc.RTPCodecCapability{
					MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
					SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=" + mode + ";profile-level-id=" + plid,
					RTCPFeedback: fb,
				},
				PayloadType: pt,
			}, webrtc.RTPCodecTypeVideo); err != nil {
				return nil, nil, err
			}
			pt++
		}
	}
	if err := webrtcapi.RegisterOpus(me); err != nil {
		return nil, nil, err
	}
	ir := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor(nack.GeneratorInterval(cfg.NACKInterval), nack.GeneratorSize(2048))
	if err != nil {
		return nil, nil, err
	}
	ir.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, nil, err
	}
	ir.Add(rr)
	if err := webrtc.ConfigureTWCCSender(me, ir); err != nil {
		return nil, nil, err
	}
	return me, ir, nil
}

func (h *Handler) closeTransport() {
	if h.ownTr {
		h.tr.Close()
	}
}

// UDPAddr returns the address of the ICE UDP socket.
func (h *Handler) UDPAddr() net.Addr { return h.tr.UDPAddr() }

// Stats returns a snapshot of the handler's counters.
func (h *Handler) Stats() Stats {
	rs := h.res.Stats()
	c := &h.stats
	st := Stats{
		Sessions: rs.Sessions, SessionsTotal: rs.Total, Rejected: rs.Rejected,
		PacketsIn: c.packets.Load(), BytesIn: c.bytes.Load(),
		FramesIn: c.framesIn.Load(), FramesDropped: c.framesDropped.Load(), Keyframes: c.keyframes.Load(),
		KeyframeRequests: c.keyframeRequests.Load(), BrokenFrames: c.brokenFrames.Load(),
		BadPayloads: c.badPayloads.Load(), Lost: c.lost.Load(), Late: c.late.Load(),
		Announcements: c.announcements.Load(), SenderReports: c.senderReports.Load(),
	}
	if a := h.UDPAddr(); a != nil {
		st.UDPAddr = a.String()
	}
	return st
}

// Close ends every session, waits for their goroutines and closes the
// sockets it bound. ServeHTTP answers 503 afterwards.
func (h *Handler) Close() error {
	h.closeOnce.Do(func() {
		h.res.Close()
		h.closeTransport()
	})
	return nil
}

// ServeHTTP routes WHIP requests under Config.Prefix (package
// webrtcapi/resource serves them).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.res.ServeHTTP(w, r) }

// authorize checks a POST's bearer token (before its body is read) and
// returns the stream to publish to.
func (h *Handler) authorize(r *http.Request, stream string) (string, error) {
	key := bearer(r)
	if key == "" {
		return "", ErrUnauthorized
	}
	name, err := h.cfg.Authorize(stream, key)
	if err != nil {
		if !errors.Is(err, ErrForbidden) {
			err = fmt.Errorf("%w: %v", ErrForbidden, err)
		}
		return "", err
	}
	return name, nil
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

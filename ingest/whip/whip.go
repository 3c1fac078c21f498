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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
)

// Errors of the handler. Those that reach a client carry a stable code in
// a JSON body {"error": code, "message": text}:
//
//	400 bad_sdp              the body is not an SDP offer pion accepts
//	401 unauthorized         no bearer token (WWW-Authenticate: Bearer)
//	403 forbidden            Authorize refused the token for this stream
//	404 session_not_found    DELETE/PATCH of an unknown session
//	406 no_compatible_codec  the offer has no H.264 video this handler takes
//	409 busy                 Publish refused the stream (e.g. it has a publisher)
//	415 unsupported_media_type  Content-Type is not application/sdp
//	503 shutting_down        the handler is closing
var (
	ErrBadSDP       = errors.New("whip: bad SDP offer")
	ErrUnauthorized = errors.New("whip: no bearer token")
	ErrForbidden    = errors.New("whip: publish key refused")
	ErrNoCodec      = errors.New("whip: no compatible codec")
	ErrBusy         = errors.New("whip: publish refused")
	ErrClosed       = errors.New("whip: closed")
)

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
	cfg    Config
	log    *slog.Logger
	api    *webrtc.API
	tr     *webrtcapi.Transport
	ownTr  bool
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	wg       sync.WaitGroup

	stats counters
}

type counters struct {
	total, rejected              atomic.Uint64
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
	h := &Handler{cfg: cfg, log: cfg.Logger, sessions: make(map[string]*session), tr: cfg.Transport}
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
	h.ctx, h.cancel = context.WithCancel(context.Background())
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
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
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
	h.mu.Lock()
	n := len(h.sessions)
	h.mu.Unlock()
	c := &h.stats
	st := Stats{
		Sessions: n, SessionsTotal: c.total.Load(), Rejected: c.rejected.Load(),
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
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
	h.closeTransport()
	return nil
}

// ServeHTTP routes WHIP requests under Config.Prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	// Browsers publish from the studio page on the same origin; other
	// origins may publish too (the bearer token is the credential, not a
	// cookie).
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Access-Control-Expose-Headers", "Location, ETag, Link, Accept-Patch")
	rest, ok := strings.CutPrefix(r.URL.Path, h.cfg.Prefix+"/")
	if !ok || rest == "" {
		h.fail(w, http.StatusNotFound, "not_found", "no stream in the path")
		return
	}
	id, isSession := strings.CutPrefix(rest, "session/")
	switch {
	case r.Method == http.MethodOptions:
		hd.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, If-Match")
		hd.Set("Access-Control-Max-Age", "86400")
		hd.Set("Accept-Post", "application/sdp")
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && !isSession:
		h.offer(w, r, rest)
	case r.Method == http.MethodDelete && isSession:
		h.deleteSession(w, id)
	case r.Method == http.MethodPatch && isSession:
		h.patchSession(w, r, id)
	default:
		if isSession {
			hd.Set("Allow", "PATCH, DELETE, OPTIONS")
		} else {
			hd.Set("Allow", "POST, OPTIONS")
		}
		h.fail(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not supported here")
	}
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// fail writes an error response with a stable code.
func (h *Handler) fail(w http.ResponseWriter, status int, code, msg string) {
	if status >= 400 && status < 500 {
		h.stats.rejected.Add(1)
	}
	b, _ := json.Marshal(errorBody{Error: code, Message: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// failErr maps an error of newSession to a response.
func (h *Handler) failErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrBadSDP):
		h.fail(w, http.StatusBadRequest, "bad_sdp", err.Error())
	case errors.Is(err, ErrNoCodec):
		h.fail(w, http.StatusNotAcceptable, "no_compatible_codec", err.Error())
	case errors.Is(err, ErrBusy):
		h.fail(w, http.StatusConflict, "busy", err.Error())
	case errors.Is(err, ErrClosed):
		h.fail(w, http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
	default:
		h.log.Warn("whip: session setup failed", "err", err)
		h.fail(w, http.StatusInternalServerError, "internal", "session setup failed")
	}
}

// maxOffer bounds the size of an SDP offer.
const maxOffer = 64 << 10

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

func (h *Handler) offer(w http.ResponseWriter, r *http.Request, stream string) {
	if ct := r.Header.Get("Content-Type"); !strings.EqualFold(strings.TrimSpace(strings.Split(ct, ";")[0]), "application/sdp") {
		h.fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "the offer must be application/sdp")
		return
	}
	key := bearer(r)
	if key == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="liveloop"`)
		h.fail(w, http.StatusUnauthorized, "unauthorized", "an Authorization: Bearer publish key is required")
		return
	}
	name, err := h.cfg.Authorize(stream, key)
	if err != nil {
		h.fail(w, http.StatusForbidden, "forbidden", "the publish key is not valid for this stream")
		return
	}
	offer, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOffer))
	if err != nil {
		h.fail(w, http.StatusBadRequest, "bad_sdp", "reading the offer: "+err.Error())
		return
	}
	s, answer, err := h.newSession(r.Context(), name, string(offer))
	if err != nil {
		h.failErr(w, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/sdp")
	hd.Set("Location", h.cfg.Prefix+"/session/"+s.id)
	hd.Set("ETag", `"`+s.id+`"`)
	hd.Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(answer))
}

func (h *Handler) lookup(id string) *session {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions[id]
}

func (h *Handler) deleteSession(w http.ResponseWriter, id string) {
	s := h.lookup(id)
	if s == nil {
		h.fail(w, http.StatusNotFound, "session_not_found", "no such session")
		return
	}
	s.end("deleted")
	<-s.done
	w.WriteHeader(http.StatusOK)
}

// patchSession takes trickled candidates (RFC 8840 SDP fragments). The
// answer already holds all of the server's candidates, so the reply
// carries none.
func (h *Handler) patchSession(w http.ResponseWriter, r *http.Request, id string) {
	s := h.lookup(id)
	if s == nil {
		h.fail(w, http.StatusNotFound, "session_not_found", "no such session")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/trickle-ice-sdpfrag") {
		h.fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "PATCH takes application/trickle-ice-sdpfrag")
		return
	}
	frag, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOffer))
	if err != nil {
		h.fail(w, http.StatusBadRequest, "bad_sdp", err.Error())
		return
	}
	if err := webrtcapi.AddTrickleCandidates(s.pc, string(frag)); err != nil {
		h.fail(w, http.StatusBadRequest, "bad_sdp", "candidate: "+err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

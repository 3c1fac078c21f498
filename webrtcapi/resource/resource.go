// Package resource serves what WHIP (RFC 9725) and WHEP
// (draft-ietf-wish-whep) have in common: the HTTP side of their session
// resources, and the life cycle of the WebRTC sessions behind them. A
// protocol handler (ingest/whip, deliver/whep) gives it a webrtc.API and an
// Accept function, and keeps only what is its own: which offers it takes,
// the tracks of a session and what flows over them.
//
// The routes, under Config.Prefix:
//
//	POST    {Prefix}/{stream}      an SDP offer (application/sdp); 201 with
//	                               the answer, Location {Prefix}/session/{id}
//	                               and ETag; the stream name may contain '/'
//	DELETE  {Prefix}/session/{id}  ends the session; 200
//	PATCH   {Prefix}/session/{id}  trickled candidates (RFC 8840
//	                               application/trickle-ice-sdpfrag); 204
//	OPTIONS either                 CORS preflight; 204
//
// Every response allows any origin (CORS): the credential of WHIP is a
// bearer token, not a cookie, and WHEP has none.
//
// Errors reach a client as a JSON body {"error": code, "message": text}
// with a stable code. The codes of this package:
//
//	400 bad_sdp                 the body is not an SDP offer pion accepts
//	404 not_found               no stream in the path
//	404 session_not_found       DELETE/PATCH of an unknown session
//	405 method_not_allowed      (with Allow) a method the path does not take
//	406 no_compatible_codec     ErrNoCodec: the offer has no codec the handler takes
//	415 unsupported_media_type  Content-Type is not application/sdp (PATCH:
//	                            application/trickle-ice-sdpfrag)
//	500 internal                session set-up failed otherwise (logged)
//	503 shutting_down           the server is closing
//
// A protocol adds its own with Config.Codes.
//
// Life cycle of a session: POST parses the offer and calls Config.Accept,
// which refuses it or returns the protocol's Peer; the server makes a
// PeerConnection, Peer.Negotiate adds the tracks and applies the offer, the
// server answers (with every one of its candidates: it waits for
// gathering), Peer.Start opens what the session needs and starts its
// workers (Session.Go), and the session is listed. It ends (Session.End) on
// DELETE, ICE or DTLS failure, the peer closing, a connect timeout, a
// worker's decision, or Server.Close; then the PeerConnection is closed,
// the workers are waited for, Peer.Ended releases what Start opened, and
// the session is forgotten. Server.Close ends every session and waits for
// all of that.
package resource

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/liveloop/liveloop/webrtcapi"
)

// Errors of session set-up that the protocols share. Their text has no
// package name: the server, and the protocols, wrap them with theirs
// ("whep: bad SDP offer: ...").
var (
	// ErrBadSDP: the offer is not an SDP offer pion accepts (400 bad_sdp).
	ErrBadSDP = errors.New("bad SDP offer")
	// ErrNoCodec: the offer has no codec the handler takes (406
	// no_compatible_codec).
	ErrNoCodec = errors.New("no compatible codec")
	// ErrClosed: the server is closing (503 shutting_down).
	ErrClosed = errors.New("closed")
	// ErrConfig: a Config cannot be used.
	ErrConfig = errors.New("resource: bad config")
)

// maxBody bounds the size of an SDP offer or a trickle fragment.
const maxBody = 64 << 10

// Config configures a Server.
type Config struct {
	// Name is the protocol's name ("whep", "whip"): the start of log
	// messages and of error messages. Required.
	Name string
	// Prefix is the URL path the server is mounted at, without a trailing
	// '/'. Required.
	Prefix string
	// API makes the sessions' PeerConnections. Required.
	API *webrtc.API
	// Accept checks an offer before a PeerConnection is made for it, and
	// returns the protocol's side of the session, or an error that refuses
	// the offer (mapped to a response by Codes and the codes of this
	// package). Required.
	Accept func(o *Offer) (Peer, error)
	// Authorize, if set, is asked on every POST with an SDP Content-Type,
	// before the body is read: it returns the stream to use for the one
	// named in the URL, or an error that refuses the request (mapped by
	// Codes).
	Authorize func(r *http.Request, stream string) (string, error)
	// Codes map the protocol's errors to responses; they are tried in
	// order, before the codes of this package.
	Codes []Code
	// Logger receives session events (end, and why); nothing per packet.
	// Default: discard.
	Logger *slog.Logger
	// ConnectTimeout ends a session whose peer does not connect (ICE and
	// DTLS) within it. Default 15 s.
	ConnectTimeout time.Duration
	// Now is the clock of Session.ConnectedAt and of the DTLS
	// certificate's renewal. Default time.Now.
	Now func() time.Time
	// Connected, if set, is called once a session's peer has connected
	// (ICE and DTLS), from the goroutine pion runs its state callback in: e.g.
	// webrtcapi.Transport.ReleaseUnusedTCP, which frees the ICE-TCP
	// candidate of a peer that connected over UDP.
	Connected func(pc *webrtc.PeerConnection)
}

// Code maps an error to the response a client gets.
type Code struct {
	Err    error // matched with errors.Is
	Status int
	Code   string // the stable code, the body's "error"
	// Message is the body's "message"; default: the error's text.
	Message string
	// Header holds extra response headers, e.g. WWW-Authenticate.
	Header http.Header
}

// sharedCodes follow Config.Codes.
var sharedCodes = []Code{
	{Err: ErrBadSDP, Status: http.StatusBadRequest, Code: "bad_sdp"},
	{Err: ErrNoCodec, Status: http.StatusNotAcceptable, Code: "no_compatible_codec"},
	{Err: ErrClosed, Status: http.StatusServiceUnavailable, Code: "shutting_down", Message: "the server is shutting down"},
}

// Offer is an SDP offer POSTed to {Prefix}/{stream}, parsed.
type Offer struct {
	// Stream is the stream named in the URL, or the one Authorize chose.
	Stream string
	// SDP is the offer as it came.
	SDP string
	// Video and Audio are the offer's first media section of each kind,
	// or nil.
	Video, Audio *sdp.MediaDescription
}

// Peer is a protocol's side of one session. The server calls its methods
// one after the other, never at once.
type Peer interface {
	// Negotiate adds the session's tracks and PeerConnection callbacks,
	// and applies the offer (Session.ApplyOffer); the server then makes
	// the answer. An error refuses the offer.
	Negotiate(s *Session) error
	// Start is called with the answer made and the candidates gathered,
	// before the session is listed: it opens what the session needs and
	// starts its workers with Session.Go. An error refuses the offer.
	Start() error
	// Ended is called once for every Peer that Accept returned, last: once
	// the session is over, its PeerConnection closed and its workers
	// returned, or the offer refused after Accept. It releases what Start
	// opened.
	Ended()
}

// ConnectedPeer is a Peer told when its session's peer has connected (ICE
// and DTLS): Connected is called once, after Config.Connected, from the
// goroutine pion runs its state callback in, unless the session has ended
// by then. It must not block for long.
type ConnectedPeer interface {
	Peer
	Connected()
}

// Server serves the session resources of one protocol. It is an
// http.Handler for the paths under Config.Prefix.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex // guards the three below; never held while calling out
	sessions map[string]*Session
	closed   bool
	wg       sync.WaitGroup // the listed sessions, until cleaned up

	total, rejected, timeouts atomic.Uint64

	certMu   sync.Mutex
	cert     *webrtc.Certificate // the sessions' DTLS certificate (see certificate)
	certMade time.Time
}

// certRenewal is how long one DTLS certificate serves new sessions. pion
// makes certificates valid for a month; a session keeps the one it began
// with, which DTLS checks only in its handshake.
const certRenewal = 24 * time.Hour

// Stats is a snapshot of a Server's counters.
type Stats struct {
	Sessions int    // sessions open now
	Total    uint64 // sessions created
	Rejected uint64 // requests refused with a 4xx
	Timeouts uint64 // sessions whose peer never connected
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	var missing []string
	if cfg.Name == "" {
		missing = append(missing, "Name")
	}
	if cfg.Prefix == "" {
		missing = append(missing, "Prefix")
	}
	if cfg.API == nil {
		missing = append(missing, "API")
	}
	if cfg.Accept == nil {
		missing = append(missing, "Accept")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s required", ErrConfig, strings.Join(missing, ", "))
	}
	cfg.Prefix = strings.TrimSuffix(cfg.Prefix, "/")
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	srv := &Server{cfg: cfg, log: cfg.Logger, sessions: make(map[string]*Session)}
	srv.ctx, srv.cancel = context.WithCancel(context.Background())
	return srv, nil
}

// Stats returns a snapshot of the server's counters.
func (srv *Server) Stats() Stats {
	srv.mu.Lock()
	n := len(srv.sessions)
	srv.mu.Unlock()
	return Stats{Sessions: n, Total: srv.total.Load(), Rejected: srv.rejected.Load(), Timeouts: srv.timeouts.Load()}
}

// Close ends every session and waits until each is cleaned up. POST
// answers 503 afterwards. It returns nil.
func (srv *Server) Close() error {
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		return nil
	}
	srv.closed = true
	srv.mu.Unlock()
	srv.cancel()
	srv.wg.Wait()
	return nil
}

// ServeHTTP routes requests under Config.Prefix.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Access-Control-Expose-Headers", "Location, ETag, Link, Accept-Patch")
	rest, ok := strings.CutPrefix(r.URL.Path, srv.cfg.Prefix+"/")
	if !ok || rest == "" {
		srv.fail(w, http.StatusNotFound, "not_found", "no stream in the path")
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
		srv.offer(w, r, rest)
	case r.Method == http.MethodDelete && isSession:
		srv.deleteSession(w, id)
	case r.Method == http.MethodPatch && isSession:
		srv.patchSession(w, r, id)
	default:
		if isSession {
			hd.Set("Allow", "PATCH, DELETE, OPTIONS")
		} else {
			hd.Set("Allow", "POST, OPTIONS")
		}
		srv.fail(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not supported here")
	}
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// fail writes an error response with a stable code.
func (srv *Server) fail(w http.ResponseWriter, status int, code, msg string) {
	if status >= 400 && status < 500 {
		srv.rejected.Add(1)
	}
	b, _ := json.Marshal(errorBody{Error: code, Message: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// failErr maps an error of Authorize or of session set-up to a response.
func (srv *Server) failErr(w http.ResponseWriter, err error) {
	for _, codes := range [][]Code{srv.cfg.Codes, sharedCodes} {
		for _, c := range codes {
			if !errors.Is(err, c.Err) {
				continue
			}
			for k, v := range c.Header {
				w.Header()[k] = v
			}
			msg := c.Message
			if msg == "" {
				msg = err.Error()
			}
			srv.fail(w, c.Status, c.Code, msg)
			return
		}
	}
	srv.log.Warn(srv.cfg.Name+": session setup failed", "err", err)
	srv.fail(w, http.StatusInternalServerError, "internal", "session setup failed")
}

func (srv *Server) offer(w http.ResponseWriter, r *http.Request, stream string) {
	if ct := r.Header.Get("Content-Type"); !strings.EqualFold(strings.TrimSpace(strings.Split(ct, ";")[0]), "application/sdp") {
		srv.fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "the offer must be application/sdp")
		return
	}
	if srv.cfg.Authorize != nil {
		name, err := srv.cfg.Authorize(r, stream)
		if err != nil {
			srv.failErr(w, err)
			return
		}
		stream = name
	}
	offer, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		srv.fail(w, http.StatusBadRequest, "bad_sdp", "reading the offer: "+err.Error())
		return
	}
	s, answer, err := srv.newSession(r.Context(), stream, string(offer))
	if err != nil {
		srv.failErr(w, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/sdp")
	hd.Set("Location", srv.cfg.Prefix+"/session/"+s.id)
	hd.Set("ETag", `"`+s.id+`"`)
	hd.Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(answer))
}

func (srv *Server) lookup(id string) *Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.sessions[id]
}

func (srv *Server) deleteSession(w http.ResponseWriter, id string) {
	s := srv.lookup(id)
	if s == nil {
		srv.fail(w, http.StatusNotFound, "session_not_found", "no such session")
		return
	}
	s.End("deleted")
	<-s.done
	w.WriteHeader(http.StatusOK)
}

// patchSession takes trickled candidates (RFC 8840 SDP fragments). The
// answer already holds all of the server's candidates (it gathers at
// once), so the reply carries none.
func (srv *Server) patchSession(w http.ResponseWriter, r *http.Request, id string) {
	s := srv.lookup(id)
	if s == nil {
		srv.fail(w, http.StatusNotFound, "session_not_found", "no such session")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/trickle-ice-sdpfrag") {
		srv.fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "PATCH takes application/trickle-ice-sdpfrag")
		return
	}
	frag, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		srv.fail(w, http.StatusBadRequest, "bad_sdp", err.Error())
		return
	}
	if err := webrtcapi.AddTrickleCandidates(s.pc, string(frag)); err != nil {
		srv.fail(w, http.StatusBadRequest, "bad_sdp", "candidate: "+err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// certificate returns the DTLS certificate of a new session: one for every
// session, made again each certRenewal. pion would make one for each
// PeerConnection (an ECDSA key and a signature, about 100 µs of CPU and
// 4 KB kept for the session's life); its fingerprint, in every answer, is
// all a peer checks, and the keys of each session's DTLS connection are
// its own (ECDHE) whatever the certificate.
func (srv *Server) certificate() (webrtc.Certificate, error) {
	srv.certMu.Lock()
	defer srv.certMu.Unlock()
	now := srv.cfg.Now()
	if srv.cert == nil || now.Sub(srv.certMade) >= certRenewal {
		key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
		if err != nil {
			return webrtc.Certificate{}, fmt.Errorf("%s: DTLS key: %w", srv.cfg.Name, err)
		}
		cert, err := webrtc.GenerateCertificate(key)
		if err != nil {
			return webrtc.Certificate{}, fmt.Errorf("%s: DTLS certificate: %w", srv.cfg.Name, err)
		}
		srv.cert, srv.certMade = cert, now
	}
	return *srv.cert, nil
}

func newSessionID() string {
	var b [16]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ParseOffer parses an SDP offer for stream, with ErrBadSDP (wrapped with
// name) if pion's SDP parser refuses it.
func ParseOffer(name, stream, offer string) (*Offer, error) {
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(offer); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", name, ErrBadSDP, err)
	}
	o := &Offer{Stream: stream, SDP: offer}
	for _, md := range desc.MediaDescriptions {
		switch md.MediaName.Media {
		case "video":
			if o.Video == nil {
				o.Video = md
			}
		case "audio":
			if o.Audio == nil {
				o.Audio = md
			}
		}
	}
	return o, nil
}

// newSession negotiates a session for stream from an SDP offer and returns
// it, started and listed, with the SDP answer.
func (srv *Server) newSession(ctx context.Context, stream, offer string) (*Session, string, error) {
	if srv.ctx.Err() != nil {
		return nil, "", ErrClosed
	}
	o, err := ParseOffer(srv.cfg.Name, stream, offer)
	if err != nil {
		return nil, "", err
	}
	peer, err := srv.cfg.Accept(o)
	if err != nil {
		return nil, "", err
	}
	cert, err := srv.certificate()
	if err != nil {
		peer.Ended()
		return nil, "", err
	}
	pc, err := srv.cfg.API.NewPeerConnection(webrtc.Configuration{Certificates: []webrtc.Certificate{cert}})
	if err != nil {
		peer.Ended()
		return nil, "", err
	}
	id := newSessionID()
	sctx, cancel := context.WithCancelCause(srv.ctx)
	s := &Session{
		srv: srv, peer: peer, id: id, stream: o.Stream, offer: offer, pc: pc,
		ctx:       sctx,
		cancel:    cancel,
		done:      make(chan struct{}),
		connected: make(chan struct{}),
	}
	pc.OnConnectionStateChange(s.onState)
	answer, err := s.negotiate(ctx)
	if err != nil {
		s.abort(err, false)
		return nil, "", err
	}
	if err := peer.Start(); err != nil {
		s.abort(err, false)
		return nil, "", err
	}
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		s.abort(ErrClosed, true)
		return nil, "", ErrClosed
	}
	srv.sessions[id] = s
	srv.wg.Add(1)
	srv.mu.Unlock()
	srv.total.Add(1)
	s.watch()
	return s, answer, nil
}

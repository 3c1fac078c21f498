// Package server assembles a Liveloop node: the hub, the ingest servers,
// the delivery handlers, the pages and the API on one HTTP server, with one
// life cycle.
//
// Life cycle: New binds every listener (so the chosen addresses are known
// and logged before anything runs); Run serves until its context is done,
// then stops taking new work, ends every session and returns once every
// goroutine it started has ended.
package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/liveloop/liveloop/bus"
	"github.com/liveloop/liveloop/config"
	"github.com/liveloop/liveloop/cue"
	"github.com/liveloop/liveloop/deliver/llhls"
	"github.com/liveloop/liveloop/deliver/whep"
	"github.com/liveloop/liveloop/deliver/ws"
	"github.com/liveloop/liveloop/demo"
	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/ingest/rtmp"
	"github.com/liveloop/liveloop/ingest/whip"
	"github.com/liveloop/liveloop/interact"
	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/roomapi"
	"github.com/liveloop/liveloop/transcode"
	"github.com/liveloop/liveloop/web"
	"github.com/liveloop/liveloop/webrtcapi"
	"github.com/liveloop/liveloop/webrtcapi/icetcp"
)

// Version is the server's version, set at build time with
// -ldflags "-X github.com/liveloop/liveloop/server.Version=...".
var Version = "dev"

// Server is one Liveloop node.
type Server struct {
	cfg  config.Config
	log  *slog.Logger
	hub  *hub.Hub
	rtmp *rtmp.Server
	ws   *ws.Handler
	hls  *llhls.Handler
	whep *whep.Handler
	whip *whip.Handler
	ice  *webrtcapi.Transport // the ICE sockets WHEP and WHIP share
	mux  *icetcp.Demux        // the HTTP port shared with ICE-TCP, or nil
	opus *transcode.Manager   // nil with --transcode=false
	http *http.Server
	ln   net.Listener // the HTTP port
	hln  net.Listener // what HTTP serves: ln, or its side of mux
	clip *demo.Clip
	cues *cue.Poster

	bus   *bus.Bus
	rooms *interact.Rooms
	api   *roomapi.Handler
}

// New builds a server from cfg and binds its listeners. On error nothing is
// left running.
func New(cfg config.Config, log *slog.Logger) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.GCPercent)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("server: data dir: %w", err)
	}
	s := &Server{cfg: cfg, log: log}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	s.hub = hub.New(hub.Config{GracePeriod: cfg.GracePeriod, RefuseTakeover: cfg.RefuseTakeover}, log.With("component", "hub"), nil)
	if cfg.Demo {
		if s.clip, err = demo.Builtin(); err != nil {
			return nil, err
		}
	}
	s.cues = cue.New(cue.Config{Hub: s.hub})

	// The audience's side: the bus, the rooms and their API.
	if s.bus, err = bus.New(bus.Config{DataDir: cfg.DataDir, URL: cfg.NATSURL, Listen: cfg.NATSListen, Logger: log.With("component", "bus")}); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.bus.Close() })
	if s.rooms, err = interact.New(context.Background(), interact.Config{
		NATS: s.bus.Conn(), JetStream: s.bus.JetStream(), Cues: s.cues,
		Logger: log.With("component", "interact"), Hold: cfg.ChatHold, QAModeration: cfg.QAModeration,
	}); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.rooms.Close() })
	if s.api, err = roomapi.New(roomapi.Config{Rooms: s.rooms, DataDir: cfg.DataDir, AdminKey: cfg.AdminKey, Logger: log.With("component", "roomapi")}); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.api.Close() })

	// The media path.
	s.rtmp, err = rtmp.New(rtmp.Config{
		Addr:    cfg.RTMPAddr,
		Publish: s.publish,
		Logger:  log.With("component", "rtmp"),
	})
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.rtmp.Run(canceled()) })
	if s.ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("server: listen http: %w", err)
	}
	undo = append(undo, func() { s.ln.Close() })
	s.hln = s.ln
	s.ws = ws.New(ws.Config{Hub: s.hub, Logger: log.With("component", "ws")})
	s.hls = llhls.New(llhls.Config{
		Hub:           s.hub,
		Logger:        log.With("component", "llhls"),
		PartTarget:    cfg.HLSPartTarget,
		SegmentTarget: cfg.HLSSegmentTarget,
		ChunkedParts:  cfg.HLSChunkedParts,
	})
	// WebRTC: one UDP port for every peer, viewers and publishers alike,
	// and ICE-TCP on the HTTP port (or a port of its own, or none).
	iceCfg := webrtcapi.Config{UDPAddr: cfg.WebRTCUDP, PublicIPs: cfg.PublicIPs(), Logger: log.With("component", "webrtc")}
	switch cfg.WebRTCTCP {
	case config.WebRTCTCPOff:
	case config.WebRTCTCPHTTP:
		if s.mux, err = icetcp.New(s.ln, icetcp.Config{Logger: log.With("component", "icetcp")}); err != nil {
			return nil, fmt.Errorf("server: --webrtc-tcp http: %w", err)
		}
		undo = append(undo, func() { s.mux.Close() })
		s.hln, iceCfg.TCPListener = s.mux.Other(), s.mux.ICE()
	default:
		iceCfg.TCPAddr = cfg.WebRTCTCP
	}
	if s.ice, err = webrtcapi.NewTransport(iceCfg); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.ice.Close() })
	if s.whep, err = whep.New(whep.Config{Hub: s.hub, Logger: log.With("component", "whep"), Transport: s.ice}); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.whep.Close() })
	authorize := whip.DefaultAuthorize
	if cfg.Open || cfg.Demo {
		authorize = whip.OpenAuthorize
	}
	if s.whip, err = whip.New(whip.Config{
		Publish: s.publish, Authorize: authorize, Logger: log.With("component", "whip"), Transport: s.ice,
	}); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.whip.Close() })
	if cfg.Transcode {
		if s.opus, err = transcode.New(transcode.Config{Hub: s.hub, Logger: log.With("component", "transcode")}); err != nil {
			return nil, err
		}
	}
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		// LL-HLS writes a streamed part's chunks to the connection itself.
		ConnContext: llhls.ConnContext,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// publish is the hub side of every ingest: it opens a publishing session.
func (s *Server) publish(stream string) (media.Sink, error) {
	return s.hub.Publish(stream)
}

// hasPublisher reports whether the stream is live with a publisher.
func (s *Server) hasPublisher(stream string) bool {
	st := s.hub.Stream(stream)
	return st != nil && st.Info().State == hub.StateLive
}

// HTTPAddr returns the address the HTTP server listens on.
func (s *Server) HTTPAddr() net.Addr { return s.ln.Addr() }

// RTMPAddr returns the address the RTMP ingest listens on.
func (s *Server) RTMPAddr() net.Addr { return s.rtmp.Addr() }

// Hub returns the server's hub.
func (s *Server) Hub() *hub.Hub { return s.hub }

// Run serves until ctx is done, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("liveloop serving",
		"version", Version,
		"http", "http://"+s.HTTPAddr().String(),
		"rtmp", "rtmp://"+s.RTMPAddr().String()+"/live/{key}",
		"webrtc_udp", s.ice.UDPAddr().String(),
		"webrtc_tcp", s.ice.TCPAddr(),
		"demo", s.cfg.Demo)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := s.rtmp.Run(ctx); err != nil {
			errc <- fmt.Errorf("rtmp: %w", err)
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		if err := s.http.Serve(s.hln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
			cancel()
		}
	}()
	if s.opus != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.opus.Run(ctx); err != nil {
				errc <- fmt.Errorf("transcode: %w", err)
			}
		}()
	}
	if s.clip != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			demo.Run(ctx, s.clip, demo.StreamName, s.publish, s.hasPublisher, s.log.With("component", "demo"))
		}()
		s.log.Info("demo stream publishing", "watch", "http://"+s.HTTPAddr().String()+"/watch/"+demo.StreamName)
	}

	<-ctx.Done()
	s.log.Info("shutting down")
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	err := s.http.Shutdown(shutdownCtx)
	if s.mux != nil {
		s.mux.Close()
	}
	s.ws.Close()
	s.hls.Close()
	s.whep.Close()
	s.whip.Close()
	s.api.Close()
	s.hub.Close()
	wg.Wait()
	s.ice.Close()
	s.rooms.Close()
	s.bus.Close()
	close(errc)
	errs := []error{err}
	for e := range errc {
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// routes builds the HTTP routing table.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	assets, err := fs.Sub(web.Dist, "dist")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux.Handle("GET /ws/{stream...}", s.ws)
	mux.Handle("/hls/", s.hls)
	mux.Handle("/whep/", s.whep)
	mux.Handle("/whip/", s.whip)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", assetHandler(assets)))
	mux.HandleFunc("GET /watch/{stream...}", page(assets, "watch.html"))
	mux.HandleFunc("GET /studio/{stream...}", page(assets, "studio.html"))
	mux.HandleFunc("GET /{$}", page(assets, "index.html"))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("GET /api/v1/streams", s.listStreams)
	mux.HandleFunc("GET /api/v1/streams/{stream}", s.getStream)
	mux.Handle("POST /api/v1/streams/{stream}/cues", s.cues)
	mux.HandleFunc("GET /api/v1/openapi.json", s.openAPI)
	mux.HandleFunc("GET /api/v1/time", serverTime)
	s.api.Register(mux)
	return mux
}

// page serves one HTML file of the web assets.
func page(assets fs.FS, name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(assets, name)
		if err != nil {
			http.Error(w, "page missing from build", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(b)
	}
}

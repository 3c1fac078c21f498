package rtmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liveloop/liveloop/media"
)

// Errors Authorize and the server use. A refused publish reaches the client
// as an onStatus with level "error" and one of these stable codes:
//
//	NetStream.Publish.Unauthorized  Authorize refused the app or key
//	NetStream.Publish.BadName       Publish refused the stream (e.g. busy)
var (
	ErrBadApp     = errors.New("rtmp: unknown application")
	ErrEmptyKey   = errors.New("rtmp: empty stream key")
	ErrRefused    = errors.New("rtmp: publish refused")
	ErrServerRuns = errors.New("rtmp: server already running")
)

// Config configures a Server.
type Config struct {
	// Addr is the host:port to listen on; port 0 picks a free port.
	Addr string
	// Authorize maps (app, publishing name including any query string) to a
	// stream name, or refuses with an error. Default: app must be "live";
	// the key without its query string is the stream name.
	Authorize func(app, key string) (stream string, err error)
	// Publish opens the hub side for a stream; it returns an error (e.g.
	// the stream is busy) to refuse. Required.
	Publish func(stream string) (media.Sink, error)
	// Logger receives session-level events (connect, publish, disconnect);
	// nothing per packet. Default: discard.
	Logger *slog.Logger
	// Now is the clock stamped on frames as Frame.Wall. Default time.Now.
	Now func() time.Time
	// ReadTimeout is how long a session waits for data before it considers
	// the publisher dead. Default 20 s.
	ReadTimeout time.Duration
}

// DefaultAuthorize is the Authorize used when Config.Authorize is nil: the
// app must be "live", and the key, without its query string, is the stream
// name.
func DefaultAuthorize(app, key string) (string, error) {
	if app != "live" {
		return "", fmt.Errorf("%w %q", ErrBadApp, app)
	}
	key, _, _ = strings.Cut(key, "?")
	if key == "" {
		return "", ErrEmptyKey
	}
	return key, nil
}

// Server accepts RTMP publishers.
//
// Life cycle: New binds the listener; Run serves until its context is done,
// then closes the listener and every session and returns once all the
// goroutines it started have ended. Each connection is served by one
// goroutine that owns the session's state, plus a watcher goroutine that
// closes the connection when the server stops or the Sink's Done closes.
type Server struct {
	cfg     Config
	ln      net.Listener
	log     *slog.Logger
	running atomic.Bool

	mu       sync.Mutex
	sessions map[*session]struct{}
	wg       sync.WaitGroup

	accepted   atomic.Uint64
	digest     atomic.Uint64
	published  atomic.Uint64
	refused    atomic.Uint64
	bytesIn    atomic.Uint64
	messagesIn atomic.Uint64
}

// Stats are a server's cumulative counters, for metrics.
type Stats struct {
	Accepted   uint64 // connections accepted
	Digest     uint64 // handshakes done the digest way (Flash, ffmpeg)
	Active     int    // connections open now
	Published  uint64 // publishes accepted
	Refused    uint64 // publishes refused
	BytesIn    uint64 // bytes received, all sessions
	MessagesIn uint64 // RTMP messages received, all sessions
}

// New validates cfg and binds the listener.
func New(cfg Config) (*Server, error) {
	if cfg.Publish == nil {
		return nil, errors.New("rtmp: Config.Publish is required")
	}
	if cfg.Authorize == nil {
		cfg.Authorize = DefaultAuthorize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 20 * time.Second
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("rtmp: listen: %w", err)
	}
	return &Server{cfg: cfg, ln: ln, log: cfg.Logger, sessions: make(map[*session]struct{})}, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	active := len(s.sessions)
	s.mu.Unlock()
	return Stats{
		Accepted:   s.accepted.Load(),
		Digest:     s.digest.Load(),
		Active:     active,
		Published:  s.published.Load(),
		Refused:    s.refused.Load(),
		BytesIn:    s.bytesIn.Load(),
		MessagesIn: s.messagesIn.Load(),
	}
}

// Sessions returns a snapshot of the open sessions.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	list := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.Unlock()
	infos := make([]SessionInfo, 0, len(list))
	for _, ss := range list {
		infos = append(infos, ss.info())
	}
	return infos
}

// Run accepts connections until ctx is done, then closes every session and
// waits for all of them. It may be called once.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrServerRuns
	}
	s.log.Info("rtmp listening", "addr", s.ln.Addr().String())
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	var err error
	for {
		conn, aerr := s.ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("rtmp: accept: %w", aerr)
			}
			break
		}
		s.accepted.Add(1)
		ss := newSession(s, conn)
		s.mu.Lock()
		s.sessions[ss] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.sessions, ss)
				s.mu.Unlock()
			}()
			ss.run(ctx)
		})
	}
	s.ln.Close()
	// Sessions watch ctx; if Run ends on an accept error instead, stop them too.
	s.mu.Lock()
	for ss := range s.sessions {
		ss.conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

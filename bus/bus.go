// Package bus is a Liveloop node's connection to NATS: by default an
// embedded NATS server with JetStream running inside the process (its store
// under the node's data directory), or, given a URL, an external NATS
// cluster and no embedded server. Everything interactive (the rooms' event
// logs, their fan-out between nodes) goes through it.
//
// Life cycle: New starts the embedded server (when there is one), waits
// until it accepts connections and connects to it, in process when it can;
// Close drains the connection and shuts the server down, waiting for it.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ListenNone as Config.Listen gives the embedded server no client port at
// all: the node reaches it in process, and no other program can.
const ListenNone = "none"

// DefaultListen is the embedded server's default client address: loopback
// only, on a port the system picks.
const DefaultListen = "127.0.0.1:0"

// Errors.
var (
	// ErrConfig reports an invalid Config.
	ErrConfig = errors.New("bus: invalid config")
	// ErrNotReady reports an embedded server that did not start in time.
	ErrNotReady = errors.New("bus: embedded NATS server not ready")
)

// Config configures a Bus.
type Config struct {
	// DataDir is the node's data directory; the embedded server keeps its
	// JetStream store in DataDir/nats. Required with the embedded server.
	DataDir string
	// URL, when set, is an external NATS server or cluster (comma-separated
	// URLs); no embedded server runs.
	URL string
	// Listen is the embedded server's client address, host:port (port 0
	// picks a free one). Empty means DefaultListen; ListenNone means no
	// client port.
	Listen string
	// ServerName names the embedded server. Default "liveloop".
	ServerName string
	// StartTimeout bounds the embedded server's start and the connection.
	// Default 10 s.
	StartTimeout time.Duration
	// Logger receives the embedded server's and the connection's logs.
	Logger *slog.Logger
}

// Bus is a live connection to NATS with JetStream, and the embedded server
// behind it when there is one.
type Bus struct {
	log    *slog.Logger
	srv    *server.Server // nil with an external URL
	nc     *nats.Conn
	js     jetstream.JetStream
	closed chan struct{} // closed by the connection's ClosedHandler
}

// New starts the bus as cfg says.
func New(cfg Config) (*Bus, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 10 * time.Second
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "liveloop"
	}
	b := &Bus{log: cfg.Logger, closed: make(chan struct{})}
	opts := []nats.Option{
		nats.Name("liveloop"),
		nats.Timeout(cfg.StartTimeout),
		nats.MaxReconnects(-1),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { b.log.Info("nats reconnected", "url", nc.ConnectedUrl()) }),
	}
	url := cfg.URL
	if url == "" {
		srv, err := startServer(cfg)
		if err != nil {
			return nil, err
		}
		b.srv = srv
		opts = append(opts, nats.InProcessServer(srv))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.shutdownServer()
		return nil, fmt.Errorf("bus: connect: %w", err)
	}
	b.nc = nc
	b.js, err = jetstream.New(nc)
	if err != nil {
		nc.Close()
		b.shutdownServer()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.StartTimeout)
	defer cancel()
	if _, err := b.js.AccountInfo(ctx); err != nil {
		nc.Close()
		b.shutdownServer()
		return nil, fmt.Errorf("bus: jetstream not available: %w", err)
	}
	if b.srv != nil {
		b.log.Info("embedded nats ready", "store", filepath.Join(cfg.DataDir, "nats"), "client", b.ClientURL())
	} else {
		b.log.Info("nats connected", "url", nc.ConnectedUrl())
	}
	return b, nil
}

func startServer(cfg Config) (*server.Server, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: DataDir is required for the embedded server", ErrConfig)
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		JetStream:  true,
		StoreDir:   filepath.Join(cfg.DataDir, "nats"),
		NoSigs:     true,
		MaxPayload: 1 << 20,
	}
	switch cfg.Listen {
	case ListenNone:
		opts.DontListen = true
	default:
		listen := cfg.Listen
		if listen == "" {
			listen = DefaultListen
		}
		host, portStr, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("%w: Listen %q: want host:port or %q", ErrConfig, cfg.Listen, ListenNone)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("%w: Listen %q: bad port", ErrConfig, cfg.Listen)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		}
		if host == "" {
			host = "127.0.0.1"
		}
		opts.Host, opts.Port = host, port
	}
	if err := os.MkdirAll(opts.StoreDir, 0o755); err != nil {
		return nil, fmt.Errorf("bus: store dir: %w", err)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded server: %w", err)
	}
	srv.SetLoggerV2(&natsLogger{log: cfg.Logger.With("component", "nats")}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(cfg.StartTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("%w within %v", ErrNotReady, cfg.StartTimeout)
	}
	return srv, nil
}

// Conn returns the NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream returns the JetStream context of the connection.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Embedded reports whether the bus runs its own NATS server.
func (b *Bus) Embedded() bool { return b.srv != nil }

// ClientURL returns the URL other programs (or other nodes) can reach the
// embedded server at, or "" when it has no client port or is external.
func (b *Bus) ClientURL() string {
	if b.srv == nil {
		return ""
	}
	addr, ok := b.srv.Addr().(*net.TCPAddr)
	if !ok || addr == nil {
		return ""
	}
	return "nats://" + addr.String()
}

// Close drains the connection (pending publishes are flushed, subscriptions
// finish their messages), then shuts the embedded server down and waits
// for it.
func (b *Bus) Close() error {
	err := b.nc.Drain()
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		b.nc.Close()
	}
	<-b.closed
	b.shutdownServer()
	if errors.Is(err, nats.ErrConnectionClosed) {
		err = nil
	}
	return err
}

func (b *Bus) shutdownServer() {
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}

// natsLogger adapts slog to nats-server's logger.
type natsLogger struct{ log *slog.Logger }

func (l *natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Tracef(format string, v ...any)  {}

// Package config is the one configuration of a Liveloop server: every
// setting with its default and unit, the command-line flags that set them,
// and validation that reports every problem at once.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"
)

// Config is the configuration of `liveloop serve`.
type Config struct {
	// HTTPAddr is the host:port of the HTTP server (pages, API, playback).
	// Port 0 picks a free port. Default 127.0.0.1:8080.
	HTTPAddr string
	// RTMPAddr is the host:port of the RTMP ingest. Default 127.0.0.1:1935.
	RTMPAddr string
	// DataDir holds persistent state. Default ./data.
	DataDir string
	// Demo publishes the built-in test stream "demo".
	Demo bool
	// Open lets any publish key publish to the stream of that name (the
	// development rule). Default true.
	Open bool
	// GracePeriod is how long a stream whose publisher dropped keeps its
	// viewers waiting for the publisher to return. Default 10 s.
	GracePeriod time.Duration
	// RefuseTakeover refuses a second publisher on a live stream instead
	// of letting it replace the first (an encoder reconnecting after a
	// network fault needs takeover to get back in). Default false.
	RefuseTakeover bool
	// WebRTCUDP is the one UDP host:port that every WebRTC peer uses (ICE
	// UDP mux). Port 0 picks a free port. Default 127.0.0.1:8189.
	WebRTCUDP string
	// WebRTCTCP is where WebRTC peers on networks that block UDP reach
	// the server with ICE over TCP (RFC 6544): WebRTCTCPHTTP (the default)
	// shares the HTTP listener's port, a host:port listens on a port of
	// its own, WebRTCTCPOff turns ICE-TCP off.
	WebRTCTCP string
	// WebRTCIPs are the addresses announced to WebRTC peers instead of the
	// local ones (NAT 1:1), comma-separated.
	WebRTCIPs string
	// Transcode runs ffmpeg to turn each stream's AAC into Opus for WebRTC
	// viewers. Default true; without ffmpeg, WebRTC viewers get video only.
	Transcode bool
	// NATSURL, when set, joins an external NATS cluster (comma-separated
	// URLs) instead of starting the embedded NATS server.
	NATSURL string
	// NATSListen is the embedded NATS server's client address: host:port,
	// or "none" for no port (only this process reaches it). Default
	// 127.0.0.1:0, loopback only.
	NATSListen string
	// AdminKey lets POST /api/v1/session with the header X-Admin-Key issue
	// moderator and host tokens. Empty (the default): no staff tokens. Also
	// read from the environment variable LIVELOOP_ADMIN_KEY.
	AdminKey string
	// ChatHold holds non-moderator chat messages this long so moderators
	// can remove them before viewers see them. Default 0 (off).
	ChatHold time.Duration
	// QAModeration puts new questions in a moderation queue. Default false.
	QAModeration bool
	// HLSPartTarget is the aimed-for LL-HLS partial segment duration.
	// Default 200 ms.
	HLSPartTarget time.Duration
	// HLSSegmentTarget is the shortest LL-HLS segment; segments end at the
	// first keyframe after it. Default 2 s.
	HLSSegmentTarget time.Duration
	// HLSChunkedParts streams a preload-hinted LL-HLS part as its frames
	// are produced (chunked transfer) instead of answering once the part is
	// complete. Default true: a player blocked on the hint gets each frame
	// as soon as it exists.
	HLSChunkedParts bool
	// GCPercent is the garbage collector's target: the heap grows this
	// many percent over what the last collection found live before the
	// next (Go's GOGC, whose default is 100). Default 50: a server's live
	// heap is mostly its sessions' state, allocated once, so collecting
	// twice as often costs little CPU and the resident memory per viewer
	// falls by about a fifth (at 100 WHEP viewers RSS about 375 to 304 KB a
	// viewer, CPU within noise; docs/architecture.md). The
	// GOGC environment variable, if set, wins.
	GCPercent int
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string
	// LogFormat is text or json. Default text.
	LogFormat string
}

// Values of Config.WebRTCTCP besides a host:port.
const (
	// WebRTCTCPHTTP shares the HTTP port: each new connection goes to
	// HTTP or ICE-TCP by its first bytes (package webrtcapi/icetcp).
	WebRTCTCPHTTP = "http"
	// WebRTCTCPOff turns ICE-TCP off.
	WebRTCTCPOff = "off"
)

// Default returns the defaults.
func Default() Config {
	return Config{
		HTTPAddr:    "127.0.0.1:8080",
		RTMPAddr:    "127.0.0.1:1935",
		DataDir:     "./data",
		Open:        true,
		GracePeriod: 10 * time.Second,
		LogLevel:    "info",
		LogFormat:   "text",
		GCPercent:   50,

		NATSListen: "127.0.0.1:0",
		WebRTCUDP:  "127.0.0.1:8189",
		WebRTCTCP:  WebRTCTCPHTTP,
		Transcode:  true,

		HLSPartTarget:    200 * time.Millisecond,
		HLSSegmentTarget: 2 * time.Second,
		HLSChunkedParts:  true,
	}
}

// RegisterFlags binds c's fields to flags of fs, with c's values as the
// defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http", c.HTTPAddr, "HTTP listen address `host:port` (port 0 picks a free port)")
	fs.StringVar(&c.RTMPAddr, "rtmp", c.RTMPAddr, "RTMP ingest listen address `host:port` (port 0 picks a free port)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for persistent state")
	fs.BoolVar(&c.Demo, "demo", c.Demo, "publish the built-in test stream \"demo\"")
	fs.BoolVar(&c.Open, "open", c.Open, "let any publish key publish to the stream of that name")
	fs.DurationVar(&c.GracePeriod, "grace", c.GracePeriod, "how long viewers wait for a dropped publisher to return")
	fs.BoolVar(&c.RefuseTakeover, "refuse-takeover", c.RefuseTakeover, "refuse a second publisher on a live stream instead of replacing the first")
	fs.StringVar(&c.WebRTCUDP, "webrtc-udp", c.WebRTCUDP, "UDP `host:port` shared by all WebRTC peers (port 0 picks a free port)")
	fs.StringVar(&c.WebRTCTCP, "webrtc-tcp", c.WebRTCTCP, "ICE over TCP, for networks that block UDP: `http` (on the HTTP port), a host:port of its own, or off")
	fs.StringVar(&c.WebRTCIPs, "webrtc-ip", c.WebRTCIPs, "`addresses` to announce to WebRTC peers (NAT 1:1), comma-separated")
	fs.BoolVar(&c.Transcode, "transcode", c.Transcode, "turn AAC into Opus with ffmpeg for WebRTC viewers")
	fs.StringVar(&c.NATSURL, "nats", c.NATSURL, "external NATS `URL`s (comma-separated); default: an embedded NATS server")
	fs.StringVar(&c.NATSListen, "nats-listen", c.NATSListen, "embedded NATS client address `host:port`, or none")
	fs.StringVar(&c.AdminKey, "admin-key", c.AdminKey, "key that issues moderator and host tokens (or env LIVELOOP_ADMIN_KEY)")
	fs.DurationVar(&c.ChatHold, "chat-hold", c.ChatHold, "hold viewers' chat messages this long for moderators (0: off)")
	fs.BoolVar(&c.QAModeration, "qa-moderation", c.QAModeration, "new questions wait for a moderator's approval")
	fs.DurationVar(&c.HLSPartTarget, "hls-part", c.HLSPartTarget, "LL-HLS partial segment target duration")
	fs.DurationVar(&c.HLSSegmentTarget, "hls-segment", c.HLSSegmentTarget, "LL-HLS shortest segment (segments end at a keyframe after it)")
	fs.BoolVar(&c.HLSChunkedParts, "hls-chunked-parts", c.HLSChunkedParts, "stream preload-hinted LL-HLS parts as they are produced")
	fs.IntVar(&c.GCPercent, "gc-percent", c.GCPercent, "garbage collector target: heap growth in `percent` of the live heap before a collection (as GOGC, which wins if set)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json")
}

// Validate reports every problem with c, joined.
func (c *Config) Validate() error {
	var errs []error
	for _, a := range []struct{ name, addr string }{{"http", c.HTTPAddr}, {"rtmp", c.RTMPAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("--%s %q: want host:port", a.name, a.addr))
		}
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	if c.GracePeriod < 0 {
		errs = append(errs, fmt.Errorf("--grace %v: must not be negative", c.GracePeriod))
	}
	if _, _, err := net.SplitHostPort(c.WebRTCUDP); err != nil {
		errs = append(errs, fmt.Errorf("--webrtc-udp %q: want host:port", c.WebRTCUDP))
	}
	if c.WebRTCTCP != WebRTCTCPHTTP && c.WebRTCTCP != WebRTCTCPOff {
		if _, _, err := net.SplitHostPort(c.WebRTCTCP); err != nil {
			errs = append(errs, fmt.Errorf("--webrtc-tcp %q: want http, off or host:port", c.WebRTCTCP))
		}
	}
	for _, ip := range c.PublicIPs() {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("--webrtc-ip %q: not an IP address", ip))
		}
	}
	if c.NATSListen != "none" {
		if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			errs = append(errs, fmt.Errorf("--nats-listen %q: want host:port or none", c.NATSListen))
		}
	}
	if c.GCPercent < 10 || c.GCPercent > 1000 {
		errs = append(errs, fmt.Errorf("--gc-percent %d: want 10 to 1000", c.GCPercent))
	}
	if c.ChatHold < 0 || c.ChatHold > time.Minute {
		errs = append(errs, fmt.Errorf("--chat-hold %v: want 0 to 1m", c.ChatHold))
	}
	if c.HLSPartTarget < 50*time.Millisecond || c.HLSPartTarget > 2*time.Second {
		errs = append(errs, fmt.Errorf("--hls-part %v: want 50ms to 2s", c.HLSPartTarget))
	}
	if c.HLSSegmentTarget < c.HLSPartTarget || c.HLSSegmentTarget > 30*time.Second {
		errs = append(errs, fmt.Errorf("--hls-segment %v: want from --hls-part to 30s", c.HLSSegmentTarget))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}

// PublicIPs returns the addresses of WebRTCIPs.
func (c *Config) PublicIPs() []string {
	var out []string
	for _, ip := range strings.Split(c.WebRTCIPs, ",") {
		if ip = strings.TrimSpace(ip); ip != "" {
			out = append(out, ip)
		}
	}
	return out
}

// Ephemeral returns the defaults with every listener on a free loopback
// port and state under dataDir: a node for tests and tools that may run
// beside others on one machine.
func Ephemeral(dataDir string) Config {
	c := Default()
	c.HTTPAddr = "127.0.0.1:0"
	c.RTMPAddr = "127.0.0.1:0"
	c.WebRTCUDP = "127.0.0.1:0"
	c.NATSListen = "127.0.0.1:0"
	c.DataDir = dataDir
	return c
}

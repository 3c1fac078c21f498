// Package ws delivers live streams as fragmented MP4 over a WebSocket, for
// playback with Media Source Extensions: GET /ws/{stream}. The wire protocol
// is documented in docs/ws-protocol.md.
//
// Each viewer is a hub subscriber with two goroutines: a writer that sends
// what the hub gives it (one message per batch, one vectored write of the
// shared fragment bytes) and a reader that answers the player's clock-sync
// pings. The fragment of each frame is muxed once (hub.Packet.Cached) and
// shared by every viewer.
package ws

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liveloop/liveloop/fmp4"
	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/websocket"
)

// ProtocolVersion is the version of docs/ws-protocol.md this package speaks.
const ProtocolVersion = 1

// Config configures the handler.
type Config struct {
	Hub    *hub.Hub
	Logger *slog.Logger
	// Now is the wall clock sent to players for clock sync; default
	// time.Now.
	Now func() time.Time
	// WriteTimeout disconnects a viewer whose connection takes no bytes for
	// this long; default 10 s.
	WriteTimeout time.Duration
}

// Handler serves GET /ws/{stream}. Close ends every session it started.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex // guards closed and wg.Add against Close
	closed bool
	wg     sync.WaitGroup

	viewers   atomic.Int64
	sessions  atomic.Uint64
	bytesSent atomic.Uint64
	messages  atomic.Uint64
}

// Stats are the handler's counters.
type Stats struct {
	Viewers   int64
	Sessions  uint64
	BytesSent uint64
	Messages  uint64
}

// New returns a handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Handler{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel}
}

// Stats returns a snapshot of the handler's counters.
func (h *Handler) Stats() Stats {
	return Stats{
		Viewers:   h.viewers.Load(),
		Sessions:  h.sessions.Load(),
		BytesSent: h.bytesSent.Load(),
		Messages:  h.messages.Load(),
	}
}

// Close disconnects every viewer and waits for their goroutines.
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
	return nil
}

// ServeHTTP upgrades the request and plays the stream named by the path
// value "stream" to it until the viewer leaves or the stream ends.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("stream")
	if h.ctx.Err() != nil {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	conn, err := websocket.Upgrade(w, r, websocket.Options{WriteTimeout: h.cfg.WriteTimeout, MaxMessage: 4096})
	if err != nil {
		return
	}
	v := &viewer{h: h, conn: conn, name: name, id: h.sessions.Add(1)}
	// The viewer runs on a goroutine of its own, owned by the Handler, and
	// ServeHTTP returns: net/http's per-connection goroutine and its deep
	// stack are not kept for the life of every viewer.
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		conn.Close(websocket.CloseGoingAway, "server shutdown")
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	h.viewers.Add(1)
	go func() {
		defer h.wg.Done()
		defer h.viewers.Add(-1)
		v.run()
	}()
}

// viewer is one WebSocket playback session.
type viewer struct {
	h    *Handler
	conn *websocket.Conn
	name string

	id     uint64
	tracks *hub.TrackSet
	parts  [][]byte
}

// logAttrs names the viewer in log lines. (Loggers are not kept per viewer:
// a viewer's memory is mostly its goroutines' stacks.)
func (v *viewer) logAttrs(args ...any) []any {
	return append([]any{"stream", v.name, "viewer", v.id, "remote", v.conn.RemoteAddr().String()}, args...)
}

type helloMsg struct {
	Type       string  `json:"type"`
	Version    int     `json:"version"`
	Stream     string  `json:"stream"`
	ServerTime float64 `json:"serverTime"`
}

type initMsg struct {
	Type   string      `json:"type"`
	Mime   string      `json:"mime"`
	Tracks []trackInfo `json:"tracks"`
}

type trackInfo struct {
	ID         int    `json:"id"`
	Kind       string `json:"kind"`
	Codec      string `json:"codec"`
	Timescale  uint32 `json:"timescale"`
	Width      int    `json:"width,omitempty"`
	Height     int    `json:"height,omitempty"`
	SampleRate int    `json:"sampleRate,omitempty"`
	Channels   int    `json:"channels,omitempty"`
}

type statusMsg struct {
	Type  string `json:"type"`
	State string `json:"state"`
}

type errorMsg struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type pingMsg struct {
	Type       string  `json:"type"`
	ClientTime float64 `json:"clientTime"`
}

type pongMsg struct {
	Type       string  `json:"type"`
	ClientTime float64 `json:"clientTime"`
	ServerTime float64 `json:"serverTime"`
}

func (v *viewer) run() {
	ctx, cancel := context.WithCancel(v.h.ctx)
	defer cancel()
	if err := v.sendJSON(helloMsg{Type: "hello", Version: ProtocolVersion, Stream: v.name, ServerTime: v.serverTime()}); err != nil {
		return
	}
	sub, err := v.h.cfg.Hub.Subscribe(v.name)
	if err != nil {
		code := "bad_request"
		if errors.Is(err, hub.ErrNotFound) || errors.Is(err, hub.ErrEnded) {
			code = "not_found"
		} else if errors.Is(err, hub.ErrClosed) {
			code = "server_shutdown"
		}
		v.sendJSON(errorMsg{Type: "error", Code: code, Message: "stream " + quote(v.name) + " is not live"})
		v.conn.Close(websocket.CloseNormal, code)
		return
	}
	defer sub.Close()

	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer cancel()
		v.readLoop()
	}()
	defer func() { <-readerDone }()

	v.h.log.Debug("viewer connected", v.logAttrs()...)
	err = v.writeLoop(ctx, sub)
	switch {
	case errors.Is(err, hub.ErrEnded):
		v.sendStatus(hub.StateEnded)
		v.conn.Close(websocket.CloseNormal, "stream ended")
	case v.h.ctx.Err() != nil:
		v.sendJSON(errorMsg{Type: "error", Code: "server_shutdown", Message: "server is shutting down"})
		v.conn.Close(websocket.CloseGoingAway, "server shutdown")
	default:
		v.conn.Close(websocket.CloseNormal, "")
	}
	v.h.log.Debug("viewer left", v.logAttrs("reason", err, "skips", sub.Skips())...)
}

// writeLoop sends the stream until ctx ends or the stream does. A status
// message goes where the change happened: "live" before the batch's packets
// (they are the new publisher's), "waiting" after them (they were the old
// publisher's last).
func (v *viewer) writeLoop(ctx context.Context, sub *hub.Subscriber) error {
	var state hub.State
	for {
		b, err := sub.Next(ctx)
		if err != nil {
			return err
		}
		changed := b.State != state
		state = b.State
		if changed && state == hub.StateLive {
			if err := v.sendStatus(state); err != nil {
				return err
			}
		}
		if err := v.sendPackets(b.Packets); err != nil {
			return err
		}
		if changed && state != hub.StateLive {
			if err := v.sendStatus(state); err != nil {
				return err
			}
		}
	}
}

func (v *viewer) sendStatus(s hub.State) error {
	return v.sendJSON(statusMsg{Type: "status", State: s.String()})
}

// sendPackets sends a batch as one binary message, with an init segment
// first whenever the packets' tracks change.
func (v *viewer) sendPackets(pkts []*hub.Packet) error {
	v.parts = v.parts[:0]
	for _, p := range pkts {
		if p.Cue != nil {
			if v.tracks != nil { // an emsg needs an init segment before it
				v.parts = append(v.parts, p.Cached(hub.SlotFMP4, cueBox))
			}
			continue
		}
		if p.Tracks != v.tracks {
			if err := v.flush(); err != nil {
				return err
			}
			if err := v.sendInit(p.Tracks); err != nil {
				return err
			}
		}
		v.parts = append(v.parts, p.Cached(hub.SlotFMP4, fragmentHeader), p.Frame.Data)
	}
	return v.flush()
}

func (v *viewer) flush() error {
	if len(v.parts) == 0 {
		return nil
	}
	n := 0
	for _, p := range v.parts {
		n += len(p)
	}
	err := v.conn.WriteBinary(v.parts...)
	clear(v.parts)
	v.parts = v.parts[:0]
	if cap(v.parts) > 2*hub.MaxBatch+4 {
		v.parts = nil // do not keep an unusually long list
	}
	if err != nil {
		return err
	}
	v.h.bytesSent.Add(uint64(n))
	v.h.messages.Add(1)
	return nil
}

func (v *viewer) sendInit(ts *hub.TrackSet) error {
	seg, err := ts.Cached(hub.SlotFMP4, func(ts *hub.TrackSet) ([]byte, error) { return fmp4.InitSegment(ts.Tracks) })
	if err != nil {
		v.sendJSON(errorMsg{Type: "error", Code: "unsupported", Message: err.Error()})
		return err
	}
	msg := initMsg{Type: "init", Mime: MimeType(ts.Tracks)}
	for _, t := range ts.Tracks {
		msg.Tracks = append(msg.Tracks, trackInfo{
			ID: t.ID, Kind: t.Kind.String(), Codec: t.CodecString, Timescale: t.ClockRate,
			Width: t.Width, Height: t.Height, SampleRate: t.SampleRate, Channels: t.Channels,
		})
	}
	if err := v.sendJSON(msg); err != nil {
		return err
	}
	if err := v.conn.WriteBinary(seg); err != nil {
		return err
	}
	v.tracks = ts
	return nil
}

// fragmentHeader makes the bytes that precede a frame's payload: a prft
// for video frames, then moof and the mdat header. The payload itself is
// sent from the frame, uncopied.
func fragmentHeader(p *hub.Packet) []byte {
	t := p.Track()
	f := p.Frame
	b := make([]byte, 0, 40+fmp4.FragmentHeaderSize(len(f.Data)))
	if p.Video {
		b = fmp4.AppendPRFT(b, t.ID, f.Wall, uint64(max(f.PTS, 0)))
	}
	return fmp4.AppendFragmentHeader(b, uint32(p.Seq), t, f)
}

// CueScheme is the emsg scheme_id_uri of Liveloop cues; the message data is
// the cue as JSON: {"id", "type", "payload"}.
const CueScheme = "urn:liveloop:cue"

// cueBox makes the emsg box of a cue packet, its time on the timescale of the
// stream's first track.
func cueBox(p *hub.Packet) []byte {
	c := p.Cue
	rate := p.Tracks.Tracks[0].ClockRate
	if p.Tracks.Video >= 0 {
		rate = p.Tracks.Tracks[p.Tracks.Video].ClockRate
	}
	data, _ := json.Marshal(c)
	return fmp4.AppendEmsg(nil, fmp4.Event{
		SchemeIDURI:      CueScheme,
		Value:            c.Type,
		Timescale:        rate,
		PresentationTime: uint64(media.DurationToTicks(c.Time, rate)),
		Duration:         uint32(media.DurationToTicks(c.Duration, rate)),
		ID:               uint32(p.Seq),
		Data:             data,
	})
}

// MimeType returns the MSE type of an fMP4 stream of the tracks, e.g.
// `video/mp4; codecs="avc1.64001f,mp4a.40.2"`.
func MimeType(tracks []*media.Track) string {
	kind := "audio/mp4"
	codecs := make([]string, 0, len(tracks))
	for _, t := range tracks {
		if t.Kind == media.KindVideo {
			kind = "video/mp4"
		}
		codecs = append(codecs, t.CodecString)
	}
	return kind + `; codecs="` + strings.Join(codecs, ",") + `"`
}

func (v *viewer) readLoop() {
	for {
		op, msg, err := v.conn.ReadMessage()
		if err != nil {
			return
		}
		if op != websocket.OpText {
			continue
		}
		var m pingMsg
		if err := json.Unmarshal(msg, &m); err != nil {
			v.sendJSON(errorMsg{Type: "error", Code: "bad_request", Message: "messages must be JSON objects"})
			continue
		}
		if m.Type == "ping" {
			if err := v.sendJSON(pongMsg{Type: "pong", ClientTime: m.ClientTime, ServerTime: v.serverTime()}); err != nil {
				return
			}
		}
	}
}

func (v *viewer) sendJSON(m any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return v.conn.WriteText(b)
}

func (v *viewer) serverTime() float64 {
	return float64(v.h.cfg.Now().UnixMicro()) / 1000
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

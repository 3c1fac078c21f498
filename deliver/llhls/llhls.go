// Package llhls delivers live streams as Low-Latency HLS (RFC 8216bis, HTTP
// Live Streaming 2nd edition): GET /hls/{stream}/index.m3u8, for players
// (hls.js, Safari, ffmpeg) and for CDNs in front of them.
//
// One muxer goroutine per stream, not per viewer, subscribes to the hub and
// cuts the stream into CMAF parts (about 200 ms) and segments (at the first
// keyframe after about 2 s), keeping the newest segments in memory. It
// starts on the first request for a stream and stops when nobody has asked
// for the stream for Config.IdleTimeout; after the stream ends its playlist
// carries EXT-X-ENDLIST until then. Whenever a part completes, the muxer
// publishes an immutable view of what it offers, with the playlists
// rendered and every answer's body and header values made once; the HTTP
// handlers read the newest view without a lock. Blocking playlist reloads
// wait on the view (a channel closed when the next view replaces it) and
// are answered the moment their part exists; a request for the
// preload-hinted part is held until the part is complete (or, with
// Config.ChunkedParts, streamed as its frames arrive).
//
// The package is split into the request parser (request.go), the pure
// segmenter (segmenter.go) and playlist renderer (playlist.go), the muxer
// goroutine (muxer.go), its published views (view.go) and the HTTP side
// (serve.go). The URL scheme is described in request.go.
package llhls

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liveloop/liveloop/hub"
)

// Config configures the handler. The zero value of each field selects the
// documented default.
type Config struct {
	Hub    *hub.Hub
	Logger *slog.Logger
	// Clock drives timeouts (blocking requests, idle muxers); default the
	// real clock.
	Clock hub.Clock
	// Prefix is the path the handler is mounted at; default "/hls/".
	Prefix string
	// PartTarget is the aimed-for duration of a partial segment; default
	// 200 ms. Parts are cut on frames, so the advertised PART-TARGET may be
	// a little longer when the frame rate does not divide it.
	PartTarget time.Duration
	// SegmentTarget is the shortest segment: a segment ends at the first
	// keyframe at or after it. Default 2 s.
	SegmentTarget time.Duration
	// Window is the number of complete segments a media playlist lists;
	// default 10, at least 4. Four more are kept in memory for clients and
	// CDNs that hold an older playlist; older requests get 404.
	Window int
	// IdleTimeout stops a stream's muxer when nobody has requested the
	// stream for this long; default 30 s.
	IdleTimeout time.Duration
	// BlockTimeout bounds a blocking playlist reload or a wait for a hinted
	// part, after which the answer is 503; default three target durations
	// (RFC 8216bis 6.2.5.2).
	BlockTimeout time.Duration
	// ChunkedParts streams the preload-hinted part with chunked transfer
	// coding as its frames arrive, each video frame (with the audio before
	// it) as one moof+mdat. By default a hinted part is answered, with its
	// length, once complete: RFC 8216bis 6.2.6 requires a server to send no
	// byte of a part until all of it can go at the full speed of the link,
	// because players measure bandwidth on part downloads. Set
	// http.Server.ConnContext to ConnContext so that each chunk is one
	// write (see serve.go).
	ChunkedParts bool
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.Prefix == "" {
		c.Prefix = "/hls/"
	}
	if c.PartTarget <= 0 {
		c.PartTarget = 200 * time.Millisecond
	}
	if c.SegmentTarget <= 0 {
		c.SegmentTarget = 2 * time.Second
	}
	c.SegmentTarget = max(c.SegmentTarget, c.PartTarget)
	if c.Window == 0 {
		c.Window = 10
	}
	c.Window = max(c.Window, 4)
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Second
	}
	return c
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Handler serves LL-HLS for every stream of a hub. Close stops every muxer.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	clock  hub.Clock
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	runs   atomic.Uint64

	mu     sync.RWMutex
	muxers map[string]*muxer
	closed bool

	stats counters
}

type counters struct {
	requests, playlists, blocking, parts, segments, inits atomic.Uint64
	hintWaits, timeouts, badRequests, notFound, bytesSent atomic.Uint64
	partsMade, segmentsMade, muxerRuns                    atomic.Uint64
	waiting                                               atomic.Int64
}

// Stats are the handler's counters.
type Stats struct {
	// Streams is the number of streams with a muxer now.
	Streams int
	// Waiting is the number of requests blocked now (playlist reloads and
	// hinted parts).
	Waiting int64
	// Requests counts every request; the next fields count successful
	// answers by kind.
	Requests, Playlists, BlockingReloads, Parts, Segments, Inits uint64
	// HintWaits counts part requests that were held for the part to be
	// written.
	HintWaits uint64
	// Timeouts counts 503s after blocking for BlockTimeout.
	Timeouts, BadRequests, NotFound uint64
	// BytesSent counts media and playlist body bytes.
	BytesSent uint64
	// PartsMade, SegmentsMade and MuxerRuns are the muxers' totals.
	PartsMade, SegmentsMade, MuxerRuns uint64
}

// New returns a handler.
func New(cfg Config) *Handler {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Handler{
		cfg:    cfg,
		log:    cfg.Logger,
		clock:  cfg.Clock,
		ctx:    ctx,
		cancel: cancel,
		muxers: make(map[string]*muxer),
	}
}

// Stats returns a snapshot of the handler's counters.
func (h *Handler) Stats() Stats {
	h.mu.Lock()
	n := len(h.muxers)
	h.mu.Unlock()
	c := &h.stats
	return Stats{
		Streams:         n,
		Waiting:         c.waiting.Load(),
		Requests:        c.requests.Load(),
		Playlists:       c.playlists.Load(),
		BlockingReloads: c.blocking.Load(),
		Parts:           c.parts.Load(),
		Segments:        c.segments.Load(),
		Inits:           c.inits.Load(),
		HintWaits:       c.hintWaits.Load(),
		Timeouts:        c.timeouts.Load(),
		BadRequests:     c.badRequests.Load(),
		NotFound:        c.notFound.Load(),
		BytesSent:       c.bytesSent.Load(),
		PartsMade:       c.partsMade.Load(),
		SegmentsMade:    c.segmentsMade.Load(),
		MuxerRuns:       c.muxerRuns.Load(),
	}
}

// Close stops every muxer, answers blocked requests with 503, and waits for
// the muxers' goroutines.
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	ms := make([]*muxer, 0, len(h.muxers))
	for _, m := range h.muxers {
		ms = append(ms, m)
	}
	clear(h.muxers)
	h.mu.Unlock()
	h.cancel()
	for _, m := range ms {
		m.stop()
	}
	h.wg.Wait()
	return nil
}

// Errors of muxerFor.
var errClosed = errors.New("llhls: shutting down")

// muxerFor returns the stream's muxer, starting one if there is none, or if
// the one there served a stream that has since been replaced by a new
// stream of the same name. It returns an error wrapping hub.ErrNotFound if
// the stream does not exist.
func (h *Handler) muxerFor(name string) (*muxer, error) {
	// The common case: a running muxer.
	h.mu.RLock()
	m := h.muxers[name]
	h.mu.RUnlock()
	if m != nil && !m.finished.Load() {
		return m, nil
	}
	st := h.cfg.Hub.Stream(name)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errClosed
	}
	old := h.muxers[name]
	if old != nil && (!old.finished.Load() || st == nil || st == old.stream) {
		h.mu.Unlock()
		return old, nil
	}
	h.mu.Unlock()
	if st == nil {
		return nil, hub.ErrNotFound
	}
	sub, err := h.cfg.Hub.SubscribeInternal(name)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		sub.Close()
		return nil, errClosed
	}
	if cur := h.muxers[name]; cur != old {
		// Another request started one meanwhile.
		h.mu.Unlock()
		sub.Close()
		return cur, nil
	}
	run := strconv.FormatInt(h.clock.Now().UnixMilli(), 36) + strconv.FormatUint(h.runs.Add(1), 36)
	m = newMuxer(h, name, run, st)
	h.muxers[name] = m
	h.wg.Add(1)
	h.mu.Unlock()
	h.stats.muxerRuns.Add(1)
	if old != nil {
		old.stop()
	}
	go m.run(sub)
	m.armIdle(h.cfg.IdleTimeout)
	return m, nil
}

// dropIfIdle forgets m if nobody has used it for IdleTimeout and stops it;
// otherwise it checks again when that time would be up.
func (h *Handler) dropIfIdle(m *muxer) {
	idle := h.clock.Now().Sub(time.Unix(0, m.lastUse.Load()))
	if rest := h.cfg.IdleTimeout - idle; rest > 0 {
		m.armIdle(rest)
		return
	}
	h.mu.Lock()
	if h.muxers[m.name] == m {
		delete(h.muxers, m.name)
	}
	h.mu.Unlock()
	m.log.Debug("llhls muxer idle; stopping")
	m.stop()
}

// Package hub is the heart of Liveloop: it holds one Stream per live stream
// and fans each published frame out to every subscriber.
//
// A Stream keeps its recent frames in a ring of Packets. The ring is the GOP
// cache (a new subscriber starts at the newest keyframe, at once) and every
// subscriber's queue: each subscriber reads the shared ring at its own cursor,
// so the publisher does constant work per frame whatever the audience, and
// bytes muxed for a Packet (Packet.Cached) are made once and shared by every
// subscriber of that format. A subscriber that falls too far behind skips
// forward to the next keyframe and is counted; it never delays the publisher
// or the other subscribers.
//
// Publishers come and go: a second publisher on a live stream takes over from
// the first (unless Config.RefuseTakeover), and a publisher that disconnects
// leaves its stream waiting for Config.GracePeriod, during which subscribers
// stay connected and continue from the next keyframe of whoever publishes
// next, on a timeline that continues where it stopped.
package hub

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by the hub.
var (
	ErrNotFound    = errors.New("hub: stream not found")
	ErrStreamBusy  = errors.New("hub: stream already has a publisher")
	ErrReplaced    = errors.New("hub: publisher was replaced")
	ErrEnded       = errors.New("hub: stream ended")
	ErrClosed      = errors.New("hub: closed")
	ErrBadTracks   = errors.New("hub: invalid tracks")
	ErrNoTracks    = errors.New("hub: frame before tracks")
	ErrInvalidName = errors.New("hub: invalid stream name")
)

// Config holds the hub's settings. The zero value of each field selects the
// documented default.
type Config struct {
	// GracePeriod is how long a stream whose publisher left waits for a new
	// publisher before it ends and its subscribers are disconnected.
	// Default 10 s.
	GracePeriod time.Duration
	// RefuseTakeover makes a second publisher on a live stream fail with
	// ErrStreamBusy instead of replacing the first.
	RefuseTakeover bool
	// RingSize is the number of packets each stream keeps (rounded up to a
	// power of two). It bounds the GOP cache and every subscriber's queue.
	// Default 2048 (about 25 s of 30 fps video with AAC audio).
	RingSize int
	// MaxLag is how far (in ingest wall-clock time) a subscriber may fall
	// behind the newest packet before it skips to the next keyframe.
	// Default 2 s.
	MaxLag time.Duration
	// AudioHold is the longest a subscriber holds audio packets back to send
	// them with the next video frame (one write per video frame with its
	// audio). Default 100 ms.
	AudioHold time.Duration
}

func (c Config) withDefaults() Config {
	if c.GracePeriod == 0 {
		c.GracePeriod = 10 * time.Second
	}
	if c.RingSize <= 0 {
		c.RingSize = 2048
	}
	n := 1
	for n < c.RingSize {
		n <<= 1
	}
	c.RingSize = n
	if c.MaxLag == 0 {
		c.MaxLag = 2 * time.Second
	}
	if c.AudioHold == 0 {
		c.AudioHold = 100 * time.Millisecond
	}
	return c
}

// Clock is the time source of the hub; tests substitute a fake.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d, unless the returned
	// stop function is called first (it reports whether it stopped f).
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Hub is the set of live streams.
type Hub struct {
	cfg   Config
	log   *slog.Logger
	clock Clock

	mu      sync.Mutex
	streams map[string]*Stream
	closed  bool

	stats counters
}

// counters are the hub's totals, for metrics.
type counters struct {
	framesIn     atomic.Uint64
	bytesIn      atomic.Uint64
	framesDrop   atomic.Uint64
	skips        atomic.Uint64
	takeovers    atomic.Uint64
	subscribers  atomic.Int64
	publishes    atomic.Uint64
	streamsEnded atomic.Uint64
}

// Stats is a snapshot of the hub's counters.
type Stats struct {
	Streams       int
	Subscribers   int64
	FramesIn      uint64
	BytesIn       uint64
	FramesDropped uint64 // frames dropped at ingest (before a keyframe, bad timestamps)
	Skips         uint64 // times a slow subscriber skipped to a keyframe
	Takeovers     uint64
	Publishes     uint64
	StreamsEnded  uint64
}

// New returns an empty hub. clock may be nil for the real clock.
func New(cfg Config, log *slog.Logger, clock Clock) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if clock == nil {
		clock = realClock{}
	}
	return &Hub{
		cfg:     cfg.withDefaults(),
		log:     log,
		clock:   clock,
		streams: make(map[string]*Stream),
	}
}

// ValidName reports whether name can name a stream: 1 to 128 characters
// from [A-Za-z0-9_.-] and '/', not starting with '/' or '.'.
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > 128 || name[0] == '/' || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_' || c == '-' || c == '.' || c == '/':
		default:
			return false
		}
	}
	return true
}

// Publish starts publishing to the named stream, creating it or taking it
// over from its current publisher.
func (h *Hub) Publish(name string) (*Publisher, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	s := h.streams[name]
	if s == nil {
		s = newStream(h, name)
		h.streams[name] = s
	}
	h.mu.Unlock()

	p, old, err := s.attach()
	if err != nil {
		return nil, err
	}
	h.stats.publishes.Add(1)
	if old != nil {
		h.stats.takeovers.Add(1)
		s.log.Info("publisher replaced by a new one", "old_session", old.session, "session", p.session)
		old.end()
	} else {
		s.log.Info("publisher started", "session", p.session)
	}
	return p, nil
}

// Subscribe returns a subscriber to the named stream, positioned at the
// stream's newest keyframe. The stream must exist (be live or waiting for
// its publisher to return).
func (h *Hub) Subscribe(name string) (*Subscriber, error) { return h.subscribe(name, false) }

// SubscribeInternal is Subscribe for the server's own consumers of a stream
// (a transcoder, a segmenter): they are not counted as viewers.
func (h *Hub) SubscribeInternal(name string) (*Subscriber, error) { return h.subscribe(name, true) }

func (h *Hub) subscribe(name string, internal bool) (*Subscriber, error) {
	h.mu.Lock()
	s := h.streams[name]
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if s == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return s.subscribe(internal)
}

// Stream returns the named stream, or nil.
func (h *Hub) Stream(name string) *Stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.streams[name]
}

// Streams returns the streams, sorted by name.
func (h *Hub) Streams() []*Stream {
	h.mu.Lock()
	out := make([]*Stream, 0, len(h.streams))
	for _, s := range h.streams {
		out = append(out, s)
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Stats returns a snapshot of the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	n := len(h.streams)
	h.mu.Unlock()
	return Stats{
		Streams:       n,
		Subscribers:   h.stats.subscribers.Load(),
		FramesIn:      h.stats.framesIn.Load(),
		BytesIn:       h.stats.bytesIn.Load(),
		FramesDropped: h.stats.framesDrop.Load(),
		Skips:         h.stats.skips.Load(),
		Takeovers:     h.stats.takeovers.Load(),
		Publishes:     h.stats.publishes.Load(),
		StreamsEnded:  h.stats.streamsEnded.Load(),
	}
}

// Close ends every stream at once: publishers are told to disconnect and
// subscribers get ErrEnded. Publish and Subscribe fail afterwards.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	streams := make([]*Stream, 0, len(h.streams))
	for _, s := range h.streams {
		streams = append(streams, s)
	}
	h.mu.Unlock()
	for _, s := range streams {
		s.finish()
	}
}

// remove forgets s if it is still the stream of its name.
func (h *Hub) remove(s *Stream) {
	h.mu.Lock()
	if h.streams[s.name] == s {
		delete(h.streams, s.name)
	}
	h.mu.Unlock()
	h.stats.streamsEnded.Add(1)
}

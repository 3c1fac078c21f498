package llhls

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liveloop/liveloop/hub"
)

// muxer is one stream's LL-HLS state: a hub subscriber whose goroutine
// feeds the segmenter and publishes, on every change of what the playlist
// shows, a view that requests read without a lock (view.go).
//
// Lock: mu guards the fields below it. Nothing is called and nothing is
// sent on a channel with mu held; channels are closed (which never blocks)
// and replaced: a view's changed channel when the next view is published,
// a tail's grew on every batch of packets (chunked parts only).
type muxer struct {
	h      *Handler
	name   string
	runID  string
	stream *hub.Stream
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	// finished is set when the goroutine has exited (the stream ended, or
	// the muxer was stopped).
	finished atomic.Bool
	lastUse  atomic.Int64 // clock.Now().UnixNano() of the latest request
	// view is the newest view, tail the newest tail; never nil.
	view atomic.Pointer[view]
	tail atomic.Pointer[tail]

	mu       sync.Mutex
	seg      *segmenter
	ended    bool // the stream ended: the playlist has EXT-X-ENDLIST
	stopped  bool // nothing more will change
	version  uint64
	sig      [5]uint64 // what the playlist shows, to bump version on change
	idleStop func() bool
	idleOff  bool
}

func newMuxer(h *Handler, name, run string, st *hub.Stream) *muxer {
	ctx, cancel := context.WithCancel(h.ctx)
	m := &muxer{
		h:      h,
		name:   name,
		runID:  run,
		stream: st,
		log:    h.log.With("stream", name, "run", run),
		ctx:    ctx,
		cancel: cancel,
		seg: newSegmenter(segmenterConfig{
			PartTarget:    h.cfg.PartTarget,
			SegmentTarget: h.cfg.SegmentTarget,
			Window:        h.cfg.Window,
			Keep:          h.cfg.Window + 4,
			Chunked:       h.cfg.ChunkedParts,
		}),
	}
	m.publishLocked() // nothing else has m yet
	m.publishTailLocked()
	m.touch()
	return m
}

// touch records a request for the stream.
func (m *muxer) touch() { m.lastUse.Store(m.h.clock.Now().UnixNano()) }

// armIdle schedules an idle check after d.
func (m *muxer) armIdle(d time.Duration) {
	stop := m.h.clock.AfterFunc(d, func() { m.h.dropIfIdle(m) })
	m.mu.Lock()
	off := m.idleOff
	if !off {
		m.idleStop = stop
	}
	m.mu.Unlock()
	if off {
		stop()
	}
}

// stop ends the muxer's goroutine and its idle checks.
func (m *muxer) stop() {
	m.cancel()
	m.mu.Lock()
	m.idleOff = true
	stop := m.idleStop
	m.idleStop = nil
	m.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// run feeds the hub's packets to the segmenter until the stream ends or the
// muxer is stopped.
func (m *muxer) run(sub *hub.Subscriber) {
	defer m.h.wg.Done()
	defer sub.Close()
	m.log.Debug("llhls muxer started")
	for {
		b, err := sub.Next(m.ctx)
		m.mu.Lock()
		s := m.seg
		parts, segments := s.parts, s.segments
		if b.Skipped > 0 {
			s.flush() // a gap: the next segment starts at the next keyframe
		}
		for _, p := range b.Packets {
			s.push(p)
		}
		if err != nil || b.State != hub.StateLive {
			// The publisher left (it may come back, with new tracks and
			// a keyframe) or the stream is over: publish what there is.
			s.flush()
		}
		if err != nil {
			m.stopped = true
			m.ended = errors.Is(err, hub.ErrEnded)
		}
		sig := [5]uint64{s.parts, s.segments, uint64(len(s.cues)), 0, 0}
		if m.ended {
			sig[3] = 1
		}
		if s.openPart() != nil {
			sig[4] = 1 // the playlist hints it
		}
		if sig != m.sig || err != nil {
			m.sig = sig
			m.version++
			m.publishLocked()
		}
		if m.h.cfg.ChunkedParts {
			m.publishTailLocked()
		}
		parts, segments = s.parts-parts, s.segments-segments
		m.mu.Unlock()
		m.h.stats.partsMade.Add(parts)
		m.h.stats.segmentsMade.Add(segments)
		if err != nil {
			m.finished.Store(true)
			m.log.Debug("llhls muxer stopped", "reason", err, "parts", s.parts, "segments", s.segments, "dropped", s.dropped)
			return
		}
	}
}

// etag returns a strong entity tag for b.
func etag(b []byte) string {
	h := fnv.New64a()
	h.Write(b)
	return `"` + strconv.FormatUint(h.Sum64(), 36) + `"`
}

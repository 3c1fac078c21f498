package hub

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/liveloop/liveloop/media"
)

// State is a stream's life-cycle state.
type State uint8

// Stream states.
const (
	// StateLive: a publisher is attached.
	StateLive State = iota + 1
	// StateWaiting: the publisher left; the stream waits for one to return
	// until the grace period ends.
	StateWaiting
	// StateEnded: the stream is over; subscribers are disconnected.
	StateEnded
)

func (s State) String() string {
	switch s {
	case StateLive:
		return "live"
	case StateWaiting:
		return "waiting"
	case StateEnded:
		return "ended"
	}
	return "unknown"
}

// TrackSet is one announcement of a stream's tracks. Packets point to the
// TrackSet their frame belongs to; a new TrackSet (another Version) means new
// codec parameters, so a muxer must send a new init segment.
type TrackSet struct {
	Version int
	Tracks  []*media.Track
	// Video is the index of the first video track in Tracks, or -1.
	Video int

	init [numSlots]struct {
		once sync.Once
		b    []byte
		err  error
	}
}

// Cached returns the TrackSet's init bytes (or error) in the format of slot,
// calling make only the first time.
func (ts *TrackSet) Cached(slot int, make func(*TrackSet) ([]byte, error)) ([]byte, error) {
	c := &ts.init[slot]
	c.once.Do(func() { c.b, c.err = make(ts) })
	return c.b, c.err
}

// Slots of Packet.Cached, one per output format that caches per-frame bytes.
const (
	// SlotFMP4 holds a frame's fMP4 fragment (prft+moof+mdat).
	SlotFMP4 = iota
	// SlotRTP holds a frame's RTP payloads (CachedParts).
	SlotRTP
	numSlots
)

// Packet is a frame, or a cue, as the hub delivers it: immutable, shared by
// every subscriber.
type Packet struct {
	// Seq numbers the packets of a stream from 1, without gaps.
	Seq uint64
	// Frame is the media frame; nil for a cue packet.
	Frame *media.Frame
	// Cue is set, and Frame nil, for timed metadata (see Stream.PostCue).
	Cue    *Cue
	Tracks *TrackSet
	// Video is set when the frame is from a video track.
	Video bool
	// Time is the frame's presentation time on the stream's timeline.
	Time time.Duration

	slots [numSlots]struct {
		once sync.Once
		b    []byte
		bs   [][]byte
	}
}

// Track returns the frame's track; nil for a cue packet.
func (p *Packet) Track() *media.Track {
	if p.Frame == nil {
		return nil
	}
	return p.Tracks.Tracks[p.Frame.Track]
}

// Wall returns the wall-clock instant the packet's media was ingested.
func (p *Packet) Wall() time.Time {
	if p.Frame == nil {
		return p.Cue.Wall
	}
	return p.Frame.Wall
}

// Cached returns the bytes of the packet in the format of slot, calling make
// the first time only; every later caller, on any goroutine, shares them.
func (p *Packet) Cached(slot int, make func(*Packet) []byte) []byte {
	c := &p.slots[slot]
	c.once.Do(func() { c.b = make(p) })
	return c.b
}

// CachedParts is Cached for formats made of several pieces (a frame's RTP
// payloads). Callers must not modify the pieces.
func (p *Packet) CachedParts(slot int, make func(*Packet) [][]byte) [][]byte {
	c := &p.slots[slot]
	c.once.Do(func() { c.bs = make(p) })
	return c.bs
}

// Stream is one live stream: its tracks, the ring of recent packets, and its
// publisher.
type Stream struct {
	hub  *Hub
	name string
	log  *slog.Logger

	// mu guards the stream. Subscribers only read it (RLock), so hundreds
	// of them woken by one frame do not queue behind each other.
	mu        sync.RWMutex
	state     State
	publisher *Publisher
	sessions  int
	tracks    *TrackSet
	ring      []*Packet // len is a power of two
	next      uint64    // Seq of the next packet
	gop       uint64    // Seq of the newest keyframe that starts a GOP, 0 if none
	notify    chan struct{}
	stopGrace func() bool
	// Timeline: end is the end of the newest frame on the stream's timeline
	// (for continuing it across publishers), lastPTS the newest frame's
	// presentation time (the media clock).
	end     time.Duration
	lastPTS time.Duration
	lastAt  time.Time
	started time.Time
	subs    int
	cues    uint64 // cues posted, for IDs
	// reordered: the video has B-frames (see Info.Reordered).
	reordered bool
	// stopAudioWake cancels the pending wake-up for audio that waits for
	// its video frame; nil when none is pending.
	stopAudioWake func() bool
}

func newStream(h *Hub, name string) *Stream {
	return &Stream{
		hub:    h,
		name:   name,
		log:    h.log.With("stream", name),
		state:  StateWaiting,
		ring:   make([]*Packet, h.cfg.RingSize),
		next:   1,
		notify: make(chan struct{}),
	}
}

// Name returns the stream's name.
func (s *Stream) Name() string { return s.name }

// Changed returns a channel that is closed when the stream next changes:
// a packet that wakes subscribers (see appendLocked), or a new state. A
// writer that serves many subscribers takes it before it polls them
// (Subscriber.Poll), and polls them again once it is closed.
func (s *Stream) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.notify
}

// Info is a snapshot of a stream.
type Info struct {
	Name        string
	State       State
	Tracks      []*media.Track
	Subscribers int
	// MediaTime is the presentation time of the newest frame on the
	// stream's timeline: the stream's media clock.
	MediaTime time.Duration
	// LastFrame is when the newest frame was ingested.
	LastFrame time.Time
	Started   time.Time
	Packets   uint64
	// Reordered reports that the video, since its tracks were last
	// announced, has presented a frame before one decoded earlier: it has
	// B-frames, which WebRTC in browsers does not play.
	Reordered bool
}

// Info returns a snapshot of the stream.
func (s *Stream) Info() Info {
	s.mu.RLock()
	defer s.mu.RUnlock()
	inf := Info{
		Name:        s.name,
		State:       s.state,
		Subscribers: s.subs,
		MediaTime:   s.lastPTS,
		LastFrame:   s.lastAt,
		Started:     s.started,
		Packets:     s.next - 1,
		Reordered:   s.reordered,
	}
	if s.tracks != nil {
		inf.Tracks = s.tracks.Tracks
	}
	return inf
}

// MediaTime returns the stream's media clock: the presentation time of the
// newest ingested frame on the stream's timeline.
func (s *Stream) MediaTime() time.Duration {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastPTS
}

// attach installs a new publisher, returning the one it replaced.
func (s *Stream) attach() (p, old *Publisher, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == StateEnded {
		// Lost a race with the end of the grace period: the hub has
		// forgotten this stream; the caller may retry.
		return nil, nil, ErrEnded
	}
	if s.publisher != nil && s.hub.cfg.RefuseTakeover {
		return nil, nil, fmt.Errorf("%w: %q", ErrStreamBusy, s.name)
	}
	old = s.publisher
	if s.stopGrace != nil {
		s.stopGrace()
		s.stopGrace = nil
	}
	s.sessions++
	p = &Publisher{
		stream:  s,
		session: s.sessions,
		done:    make(chan struct{}),
		log:     s.log.With("session", s.sessions),
	}
	s.publisher = p
	if s.started.IsZero() {
		s.started = s.hub.clock.Now()
	}
	s.setStateLocked(StateLive)
	return p, old, nil
}

// detach removes p if it is still the publisher and starts the grace period.
func (s *Stream) detach(p *Publisher) {
	s.mu.Lock()
	if s.publisher != p {
		s.mu.Unlock()
		return
	}
	s.publisher = nil
	s.setStateLocked(StateWaiting)
	s.stopGrace = s.hub.clock.AfterFunc(s.hub.cfg.GracePeriod, s.graceOver)
	s.mu.Unlock()
	s.log.Info("publisher left; waiting for it to return", "session", p.session, "grace", s.hub.cfg.GracePeriod)
}

func (s *Stream) graceOver() {
	s.mu.Lock()
	over := s.publisher == nil && s.state == StateWaiting
	s.mu.Unlock()
	if over {
		s.log.Info("stream ended: no publisher within the grace period")
		s.finish()
	}
}

// finish ends the stream: its publisher is told to go, subscribers get
// ErrEnded and the hub forgets it.
func (s *Stream) finish() {
	s.mu.Lock()
	if s.state == StateEnded {
		s.mu.Unlock()
		return
	}
	p := s.publisher
	s.publisher = nil
	if s.stopGrace != nil {
		s.stopGrace()
		s.stopGrace = nil
	}
	if s.stopAudioWake != nil {
		s.stopAudioWake()
		s.stopAudioWake = nil
	}
	s.setStateLocked(StateEnded)
	s.mu.Unlock()
	if p != nil {
		p.end()
	}
	s.hub.remove(s)
}

// setStateLocked changes the state and wakes every subscriber.
func (s *Stream) setStateLocked(st State) {
	if s.state == st {
		return
	}
	s.state = st
	s.wakeLocked()
}

// wakeLocked wakes every subscriber waiting for news. Closing a channel never
// blocks, so it is safe under the lock.
func (s *Stream) wakeLocked() {
	close(s.notify)
	s.notify = make(chan struct{})
}

// at returns the packet with sequence number seq if the ring still holds it.
func (s *Stream) atLocked(seq uint64) *Packet {
	if seq == 0 || seq >= s.next || s.next-seq > uint64(len(s.ring)) {
		return nil
	}
	return s.ring[seq&uint64(len(s.ring)-1)]
}

// appendLocked adds a packet to the ring and wakes subscribers.
//
// On a stream with video, an audio packet wakes nobody: subscribers send
// audio with the video frame that follows it (one write per video frame),
// so waking them for audio alone would only make them go back to sleep. If
// no video frame comes within AudioHold (a frozen picture), one stream-wide
// timer wakes everyone to send the audio on its own.
func (s *Stream) appendLocked(pk *Packet) {
	pk.Seq = s.next
	s.ring[pk.Seq&uint64(len(s.ring)-1)] = pk
	s.next++
	if pk.Frame == nil {
		// A cue: not a place to start decoding.
	} else if pk.Video && pk.Frame.Key {
		s.gop = pk.Seq
	} else if pk.Tracks.Video < 0 && s.gop == 0 {
		// Audio-only stream: any frame starts playback.
		s.gop = pk.Seq
	}
	if pk.Tracks.Video < 0 && s.next-s.gop > 32 {
		s.gop = s.next - 32
	}
	if pk.Frame != nil && !pk.Video && pk.Tracks.Video >= 0 {
		if s.stopAudioWake == nil {
			s.stopAudioWake = s.hub.clock.AfterFunc(s.hub.cfg.AudioHold, s.wakeForAudio)
		}
		return
	}
	if s.stopAudioWake != nil {
		s.stopAudioWake()
		s.stopAudioWake = nil
	}
	s.wakeLocked()
}

// wakeForAudio wakes subscribers for audio that waited AudioHold for a
// video frame.
func (s *Stream) wakeForAudio() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopAudioWake != nil {
		s.stopAudioWake = nil
		s.wakeLocked()
	}
}

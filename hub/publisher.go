package hub

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/liveloop/liveloop/media"
)

// Publisher is one publishing session of a stream. It implements media.Sink:
// ingest protocols write their tracks and frames into it.
//
// The publisher maps its frames onto the stream's timeline: the first
// session starts at zero, and a later session (an encoder that reconnected)
// continues from where the previous one ended, so subscribers see one
// continuous timeline for as long as the stream lives. Frames before the
// session's first video keyframe are dropped, so that subscribers continue
// from a keyframe.
type Publisher struct {
	stream  *Stream
	session int
	log     *slog.Logger

	done    chan struct{}
	endOnce sync.Once

	// Owned by stream.mu.
	tracks      *TrackSet
	started     bool          // the session's first keyframe has passed
	offsetFixed bool          // offset is set for this session
	offset      time.Duration // session timestamps + offset = stream timeline
	perTrack    []trackClock
	closed      bool
}

// trackClock is the timeline state of one track within a session.
type trackClock struct {
	offset   int64 // ticks added to the publisher's timestamps
	lastDTS  int64 // newest output DTS; valid when seen
	lastPTS  int64 // the previous frame's output PTS; valid when seen
	interval int64 // newest DTS interval: the next frame's expected duration
	seen     bool
}

var _ media.Sink = (*Publisher)(nil)

// Stream returns the stream this publisher publishes to.
func (p *Publisher) Stream() *Stream { return p.stream }

// Done is closed when the hub ends this publisher: another publisher took
// over, or the hub is closing.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// end tells the publisher's ingest session to go.
func (p *Publisher) end() {
	p.endOnce.Do(func() { close(p.done) })
}

// Close ends the session. If it was the stream's publisher, the stream waits
// for the grace period for another.
func (p *Publisher) Close() {
	s := p.stream
	s.mu.Lock()
	already := p.closed
	p.closed = true
	s.mu.Unlock()
	if already {
		return
	}
	s.detach(p)
	p.end()
}

// SetTracks announces the session's tracks (again, when codec parameters
// change).
func (p *Publisher) SetTracks(tracks []*media.Track) error {
	if len(tracks) == 0 {
		return fmt.Errorf("%w: no tracks", ErrBadTracks)
	}
	video := -1
	for i, t := range tracks {
		if t == nil || t.ClockRate == 0 || (t.Kind != media.KindVideo && t.Kind != media.KindAudio) {
			return fmt.Errorf("%w: track %d", ErrBadTracks, i)
		}
		if t.ID != i+1 {
			return fmt.Errorf("%w: track %d has ID %d, want %d", ErrBadTracks, i, t.ID, i+1)
		}
		if t.Kind == media.KindVideo && video < 0 {
			video = i
		}
	}
	s := p.stream
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.publisher != p {
		return ErrReplaced
	}
	version := 1
	if s.tracks != nil {
		version = s.tracks.Version + 1
	}
	ts := &TrackSet{Version: version, Tracks: tracks, Video: video}
	old := p.perTrack
	p.perTrack = make([]trackClock, len(tracks))
	if p.started {
		// Same session, new parameters: keep the timeline of tracks that
		// continue (matched by kind and position).
		for i := range p.perTrack {
			if i < len(old) && p.tracks != nil && i < len(p.tracks.Tracks) &&
				p.tracks.Tracks[i].Kind == tracks[i].Kind && p.tracks.Tracks[i].ClockRate == tracks[i].ClockRate {
				p.perTrack[i] = old[i]
			} else {
				p.perTrack[i].offset = durationToTicks(p.offset, tracks[i].ClockRate)
			}
		}
		// New codec parameters: subscribers must restart at a keyframe
		// under the new init segment.
		p.started = false
		p.keepOffset()
	}
	p.tracks = ts
	s.tracks = ts
	s.reordered = false
	p.log.Info("tracks announced", "version", version, "tracks", describe(tracks))
	return nil
}

// keepOffset marks that the session's offset is already fixed, so the next
// keyframe does not recompute it.
func (p *Publisher) keepOffset() { p.offsetFixed = true }

// WriteFrame adds one frame to the stream. The publisher takes ownership of
// f and adjusts its timestamps, duration and wall clock in place.
func (p *Publisher) WriteFrame(f *media.Frame) error {
	s := p.stream
	h := s.hub
	s.mu.Lock()
	if s.publisher != p {
		s.mu.Unlock()
		return ErrReplaced
	}
	ts := p.tracks
	if ts == nil || f.Track < 0 || f.Track >= len(ts.Tracks) {
		s.mu.Unlock()
		h.stats.framesDrop.Add(1)
		return ErrNoTracks
	}
	track := ts.Tracks[f.Track]
	video := track.Kind == media.KindVideo
	if !p.started {
		// Wait for a video keyframe (any frame if there is no video).
		if (ts.Video >= 0 && !(video && f.Key)) || (ts.Video < 0 && !f.Key) {
			s.mu.Unlock()
			h.stats.framesDrop.Add(1)
			return nil
		}
		p.started = true
		if !p.offsetFixed {
			p.offsetFixed = true
			// Continue the stream's timeline from its end.
			p.offset = s.end - ticksToDuration(f.DTS, track.ClockRate)
			for i, t := range ts.Tracks {
				p.perTrack[i].offset = durationToTicks(p.offset, t.ClockRate)
			}
		}
	}
	tc := &p.perTrack[f.Track]
	dts := f.DTS + tc.offset
	pts := f.PTS + tc.offset
	if tc.seen && dts <= tc.lastDTS {
		// Decode time must increase within a track.
		s.mu.Unlock()
		h.stats.framesDrop.Add(1)
		return nil
	}
	if dts < 0 || pts < dts-int64(track.ClockRate) {
		s.mu.Unlock()
		h.stats.framesDrop.Add(1)
		return nil
	}
	if tc.seen {
		tc.interval = dts - tc.lastDTS
	} else if tc.interval == 0 {
		tc.interval = defaultDuration(track)
	}
	if video && tc.seen && pts < tc.lastPTS && !s.reordered {
		s.reordered = true
		p.log.Warn("the video has B-frames (frames presented out of decode order): browsers cannot play it over WebRTC, so its viewers get another transport; publish without B-frames for WebRTC (x264: bframes=0 or tune zerolatency)")
	}
	tc.lastDTS, tc.lastPTS = dts, pts
	tc.seen = true
	f.DTS, f.PTS = dts, pts
	if f.Duration <= 0 {
		f.Duration = tc.interval
	}
	if f.Wall.IsZero() {
		f.Wall = h.clock.Now()
	}
	ptsTime := ticksToDuration(pts, track.ClockRate)
	if end := ptsTime + ticksToDuration(f.Duration, track.ClockRate); end > s.end {
		s.end = end
	}
	if ptsTime > s.lastPTS {
		s.lastPTS = ptsTime
	}
	s.lastAt = f.Wall
	s.appendLocked(&Packet{Frame: f, Tracks: ts, Video: video, Time: ptsTime})
	s.mu.Unlock()
	h.stats.framesIn.Add(1)
	h.stats.bytesIn.Add(uint64(len(f.Data)))
	return nil
}

// defaultDuration guesses a first frame's duration: 1/30 s of video, one
// AAC or Opus frame of audio.
func defaultDuration(t *media.Track) int64 {
	switch t.Codec {
	case media.CodecAAC:
		return 1024
	case media.CodecOpus:
		return int64(t.ClockRate) / 50
	}
	return int64(t.ClockRate) / 30
}

func describe(tracks []*media.Track) []string {
	out := make([]string, len(tracks))
	for i, t := range tracks {
		if t.Kind == media.KindVideo {
			out[i] = fmt.Sprintf("%s %dx%d", t.CodecString, t.Width, t.Height)
		} else {
			out[i] = fmt.Sprintf("%s %dHz %dch", t.CodecString, t.SampleRate, t.Channels)
		}
	}
	return out
}

// ticksToDuration and durationToTicks convert between a track's clock and
// the stream timeline, for negative values too.
func ticksToDuration(ticks int64, rate uint32) time.Duration {
	if ticks < 0 {
		return -media.TicksToDuration(-ticks, rate)
	}
	return media.TicksToDuration(ticks, rate)
}

func durationToTicks(d time.Duration, rate uint32) int64 {
	if d < 0 {
		return -media.DurationToTicks(-d, rate)
	}
	return media.DurationToTicks(d, rate)
}

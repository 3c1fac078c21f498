package whip_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/liveloop/liveloop/media"
)

// recordingSink passes everything to a real Sink and remembers what the
// ingest wrote, before the hub adjusts it.
type recordingSink struct {
	media.Sink
	mu     sync.Mutex
	tracks [][]*media.Track
	frames []frameRecord
	closed bool
}

type frameRecord struct {
	track    int
	dts, pts int64
	key      bool
	size     int
}

func (s *recordingSink) SetTracks(t []*media.Track) error {
	s.mu.Lock()
	s.tracks = append(s.tracks, t)
	s.mu.Unlock()
	return s.Sink.SetTracks(t)
}

func (s *recordingSink) WriteFrame(f *media.Frame) error {
	s.mu.Lock()
	s.frames = append(s.frames, frameRecord{track: f.Track, dts: f.DTS, pts: f.PTS, key: f.Key, size: len(f.Data)})
	s.mu.Unlock()
	return s.Sink.WriteFrame(f)
}

func (s *recordingSink) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.Sink.Close()
}

func (s *recordingSink) snapshot() ([][]*media.Track, []frameRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]*media.Track(nil), s.tracks...), append([]frameRecord(nil), s.frames...), s.closed
}

// checkFrames checks what a session wrote: tracks announced (H.264 with an
// avc1 codec string, then Opus if audio), the first frame a video
// keyframe, DTS increasing within each track, keyframes present.
func checkFrames(t *testing.T, s *recordingSink, audio bool) {
	t.Helper()
	tracks, frames, _ := s.snapshot()
	if len(tracks) == 0 {
		t.Fatal("no tracks announced")
	}
	ts := tracks[len(tracks)-1]
	if ts[0].Codec != media.CodecH264 || !strings.HasPrefix(ts[0].CodecString, "avc1.") || ts[0].Width == 0 {
		t.Errorf("video track %+v", ts[0])
	}
	if audio && (len(ts) != 2 || ts[1].Codec != media.CodecOpus || ts[1].ClockRate != 48000 || string(ts[1].Config[:8]) != "OpusHead") {
		t.Errorf("audio track missing or wrong: %d tracks", len(ts))
	}
	if len(frames) == 0 {
		t.Fatal("no frames")
	}
	if f := frames[0]; f.track != 0 || !f.key {
		t.Errorf("first frame %+v is not a video keyframe", f)
	}
	last := map[int]int64{}
	keys, perTrack := 0, map[int]int{}
	for i, f := range frames {
		if l, ok := last[f.track]; ok && f.dts <= l {
			t.Errorf("frame %d (track %d): DTS %d after %d", i, f.track, f.dts, l)
		}
		if f.pts != f.dts {
			t.Errorf("frame %d: PTS %d != DTS %d", i, f.pts, f.dts)
		}
		last[f.track] = f.dts
		perTrack[f.track]++
		if f.track == 0 && f.key {
			keys++
		}
	}
	if keys == 0 {
		t.Error("no keyframes")
	}
	if audio && perTrack[1] == 0 {
		t.Error("no audio frames")
	}
	t.Logf("%d announcements; %d video frames (%d keyframes), %d audio frames", len(tracks), perTrack[0], keys, perTrack[1])
}

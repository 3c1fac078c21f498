package llhls

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/fmp4"
	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/media"
)

var (
	testVideo = &media.Track{ID: 1, Kind: media.KindVideo, Codec: media.CodecH264, CodecString: "avc1.42c01e",
		ClockRate: 90000, Width: 320, Height: 240, Config: []byte{1, 0x42, 0xc0, 0x1e, 0xff, 0xe0, 0x00}}
	testAudio = &media.Track{ID: 2, Kind: media.KindAudio, Codec: media.CodecAAC, CodecString: "mp4a.40.2",
		ClockRate: 48000, SampleRate: 48000, Channels: 2, Config: []byte{0x11, 0x90}}
	// epoch is the wall clock of timeline zero in synthetic streams.
	epoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

// synth makes the packets of a synthetic stream: video (frameTicks per
// frame at 90 kHz, a keyframe every gop frames) and/or AAC audio (1024
// samples at 48 kHz), in timestamp order, audio first on ties, each frame
// stamped with the wall clock epoch+its time.
type synth struct {
	ts         *hub.TrackSet
	frameTicks int64
	gop        int
	vi, ai     int64
	from       time.Duration // timeline offset of frame 0
}

func newSynth(version int, video, audio bool, frameTicks int64, gop int) *synth {
	ts := &hub.TrackSet{Version: version, Video: -1}
	if video {
		v := *testVideo
		v.ID = len(ts.Tracks) + 1
		ts.Video = len(ts.Tracks)
		ts.Tracks = append(ts.Tracks, &v)
	}
	if audio {
		a := *testAudio
		a.ID = len(ts.Tracks) + 1
		ts.Tracks = append(ts.Tracks, &a)
	}
	return &synth{ts: ts, frameTicks: frameTicks, gop: gop}
}

func (s *synth) videoTime(i int64) time.Duration {
	return s.from + media.TicksToDuration(i*s.frameTicks, 90000)
}

func (s *synth) audioTime(i int64) time.Duration {
	return s.from + media.TicksToDuration(i*1024, 48000)
}

// until returns the packets before timeline t.
func (s *synth) until(t time.Duration) []*hub.Packet {
	var out []*hub.Packet
	audio := len(s.ts.Tracks) > 1 || s.ts.Video < 0
	video := s.ts.Video >= 0
	for {
		vt, at := time.Duration(1<<62), time.Duration(1<<62)
		if video {
			vt = s.videoTime(s.vi)
		}
		if audio {
			at = s.audioTime(s.ai)
		}
		if min(vt, at) >= t {
			return out
		}
		if audio && at <= vt {
			tr := len(s.ts.Tracks) - 1
			dts := media.DurationToTicks(at, 48000)
			f := &media.Frame{Track: tr, DTS: dts, PTS: dts, Duration: 1024, Key: true, Data: bytes.Repeat([]byte{0xA0}, 50), Wall: epoch.Add(at)}
			out = append(out, &hub.Packet{Frame: f, Tracks: s.ts, Time: at})
			s.ai++
			continue
		}
		dts := media.DurationToTicks(vt, 90000)
		key := s.vi%int64(s.gop) == 0
		n := 300
		if key {
			n = 3000
		}
		f := &media.Frame{Track: s.ts.Video, DTS: dts, PTS: dts, Duration: s.frameTicks, Key: key, Data: bytes.Repeat([]byte{0x65}, n), Wall: epoch.Add(vt)}
		out = append(out, &hub.Packet{Frame: f, Tracks: s.ts, Video: true, Time: vt})
		s.vi++
	}
}

// summary describes a segmenter's segments: "msn:duration[parts]" with
// part durations in ms, I for independent parts, D before a discontinuity,
// and "+" after an open segment.
func summary(s *segmenter) string {
	var b strings.Builder
	for i, sg := range s.segs {
		if i > 0 {
			b.WriteByte(' ')
		}
		if sg.disc {
			b.WriteByte('D')
		}
		fmt.Fprintf(&b, "%d:", sg.msn)
		if sg.complete {
			b.WriteString(seconds(sg.dur))
		} else {
			b.WriteString("open")
		}
		b.WriteByte('[')
		for j, p := range sg.parts {
			if j > 0 {
				b.WriteByte(' ')
			}
			if !p.complete {
				b.WriteString("...")
				continue
			}
			fmt.Fprintf(&b, "%d", p.dur.Milliseconds())
			if p.independent {
				b.WriteByte('I')
			}
		}
		b.WriteByte(']')
	}
	return b.String()
}

// compact abbreviates runs of identical parts in a summary: "200 200 200"
// becomes "200x3".
func compact(s string) string {
	joined := s
	// Runs within brackets.
	var b strings.Builder
	for len(joined) > 0 {
		i := strings.IndexByte(joined, '[')
		if i < 0 {
			b.WriteString(joined)
			break
		}
		j := strings.IndexByte(joined[i:], ']') + i
		b.WriteString(joined[:i+1])
		parts := strings.Fields(joined[i+1 : j])
		for k := 0; k < len(parts); {
			n := 1
			for k+n < len(parts) && parts[k+n] == parts[k] {
				n++
			}
			if k > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(parts[k])
			if n > 1 {
				fmt.Fprintf(&b, "x%d", n)
			}
			k += n
		}
		b.WriteByte(']')
		joined = joined[j+1:]
	}
	return b.String()
}

func TestSegmenter(t *testing.T) {
	type step struct {
		src   *synth
		until time.Duration
		flush bool
	}
	v30 := func() *synth { return newSynth(1, true, true, 3000, 30) } // 30 fps, GOP 1 s, AAC
	for _, tc := range []struct {
		name  string
		steps func() []step
		want  string
		td    int
		pt    time.Duration
	}{
		{
			name:  "30fps_gop1s",
			steps: func() []step { s := v30(); return []step{{s, 5 * time.Second, true}} },
			want:  "0:2.000[200I 200x4 200I 200x4] 1:2.000[200I 200x4 200I 200x4] 2:1.000[200I 200x4]",
			td:    2, pt: 200 * time.Millisecond,
		},
		{
			name:  "open_part_at_the_edge",
			steps: func() []step { s := v30(); return []step{{s, 2500 * time.Millisecond, false}} },
			want:  "0:2.000[200I 200x4 200I 200x4] 1:open[200I 200 ...]",
			td:    2, pt: 200 * time.Millisecond,
		},
		{
			name: "gop1.5s_segments_at_3s",
			steps: func() []step {
				return []step{{newSynth(1, true, true, 3000, 45), 6 * time.Second, true}}
			},
			want: "0:3.000[200I 200x6 100 200I 200x6 100] 1:3.000[200I 200x6 100 200I 200x6 100]",
			td:   3, pt: 200 * time.Millisecond,
		},
		{
			name: "24fps_parts_of_5_frames",
			steps: func() []step {
				return []step{{newSynth(1, true, false, 3750, 48), 4 * time.Second, true}}
			},
			want: "0:2.000[208I 208x8 125] 1:2.000[208I 208x8 125]",
			td:   2, pt: 209 * time.Millisecond,
		},
		{
			name: "audio_only",
			steps: func() []step {
				return []step{{newSynth(1, false, true, 0, 1), 4100 * time.Millisecond, true}}
			},
			want: "0:2.005[192Ix10 85I] 1:2.005[192Ix10 85I] 2:0.107[106I]",
			td:   2, pt: 200 * time.Millisecond,
		},
		{
			name: "new_tracks_start_a_segment_with_a_discontinuity",
			steps: func() []step {
				a, b := v30(), newSynth(2, true, true, 3000, 30)
				b.from = 1200 * time.Millisecond
				return []step{{a, 1200 * time.Millisecond, false}, {b, 2400 * time.Millisecond, true}}
			},
			want: "0:1.200[200I 200x4 200I] D1:1.200[200I 200x4 200I]",
			td:   2, pt: 200 * time.Millisecond,
		},
		{
			name: "flush_then_resume_at_a_keyframe",
			steps: func() []step {
				a := v30()
				return []step{{a, 1100 * time.Millisecond, true}, {a, 3 * time.Second, true}}
			},
			// Frames between the flush and the next keyframe (at 2 s) are dropped.
			want: "0:1.100[200I 200x4 100I] 1:1.000[200I 200x4]",
			td:   2, pt: 200 * time.Millisecond,
		},
	} {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/chunked=%v", tc.name, chunked), func(t *testing.T) {
				s := newSegmenter(segmenterConfig{PartTarget: 200 * time.Millisecond, SegmentTarget: 2 * time.Second,
					Window: 10, Keep: 10, Chunked: chunked})
				samples := map[int]int{}
				for _, st := range tc.steps() {
					for _, p := range st.src.until(st.until) {
						s.push(p)
					}
					if st.flush {
						s.flush()
					}
				}
				if got := compact(summary(s)); got != tc.want {
					t.Errorf("segments\n got %s\nwant %s", got, tc.want)
				}
				if got := s.targetDuration(); got != tc.td {
					t.Errorf("target duration %d, want %d", got, tc.td)
				}
				if got := s.partTarget(); got != tc.pt {
					t.Errorf("part target %v, want %v", got, tc.pt)
				}
				for _, sg := range s.segs {
					checkSegmentBytes(t, sg, samples)
				}
			})
		}
	}
}

// checkSegmentBytes parses every complete part of sg: fragments parse,
// each starts (independent parts) with a sync video sample, the parts tile
// the segment's bytes, and tfdt times advance by the sample durations.
func checkSegmentBytes(t *testing.T, sg *segment, samples map[int]int) {
	t.Helper()
	var all []byte
	for j, p := range sg.parts {
		if !p.complete {
			break
		}
		if j > 0 && p.off != sg.parts[j-1].end {
			t.Errorf("seg %d part %d starts at %d, previous ends at %d", sg.msn, j, p.off, sg.parts[j-1].end)
		}
		b := sg.buf[p.off:p.end]
		all = append(all, b...)
		frags, err := fmp4.ParseFragments(b)
		if err != nil {
			t.Fatalf("seg %d part %d: %v", sg.msn, j, err)
		}
		if len(frags) == 0 {
			t.Fatalf("seg %d part %d: no fragments", sg.msn, j)
		}
		first := true
		for _, f := range frags {
			for _, tf := range f.Tracks {
				if int(tf.TrackID) == sg.tracks.Video+1 && first {
					first = false
					if sync := fmp4.IsSync(tf.Samples[0].Flags); sync != p.independent {
						t.Errorf("seg %d part %d: first video sample sync=%v, INDEPENDENT=%v", sg.msn, j, sync, p.independent)
					}
				}
				samples[int(tf.TrackID)] += len(tf.Samples)
			}
		}
	}
	if sg.complete && !bytes.Equal(all, sg.buf) {
		t.Errorf("seg %d: parts do not tile the segment (%d of %d bytes)", sg.msn, len(all), len(sg.buf))
	}
}

// TestSegmenterWindow: memory holds Keep segments, the playlist lists
// Window, and init segments and cues older than the window go.
func TestSegmenterWindow(t *testing.T) {
	s := newSegmenter(segmenterConfig{PartTarget: 200 * time.Millisecond, SegmentTarget: 2 * time.Second, Window: 4, Keep: 6})
	src := newSynth(1, true, true, 3000, 30)
	for _, p := range src.until(3 * time.Second) {
		s.push(p)
	}
	s.pushCue(hub.Cue{ID: "early", Type: "t", Time: 2500 * time.Millisecond})
	for _, p := range src.until(30 * time.Second) {
		s.push(p)
	}
	if got, want := len(s.segs), 7; got != want { // 6 complete + the open one
		t.Fatalf("%d segments in memory, want %d", got, want)
	}
	if first := s.segs[0].msn; first != 8 {
		t.Errorf("oldest segment in memory %d, want 8", first)
	}
	if l := s.listed(); len(l) != 5 || l[0].msn != 10 {
		t.Errorf("listed %d segments from %d, want 5 from 10", len(l), l[0].msn)
	}
	if len(s.cues) != 0 {
		t.Errorf("cue still listed after its segment left the window: %+v", s.cues)
	}
	if s.segment(7) != nil || s.segment(8) == nil || s.segment(14) == nil || s.segment(15) != nil {
		t.Errorf("segment lookup wrong")
	}
}

// TestSegmenterHas: the blocking-reload condition of RFC 8216bis 6.2.5.2.
func TestSegmenterHas(t *testing.T) {
	s := newSegmenter(segmenterConfig{PartTarget: 200 * time.Millisecond, SegmentTarget: 2 * time.Second, Window: 10, Keep: 10})
	src := newSynth(1, true, false, 3000, 30)
	if s.has(0, 0, true) {
		t.Fatal("has a part before any frame")
	}
	for _, p := range src.until(2500 * time.Millisecond) { // segment 1 has parts 0 and 1, part 2 open
		s.push(p)
	}
	for _, c := range []struct {
		msn, part uint64
		wantPart  bool
		want      bool
	}{
		{0, 0, true, true},
		{0, 9, true, true},
		{0, 10, true, true}, // past segment 0's last part: part 0 of segment 1, which exists
		{1, 1, true, true},
		{1, 2, true, false}, // the open part
		{1, 7, true, false},
		{2, 0, true, false},
		{0, 0, false, true},
		{1, 0, false, false}, // segment 1 is not complete
	} {
		if got := s.has(c.msn, c.part, c.wantPart); got != c.want {
			t.Errorf("has(%d, %d, %v) = %v, want %v", c.msn, c.part, c.wantPart, got, c.want)
		}
	}
}

// TestSegmenterCueDateWithBFrames: with B-frames a segment's first frame
// is presented after it is decoded; its EXT-X-PROGRAM-DATE-TIME dates the
// presentation, and so must a cue's EXT-X-DATERANGE, or the cue fires a
// composition offset late.
func TestSegmenterCueDateWithBFrames(t *testing.T) {
	s := newSegmenter(segmenterConfig{PartTarget: 200 * time.Millisecond, SegmentTarget: 2 * time.Second, Window: 4, Keep: 6})
	src := newSynth(1, true, true, 3000, 60)
	const offset = 6000 // two frames at 90 kHz
	for _, p := range src.until(3 * time.Second) {
		if p.Video {
			p.Frame.PTS = p.Frame.DTS + offset
			p.Time += media.TicksToDuration(offset, 90000)
		}
		s.push(p)
	}
	seg := s.segs[len(s.segs)-1]
	if want := seg.start + media.TicksToDuration(offset, 90000); seg.pts != want {
		t.Fatalf("segment %d presents from %v, want %v (DTS %v + offset)", seg.msn, seg.pts, want, seg.start)
	}
	s.pushCue(hub.Cue{ID: "bid", Type: "t", Time: seg.pts + 100*time.Millisecond})
	if len(s.cues) != 1 {
		t.Fatalf("cue not dated: %+v", s.cues)
	}
	if got, want := s.cues[0].start, seg.wall.Add(100*time.Millisecond); !got.Equal(want) {
		t.Errorf("cue dated %v, want %v: 100 ms after the segment's first presented frame", got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
}

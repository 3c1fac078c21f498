package flv

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/flv/amf0"
	"github.com/liveloop/liveloop/media"
)

// recordSink records what a Demuxer writes.
type recordSink struct {
	announced [][]*media.Track
	frames    []*media.Frame
	err       error
}

func (s *recordSink) SetTracks(t []*media.Track) error {
	s.announced = append(s.announced, t)
	return s.err
}
func (s *recordSink) WriteFrame(f *media.Frame) error {
	s.frames = append(s.frames, f)
	return s.err
}
func (s *recordSink) Done() <-chan struct{} { return nil }
func (s *recordSink) Close()                {}

func (s *recordSink) track(i int) []*media.Frame {
	var out []*media.Frame
	for _, f := range s.frames {
		if f.Track == i {
			out = append(out, f)
		}
	}
	return out
}

var testClock = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestDemuxer() (*Demuxer, *recordSink) {
	s := &recordSink{}
	return NewDemuxer(s, func() time.Time { return testClock }), s
}

func TestDemuxerFile(t *testing.T) {
	d, s := newTestDemuxer()
	for _, tag := range readFile(t) {
		if err := d.WriteTag(tag.Type, tag.Timestamp, tag.Body); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.announced) != 1 {
		t.Fatalf("%d announcements, want 1", len(s.announced))
	}
	tr := s.announced[0]
	if len(tr) != 2 {
		t.Fatalf("%d tracks", len(tr))
	}
	v, a := tr[0], tr[1]
	if v.ID != 1 || v.Kind != media.KindVideo || v.Codec != media.CodecH264 || !strings.HasPrefix(v.CodecString, "avc1.") ||
		v.Width != 160 || v.Height != 90 || v.ClockRate != 90000 || len(v.Config) == 0 {
		t.Fatalf("video track %+v", v)
	}
	if a.ID != 2 || a.Kind != media.KindAudio || a.Codec != media.CodecAAC || a.CodecString != "mp4a.40.2" ||
		a.SampleRate != 44100 || a.Channels != 2 || a.ClockRate != 44100 {
		t.Fatalf("audio track %+v", a)
	}
	vf := s.track(0)
	if len(vf) != 30 {
		t.Fatalf("%d video frames, want 30", len(vf))
	}
	reordered := false
	for i, f := range vf {
		if f.Key != (i%15 == 0) {
			t.Errorf("frame %d: key %v", i, f.Key)
		}
		if i > 0 && f.DTS <= vf[i-1].DTS {
			t.Errorf("frame %d: DTS %d after %d", i, f.DTS, vf[i-1].DTS)
		}
		if f.PTS < f.DTS {
			t.Errorf("frame %d: PTS %d < DTS %d", i, f.PTS, f.DTS)
		}
		reordered = reordered || f.PTS != f.DTS
		if !f.Wall.Equal(testClock) {
			t.Errorf("frame %d: wall %v", i, f.Wall)
		}
		if !h264Lengths4(f.Data) {
			t.Errorf("frame %d: bad AVCC", i)
		}
	}
	if !reordered {
		t.Error("no frame has PTS != DTS: B-frames expected")
	}
	af := s.track(1)
	for i := 1; i < len(af); i++ {
		if d := af[i].DTS - af[i-1].DTS; d != 1024 {
			t.Fatalf("audio frame %d: step %d", i, d)
		}
	}
	if st := d.Stats(); st.Dropped != 0 || st.Malformed != 0 || st.Unsupported != 0 || st.Reanchors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func h264Lengths4(b []byte) bool {
	for len(b) > 0 {
		if len(b) < 4 {
			return false
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return false
		}
		b = b[4+n:]
	}
	return true
}

// fileConfigs returns the AVC sequence header tag body of the test file.
func fileAVCHeader(t *testing.T) []byte {
	for _, tag := range readFile(t) {
		if tag.Type == TagVideo {
			return tag.Body
		}
	}
	t.Fatal("no video")
	return nil
}

var (
	aacHeader48k = []byte{0xaf, 0, 0x11, 0x90} // AAC LC, 48 kHz, stereo
	aacFrame     = []byte{0xaf, 1, 0x21, 0x10, 0x04}
	idrFrame     = []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88}
	interFrame   = []byte{0x27, 1, 0, 0, 0, 0, 0, 0, 2, 0x41, 0x9a}
)

func metadata(t *testing.T, props amf0.ECMAArray) []byte {
	b, err := amf0.Encode("onMetaData", props)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDemuxerAnnouncement(t *testing.T) {
	avc := fileAVCHeader(t)
	both := amf0.ECMAArray{{Key: "videocodecid", Value: 7.0}, {Key: "audiocodecid", Value: 10.0}}
	type tag struct {
		typ  uint8
		ts   uint32
		body []byte
	}
	for _, c := range []struct {
		name    string
		tags    []tag
		kinds   [][]media.Kind // per announcement
		frames  int
		dropped uint64
	}{
		{"metadata declares both: wait for both headers",
			[]tag{{TagScript, 0, metadata(t, both)}, {TagVideo, 0, avc}, {TagAudio, 0, aacHeader48k}, {TagVideo, 0, idrFrame}, {TagAudio, 0, aacFrame}},
			[][]media.Kind{{media.KindVideo, media.KindAudio}}, 2, 0},
		{"no metadata: announce at first coded frame",
			[]tag{{TagVideo, 0, avc}, {TagAudio, 0, aacHeader48k}, {TagAudio, 0, aacFrame}, {TagVideo, 0, idrFrame}},
			[][]media.Kind{{media.KindVideo, media.KindAudio}}, 2, 0},
		{"incomplete: audio header late re-announces",
			[]tag{{TagScript, 0, metadata(t, both)}, {TagVideo, 0, avc}, {TagVideo, 0, idrFrame}, {TagAudio, 10, aacHeader48k}, {TagAudio, 10, aacFrame}},
			[][]media.Kind{{media.KindVideo}, {media.KindVideo, media.KindAudio}}, 2, 0},
		{"frames before any header are dropped",
			[]tag{{TagVideo, 0, idrFrame}, {TagAudio, 0, aacFrame}, {TagVideo, 0, avc}, {TagVideo, 33, interFrame}},
			[][]media.Kind{{media.KindVideo}}, 1, 2},
		{"audio only",
			[]tag{{TagScript, 0, metadata(t, amf0.ECMAArray{{Key: "audiocodecid", Value: 10.0}})}, {TagAudio, 0, aacHeader48k}},
			[][]media.Kind{{media.KindAudio}}, 0, 0},
		{"same header again: no re-announcement",
			[]tag{{TagVideo, 0, avc}, {TagVideo, 0, idrFrame}, {TagVideo, 1000, avc}, {TagVideo, 1000, idrFrame}},
			[][]media.Kind{{media.KindVideo}}, 2, 0},
		{"changed header: re-announcement",
			[]tag{{TagAudio, 0, aacHeader48k}, {TagAudio, 0, aacFrame}, {TagAudio, 500, []byte{0xaf, 0, 0x12, 0x10}}, {TagAudio, 500, aacFrame}},
			[][]media.Kind{{media.KindAudio}, {media.KindAudio}}, 2, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, s := newTestDemuxer()
			for _, tg := range c.tags {
				if err := d.WriteTag(tg.typ, tg.ts, tg.body); err != nil {
					t.Fatal(err)
				}
			}
			if len(s.announced) != len(c.kinds) {
				t.Fatalf("%d announcements, want %d", len(s.announced), len(c.kinds))
			}
			for i, kinds := range c.kinds {
				if len(s.announced[i]) != len(kinds) {
					t.Fatalf("announcement %d: %d tracks, want %d", i, len(s.announced[i]), len(kinds))
				}
				for j, k := range kinds {
					if tr := s.announced[i][j]; tr.Kind != k || tr.ID != j+1 {
						t.Fatalf("announcement %d track %d: %v id %d", i, j, tr.Kind, tr.ID)
					}
				}
			}
			if len(s.frames) != c.frames {
				t.Fatalf("%d frames, want %d", len(s.frames), c.frames)
			}
			if st := d.Stats(); st.Dropped != c.dropped {
				t.Fatalf("dropped %d, want %d", st.Dropped, c.dropped)
			}
		})
	}
}

func TestDemuxerVideoTimestamps(t *testing.T) {
	avc := fileAVCHeader(t)
	withCTS := func(ft byte, cts int32) []byte {
		b := append([]byte{ft<<4 | 7, 1}, appendSI24(nil, cts)...)
		return append(b, 0, 0, 0, 2, 0x41, 0x9a)
	}
	for _, c := range []struct {
		name     string
		ts       []uint32
		cts      []int32
		dts, pts []int64
	}{
		{"cts", []uint32{0, 33, 67}, []int32{66, 100, -33}, []int64{0, 2970, 6030}, []int64{5940, 11970, 3060}},
		{"32-bit wrap", []uint32{0xFFFFFFF0, 0xFFFFFFFF, 0x0A, 0x20}, []int32{0, 0, 0, 0},
			[]int64{0xFFFFFFF0 * 90, 0xFFFFFFFF * 90, 0x10000000A * 90, 0x100000020 * 90},
			[]int64{0xFFFFFFF0 * 90, 0xFFFFFFFF * 90, 0x10000000A * 90, 0x100000020 * 90}},
		{"late frame before wrap", []uint32{0x05, 0xFFFFFFFE, 0x10}, []int32{0, 0, 0},
			[]int64{5 * 90, -2 * 90, 16 * 90}, []int64{5 * 90, -2 * 90, 16 * 90}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, s := newTestDemuxer()
			d.WriteTag(TagVideo, c.ts[0], avc)
			for i, ts := range c.ts {
				d.WriteTag(TagVideo, ts, withCTS(2, c.cts[i]))
			}
			if len(s.frames) != len(c.ts) {
				t.Fatalf("%d frames", len(s.frames))
			}
			for i, f := range s.frames {
				if f.DTS != c.dts[i] || f.PTS != c.pts[i] {
					t.Errorf("frame %d: DTS %d PTS %d, want %d %d", i, f.DTS, f.PTS, c.dts[i], c.pts[i])
				}
			}
		})
	}
}

func TestDemuxerAudioTimestamps(t *testing.T) {
	// 48 kHz: a frame lasts 21.333 ms; tag timestamps are rounded to ms.
	for _, c := range []struct {
		name      string
		ts        []uint32
		want      []int64
		reanchors uint64
	}{
		{"jitter-free counting", []uint32{1000, 1021, 1043, 1064, 1085, 1107},
			[]int64{48000, 49024, 50048, 51072, 52096, 53120}, 0},
		{"small jitter ignored", []uint32{0, 25, 40, 64},
			[]int64{0, 1024, 2048, 3072}, 0},
		{"gap re-anchors", []uint32{0, 21, 43, 500, 521},
			[]int64{0, 1024, 2048, 24000, 25024}, 1},
		{"backwards jump re-anchors", []uint32{1000, 1021, 900, 921},
			[]int64{48000, 49024, 43200, 44224}, 1},
		{"wrap", []uint32{0xFFFFFFEA, 0xFFFFFFFF, 0x0A},
			[]int64{0xFFFFFFEA * 48, 0xFFFFFFEA*48 + 1024, 0xFFFFFFEA*48 + 2048}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, s := newTestDemuxer()
			d.WriteTag(TagAudio, c.ts[0], aacHeader48k)
			for _, ts := range c.ts {
				d.WriteTag(TagAudio, ts, aacFrame)
			}
			for i, f := range s.frames {
				if f.DTS != c.want[i] || f.PTS != f.DTS || !f.Key {
					t.Errorf("frame %d: DTS %d PTS %d key %v, want %d", i, f.DTS, f.PTS, f.Key, c.want[i])
				}
			}
			if st := d.Stats(); st.Reanchors != c.reanchors {
				t.Errorf("reanchors %d, want %d", st.Reanchors, c.reanchors)
			}
		})
	}
}

func TestDemuxerLengthSize(t *testing.T) {
	avc := fileAVCHeader(t)
	// Rewrite lengthSizeMinusOne (record byte 4) to 1: 2-byte lengths.
	hdr := append([]byte(nil), avc...)
	hdr[5+4] = hdr[5+4]&0xfc | 1
	d, s := newTestDemuxer()
	d.WriteTag(TagVideo, 0, hdr)
	d.WriteTag(TagVideo, 0, []byte{0x17, 1, 0, 0, 0, 0, 2, 0x09, 0xf0, 0, 3, 0x65, 0x88, 0x84})
	if len(s.frames) != 1 {
		t.Fatalf("%d frames; stats %+v", len(s.frames), d.Stats())
	}
	want := []byte{0, 0, 0, 2, 0x09, 0xf0, 0, 0, 0, 3, 0x65, 0x88, 0x84}
	if f := s.frames[0]; string(f.Data) != string(want) || !f.Key {
		t.Fatalf("frame % x key %v", f.Data, f.Key)
	}
	// A truncated NAL unit is malformed, not a frame.
	d.WriteTag(TagVideo, 33, []byte{0x27, 1, 0, 0, 0, 0, 9, 0x41})
	if st := d.Stats(); st.Malformed != 1 || len(s.frames) != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDemuxerKeyVerified(t *testing.T) {
	d, s := newTestDemuxer()
	d.WriteTag(TagVideo, 0, fileAVCHeader(t))
	// Frame type says key, but the NAL unit is a non-IDR slice.
	d.WriteTag(TagVideo, 0, []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x41, 0x9a})
	if s.frames[0].Key {
		t.Fatal("non-IDR frame marked key")
	}
}

func TestDemuxerUnsupported(t *testing.T) {
	d, s := newTestDemuxer()
	d.WriteTag(TagAudio, 0, []byte{0x2f, 0xff, 0xfb})                  // MP3
	d.WriteTag(TagVideo, 0, []byte{0x90, 'h', 'v', 'c', '1', 1, 2, 3}) // HEVC
	d.WriteTag(7, 0, []byte{1})                                        // tag type
	d.WriteTag(TagVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 2})            // bad record
	st := d.Stats()
	if st.Unsupported != 3 || st.Malformed != 1 || len(s.announced) != 0 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(st.LastError, "AVC sequence header") {
		t.Fatalf("last error %q", st.LastError)
	}
}

func TestDemuxerSinkError(t *testing.T) {
	d, s := newTestDemuxer()
	s.err = errors.New("busy")
	err := d.WriteTag(TagAudio, 0, aacHeader48k)
	if err != nil {
		t.Fatal("no announcement expected before a frame:", err)
	}
	if err := d.WriteTag(TagAudio, 0, aacFrame); !errors.Is(err, ErrSink) {
		t.Fatalf("got %v, want ErrSink", err)
	}
}

func TestDemuxerEnhancedAVC(t *testing.T) {
	legacy := fileAVCHeader(t)
	seqStart := AppendVideoTag(nil, VideoTag{Enhanced: true, FrameType: FrameKey, FourCC: FourCCAVC,
		PacketType: PacketSequenceStart, Data: legacy[5:]})
	d, s := newTestDemuxer()
	d.WriteTag(TagVideo, 0, seqStart)
	d.WriteTag(TagVideo, 0, AppendVideoTag(nil, VideoTag{Enhanced: true, FrameType: FrameKey, FourCC: FourCCAVC,
		PacketType: PacketCodedFramesX, Data: []byte{0, 0, 0, 2, 0x65, 0x88}}))
	d.WriteTag(TagVideo, 33, AppendVideoTag(nil, VideoTag{Enhanced: true, FrameType: FrameInter, FourCC: FourCCAVC,
		PacketType: PacketCodedFrames, CompositionTime: 33, Data: []byte{0, 0, 0, 2, 0x41, 0x9a}}))
	if len(s.announced) != 1 || s.announced[0][0].Codec != media.CodecH264 {
		t.Fatalf("announced %v; stats %+v", s.announced, d.Stats())
	}
	if len(s.frames) != 2 || !s.frames[0].Key || s.frames[1].PTS != 66*90 || s.frames[1].DTS != 33*90 {
		t.Fatalf("frames %+v", s.frames)
	}
}

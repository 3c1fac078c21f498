package fmp4

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/media"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Test tracks. The SPS is that of an x264 640x360 High profile stream; the
// AudioSpecificConfig is AAC-LC, 48 kHz, stereo.
var (
	testSPS    = []byte{0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d, 0x96}
	testPPS    = []byte{0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0}
	videoTrack = &media.Track{
		ID: 1, Kind: media.KindVideo, Codec: media.CodecH264,
		Config:      avcConfig(testSPS, testPPS),
		CodecString: "avc1.64001e", ClockRate: 90000, Width: 640, Height: 360,
	}
	aacTrack = &media.Track{
		ID: 2, Kind: media.KindAudio, Codec: media.CodecAAC,
		Config:      []byte{0x11, 0x90},
		CodecString: "mp4a.40.2", ClockRate: 48000, SampleRate: 48000, Channels: 2,
	}
	opusTrack = &media.Track{
		ID: 3, Kind: media.KindAudio, Codec: media.CodecOpus,
		// RFC 7845 5.1 ID header: version 1, 2 channels, pre-skip 312,
		// 48 kHz input, gain 0, mapping family 0.
		Config:      []byte{'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0},
		CodecString: "opus", ClockRate: 48000, SampleRate: 48000, Channels: 2,
	}
	testWall = time.Date(2025, 11, 21, 16, 0, 0, 123456789, time.UTC)
)

// avcConfig builds an AVCDecoderConfigurationRecord (14496-15 5.3.3.1).
func avcConfig(sps, pps []byte) []byte {
	b := []byte{1, sps[1], sps[2], sps[3], 0xff, 0xe1}
	b = binary.BigEndian.AppendUint16(b, uint16(len(sps)))
	b = append(b, sps...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pps)))
	return append(b, pps...)
}

// payload makes n deterministic bytes; for video, one AVCC NAL unit of
// type 5 (IDR) or 1 (non-IDR).
func payload(n int, key, video bool) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + n)
	}
	if video && n > 5 {
		binary.BigEndian.PutUint32(b, uint32(n-4))
		b[4] = 0x41
		if key {
			b[4] = 0x65
		}
	}
	return b
}

// fragmentCase is one row of the table that feeds the writer (golden) test,
// the parser round trip and the fuzz seeds.
type fragmentCase struct {
	name  string
	track *media.Track
	seq   uint32
	// frames: one goes through AppendFragment, more through
	// AppendFragmentFrames.
	frames []media.Frame
	prft   bool // a prft (wall = testWall, media time = PTS) before the moof
	events []Event
	// wantDur is the expected duration of each sample.
	wantDur []uint32
}

func vframe(dts, pts, dur int64, key bool, n int) media.Frame {
	return media.Frame{DTS: dts, PTS: pts, Duration: dur, Key: key, Data: payload(n, key, true), Wall: testWall}
}

func aframe(dts, dur int64, n int) media.Frame {
	return media.Frame{Track: 1, DTS: dts, PTS: dts, Duration: dur, Key: true, Data: payload(n, true, false), Wall: testWall}
}

var fragmentCases = []fragmentCase{
	{name: "video_key", track: videoTrack, seq: 1, prft: true,
		frames: []media.Frame{vframe(0, 0, 3000, true, 40)}, wantDur: []uint32{3000}},
	{name: "video_nonkey", track: videoTrack, seq: 2, prft: true,
		frames: []media.Frame{vframe(3000, 3000, 3000, false, 24)}, wantDur: []uint32{3000}},
	// An x264 -bf 2 GOP in decode order: I (pts 6000), P (pts 15000), B, B.
	{name: "bframe_p", track: videoTrack, seq: 3, prft: true,
		frames: []media.Frame{vframe(3000, 15000, 3000, false, 20)}, wantDur: []uint32{3000}},
	{name: "bframe_b", track: videoTrack, seq: 4, prft: true,
		frames: []media.Frame{vframe(6000, 9000, 3000, false, 16)}, wantDur: []uint32{3000}},
	// PTS < DTS: only a version 1 trun carries this (as -3000).
	{name: "cts_negative", track: videoTrack, seq: 5,
		frames: []media.Frame{vframe(6000, 3000, 3000, false, 16)}, wantDur: []uint32{3000}},
	{name: "video_default_duration", track: videoTrack, seq: 6,
		frames: []media.Frame{vframe(9000, 9000, 0, false, 16)}, wantDur: []uint32{3000}},
	{name: "aac", track: aacTrack, seq: 7,
		frames: []media.Frame{aframe(5*1024, 1024, 23)}, wantDur: []uint32{1024},
		events: []Event{{SchemeIDURI: "urn:liveloop:cue:2025", Value: "poll", Timescale: 48000,
			PresentationTime: 5 * 1024, Duration: 0xFFFFFFFF, ID: 42, Data: []byte(`{"id":"p1"}`)}}},
	{name: "aac_default_duration", track: aacTrack, seq: 8,
		frames: []media.Frame{aframe(6*1024, 0, 9)}, wantDur: []uint32{1024}},
	// Timestamps past 2^32: tfdt and prft need their 64-bit versions.
	{name: "large_timestamps", track: videoTrack, seq: 0xFFFFFFFF, prft: true,
		frames: []media.Frame{vframe(1<<33+3000, 1<<33+9000, 3000, true, 20)}, wantDur: []uint32{3000},
		events: []Event{{SchemeIDURI: "urn:x", Timescale: 90000, PresentationTime: 1<<33 + 9000, ID: 1}}},
	{name: "multi_frame_part", track: videoTrack, seq: 10,
		frames: []media.Frame{
			vframe(0, 6000, 3000, true, 30),
			vframe(3000, 15000, 0, false, 12),
			vframe(6000, 9000, 3001, false, 8),
		},
		wantDur: []uint32{3000, 3000, 3001}},
	{name: "opus", track: opusTrack, seq: 11,
		frames: []media.Frame{aframe(960*3, 0, 13)}, wantDur: []uint32{960}},
}

// build writes a case's bytes: [prft] [emsg...] moof mdat.
func (c *fragmentCase) build(dst []byte) []byte {
	if c.prft {
		dst = AppendPRFT(dst, c.track.ID, c.frames[0].Wall, uint64(c.frames[0].PTS))
	}
	for _, e := range c.events {
		dst = AppendEmsg(dst, e)
	}
	if len(c.frames) == 1 {
		return AppendFragment(dst, c.seq, c.track, &c.frames[0])
	}
	frames := make([]*media.Frame, len(c.frames))
	for i := range c.frames {
		frames[i] = &c.frames[i]
	}
	return AppendFragmentFrames(dst, c.seq, c.track, frames)
}

// dumpBoxes renders b as an indented box tree with each leaf's payload in
// hex: the golden format, readable as a diff.
func dumpBoxes(b []byte) string {
	var sb strings.Builder
	dumpLevel(&sb, b, 0)
	return sb.String()
}

// childOffset says where the child boxes of a container start in its
// payload; -1 for leaves.
func childOffset(t BoxType) int {
	switch t.String() {
	case "moov", "trak", "mdia", "minf", "dinf", "stbl", "mvex", "moof", "traf":
		return 0
	case "dref", "stsd":
		return 8 // FullBox header, entry_count
	case "avc1":
		return 78 // VisualSampleEntry fields
	case "mp4a", "Opus":
		return 28 // AudioSampleEntry fields
	}
	return -1
}

func dumpLevel(sb *strings.Builder, b []byte, depth int) {
	indent := strings.Repeat("  ", depth)
	for box, err := range Boxes(b) {
		if err != nil {
			fmt.Fprintf(sb, "%sERROR %v\n", indent, err)
			return
		}
		fmt.Fprintf(sb, "%s%v size=%d", indent, box.Type, box.Size())
		if box.HeaderSize != 8 {
			fmt.Fprintf(sb, " header=%d", box.HeaderSize)
		}
		sb.WriteByte('\n')
		off := childOffset(box.Type)
		leaf := box.Payload
		if off >= 0 && off <= len(box.Payload) {
			leaf = box.Payload[:off]
		}
		for i := 0; i < len(leaf); i += 16 {
			line := leaf[i:min(i+16, len(leaf))]
			var words []string
			for j := 0; j < len(line); j += 4 {
				words = append(words, hex.EncodeToString(line[j:min(j+4, len(line))]))
			}
			fmt.Fprintf(sb, "%s  | %s\n", indent, strings.Join(words, " "))
		}
		if off >= 0 && off <= len(box.Payload) {
			dumpLevel(sb, box.Payload[off:], depth+1)
		}
	}
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update and review the diff):\n%s", path, got)
	}
}

// The golden files hold a box tree with every payload byte in hex; a box's
// header is implied by its type and size, and the test also checks that the
// tree accounts for every byte of the output.
func TestAppendFragmentGolden(t *testing.T) {
	for _, c := range fragmentCases {
		t.Run(c.name, func(t *testing.T) {
			b := c.build(nil)
			// Appending to a non-empty buffer must not touch its contents.
			prefix := []byte("prefix")
			b2 := c.build(append([]byte(nil), prefix...))
			if !bytes.Equal(b2[:len(prefix)], prefix) || !bytes.Equal(b2[len(prefix):], b) {
				t.Fatal("appending to a non-empty buffer changed the output")
			}
			checkGolden(t, c.name+".txt", []byte(dumpBoxes(b)))
		})
	}
}

func TestInitSegmentGolden(t *testing.T) {
	for _, c := range []struct {
		name   string
		tracks []*media.Track
	}{
		{"init_h264_aac.txt", []*media.Track{videoTrack, aacTrack}},
		{"init_opus.txt", []*media.Track{opusTrack}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := InitSegment(c.tracks)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			for box, err := range Boxes(b) {
				if err != nil {
					t.Fatal(err)
				}
				n += box.Size()
			}
			if n != len(b) {
				t.Fatalf("boxes cover %d of %d bytes", n, len(b))
			}
			checkGolden(t, c.name, []byte(dumpBoxes(b)))
		})
	}
}

func TestParseFragmentRoundTrip(t *testing.T) {
	for _, c := range fragmentCases {
		t.Run(c.name, func(t *testing.T) {
			b := c.build(nil)
			f, err := ParseFragment(b)
			if err != nil {
				t.Fatal(err)
			}
			if f.Size != len(b) {
				t.Errorf("Size = %d, want %d", f.Size, len(b))
			}
			if f.Sequence != c.seq {
				t.Errorf("Sequence = %d, want %d", f.Sequence, c.seq)
			}
			if len(f.Tracks) != 1 {
				t.Fatalf("%d trafs, want 1", len(f.Tracks))
			}
			tf := f.Tracks[0]
			if tf.TrackID != uint32(c.track.ID) {
				t.Errorf("TrackID = %d, want %d", tf.TrackID, c.track.ID)
			}
			if tf.BaseDecodeTime != uint64(c.frames[0].DTS) {
				t.Errorf("BaseDecodeTime = %d, want %d", tf.BaseDecodeTime, c.frames[0].DTS)
			}
			if len(tf.Samples) != len(c.frames) {
				t.Fatalf("%d samples, want %d", len(tf.Samples), len(c.frames))
			}
			dts := int64(tf.BaseDecodeTime)
			for i, s := range tf.Samples {
				fr := c.frames[i]
				if dts != fr.DTS {
					t.Errorf("sample %d: DTS = %d, want %d", i, dts, fr.DTS)
				}
				if got, want := dts+s.CompositionOffset, fr.PTS; got != want {
					t.Errorf("sample %d: PTS = %d, want %d", i, got, want)
				}
				if s.Duration != c.wantDur[i] {
					t.Errorf("sample %d: Duration = %d, want %d", i, s.Duration, c.wantDur[i])
				}
				if IsSync(s.Flags) != fr.Key {
					t.Errorf("sample %d: flags %08x, key %v", i, s.Flags, fr.Key)
				}
				if int(s.Size) != len(fr.Data) || !bytes.Equal(s.Data, fr.Data) {
					t.Errorf("sample %d: data differs", i)
				}
				dts += int64(s.Duration)
			}
			wantPRFT := 0
			if c.prft {
				wantPRFT = 1
			}
			if len(f.PRFTs) != wantPRFT {
				t.Fatalf("%d prft, want %d", len(f.PRFTs), wantPRFT)
			}
			if c.prft {
				p := f.PRFTs[0]
				if p.Version != 1 || p.TrackID != uint32(c.track.ID) || p.MediaTime != uint64(c.frames[0].PTS) ||
					!p.Wall().Equal(testWall) || p.Flags != PRFTFlagEncoderOutput {
					t.Errorf("prft = %+v (wall %v)", p, p.Wall())
				}
			}
			if len(f.Events) != len(c.events) {
				t.Fatalf("%d events, want %d", len(f.Events), len(c.events))
			}
			for i, e := range f.Events {
				want := c.events[i]
				if e.SchemeIDURI != want.SchemeIDURI || e.Value != want.Value || e.Timescale != want.Timescale ||
					e.PresentationTime != want.PresentationTime || e.Duration != want.Duration ||
					e.ID != want.ID || !bytes.Equal(e.Data, want.Data) {
					t.Errorf("event %d = %+v, want %+v", i, e, want)
				}
			}
		})
	}
}

// Several fragments in one buffer, as in a WebSocket message.
func TestParseFragments(t *testing.T) {
	var b []byte
	for _, c := range fragmentCases {
		b = c.build(b)
	}
	fs, err := ParseFragments(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != len(fragmentCases) {
		t.Fatalf("%d fragments, want %d", len(fs), len(fragmentCases))
	}
	for i, f := range fs {
		if f.Sequence != fragmentCases[i].seq {
			t.Errorf("fragment %d: sequence %d, want %d", i, f.Sequence, fragmentCases[i].seq)
		}
	}
}

func TestAppendFragmentHeader(t *testing.T) {
	f := vframe(0, 6000, 3000, true, 100)
	hdr := AppendFragmentHeader(nil, 9, videoTrack, &f)
	if len(hdr) != FragmentHeaderSize(len(f.Data)) {
		t.Errorf("header is %d bytes, FragmentHeaderSize says %d", len(hdr), FragmentHeaderSize(len(f.Data)))
	}
	full := AppendFragment(nil, 9, videoTrack, &f)
	if !bytes.Equal(append(hdr, f.Data...), full) {
		t.Error("header + data differs from AppendFragment")
	}
}

func TestNTP(t *testing.T) {
	if got, want := NTPTime(time.Unix(0, 0)), uint64(2208988800)<<32; got != want {
		t.Errorf("NTPTime(Unix epoch) = %x, want %x", got, want)
	}
	if got := NTPTime(time.Unix(1, 500_000_000)); got != (2208988801<<32 | 1<<31) {
		t.Errorf("NTPTime(1.5 s) = %x", got)
	}
	if NTPTime(time.Time{}) != 0 || !TimeFromNTP(0).IsZero() {
		t.Error("zero time does not map to NTP 0 and back")
	}
	for _, w := range []time.Time{
		testWall,
		time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2036, 2, 7, 6, 28, 16, 1, time.UTC), // NTP era 1
		time.Date(2090, 1, 1, 0, 0, 0, 1, time.UTC),
	} {
		if got := TimeFromNTP(NTPTime(w)); !got.Equal(w) {
			t.Errorf("round trip of %v gave %v", w, got)
		}
	}
}

func TestInitSegmentErrors(t *testing.T) {
	bad := func(mod func(*media.Track)) []*media.Track {
		v := *videoTrack
		mod(&v)
		return []*media.Track{&v}
	}
	for _, c := range []struct {
		name   string
		tracks []*media.Track
		want   error
	}{
		{"none", nil, ErrInvalidTrack},
		{"nil", []*media.Track{nil}, ErrInvalidTrack},
		{"duplicate id", []*media.Track{videoTrack, videoTrack}, ErrInvalidTrack},
		{"zero id", bad(func(t *media.Track) { t.ID = 0 }), ErrInvalidTrack},
		{"zero clock", bad(func(t *media.Track) { t.ClockRate = 0 }), ErrInvalidTrack},
		{"bad avcC", bad(func(t *media.Track) { t.Config = []byte{0, 1, 2} }), ErrInvalidTrack},
		{"bad size", bad(func(t *media.Track) { t.Width = 70000 }), ErrInvalidTrack},
		{"h265", bad(func(t *media.Track) { t.Codec = media.CodecH265 }), ErrUnsupportedCodec},
		{"av1", bad(func(t *media.Track) { t.Codec = media.CodecAV1 }), ErrUnsupportedCodec},
		{"bad asc", []*media.Track{{ID: 1, Kind: media.KindAudio, Codec: media.CodecAAC, ClockRate: 48000}}, ErrInvalidTrack},
		{"bad opus", []*media.Track{{ID: 1, Kind: media.KindAudio, Codec: media.CodecOpus, ClockRate: 48000, Config: []byte("OpusHead")}}, ErrInvalidTrack},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := InitSegment(c.tracks); !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestReadBox(t *testing.T) {
	for _, c := range []struct {
		name    string
		in      []byte
		typ     string
		payload int
		err     error
	}{
		{"plain", []byte{0, 0, 0, 10, 'f', 'r', 'e', 'e', 1, 2}, "free", 2, nil},
		{"to end", []byte{0, 0, 0, 0, 'm', 'd', 'a', 't', 1, 2, 3}, "mdat", 3, nil},
		{"largesize", []byte{0, 0, 0, 1, 'm', 'd', 'a', 't', 0, 0, 0, 0, 0, 0, 0, 17, 9}, "mdat", 1, nil},
		{"uuid", append([]byte{0, 0, 0, 25, 'u', 'u', 'i', 'd'}, make([]byte, 17)...), "uuid", 1, nil},
		{"short header", []byte{0, 0, 0}, "", 0, ErrTruncated},
		{"short box", []byte{0, 0, 0, 9, 'f', 'r', 'e', 'e'}, "", 0, ErrTruncated},
		{"size below header", []byte{0, 0, 0, 7, 'f', 'r', 'e', 'e'}, "", 0, ErrMalformed},
		{"largesize below header", []byte{0, 0, 0, 1, 'm', 'd', 'a', 't', 0, 0, 0, 0, 0, 0, 0, 8}, "", 0, ErrMalformed},
		{"huge largesize", []byte{0, 0, 0, 1, 'm', 'd', 'a', 't', 0xff, 0, 0, 0, 0, 0, 0, 8}, "", 0, ErrTruncated},
	} {
		t.Run(c.name, func(t *testing.T) {
			box, err := ReadBox(c.in)
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if err == nil && (box.Type.String() != c.typ || len(box.Payload) != c.payload) {
				t.Errorf("got %v with %d bytes, want %s with %d", box.Type, len(box.Payload), c.typ, c.payload)
			}
		})
	}
}

// Hostile fragments: each must be rejected with the right error.
func TestParseFragmentErrors(t *testing.T) {
	good := fragmentCases[0].build(nil)
	moof := bytes.Index(good, []byte("moof")) - 4
	patch := func(at string, off int, v uint32) []byte {
		b := bytes.Clone(good)
		binary.BigEndian.PutUint32(b[bytes.Index(b, []byte(at))+off:], v)
		return b
	}
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"mdat first", []byte{0, 0, 0, 8, 'm', 'd', 'a', 't'}, ErrMalformed},
		{"no mdat", good[:bytes.Index(good, []byte("mdat"))-4], ErrTruncated},
		{"cut in mdat", good[:len(good)-1], ErrTruncated},
		{"data offset past mdat", patch("trun", 12, 1<<20), ErrMalformed},
		{"negative data offset", patch("trun", 12, 0xFFFFFF00), ErrMalformed},
		{"sample too big", patch("trun", 20, 1<<30), ErrMalformed},
		{"sample count too big", patch("trun", 8, 1<<30), ErrTruncated},
		{"two moofs", append(bytes.Clone(good[moof:moof+104]), good[moof:]...), ErrMalformed},
		{"bad tfdt version", patch("tfdt", 4, 7<<24), ErrMalformed},
		{"bad prft version", patch("prft", 4, 5<<24), ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseFragment(c.in); !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
}

// FuzzParseFragment feeds the parser arbitrary input, and each input cut at
// every offset, as a network read would cut it. It must never panic, and a
// successful parse must point only into the input.
func FuzzParseFragment(f *testing.F) {
	for _, c := range fragmentCases {
		f.Add(c.build(nil))
	}
	f.Add(fragmentCases[6].build(fragmentCases[0].build(nil)))
	f.Fuzz(func(t *testing.T, b []byte) {
		for i := 0; i <= len(b); i++ {
			checkParse(t, b[:i])
		}
		ParseFragments(b)
		for range Boxes(b) {
		}
	})
}

func checkParse(t *testing.T, b []byte) {
	f, err := ParseFragment(b)
	if err != nil {
		return
	}
	if f.Size <= 0 || f.Size > len(b) {
		t.Fatalf("Size %d for %d bytes", f.Size, len(b))
	}
	for _, tf := range f.Tracks {
		for _, s := range tf.Samples {
			if len(s.Data) != int(s.Size) {
				t.Fatalf("sample of size %d has %d bytes", s.Size, len(s.Data))
			}
		}
	}
}

// BenchmarkFragment measures the per-frame muxing cost on the live path:
// prft + moof + mdat for a 12 KB video frame, and moof + mdat for an AAC
// frame, into a reused buffer.
func BenchmarkFragment(b *testing.B) {
	video := vframe(1<<33, 1<<33+6000, 3000, false, 12*1024)
	audio := aframe(1<<30, 1024, 371)
	buf := make([]byte, 0, 16*1024)
	b.Run("video12KB", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(video.Data)))
		for i := 0; b.Loop(); i++ {
			buf = AppendPRFT(buf[:0], videoTrack.ID, video.Wall, uint64(video.PTS))
			buf = AppendFragment(buf, uint32(i), videoTrack, &video)
		}
	})
	b.Run("aac", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(audio.Data)))
		for i := 0; b.Loop(); i++ {
			buf = AppendFragment(buf[:0], uint32(i), aacTrack, &audio)
		}
	})
	b.Run("video12KB_header_only", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			buf = AppendFragmentHeader(buf[:0], uint32(i), videoTrack, &video)
		}
	})
	b.Run("parse_video12KB", func(b *testing.B) {
		frag := AppendFragment(nil, 1, videoTrack, &video)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseFragment(frag); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package h264

import (
	"encoding/hex"
	"errors"
	"testing"
)

// Real parameter sets, made with ffmpeg 5.1 / libx264 (core 164) and taken
// from the raw Annex B output:
//
//	ffmpeg -f lavfi -i testsrc2=size=WxH:rate=30 -frames:v 2 -c:v libx264 \
//	    -profile:v PROFILE -pix_fmt yuv420p out.h264
//
// for PROFILE baseline, main, high and WxH 320x240, 1280x720, 1920x1080
// (1088 coded lines, cropped to 1080). The others:
//
//	high444:    testsrc2=size=640x360:rate=25, -profile:v high444 -pix_fmt yuv444p
//	interlaced: testsrc2=size=WxH:rate=25, -flags +ildct -x264-params interlaced=1
//
// 1280x720 interlaced is coded as 46 field macroblock pairs (736 lines) and
// cropped to 720.

// spsWant is what the tests check of a parsed SPS.
type spsWant struct {
	profile, constraints, level uint8
	chroma                      uint32
	width, height               int
	frameMbsOnly                bool
	numUnitsInTick, timeScale   uint32
	reorder                     uint32
	codec                       string
}

func (s *SPS) want() spsWant {
	return spsWant{
		s.ProfileIDC, s.ConstraintFlags, s.LevelIDC, s.ChromaFormatIDC,
		s.Width, s.Height, s.FrameMbsOnly, s.NumUnitsInTick, s.TimeScale,
		s.MaxNumReorderFrames, s.CodecString(),
	}
}

// spsCases feeds TestParseSPS, TestNewDecoderConfig and the fuzz seeds.
var spsCases = []struct {
	name string
	sps  []byte
	pps  []byte
	want spsWant
	// avcC is the record ffmpeg's MP4 muxer wrote for these parameter
	// sets, when it was kept.
	avcC []byte
}{
	{
		name: "baseline 320x240",
		sps:  unhex("6742c00dd90141fb0110000003001000000303c0f142a480"),
		pps:  unhex("68cb83cb20"),
		want: spsWant{66, 0xc0, 13, 1, 320, 240, true, 1, 60, 0, "avc1.42c00d"},
		avcC: unhex("0142c00dffe100186742c00dd90141fb0110000003001000000303c0f142a48001000568cb83cb20"),
	},
	{
		name: "main 320x240",
		sps:  unhex("674d400deca0a0fd8088000003000800000301e078a14cb0"),
		pps:  unhex("68ebe3cb20"),
		want: spsWant{77, 0x40, 13, 1, 320, 240, true, 1, 60, 2, "avc1.4d400d"},
	},
	{
		name: "high 320x240",
		sps:  unhex("6764000dacd94141fb0110000003001000000303c0f1429960"),
		pps:  unhex("68ebe3cb22c0"),
		want: spsWant{100, 0, 13, 1, 320, 240, true, 1, 60, 2, "avc1.64000d"},
	},
	{
		name: "baseline 1280x720",
		sps:  unhex("6742c01fd9005005bb0110000003001000000303c0f1832480"),
		pps:  unhex("68cb83cb20"),
		want: spsWant{66, 0xc0, 31, 1, 1280, 720, true, 1, 60, 0, "avc1.42c01f"},
	},
	{
		name: "main 1280x720",
		sps:  unhex("674d401feca02802dd8088000003000800000301e078c18cb0"),
		pps:  unhex("68ebe3cb20"),
		want: spsWant{77, 0x40, 31, 1, 1280, 720, true, 1, 60, 2, "avc1.4d401f"},
	},
	{
		name: "high 1280x720",
		sps:  unhex("6764001facd9405005bb0110000003001000000303c0f1831960"),
		pps:  unhex("68ebe3cb22c0"),
		want: spsWant{100, 0, 31, 1, 1280, 720, true, 1, 60, 2, "avc1.64001f"},
	},
	{
		name: "baseline 1920x1080",
		sps:  unhex("6742c028d900780227e5c044000003000400000300f03c60c920"),
		pps:  unhex("68cb83cb20"),
		want: spsWant{66, 0xc0, 40, 1, 1920, 1080, true, 1, 60, 0, "avc1.42c028"},
	},
	{
		name: "main 1920x1080",
		sps:  unhex("674d4028eca03c0113f2e022000003000200000300781e30632c"),
		pps:  unhex("68ebe3cb20"),
		want: spsWant{77, 0x40, 40, 1, 1920, 1080, true, 1, 60, 2, "avc1.4d4028"},
	},
	{
		name: "high 1920x1080",
		sps:  unhex("67640028acd940780227e5c044000003000400000300f03c60c658"),
		pps:  unhex("68ebe3cb22c0"),
		want: spsWant{100, 0, 40, 1, 1920, 1080, true, 1, 60, 2, "avc1.640028"},
		avcC: unhex("01640028ffe1001b67640028acd940780227e5c044000003000400000300f03c60c65801000668ebe3cb22c0fdf8f800"),
	},
	{
		name: "high444 640x360",
		sps:  unhex("67f4001e919b281405ff1380880000030008000003019078b16cb0"),
		pps:  unhex("68ebe3c44c000440"),
		want: spsWant{244, 0, 30, 3, 640, 360, true, 1, 50, 2, "avc1.f4001e"},
		avcC: unhex("01f4001effe1001b67f4001e919b281405ff1380880000030008000003019078b16cb001000868ebe3c44c000440fff8f800"),
	},
	{
		name: "high interlaced 640x480",
		sps:  unhex("6764001eacd940a07b6022000003000200000300643e28532c"),
		pps:  unhex("68fba3cb22c0"),
		want: spsWant{100, 0, 30, 1, 640, 480, false, 1, 50, 2, "avc1.64001e"},
	},
	{
		name: "high interlaced 1280x720",
		sps:  unhex("67640020acd940500bbf2e0220000003002000000643e2c5b2c0"),
		pps:  unhex("68fba3cb22c0"),
		want: spsWant{100, 0, 32, 1, 1280, 720, false, 1, 50, 2, "avc1.640020"},
	},
	{
		// Every optional part of the syntax: scaling lists, picture order
		// count type 1, 4:4:4 cropping, extended SAR, HRD parameters.
		name: "synthetic high444 scaling lists",
		sps:  syntheticSPS(),
		pps:  unhex("68ebe3c44c000440"),
		want: spsWant{244, 0, 40, 3, 1278, 720, true, 1001, 60000, 0, "avc1.f40028"},
	},
}

// syntheticSPS writes a sequence parameter set that takes every optional
// branch of 7.3.2.1.1 and E.1.1.
func syntheticSPS() []byte {
	var w bitWriter
	w.u(8, 244).u(8, 0).u(8, 40).ue(3)  // profile, constraints, level, id
	w.ue(3).u(1, 0).ue(2).ue(2).u(1, 0) // chroma 4:4:4, 10 bit
	w.u(1, 1)                           // seq_scaling_matrix_present_flag
	for i := 0; i < 12; i++ {
		switch i {
		case 0: // one delta to 0: use the default matrix
			w.u(1, 1).se(-8)
		case 6: // a full 8x8 list
			w.u(1, 1)
			for j := 0; j < 64; j++ {
				w.se(1)
			}
		default:
			w.u(1, 0)
		}
	}
	w.ue(0).ue(1)                             // log2_max_frame_num_minus4, pic_order_cnt_type
	w.u(1, 0).se(-2).se(1).ue(2).se(3).se(-3) // POC type 1
	w.ue(2).u(1, 0)                           // max_num_ref_frames, gaps
	w.ue(79).ue(44).u(1, 1).u(1, 1)           // 80x45 macroblocks, frame_mbs_only, direct_8x8
	w.u(1, 1).ue(0).ue(2).ue(0).ue(0)         // crop 2 pixels right
	w.u(1, 1)                                 // vui_parameters_present_flag
	w.u(1, 1).u(8, 255).u(16, 4).u(16, 3)     // Extended_SAR 4:3
	w.u(1, 0)                                 // overscan
	w.u(1, 1).u(3, 5).u(1, 1).u(1, 1).u(8, 1).u(8, 1).u(8, 1)
	w.u(1, 1).ue(0).ue(0)                      // chroma location
	w.u(1, 1).u(32, 1001).u(32, 60000).u(1, 1) // timing
	w.u(1, 1).ue(0).u(4, 4).u(4, 4).ue(1000).ue(2000).u(1, 0).u(20, 0)
	w.u(1, 0).u(1, 0).u(1, 0) // vcl_hrd, low_delay, pic_struct
	w.u(1, 1).u(1, 1).ue(2).ue(1).ue(16).ue(16).ue(0).ue(2)
	w.u(1, 1) // rbsp_stop_one_bit
	return append([]byte{0x67}, AddEmulationPrevention(w.bytes())...)
}

func TestParseSPS(t *testing.T) {
	for _, tc := range spsCases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSPS(tc.sps)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.want(); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseSPSDetails(t *testing.T) {
	s, err := ParseSPS(syntheticSPS())
	if err != nil {
		t.Fatal(err)
	}
	if s.SeqParameterSetID != 3 || s.BitDepthLuma != 10 || s.BitDepthChroma != 10 ||
		!s.ScalingMatrixPresent || s.PicOrderCntType != 1 || s.MaxNumRefFrames != 2 ||
		s.CropRight != 2 || s.SARWidth != 4 || s.SARHeight != 3 || !s.VideoFullRange ||
		s.ColourPrimaries != 1 || !s.FixedFrameRate || s.MaxDecFrameBuffering != 2 {
		t.Errorf("%+v", s)
	}
	if got, want := s.FrameRate(), 60000.0/2002; got != want {
		t.Errorf("FrameRate() = %v, want %v", got, want)
	}
}

func TestParseSPSErrors(t *testing.T) {
	valid := spsCases[0].sps
	for _, tc := range []struct {
		name string
		nal  []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"header only", []byte{0x67}, ErrTruncated},
		{"not an SPS", []byte{0x68, 0x42, 0xc0, 0x0d, 0x80}, ErrInvalid},
		{"truncated", valid[:8], ErrTruncated},
		{"truncated VUI", valid[:len(valid)-3], ErrTruncated},
		{"sps id 32", (&bitWriter{}).u(8, 0x67).u(24, 0x42c00d).ue(32).u(1, 1).bytes(), ErrInvalid},
		{"long Exp-Golomb", unhex("6742c00d00000000000000"), ErrInvalid},
		{"cropped to nothing", (&bitWriter{}).u(8, 0x67).u(24, 0x42c00d).ue(0).ue(0).ue(0).ue(0).ue(1).u(1, 0).
			ue(0).ue(0).u(1, 1).u(1, 1).u(1, 1).ue(8).ue(0).ue(0).ue(0).u(1, 0).u(1, 1).bytes(), ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSPS(tc.nal)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzParseSPS(f *testing.F) {
	for _, tc := range spsCases {
		f.Add(tc.sps)
	}
	f.Fuzz(func(t *testing.T, nal []byte) {
		s, err := ParseSPS(nal)
		if err != nil {
			return
		}
		if s.Width <= 0 || s.Height <= 0 {
			t.Fatalf("parsed size %dx%d", s.Width, s.Height)
		}
		_ = s.CodecString()
	})
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// bitWriter writes the descriptors that bitReader reads, for tests.
type bitWriter struct {
	b []byte
	n int // bits written
}

func (w *bitWriter) u(n int, v uint32) *bitWriter {
	for i := n - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		w.b[len(w.b)-1] |= byte(v>>uint(i)&1) << (7 - uint(w.n%8))
		w.n++
	}
	return w
}

func (w *bitWriter) ue(v uint32) *bitWriter {
	x := uint64(v) + 1
	bits := 0
	for y := x; y > 1; y >>= 1 {
		bits++
	}
	w.u(bits, 0)
	w.u(1, 1)
	return w.u(bits, uint32(x)) // the low bits of x, below its top one
}

func (w *bitWriter) se(v int32) *bitWriter {
	if v > 0 {
		return w.ue(uint32(2*v - 1))
	}
	return w.ue(uint32(-2 * v))
}

func (w *bitWriter) bytes() []byte { return w.b }

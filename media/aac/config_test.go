package aac

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// configCases feeds TestParseConfig, TestMarshalConfig and the fuzz seeds.
// The "ffmpeg" configs are the esds DecoderSpecificInfo that ffmpeg 5.1's
// native AAC encoder wrote to MP4:
//
//	ffmpeg -f lavfi -i sine=frequency=440:sample_rate=RATE -ac CH -t 0.1 -c:a aac out.mp4
//
// It appends a backward-compatible extension saying there is no SBR
// (0x2b7, object type 5, sbrPresentFlag 0), which Marshal leaves out: canon
// is what Marshal writes, when it differs from asc.
var configCases = []struct {
	name  string
	asc   string
	canon string
	want  Config
	codec string
}{
	{"ffmpeg LC 44100 stereo", "121056e500", "1210", Config{ObjectType: 2, SampleRate: 44100, Channels: 2}, "mp4a.40.2"},
	{"ffmpeg LC 48000 mono", "118856e500", "1188", Config{ObjectType: 2, SampleRate: 48000, Channels: 1}, "mp4a.40.2"},
	{"ffmpeg LC 22050 stereo", "139056e500", "1390", Config{ObjectType: 2, SampleRate: 22050, Channels: 2}, "mp4a.40.2"},
	{"ffmpeg LC 8000 mono", "158856e500", "1588", Config{ObjectType: 2, SampleRate: 8000, Channels: 1}, "mp4a.40.2"},
	{"LC 48000 stereo", "1190", "", Config{ObjectType: 2, SampleRate: 48000, Channels: 2}, "mp4a.40.2"},
	{"Main 96000 7.1", "0838", "", Config{ObjectType: 1, SampleRate: 96000, Channels: 8}, "mp4a.40.1"},
	{
		"HE-AAC hierarchical", "2b118800", "",
		Config{ObjectType: 2, SampleRate: 24000, Channels: 2, SBR: true, ExtensionSampleRate: 48000},
		"mp4a.40.5",
	},
	{
		"HE-AAC v2 hierarchical", "eb098800", "",
		Config{ObjectType: 2, SampleRate: 24000, Channels: 1, SBR: true, PS: true, ExtensionSampleRate: 48000},
		"mp4a.40.29",
	},
	{
		"HE-AAC v2 backward compatible", "139056e5a54880", "eb920800",
		Config{ObjectType: 2, SampleRate: 22050, Channels: 2, SBR: true, PS: true, ExtensionSampleRate: 44100},
		"mp4a.40.29",
	},
	{"explicit rate", "178049d410", "", Config{ObjectType: 2, SampleRate: 37800, Channels: 2}, "mp4a.40.2"},
	{"explicit rate in table", "17805dc010", "1190", Config{ObjectType: 2, SampleRate: 48000, Channels: 2}, "mp4a.40.2"},
	{
		"960 samples, core coder delay", "11be2690", "",
		Config{ObjectType: 2, SampleRate: 48000, Channels: 8, FrameLength960: true, DependsOnCoreCoder: true, CoreCoderDelay: 1234},
		"mp4a.40.2",
	},
	{"escape object type", "f94640", "", Config{ObjectType: 42, SampleRate: 48000, Channels: 2}, "mp4a.40.42"},
	{"escape and explicit rate", "f95e01275020", "", Config{ObjectType: 42, SampleRate: 37800, Channels: 1}, "mp4a.40.42"},
}

func TestParseConfig(t *testing.T) {
	for _, tc := range configCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig(unhex(tc.asc))
			if err != nil {
				t.Fatal(err)
			}
			if *c != tc.want {
				t.Errorf("got  %+v\nwant %+v", *c, tc.want)
			}
			if got := c.CodecString(); got != tc.codec {
				t.Errorf("CodecString() = %q, want %q", got, tc.codec)
			}
		})
	}
}

func TestMarshalConfig(t *testing.T) {
	for _, tc := range configCases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.canon
			if want == "" {
				want = tc.asc
			}
			if tc.want.ObjectType > ObjectTypeAACLTP {
				want = "" // other object types cannot be written
			}
			if got := hex.EncodeToString(tc.want.Marshal()); got != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		asc  string
		want error
	}{
		{"empty", "", ErrTruncated},
		{"one byte", "12", ErrTruncated},
		{"reserved rate index", "1690", ErrInvalid},
		{"explicit rate 0", "1780000000", ErrInvalid},
		{"truncated explicit rate", "1780bb", ErrTruncated},
		{"program config element", "1200", ErrUnsupported},
		{"reserved channel configuration", "1240", ErrUnsupported},
		{"truncated escape", "f8", ErrTruncated},
		{"truncated core delay", "1212", ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(unhex(tc.asc))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, tc := range configCases {
		f.Add(unhex(tc.asc))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		_ = c.CodecString()
		if c.Validate() != nil {
			if c.Marshal() != nil {
				t.Fatalf("Marshal of invalid %+v", c)
			}
			return
		}
		m := c.Marshal()
		back, err := ParseConfig(m)
		if err != nil {
			t.Fatalf("%+v marshals to %x: %v", c, m, err)
		}
		if *back != *c {
			t.Fatalf("round trip: got %+v, want %+v", back, c)
		}
		if !bytes.Equal(back.Marshal(), m) {
			t.Fatalf("marshal not stable: %x, %x", back.Marshal(), m)
		}
	})
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

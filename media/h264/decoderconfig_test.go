package h264

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// decoderConfigCases feeds TestParseDecoderConfig, TestMarshalDecoderConfig
// and the fuzz seeds. The first three are avcC boxes written by ffmpeg's MP4
// muxer for the streams of spsCases.
var decoderConfigCases = []struct {
	name string
	b    []byte
	want DecoderConfig
}{
	{
		name: "ffmpeg baseline 320x240",
		b:    spsCases[0].avcC,
		want: DecoderConfig{
			ProfileIndication: 66, ProfileCompatibility: 0xc0, LevelIndication: 13, LengthSize: 4,
			SPS: [][]byte{spsCases[0].sps}, PPS: [][]byte{spsCases[0].pps},
		},
	},
	{
		name: "ffmpeg high 1920x1080",
		b:    spsCases[8].avcC,
		want: DecoderConfig{
			ProfileIndication: 100, LevelIndication: 40, LengthSize: 4,
			SPS: [][]byte{spsCases[8].sps}, PPS: [][]byte{spsCases[8].pps},
			Ext: &DecoderConfigExt{ChromaFormat: 1},
		},
	},
	{
		name: "ffmpeg high444 640x360",
		b:    spsCases[9].avcC,
		want: DecoderConfig{
			ProfileIndication: 244, LevelIndication: 30, LengthSize: 4,
			SPS: [][]byte{spsCases[9].sps}, PPS: [][]byte{spsCases[9].pps},
			Ext: &DecoderConfigExt{ChromaFormat: 3},
		},
	},
	{
		name: "high without extension, 2-byte lengths, two PPS",
		b: cat(unhex("0164001ffde1001a"), spsCases[5].sps, unhex("02"), unhex("0006"), spsCases[5].pps,
			unhex("0002"), unhex("6801")),
		want: DecoderConfig{
			ProfileIndication: 100, LevelIndication: 31, LengthSize: 2,
			SPS: [][]byte{spsCases[5].sps}, PPS: [][]byte{spsCases[5].pps, {0x68, 0x01}},
		},
	},
	{
		name: "high 10 extension with SPS extension",
		b: cat(unhex("016e0028ffe1001b"), spsCases[8].sps, unhex("01000668ebe3cb22c0"),
			unhex("fdfafa0100036d0102")),
		want: DecoderConfig{
			ProfileIndication: 110, LevelIndication: 40, LengthSize: 4,
			SPS: [][]byte{spsCases[8].sps}, PPS: [][]byte{spsCases[8].pps},
			Ext: &DecoderConfigExt{ChromaFormat: 1, BitDepthLumaMinus8: 2, BitDepthChromaMinus8: 2,
				SPSExt: [][]byte{{0x6d, 0x01, 0x02}}},
		},
	},
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestParseDecoderConfig(t *testing.T) {
	for _, tc := range decoderConfigCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseDecoderConfig(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*c, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *c, tc.want)
			}
		})
	}
}

func TestMarshalDecoderConfig(t *testing.T) {
	for _, tc := range decoderConfigCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.want.Marshal(); !bytes.Equal(got, tc.b) {
				t.Errorf("got  %x\nwant %x", got, tc.b)
			}
		})
	}
}

// TestNewDecoderConfig builds records from parameter sets and compares them
// with what ffmpeg wrote.
func TestNewDecoderConfig(t *testing.T) {
	for _, tc := range spsCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewDecoderConfig([][]byte{tc.sps}, [][]byte{tc.pps})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.CodecString(); got != tc.want.codec {
				t.Errorf("CodecString() = %q, want %q", got, tc.want.codec)
			}
			b := c.Marshal()
			if tc.avcC != nil && !bytes.Equal(b, tc.avcC) {
				t.Errorf("got  %x\nwant %x", b, tc.avcC)
			}
			back, err := ParseDecoderConfig(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, c) {
				t.Errorf("round trip: got %+v, want %+v", back, c)
			}
		})
	}
	if _, err := NewDecoderConfig(nil, [][]byte{spsCases[0].pps}); !errors.Is(err, ErrInvalid) {
		t.Errorf("no SPS: err = %v", err)
	}
}

func TestParseDecoderConfigErrors(t *testing.T) {
	valid := decoderConfigCases[0].b
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"version 0", cat([]byte{0}, valid[1:]), ErrUnsupported},
		{"length size 3", cat(valid[:4], []byte{0xfe}, valid[5:]), ErrInvalid},
		{"truncated SPS", valid[:20], ErrTruncated},
		{"no PPS count", valid[:8+24], ErrTruncated},
		{"truncated PPS", valid[:len(valid)-1], ErrTruncated},
		{"empty SPS", unhex("0142c00dffe1000001000568cb83cb20"), ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseDecoderConfig(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzParseDecoderConfig(f *testing.F) {
	for _, tc := range decoderConfigCases {
		f.Add(tc.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseDecoderConfig(b)
		if err != nil {
			return
		}
		m := c.Marshal()
		back, err := ParseDecoderConfig(m)
		if err != nil {
			t.Fatalf("marshalled record does not parse: %v\n%x", err, m)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip: got %+v, want %+v", back, c)
		}
	})
}

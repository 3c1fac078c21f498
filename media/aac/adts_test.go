package aac

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"
)

// adtsCases feeds TestParseADTS, TestAppendADTS and the fuzz seeds. The
// testdata streams were made by ffmpeg 5.1's native AAC encoder:
//
//	ffmpeg -f lavfi -i sine=frequency=440:sample_rate=8000 -ac 1 -t 0.07 -c:a aac -f adts sine-8000-mono.aac
//	ffmpeg -f lavfi -i sine=frequency=440:sample_rate=44100 -ac 2 -t 0.07 -c:a aac -f adts sine-44100-stereo.aac
func adtsCases(t testing.TB) []adtsCase {
	read := func(name string) []byte {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return []adtsCase{
		{
			name:   "ffmpeg 8000 mono",
			stream: read("sine-8000-mono.aac"),
			first:  ADTSHeader{ObjectType: 2, SampleRate: 8000, ChannelConfig: 1, FrameLength: 568, BufferFullness: 0x7ff},
			config: Config{ObjectType: 2, SampleRate: 8000, Channels: 1},
			frames: 2,
			exact:  true,
		},
		{
			name:   "ffmpeg 44100 stereo",
			stream: read("sine-44100-stereo.aac"),
			first:  ADTSHeader{ObjectType: 2, SampleRate: 44100, ChannelConfig: 2, FrameLength: 345, BufferFullness: 0x7ff},
			config: Config{ObjectType: 2, SampleRate: 44100, Channels: 2},
			frames: 5,
			exact:  true,
		},
		{
			// MPEG-2 ID, CRC, Main profile, 5.1, buffer fullness 0x123.
			name:   "MPEG-2 with CRC",
			stream: unhex("fff8018001648cbeefaaaa" + "fff8018001648cbeefbbbb"),
			first:  ADTSHeader{MPEG2: true, ObjectType: 1, SampleRate: 96000, ChannelConfig: 6, FrameLength: 11, BufferFullness: 0x123, CRCPresent: true, CRC: 0xbeef},
			config: Config{ObjectType: 1, SampleRate: 96000, Channels: 6},
			frames: 2,
		},
		{
			name:   "program config element, empty payload",
			stream: unhex("fff1500000fffc"),
			first:  ADTSHeader{ObjectType: 2, SampleRate: 44100, FrameLength: 7, BufferFullness: 0x7ff},
			config: Config{ObjectType: 2, SampleRate: 44100},
			frames: 1,
		},
	}
}

type adtsCase struct {
	name   string
	stream []byte
	first  ADTSHeader
	config Config
	frames int
	// exact is set when AppendADTS writes the stream back byte for byte.
	exact bool
}

// adtsFrame is one parsed frame, for comparisons.
type adtsFrame struct {
	hdr     ADTSHeader
	payload []byte
}

// parseADTSStream parses a stream that arrives in chunks, as a reader of a
// network stream would: on ErrTruncated it appends the next chunk and
// tries again. It returns the frames and the error that ended the stream,
// if any.
func parseADTSStream(chunks ...[]byte) ([]adtsFrame, error) {
	var frames []adtsFrame
	var buf []byte
	for {
		if len(buf) == 0 && len(chunks) == 0 {
			return frames, nil
		}
		hdr, payload, rest, err := ParseADTS(buf)
		if errors.Is(err, ErrTruncated) && len(chunks) > 0 {
			buf = append(buf, chunks[0]...)
			chunks = chunks[1:]
			continue
		}
		if err != nil {
			return frames, err
		}
		frames = append(frames, adtsFrame{hdr, payload})
		buf = rest
	}
}

func TestParseADTS(t *testing.T) {
	for _, tc := range adtsCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			frames, err := parseADTSStream(tc.stream)
			if err != nil {
				t.Fatal(err)
			}
			if len(frames) != tc.frames {
				t.Fatalf("%d frames, want %d", len(frames), tc.frames)
			}
			if frames[0].hdr != tc.first {
				t.Errorf("header: got  %+v\nwant %+v", frames[0].hdr, tc.first)
			}
			if got := *frames[0].hdr.Config(); got != tc.config {
				t.Errorf("Config(): got  %+v\nwant %+v", got, tc.config)
			}
			for _, f := range frames {
				if f.hdr.Size()+len(f.payload) != f.hdr.FrameLength {
					t.Errorf("payload of %d bytes in a frame of %d", len(f.payload), f.hdr.FrameLength)
				}
			}
		})
	}
}

func TestAppendADTS(t *testing.T) {
	for _, tc := range adtsCases(t) {
		if !tc.exact {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			frames, err := parseADTSStream(tc.stream)
			if err != nil {
				t.Fatal(err)
			}
			var out []byte
			for _, f := range frames {
				if out, err = AppendADTS(out, f.hdr.Config(), f.payload); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(out, tc.stream) {
				t.Errorf("got  %x\nwant %x", out, tc.stream)
			}
		})
	}

	lc := &Config{ObjectType: 2, SampleRate: 48000, Channels: 2}
	for _, tc := range []struct {
		name    string
		cfg     *Config
		payload int
	}{
		{"HE-AAC object type", &Config{ObjectType: 5, SampleRate: 48000, Channels: 2}, 10},
		{"USAC", &Config{ObjectType: 42, SampleRate: 48000, Channels: 2}, 10},
		{"rate not in table", &Config{ObjectType: 2, SampleRate: 37800, Channels: 2}, 10},
		{"7 channels", &Config{ObjectType: 2, SampleRate: 48000, Channels: 7}, 10},
		{"payload too long", lc, 8185},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte{1, 2}
			out, err := AppendADTS(dst, tc.cfg, make([]byte, tc.payload))
			if !errors.Is(err, ErrUnsupported) || !bytes.Equal(out, dst) {
				t.Fatalf("got %x, %v", out, err)
			}
		})
	}
	// The largest payload fits, and HE-AAC is carried as its core.
	he := &Config{ObjectType: 2, SampleRate: 24000, Channels: 2, SBR: true, ExtensionSampleRate: 48000}
	for _, cfg := range []*Config{lc, he} {
		out, err := AppendADTS(nil, cfg, make([]byte, 8184))
		if err != nil {
			t.Fatal(err)
		}
		hdr, payload, rest, err := ParseADTS(out)
		if err != nil || len(payload) != 8184 || len(rest) != 0 || hdr.FrameLength != 8191 {
			t.Fatalf("%+v %d %d %v", hdr, len(payload), len(rest), err)
		}
		if got := hdr.Config(); got.ObjectType != cfg.ObjectType || got.SampleRate != cfg.SampleRate {
			t.Errorf("Config() = %+v, want the core of %+v", got, cfg)
		}
	}
}

func TestParseADTSErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    string
		want error
	}{
		{"empty", "", ErrTruncated},
		{"short header", "fff15080", ErrTruncated},
		{"no syncword", "fef1508000fffc", ErrInvalid},
		{"layer 1", "fff3508000fffc", ErrInvalid},
		{"reserved rate index", "fff1748000fffc", ErrInvalid},
		{"two raw data blocks", "fff15080013ffd0000", ErrUnsupported},
		{"frame shorter than header", "fff1508000dffc", ErrInvalid},
		{"frame shorter than CRC", "fff05080011ffc0000", ErrInvalid},
		{"truncated payload", "fff15080011ffc", ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, _, err := ParseADTS(unhex(tc.b)); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzParseADTS also feeds the stream in two pieces split at every point,
// and checks that the frames and the final error are the same.
func FuzzParseADTS(f *testing.F) {
	for _, tc := range adtsCases(f) {
		f.Add(tc.stream)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		whole, wholeErr := parseADTSStream(b)
		for _, fr := range whole {
			if fr.hdr.Size()+len(fr.payload) != fr.hdr.FrameLength {
				t.Fatalf("payload of %d bytes in a frame of %d", len(fr.payload), fr.hdr.FrameLength)
			}
		}
		for k := 1; k < len(b) && k < 2048; k++ {
			split, err := parseADTSStream(b[:k], b[k:])
			if !reflect.DeepEqual(split, whole) || fmt.Sprint(err) != fmt.Sprint(wholeErr) {
				t.Fatalf("split at %d: %d frames, %v; whole: %d frames, %v", k, len(split), err, len(whole), wholeErr)
			}
		}
	})
}

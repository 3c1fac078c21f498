package opus

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// headCases feeds TestParseHead, TestMarshalHead and FuzzParseHead. canon
// is what Marshal writes when it differs from in; a case with an err does
// not parse.
var headCases = []struct {
	name  string
	in    string
	canon string
	want  Head
	err   bool
}{
	// What ffmpeg 5.1 (libopus) writes for -ac 2 -ar 48000, with a byte
	// of a later minor version appended.
	{"stereo, a byte more", "4f707573486561640102380180bb0000000000" + "00", "4f707573486561640102380180bb0000000000", Head{Channels: 2, PreSkip: 312, InputRate: 48000}, false},
	{"webrtc stereo", "4f707573486561640102000080bb0000000000", "", Head{Channels: 2, InputRate: 48000}, false},
	{"mono, gain -3/256 dB, 44.1 kHz", "4f707573486561640101780044ac0000fdff00", "", Head{Channels: 1, PreSkip: 120, InputRate: 44100, OutputGain: -3}, false},
	{"version 0x0f", "4f707573486561640f01780044ac0000fdff00", "4f707573486561640101780044ac0000fdff00", Head{Channels: 1, PreSkip: 120, InputRate: 44100, OutputGain: -3}, false},
	{"family 1, 5.1, 2 bytes more", "4f7075734865616401063801000000000000010402000102030405" + "0607", "4f7075734865616401063801000000000000010402000102030405",
		Head{Channels: 6, PreSkip: 312, MappingFamily: 1, StreamCount: 4, CoupledCount: 2, ChannelMapping: []byte{0, 1, 2, 3, 4, 5}}, false},
	{"family 1, stereo", "4f70757348656164010238010000000000000102010001", "", Head{Channels: 2, PreSkip: 312, MappingFamily: 1, StreamCount: 2, CoupledCount: 1, ChannelMapping: []byte{0, 1}}, false},
	{"family 255, 3 channels", "4f7075734865616401030000000000000000ff0300000102", "", Head{Channels: 3, MappingFamily: 255, StreamCount: 3, ChannelMapping: []byte{0, 1, 2}}, false},
	{"empty", "", "", Head{}, true},
	{"magic only", "4f707573486561640102", "", Head{}, true},
	{"one byte short", "4f707573486561640102000080bb00000000", "", Head{}, true},
	{"OpusTags", "4f70757354616773" + "0102000080bb0000000000", "", Head{}, true},
	{"version 16", "4f707573486561641002000080bb0000000000", "", Head{}, true},
	{"0 channels", "4f707573486561640100000080bb0000000000", "", Head{}, true},
	{"family 0, 3 channels", "4f707573486561640103000080bb0000000000", "", Head{}, true},
	{"family 1, table truncated", "4f707573486561640102000000000000000001020100", "", Head{}, true},
}

func TestParseHead(t *testing.T) {
	for _, tc := range headCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHead(unhex(tc.in))
			if tc.err {
				if err == nil || !errors.Is(err, ErrInvalid) {
					t.Fatalf("parsed %+v, %v; want an ErrInvalid", got, err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestMarshalHead(t *testing.T) {
	for _, tc := range headCases {
		if tc.err {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			want := tc.canon
			if want == "" {
				want = tc.in
			}
			if got := hex.EncodeToString(tc.want.Marshal()); got != want {
				t.Errorf("Marshal: %s, want %s", got, want)
			}
			if got := tc.want.AppendMarshal([]byte{0xaa}); !bytes.Equal(got[1:], unhex(want)) || got[0] != 0xaa {
				t.Errorf("AppendMarshal: %x", got)
			}
		})
	}
}

func TestParseHeadCopies(t *testing.T) {
	b := Head{Channels: 2, MappingFamily: 1, StreamCount: 1, CoupledCount: 1, ChannelMapping: []byte{0, 1}}.Marshal()
	h, err := ParseHead(b)
	if err != nil {
		t.Fatal(err)
	}
	b[21] = 9
	if h.ChannelMapping[0] != 0 {
		t.Error("ChannelMapping aliases the input")
	}
}

// packetCases feeds TestPacketSamples and FuzzPacketDuration; want 0 is
// an error.
var packetCases = []struct {
	name string
	pkt  string
	want int
}{
	{"CELT FB 20 ms", "f8", 960},
	{"CELT 10 ms", "f0", 480},
	{"CELT 5 ms", "e8", 240},
	{"CELT 2.5 ms", "e0", 120},
	{"hybrid FB 20 ms", "78", 960},
	{"hybrid 10 ms", "70", 480},
	{"hybrid SWB 20 ms", "68", 960},
	{"SILK NB 10 ms", "00", 480},
	{"SILK NB 20 ms", "08", 960},
	{"SILK NB 40 ms", "10", 1920},
	{"SILK NB 60 ms", "18", 2880},
	{"stereo flag ignored", "fc", 960},
	{"code 1: 2 frames", "f9", 1920},
	{"code 2: 2 frames", "fa", 1920},
	{"code 3: 3 frames", "fb03", 2880},
	{"code 3: padding and VBR flags ignored", "fbc3", 2880},
	{"code 3: 2 x 60 ms", "1b02", 5760},
	{"code 3: 48 x 2.5 ms", "e330", 5760},
	{"code 3: 140 ms", "fb07", 0},
	{"code 3: 3 x 60 ms", "1b03", 0},
	{"code 3: 0 frames", "fb00", 0},
	{"code 3 without count", "fb", 0},
	{"empty", "", 0},
}

func TestPacketSamples(t *testing.T) {
	for _, tc := range packetCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PacketSamples(unhex(tc.pkt))
			if tc.want == 0 {
				if err == nil || !errors.Is(err, ErrInvalid) {
					t.Fatalf("%d, %v; want an ErrInvalid", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%d, %v; want %d", got, err, tc.want)
			}
			d, err := PacketDuration(unhex(tc.pkt))
			if want := time.Duration(tc.want) * time.Second / 48000; err != nil || d != want {
				t.Errorf("PacketDuration %v, %v; want %v", d, err, want)
			}
		})
	}
}

// FuzzParseHead: ParseHead never panics; what it parses marshals to what
// parses back the same; every prefix of a header it parses either parses
// the same or fails (a network read may end anywhere).
func FuzzParseHead(f *testing.F) {
	for _, tc := range headCases {
		f.Add(unhex(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHead(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		m := h.Marshal()
		back, err := ParseHead(m)
		if err != nil || !back.Equal(h) {
			t.Fatalf("round trip: %+v -> %x -> %+v, %v", h, m, back, err)
		}
		if !bytes.Equal(back.Marshal(), m) {
			t.Fatalf("Marshal not stable: %x", m)
		}
		for k := 0; k < len(b); k++ {
			if p, err := ParseHead(b[:k]); err == nil && !p.Equal(h) {
				t.Fatalf("prefix of %d bytes parses as %+v, the whole as %+v", k, p, h)
			}
		}
	})
}

// FuzzPacketDuration: PacketSamples never panics and returns a whole
// number of 2.5 ms units up to 120 ms, that PacketDuration agrees with;
// it reads no more than the first two bytes.
func FuzzPacketDuration(f *testing.F) {
	for _, tc := range packetCases {
		f.Add(unhex(tc.pkt))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := PacketSamples(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || n != 0 {
				t.Fatalf("%d, %v", n, err)
			}
		} else if n <= 0 || n > MaxPacketSamples || n%120 != 0 {
			t.Fatalf("%d samples", n)
		}
		d, derr := PacketDuration(b)
		if (derr == nil) != (err == nil) || d != time.Duration(n)*time.Second/48000 {
			t.Fatalf("PacketDuration %v, %v; PacketSamples %d, %v", d, derr, n, err)
		}
		if len(b) > 2 {
			if m, err2 := PacketSamples(b[:2]); m != n || (err2 == nil) != (err == nil) {
				t.Fatalf("depends on bytes after the second: %d vs %d", m, n)
			}
		}
	})
}

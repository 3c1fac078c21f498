package flv

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// videoCases feeds TestParseVideoTag, TestAppendVideoTag and FuzzFLVTag.
var videoCases = []struct {
	name string
	body []byte
	tag  VideoTag
}{
	{"avc sequence header", []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f},
		VideoTag{FrameType: FrameKey, CodecID: 7, FourCC: FourCCAVC, PacketType: PacketSequenceStart, Data: []byte{1, 0x64, 0, 0x1f}}},
	{"avc nalu positive cts", []byte{0x27, 1, 0, 0, 0x42, 0, 0, 0, 1, 0x41},
		VideoTag{FrameType: FrameInter, CodecID: 7, FourCC: FourCCAVC, PacketType: PacketCodedFrames, CompositionTime: 0x42, Data: []byte{0, 0, 0, 1, 0x41}}},
	{"avc nalu negative cts", []byte{0x27, 1, 0xff, 0xff, 0xdf, 0, 0, 0, 1, 0x41},
		VideoTag{FrameType: FrameInter, CodecID: 7, FourCC: FourCCAVC, PacketType: PacketCodedFrames, CompositionTime: -33, Data: []byte{0, 0, 0, 1, 0x41}}},
	{"avc end of sequence", []byte{0x17, 2, 0, 0, 0},
		VideoTag{FrameType: FrameKey, CodecID: 7, FourCC: FourCCAVC, PacketType: PacketSequenceEnd, Data: []byte{}}},
	{"command frame", []byte{0x57, 1},
		VideoTag{FrameType: FrameCommand, CodecID: 7, Data: []byte{1}}},
	{"enhanced avc1 coded frames", []byte{0x91, 'a', 'v', 'c', '1', 0, 0, 0x21, 0, 0, 0, 1, 0x65},
		VideoTag{Enhanced: true, FrameType: FrameKey, FourCC: FourCCAVC, PacketType: PacketCodedFrames, CompositionTime: 0x21, Data: []byte{0, 0, 0, 1, 0x65}}},
	{"enhanced hvc1 sequence start", []byte{0x90, 'h', 'v', 'c', '1', 1, 2},
		VideoTag{Enhanced: true, FrameType: FrameKey, FourCC: FourCCHEVC, PacketType: PacketSequenceStart, Data: []byte{1, 2}}},
	{"enhanced hvc1 coded frames x", []byte{0xa3, 'h', 'v', 'c', '1', 0, 0, 0, 1, 2},
		VideoTag{Enhanced: true, FrameType: FrameInter, FourCC: FourCCHEVC, PacketType: PacketCodedFramesX, Data: []byte{0, 0, 0, 1, 2}}},
	{"enhanced av01 coded frames", []byte{0x91, 'a', 'v', '0', '1', 0x12, 0},
		VideoTag{Enhanced: true, FrameType: FrameKey, FourCC: FourCCAV1, PacketType: PacketCodedFrames, Data: []byte{0x12, 0}}},
	{"enhanced sequence end", []byte{0x92, 'a', 'v', '0', '1'},
		VideoTag{Enhanced: true, FrameType: FrameKey, FourCC: FourCCAV1, PacketType: PacketSequenceEnd, Data: []byte{}}},
}

func TestParseVideoTag(t *testing.T) {
	for _, c := range videoCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseVideoTag(c.body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.tag) {
				t.Fatalf("got %+v\nwant %+v", got, c.tag)
			}
		})
	}
}

func TestAppendVideoTag(t *testing.T) {
	for _, c := range videoCases {
		t.Run(c.name, func(t *testing.T) {
			if got := AppendVideoTag(nil, c.tag); !bytes.Equal(got, c.body) {
				t.Fatalf("got % x\nwant % x", got, c.body)
			}
		})
	}
}

func TestParseVideoTagErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		body []byte
		err  error
	}{
		{"empty", nil, ErrShort},
		{"sorenson", []byte{0x22, 0}, ErrUnsupported},
		{"short avc", []byte{0x17, 1, 0}, ErrShort},
		{"bad avc packet type", []byte{0x17, 5, 0, 0, 0}, ErrUnsupported},
		{"short fourcc", []byte{0x91, 'a', 'v'}, ErrShort},
		{"short enhanced cts", []byte{0x91, 'a', 'v', 'c', '1', 0}, ErrShort},
		{"multitrack", []byte{0x96, 0}, ErrUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseVideoTag(c.body); !errors.Is(err, c.err) {
				t.Fatalf("got %v, want %v", err, c.err)
			}
		})
	}
}

// audioCases feeds TestParseAudioTag, TestAppendAudioTag and FuzzFLVTag.
var audioCases = []struct {
	name string
	body []byte
	tag  AudioTag
}{
	{"aac sequence header", []byte{0xaf, 0, 0x11, 0x90},
		AudioTag{SoundFormat: SoundFormatAAC, SoundRate: 3, SoundSize: 1, Stereo: true, AACPacketType: AACSequenceHeader, Data: []byte{0x11, 0x90}}},
	{"aac raw", []byte{0xaf, 1, 0x21, 0x10},
		AudioTag{SoundFormat: SoundFormatAAC, SoundRate: 3, SoundSize: 1, Stereo: true, AACPacketType: AACRaw, Data: []byte{0x21, 0x10}}},
	{"aac raw mono flags", []byte{0xae, 1},
		AudioTag{SoundFormat: SoundFormatAAC, SoundRate: 3, SoundSize: 1, AACPacketType: AACRaw, Data: []byte{}}},
}

func TestParseAudioTag(t *testing.T) {
	for _, c := range audioCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseAudioTag(c.body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.tag) {
				t.Fatalf("got %+v\nwant %+v", got, c.tag)
			}
		})
	}
}

func TestAppendAudioTag(t *testing.T) {
	for _, c := range audioCases {
		t.Run(c.name, func(t *testing.T) {
			if got := AppendAudioTag(nil, c.tag); !bytes.Equal(got, c.body) {
				t.Fatalf("got % x\nwant % x", got, c.body)
			}
		})
	}
}

func TestParseAudioTagErrors(t *testing.T) {
	for _, c := range []struct {
		name, msg string
		body      []byte
		err       error
	}{
		{"empty", "", nil, ErrShort},
		{"mp3", "sound format 2 (MP3)", []byte{0x2f, 0xff}, ErrUnsupported},
		{"speex", "Speex", []byte{0xb6}, ErrUnsupported},
		{"short aac", "", []byte{0xaf}, ErrShort},
		{"bad aac packet type", "", []byte{0xaf, 2}, ErrUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseAudioTag(c.body)
			if !errors.Is(err, c.err) {
				t.Fatalf("got %v, want %v", err, c.err)
			}
			if c.msg != "" && !bytes.Contains([]byte(err.Error()), []byte(c.msg)) {
				t.Fatalf("error %q does not say %q", err, c.msg)
			}
		})
	}
}

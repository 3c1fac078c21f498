package transcode

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrOpus means an Opus header or packet is malformed.
var ErrOpus = errors.New("opus: invalid")

// OpusHead is the identification header of an Ogg Opus stream (RFC 7845
// 5.1), mapping family 0 (mono or stereo).
//
//	"OpusHead" | version (1) | channels (1) | pre-skip (2, LE) |
//	input sample rate (4, LE) | output gain (2, LE) | mapping family (1)
type OpusHead struct {
	Channels   int
	PreSkip    int // samples at 48 kHz to discard from the decoder's output
	InputRate  int
	OutputGain int16
}

// ParseOpusHead parses an OpusHead packet.
func ParseOpusHead(b []byte) (OpusHead, error) {
	if len(b) < 19 || string(b[:8]) != "OpusHead" {
		return OpusHead{}, fmt.Errorf("%w: not an OpusHead", ErrOpus)
	}
	if b[8]>>4 != 0 {
		return OpusHead{}, fmt.Errorf("%w: OpusHead version %d", ErrOpus, b[8])
	}
	h := OpusHead{
		Channels:   int(b[9]),
		PreSkip:    int(binary.LittleEndian.Uint16(b[10:])),
		InputRate:  int(binary.LittleEndian.Uint32(b[12:])),
		OutputGain: int16(binary.LittleEndian.Uint16(b[16:])),
	}
	if h.Channels == 0 {
		return OpusHead{}, fmt.Errorf("%w: 0 channels", ErrOpus)
	}
	return h, nil
}

// Marshal returns the OpusHead packet (mapping family 0).
func (h OpusHead) Marshal() []byte {
	b := append([]byte("OpusHead"), 1, byte(h.Channels))
	b = binary.LittleEndian.AppendUint16(b, uint16(h.PreSkip))
	b = binary.LittleEndian.AppendUint32(b, uint32(h.InputRate))
	b = binary.LittleEndian.AppendUint16(b, uint16(h.OutputGain))
	return append(b, 0)
}

// PacketSamples returns the duration of an Opus packet in samples at
// 48 kHz, from its TOC byte and frame count (RFC 6716 3.1, 3.2).
func PacketSamples(pkt []byte) (int, error) {
	if len(pkt) == 0 {
		return 0, fmt.Errorf("%w: empty packet", ErrOpus)
	}
	cfg := pkt[0] >> 3
	var frame int // in units of 1/400 s (2.5 ms = 120 samples)
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = []int{4, 8, 16, 24}[cfg&3]
	case cfg < 16: // hybrid: 10, 20 ms
		frame = []int{4, 8}[cfg&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []int{1, 2, 4, 8}[cfg&3]
	}
	var frames int
	switch pkt[0] & 3 {
	case 0:
		frames = 1
	case 1, 2:
		frames = 2
	default:
		if len(pkt) < 2 {
			return 0, fmt.Errorf("%w: code 3 packet without frame count", ErrOpus)
		}
		frames = int(pkt[1] & 0x3f)
		if frames == 0 {
			return 0, fmt.Errorf("%w: 0 frames", ErrOpus)
		}
	}
	n := frames * frame * 120
	if n > 5760 { // 120 ms
		return 0, fmt.Errorf("%w: %d samples in a packet", ErrOpus, n)
	}
	return n, nil
}

// Package opus parses and writes the framing of Opus audio that Liveloop
// carries: the identification header OpusHead (RFC 7845 5.1), which Ogg
// Opus, MP4 (dOps) and media.Track.Config carry as decoder configuration,
// and the table-of-contents byte of an Opus packet (RFC 6716 3.1), which
// gives a packet's duration.
//
// The package is pure: it turns bytes into values and back, and does no
// I/O. Parsers never panic on untrusted input; they return errors that wrap
// ErrInvalid.
package opus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// ErrInvalid means an OpusHead or an Opus packet breaks a rule of its
// specification; it is wrapped with detail, test with errors.Is.
var ErrInvalid = errors.New("opus: invalid")

// SampleRate is the rate of every Opus timestamp and duration: 48 kHz,
// whatever the input or the decoder's output rate (RFC 7845 4).
const SampleRate = 48000

// MaxPacketSamples is the longest an Opus packet may last: 120 ms at
// 48 kHz (RFC 6716 3.2.5).
const MaxPacketSamples = 5760

// headMagic starts every OpusHead packet.
const headMagic = "OpusHead"

// headSize is the size of an OpusHead of mapping family 0; other families
// add stream count, coupled count and one byte per channel.
const headSize = 19

// Head is the identification header of an Opus stream (RFC 7845 5.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|      'O'      |      'p'      |      'u'      |      's'      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|      'H'      |      'e'      |      'a'      |      'd'      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Version = 1  | Channel Count |           Pre-skip            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                     Input Sample Rate (Hz)                    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Output Gain (Q7.8 in dB)    | Mapping Family|               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+               :
//	|                                                               |
//	:               Optional Channel Mapping Table...               :
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Multi-byte fields are little-endian. The version is not kept: ParseHead
// accepts every version of major version 0, and Marshal writes 1.
type Head struct {
	Channels   uint8
	PreSkip    uint16 // samples at 48 kHz to discard from the decoder's output
	InputRate  uint32 // the original input's sample rate, Hz; 0 if unknown
	OutputGain int16  // Q7.8 dB
	// MappingFamily 0 is mono or stereo, without a mapping table; other
	// families carry StreamCount, CoupledCount and ChannelMapping (one
	// byte per channel).
	MappingFamily  uint8
	StreamCount    uint8
	CoupledCount   uint8
	ChannelMapping []byte
}

// ParseHead parses an OpusHead packet. It refuses a header that is
// truncated, has another magic or a major version other than 0, no
// channels, more than two channels in mapping family 0, or (in other
// families) a channel mapping table shorter than its channel count. Bytes
// after the header are ignored (RFC 7845 5.1: later minor versions may add
// fields). ChannelMapping is a copy.
func ParseHead(b []byte) (Head, error) {
	if len(b) < headSize || string(b[:8]) != headMagic {
		return Head{}, fmt.Errorf("%w: not an OpusHead", ErrInvalid)
	}
	if b[8]>>4 != 0 {
		return Head{}, fmt.Errorf("%w: OpusHead version %d", ErrInvalid, b[8])
	}
	h := Head{
		Channels:      b[9],
		PreSkip:       binary.LittleEndian.Uint16(b[10:]),
		InputRate:     binary.LittleEndian.Uint32(b[12:]),
		OutputGain:    int16(binary.LittleEndian.Uint16(b[16:])),
		MappingFamily: b[18],
	}
	if h.Channels == 0 {
		return Head{}, fmt.Errorf("%w: OpusHead with 0 channels", ErrInvalid)
	}
	if h.MappingFamily == 0 {
		if h.Channels > 2 {
			return Head{}, fmt.Errorf("%w: mapping family 0 with %d channels", ErrInvalid, h.Channels)
		}
		return h, nil
	}
	if len(b) < headSize+2+int(h.Channels) {
		return Head{}, fmt.Errorf("%w: OpusHead channel mapping table truncated", ErrInvalid)
	}
	h.StreamCount, h.CoupledCount = b[19], b[20]
	h.ChannelMapping = bytes.Clone(b[21 : 21+int(h.Channels)])
	return h, nil
}

// Marshal returns the OpusHead packet of h, version 1. A mapping family
// other than 0 writes the stream counts and ChannelMapping as they are.
func (h Head) Marshal() []byte { return h.AppendMarshal(make([]byte, 0, h.size())) }

// AppendMarshal appends the OpusHead packet of h to b.
func (h Head) AppendMarshal(b []byte) []byte {
	b = append(b, headMagic...)
	b = append(b, 1, h.Channels)
	b = binary.LittleEndian.AppendUint16(b, h.PreSkip)
	b = binary.LittleEndian.AppendUint32(b, h.InputRate)
	b = binary.LittleEndian.AppendUint16(b, uint16(h.OutputGain))
	b = append(b, h.MappingFamily)
	if h.MappingFamily != 0 {
		b = append(b, h.StreamCount, h.CoupledCount)
		b = append(b, h.ChannelMapping...)
	}
	return b
}

func (h Head) size() int {
	if h.MappingFamily == 0 {
		return headSize
	}
	return headSize + 2 + len(h.ChannelMapping)
}

// Equal reports whether h and o are the same header.
func (h Head) Equal(o Head) bool {
	return h.Channels == o.Channels && h.PreSkip == o.PreSkip && h.InputRate == o.InputRate &&
		h.OutputGain == o.OutputGain && h.MappingFamily == o.MappingFamily && h.StreamCount == o.StreamCount &&
		h.CoupledCount == o.CoupledCount && bytes.Equal(h.ChannelMapping, o.ChannelMapping)
}

// PacketSamples returns the duration of an Opus packet in samples at
// 48 kHz, from its TOC byte and, for code 3, its frame count byte (RFC 6716
// 3.1, 3.2):
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+
//	| config  |s| c |
//	+-+-+-+-+-+-+-+-+
//
// config gives the mode and the frame size, c the number of frames: 0 one,
// 1 and 2 two, 3 the count in the next byte (its low six bits). It refuses
// an empty packet, a code 3 packet without or with a zero frame count, and
// a packet longer than 120 ms.
func PacketSamples(pkt []byte) (int, error) {
	if len(pkt) == 0 {
		return 0, fmt.Errorf("%w: empty packet", ErrInvalid)
	}
	var frames int
	switch pkt[0] & 3 {
	case 0:
		frames = 1
	case 1, 2:
		frames = 2
	default:
		if len(pkt) < 2 {
			return 0, fmt.Errorf("%w: code 3 packet without frame count", ErrInvalid)
		}
		frames = int(pkt[1] & 0x3f)
		if frames == 0 {
			return 0, fmt.Errorf("%w: code 3 packet of 0 frames", ErrInvalid)
		}
	}
	n := frames * frameSamples(pkt[0])
	if n > MaxPacketSamples {
		return 0, fmt.Errorf("%w: %d samples in a packet", ErrInvalid, n)
	}
	return n, nil
}

// PacketDuration returns the duration of an Opus packet (PacketSamples as
// a time.Duration).
func PacketDuration(pkt []byte) (time.Duration, error) {
	n, err := PacketSamples(pkt)
	return time.Duration(n) * time.Second / SampleRate, err
}

// frameSamples returns the size at 48 kHz of each frame of a packet with
// TOC byte toc (RFC 6716 3.1, table 2).
func frameSamples(toc byte) int {
	cfg := toc >> 3
	switch {
	case cfg < 12: // SILK-only: 10, 20, 40, 60 ms
		return [4]int{480, 960, 1920, 2880}[cfg&3]
	case cfg < 16: // hybrid: 10, 20 ms
		return [2]int{480, 960}[cfg&1]
	default: // CELT-only: 2.5, 5, 10, 20 ms
		return [4]int{120, 240, 480, 960}[cfg&3]
	}
}

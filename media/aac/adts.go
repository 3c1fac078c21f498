package aac

import (
	"encoding/binary"
	"fmt"
)

// ADTS frame header, ISO/IEC 14496-3 1.A.2.2 (adts_fixed_header and
// adts_variable_header), 7 bytes, then a 16-bit CRC when protection_absent
// is 0:
//
//	AAAAAAAA AAAABCCD EEFFFFGH HHIJKLMM MMMMMMMM MMMOOOOO OOOOOOPP [QQQQQQQQ QQQQQQQQ]
//
//	A syncword 0xFFF        I copyright_identification_bit
//	B ID (1: MPEG-2)        J copyright_identification_start
//	C layer (0)             M aac_frame_length, header included
//	D protection_absent     O adts_buffer_fullness (0x7FF: VBR)
//	E profile_ObjectType    P number_of_raw_data_blocks_in_frame
//	F sampling_frequency_index
//	G private_bit           Q adts_error_check CRC
//	H channel_configuration

// ADTSHeader is the header of one ADTS frame.
type ADTSHeader struct {
	// MPEG2 is the ID bit: set for MPEG-2 AAC (ISO/IEC 13818-7), clear for
	// MPEG-4. The coding is the same.
	MPEG2 bool
	// ObjectType is the audio object type: profile_ObjectType + 1.
	ObjectType int
	SampleRate int
	// ChannelConfig is channel_configuration; 0 means the frame starts with
	// a program_config_element.
	ChannelConfig int
	// FrameLength is the length of the whole frame, header included.
	FrameLength int
	// BufferFullness is adts_buffer_fullness; 0x7FF signals variable bit
	// rate.
	BufferFullness int
	// CRCPresent tells whether a CRC follows the header (protection_absent
	// is 0); CRC is not checked.
	CRCPresent bool
	CRC        uint16
}

// Size returns the size in bytes of the header, CRC included.
func (h ADTSHeader) Size() int {
	if h.CRCPresent {
		return 9
	}
	return 7
}

// Config returns the decoder configuration the header describes.
func (h ADTSHeader) Config() *Config {
	channels := 0
	if h.ChannelConfig > 0 && h.ChannelConfig < len(channelCounts) {
		channels = channelCounts[h.ChannelConfig]
	}
	return &Config{ObjectType: h.ObjectType, SampleRate: h.SampleRate, Channels: channels}
}

// ParseADTS parses the ADTS frame at the start of b, returning its header,
// its payload (one raw AAC frame, a sub-slice of b) and the bytes after it.
// It fails with ErrTruncated if b holds less than the whole frame, so a
// reader of a stream can read more and call again. Frames of more than one
// raw data block are not supported.
func ParseADTS(b []byte) (hdr ADTSHeader, payload, rest []byte, err error) {
	if len(b) < 7 {
		return hdr, nil, nil, fmt.Errorf("ADTS: %w: %d bytes", ErrTruncated, len(b))
	}
	if b[0] != 0xff || b[1]&0xf6 != 0xf0 { // syncword, layer 0
		return hdr, nil, nil, fmt.Errorf("ADTS: %w: no syncword: %x", ErrInvalid, b[:2])
	}
	hdr.MPEG2 = b[1]&0x08 != 0
	hdr.CRCPresent = b[1]&0x01 == 0
	hdr.ObjectType = int(b[2]>>6) + 1
	rateIndex := int(b[2] >> 2 & 0xf)
	if rateIndex >= len(sampleRates) {
		return hdr, nil, nil, fmt.Errorf("ADTS: %w: sampling frequency index %d", ErrInvalid, rateIndex)
	}
	hdr.SampleRate = sampleRates[rateIndex]
	hdr.ChannelConfig = int(b[2]&1)<<2 | int(b[3]>>6)
	hdr.FrameLength = int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5]>>5)
	hdr.BufferFullness = int(b[5]&0x1f)<<6 | int(b[6]>>2)
	if blocks := int(b[6]&3) + 1; blocks != 1 {
		return hdr, nil, nil, fmt.Errorf("ADTS: %w: %d raw data blocks in a frame", ErrUnsupported, blocks)
	}
	if hdr.FrameLength < hdr.Size() {
		return hdr, nil, nil, fmt.Errorf("ADTS: %w: frame length %d", ErrInvalid, hdr.FrameLength)
	}
	if len(b) < hdr.FrameLength {
		return hdr, nil, nil, fmt.Errorf("ADTS: %w: frame of %d bytes, %d left", ErrTruncated, hdr.FrameLength, len(b))
	}
	if hdr.CRCPresent {
		hdr.CRC = binary.BigEndian.Uint16(b[7:])
	}
	return hdr, b[hdr.Size():hdr.FrameLength:hdr.FrameLength], b[hdr.FrameLength:], nil
}

// maxADTSPayload is the largest payload of a frame without CRC:
// aac_frame_length has 13 bits.
const maxADTSPayload = 1<<13 - 1 - 7

// AppendADTS appends one ADTS frame, a header without CRC and the payload
// (one raw AAC frame), to dst. The header carries the core of cfg: ADTS
// cannot signal SBR or PS, which decoders then detect implicitly. It fails,
// leaving dst as it was, if ADTS cannot describe cfg (object types 1 to 4,
// a rate of Table 1.18, channel configurations 1 to 7) or the payload is
// longer than 8184 bytes.
func AppendADTS(dst []byte, cfg *Config, payload []byte) ([]byte, error) {
	if cfg.ObjectType < ObjectTypeAACMain || cfg.ObjectType > ObjectTypeAACLTP {
		return dst, fmt.Errorf("ADTS: %w: audio object type %d", ErrUnsupported, cfg.ObjectType)
	}
	rateIndex, ok := sampleRateIndex(cfg.SampleRate)
	if !ok {
		return dst, fmt.Errorf("ADTS: %w: sample rate %d", ErrUnsupported, cfg.SampleRate)
	}
	chanCfg := channelConfig(cfg.Channels)
	if chanCfg == 0 {
		return dst, fmt.Errorf("ADTS: %w: %d channels", ErrUnsupported, cfg.Channels)
	}
	if len(payload) > maxADTSPayload {
		return dst, fmt.Errorf("ADTS: %w: payload of %d bytes", ErrUnsupported, len(payload))
	}
	n := 7 + len(payload)
	const fullness = 0x7ff
	dst = append(dst,
		0xff,
		0xf1, // MPEG-4, layer 0, protection_absent
		byte(cfg.ObjectType-1)<<6|byte(rateIndex)<<2|byte(chanCfg>>2),
		byte(chanCfg&3)<<6|byte(n>>11),
		byte(n>>3),
		byte(n&7)<<5|fullness>>6,
		fullness&0x3f<<2, // one raw data block
	)
	return append(dst, payload...), nil
}

package flv

import (
	"encoding/binary"
	"fmt"
)

// FourCC is a four-character code naming a codec in Enhanced RTMP, stored
// big-endian ("avc1" is 0x61766331).
type FourCC uint32

// FourCCs of the video codecs Enhanced RTMP v1 defines.
const (
	FourCCAVC  FourCC = 'a'<<24 | 'v'<<16 | 'c'<<8 | '1'
	FourCCHEVC FourCC = 'h'<<24 | 'v'<<16 | 'c'<<8 | '1'
	FourCCAV1  FourCC = 'a'<<24 | 'v'<<16 | '0'<<8 | '1'
	FourCCVP9  FourCC = 'v'<<24 | 'p'<<16 | '0'<<8 | '9'
)

func (f FourCC) String() string {
	b := [4]byte{byte(f >> 24), byte(f >> 16), byte(f >> 8), byte(f)}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("0x%08x", uint32(f))
		}
	}
	return string(b[:])
}

// Video frame types (E.4.3.1 FrameType; Enhanced RTMP VideoFrameType).
const (
	FrameKey           uint8 = 1
	FrameInter         uint8 = 2
	FrameDisposable    uint8 = 3
	FrameGeneratedKey  uint8 = 4
	FrameCommand       uint8 = 5 // video info/command frame
	CodecIDAVC         uint8 = 7
	legacyCodecIDHEVC  uint8 = 12 // a widespread non-Adobe extension; not supported
	exHeaderBit        uint8 = 0x80
	legacyFrameTypeSft       = 4
)

// VideoPacketType is the kind of video packet. Legacy AVCPacketType values
// 0, 1 and 2 coincide with the Enhanced RTMP values of the same meaning.
type VideoPacketType uint8

// Video packet types (E.4.3.1 AVCPacketType; Enhanced RTMP VideoPacketType).
const (
	PacketSequenceStart        VideoPacketType = 0 // decoder configuration record
	PacketCodedFrames          VideoPacketType = 1 // frames, with a composition time offset for avc1/hvc1
	PacketSequenceEnd          VideoPacketType = 2
	PacketCodedFramesX         VideoPacketType = 3 // frames, composition time offset implied 0
	PacketMetadata             VideoPacketType = 4 // AMF-encoded, e.g. colorInfo
	PacketMPEG2TSSequenceStart VideoPacketType = 5
	PacketMultitrack           VideoPacketType = 6
	PacketModEx                VideoPacketType = 7
)

// VideoTag is a parsed video tag body.
type VideoTag struct {
	FrameType uint8
	// Enhanced is set when the tag uses the Enhanced RTMP extended header.
	Enhanced bool
	// CodecID is the legacy codec id (7 for AVC); zero for Enhanced tags.
	CodecID uint8
	// FourCC names the codec: from the extended header, or FourCCAVC for
	// legacy AVC tags.
	FourCC     FourCC
	PacketType VideoPacketType
	// CompositionTime is the PTS-DTS offset in milliseconds (SI24).
	CompositionTime int32
	// Data is the payload after the headers: a decoder configuration record
	// for PacketSequenceStart, length-prefixed NAL units (AVC, HEVC) or OBUs
	// (AV1) for coded frames, the command byte for FrameCommand. It aliases
	// the body passed to ParseVideoTag.
	Data []byte
}

// ParseVideoTag parses a video tag body (E.4.3.1, and the Enhanced RTMP
// ExVideoTagHeader).
//
// Legacy AVC:
//
//	+-----------+-----------+---------------+---------------------------+------
//	| FrameType | CodecID=7 | AVCPacketType | CompositionTime (SI24)    | data
//	|  4 bits   |  4 bits   |     UI8       |                           |
//	+-----------+-----------+---------------+---------------------------+------
//
// Enhanced RTMP:
//
//	+---+-----------+------------+-------------------+---------------------+------
//	| 1 | FrameType | PacketType |   FourCC (UI32)   | [CompositionTime]   | data
//	|   |  3 bits   |  4 bits    |                   | SI24, avc1/hvc1     |
//	+---+-----------+------------+-------------------+---------------------+------
func ParseVideoTag(body []byte) (VideoTag, error) {
	if len(body) < 1 {
		return VideoTag{}, ErrShort
	}
	if body[0]&exHeaderBit != 0 {
		return parseExVideoTag(body)
	}
	t := VideoTag{FrameType: body[0] >> legacyFrameTypeSft, CodecID: body[0] & 0x0f}
	if t.FrameType == FrameCommand {
		t.Data = body[1:]
		return t, nil
	}
	if t.CodecID != CodecIDAVC {
		return t, fmt.Errorf("%w: video codec id %d", ErrUnsupported, t.CodecID)
	}
	t.FourCC = FourCCAVC
	if len(body) < 5 {
		return t, ErrShort
	}
	t.PacketType = VideoPacketType(body[1])
	if t.PacketType > PacketSequenceEnd {
		return t, fmt.Errorf("%w: AVCPacketType %d", ErrUnsupported, t.PacketType)
	}
	t.CompositionTime = si24(body[2:5])
	t.Data = body[5:]
	return t, nil
}

func parseExVideoTag(body []byte) (VideoTag, error) {
	t := VideoTag{
		Enhanced:   true,
		FrameType:  (body[0] >> 4) & 0x07,
		PacketType: VideoPacketType(body[0] & 0x0f),
	}
	rest := body[1:]
	if t.FrameType == FrameCommand && t.PacketType != PacketMetadata {
		t.Data = rest
		return t, nil
	}
	switch t.PacketType {
	case PacketMultitrack, PacketModEx:
		return t, fmt.Errorf("%w: video packet type %d", ErrUnsupported, t.PacketType)
	}
	if len(rest) < 4 {
		return t, ErrShort
	}
	t.FourCC = FourCC(binary.BigEndian.Uint32(rest))
	rest = rest[4:]
	if t.PacketType == PacketCodedFrames && (t.FourCC == FourCCAVC || t.FourCC == FourCCHEVC) {
		if len(rest) < 3 {
			return t, ErrShort
		}
		t.CompositionTime = si24(rest)
		rest = rest[3:]
	}
	t.Data = rest
	return t, nil
}

// AppendVideoTag appends the body encoding of t: the legacy header when
// t.Enhanced is false (AVC only), the Enhanced RTMP header otherwise.
func AppendVideoTag(b []byte, t VideoTag) []byte {
	if !t.Enhanced {
		if t.FrameType == FrameCommand {
			return append(append(b, FrameCommand<<4|t.CodecID), t.Data...)
		}
		b = append(b, t.FrameType<<4|CodecIDAVC, byte(t.PacketType))
		b = appendSI24(b, t.CompositionTime)
		return append(b, t.Data...)
	}
	b = append(b, exHeaderBit|(t.FrameType&7)<<4|byte(t.PacketType&0x0f))
	if t.FrameType == FrameCommand && t.PacketType != PacketMetadata {
		return append(b, t.Data...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(t.FourCC))
	if t.PacketType == PacketCodedFrames && (t.FourCC == FourCCAVC || t.FourCC == FourCCHEVC) {
		b = appendSI24(b, t.CompositionTime)
	}
	return append(b, t.Data...)
}

func si24(b []byte) int32 {
	v := int32(b[0])<<16 | int32(b[1])<<8 | int32(b[2])
	return v << 8 >> 8 // sign-extend 24 bits
}

func appendSI24(b []byte, v int32) []byte {
	return append(b, byte(v>>16), byte(v>>8), byte(v))
}

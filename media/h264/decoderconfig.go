package h264

import (
	"encoding/binary"
	"fmt"
)

// DecoderConfig is an AVCDecoderConfigurationRecord (ISO/IEC 14496-15
// 5.3.3.1): the parameter sets a decoder needs, as carried in an MP4 avcC
// box and in the RTMP/FLV AVC sequence header.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| version (1)   |   profile     | compatibility |    level      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|1 1 1 1 1 1|LS |1 1 1| numSPS  | SPS length    | SPS ...       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| numPPS        | PPS length    | PPS ...                       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| high profiles: chroma_format, bit depths, numSPSExt, SPSExt...|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// LS is lengthSizeMinusOne; lengths are 16-bit.
type DecoderConfig struct {
	ProfileIndication    uint8
	ProfileCompatibility uint8
	LevelIndication      uint8
	// LengthSize is the size in bytes of the NAL unit lengths in samples:
	// 1, 2 or 4.
	LengthSize int
	// SPS and PPS are whole NAL units, headers included.
	SPS, PPS [][]byte
	// Ext holds the fields that follow for high profiles (see hasExt); nil
	// when the record leaves them out, as older writers do. Marshal writes
	// it whenever it is set.
	Ext *DecoderConfigExt
}

// DecoderConfigExt holds the high-profile fields of an
// AVCDecoderConfigurationRecord.
type DecoderConfigExt struct {
	ChromaFormat         uint8 // chroma_format_idc
	BitDepthLumaMinus8   uint8
	BitDepthChromaMinus8 uint8
	// SPSExt are sequence parameter set extension NAL units (type 13).
	SPSExt [][]byte
}

// hasExt reports whether records of profile p carry DecoderConfigExt.
// 14496-15 5.3.3.1.2 names profiles 100, 110, 122 and 144; writers (ffmpeg,
// x264) add it for every profile but Baseline, Main and Extended, and so
// does this package.
func hasExt(p uint8) bool {
	return p != 66 && p != 77 && p != 88
}

// ParseDecoderConfig parses an AVCDecoderConfigurationRecord. The parameter
// sets in the result share memory with b. A malformed high-profile
// extension is ignored (Ext is nil), as decoders do: writers have long got
// it wrong.
func ParseDecoderConfig(b []byte) (*DecoderConfig, error) {
	if len(b) < 6 {
		return nil, fmt.Errorf("AVC decoder config: %w: %d bytes", ErrTruncated, len(b))
	}
	if b[0] != 1 {
		return nil, fmt.Errorf("AVC decoder config: %w: configurationVersion %d", ErrUnsupported, b[0])
	}
	c := &DecoderConfig{
		ProfileIndication:    b[1],
		ProfileCompatibility: b[2],
		LevelIndication:      b[3],
		LengthSize:           int(b[4]&3) + 1,
	}
	if c.LengthSize == 3 {
		return nil, fmt.Errorf("AVC decoder config: %w: lengthSizeMinusOne 2", ErrInvalid)
	}
	rest := b[5:]
	var err error
	if c.SPS, rest, err = readParameterSets(rest, int(rest[0]&0x1f), 1); err != nil {
		return nil, fmt.Errorf("AVC decoder config: SPS: %w", err)
	}
	if len(rest) < 1 {
		return nil, fmt.Errorf("AVC decoder config: %w: no numOfPictureParameterSets", ErrTruncated)
	}
	if c.PPS, rest, err = readParameterSets(rest, int(rest[0]), 1); err != nil {
		return nil, fmt.Errorf("AVC decoder config: PPS: %w", err)
	}
	if hasExt(c.ProfileIndication) && len(rest) >= 4 {
		ext := &DecoderConfigExt{
			ChromaFormat:         rest[0] & 3,
			BitDepthLumaMinus8:   rest[1] & 7,
			BitDepthChromaMinus8: rest[2] & 7,
		}
		if ext.SPSExt, _, err = readParameterSets(rest, int(rest[3]), 4); err == nil {
			c.Ext = ext
		}
	}
	return c, nil
}

// readParameterSets reads n parameter sets, each a 16-bit length and a NAL
// unit, after skip bytes of b.
func readParameterSets(b []byte, n, skip int) (sets [][]byte, rest []byte, err error) {
	b = b[skip:]
	for i := 0; i < n; i++ {
		if len(b) < 2 {
			return nil, nil, fmt.Errorf("%w: length of %d of %d", ErrTruncated, i+1, n)
		}
		size := int(binary.BigEndian.Uint16(b))
		if size > len(b)-2 {
			return nil, nil, fmt.Errorf("%w: %d of %d: %d bytes, %d left", ErrTruncated, i+1, n, size, len(b)-2)
		}
		if size == 0 {
			return nil, nil, fmt.Errorf("%w: %d of %d: empty", ErrInvalid, i+1, n)
		}
		sets = append(sets, b[2:2+size:2+size])
		b = b[2+size:]
	}
	return sets, b, nil
}

// Marshal returns the record in its binary form. Reserved bits are written
// as ones. Parameter sets beyond the counts the record can hold (31 SPS, 255
// PPS and SPS extensions) or longer than 65535 bytes are left out.
func (c *DecoderConfig) Marshal() []byte {
	n := 7
	for _, sets := range [][][]byte{c.SPS, c.PPS} {
		for _, p := range sets {
			n += 2 + len(p)
		}
	}
	ls := byte(c.LengthSize-1) & 3
	b := make([]byte, 0, n)
	b = append(b, 1, c.ProfileIndication, c.ProfileCompatibility, c.LevelIndication, 0xfc|ls)
	b = appendParameterSets(b, c.SPS, 31, 0xe0)
	b = appendParameterSets(b, c.PPS, 255, 0)
	if c.Ext != nil {
		b = append(b, 0xfc|c.Ext.ChromaFormat&3, 0xf8|c.Ext.BitDepthLumaMinus8&7, 0xf8|c.Ext.BitDepthChromaMinus8&7)
		b = appendParameterSets(b, c.Ext.SPSExt, 255, 0)
	}
	return b
}

// appendParameterSets appends a count byte (or-ed with reserved) and up to
// max parameter sets with their 16-bit lengths.
func appendParameterSets(b []byte, sets [][]byte, max int, reserved byte) []byte {
	count := len(b)
	b = append(b, reserved)
	n := 0
	for _, p := range sets {
		if n == max || len(p) == 0 || len(p) > 0xffff {
			continue
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
		n++
	}
	b[count] |= byte(n)
	return b
}

// NewDecoderConfig builds a record with 4-byte NAL unit lengths from
// sequence and picture parameter sets (whole NAL units). Profile and level
// come from the first SPS, which must parse. The parameter sets are copied.
func NewDecoderConfig(sps, pps [][]byte) (*DecoderConfig, error) {
	if len(sps) == 0 || len(pps) == 0 {
		return nil, fmt.Errorf("AVC decoder config: %w: need at least one SPS and one PPS", ErrInvalid)
	}
	s, err := ParseSPS(sps[0])
	if err != nil {
		return nil, fmt.Errorf("AVC decoder config: %w", err)
	}
	c := &DecoderConfig{
		ProfileIndication:    s.ProfileIDC,
		ProfileCompatibility: s.ConstraintFlags,
		LevelIndication:      s.LevelIDC,
		LengthSize:           4,
		SPS:                  cloneAll(sps),
		PPS:                  cloneAll(pps),
	}
	if hasExt(s.ProfileIDC) {
		c.Ext = &DecoderConfigExt{
			ChromaFormat:         uint8(s.ChromaFormatIDC),
			BitDepthLumaMinus8:   uint8(s.BitDepthLuma - 8),
			BitDepthChromaMinus8: uint8(s.BitDepthChroma - 8),
		}
	}
	return c, nil
}

func cloneAll(sets [][]byte) [][]byte {
	out := make([][]byte, len(sets))
	for i, p := range sets {
		out[i] = append([]byte(nil), p...)
	}
	return out
}

// CodecString returns the RFC 6381 codecs parameter, "avc1.PPCCLL"
// (RFC 6381 3.3).
func (c *DecoderConfig) CodecString() string {
	return codecString(c.ProfileIndication, c.ProfileCompatibility, c.LevelIndication)
}

package h264

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Two framings carry NAL units:
//
// Annex B (ITU-T H.264 B.1), used by raw .h264 files, MPEG-TS and ffmpeg
// pipes: each NAL unit follows a start code prefix 0x000001, optionally
// preceded by a zero_byte (the 4-byte start code 0x00000001); zero bytes may
// trail a NAL unit.
//
//	00 00 00 01 | NAL unit | 00 00 01 | NAL unit | ...
//
// AVCC (ISO/IEC 14496-15 5.3.2), used by MP4, FLV/RTMP and Liveloop frames:
// each NAL unit is prefixed by its big-endian length, in lengthSize bytes
// (4 unless the decoder configuration says otherwise).
//
//	| length (4) | NAL unit | length (4) | NAL unit | ...

var startCode = []byte{0, 0, 1}

// SplitAnnexB splits an Annex B byte stream into NAL units. The units are
// sub-slices of b, without start codes or trailing zero bytes; empty units
// are dropped. Bytes before the first start code, other than zero bytes,
// are returned as a NAL unit, so a lone NAL unit without a start code
// splits into itself.
func SplitAnnexB(b []byte) [][]byte {
	var nalus [][]byte
	for len(b) > 0 {
		i := bytes.Index(b, startCode)
		var nal []byte
		if i < 0 {
			nal, b = b, nil
		} else {
			nal, b = b[:i], b[i+len(startCode):]
		}
		// trailing_zero_8bits and the zero_byte of the next start code
		// (B.1.1); a NAL unit never ends in 0x00 (7.4.1).
		nal = bytes.TrimRight(nal, "\x00")
		if len(nal) > 0 {
			nalus = append(nalus, nal)
		}
	}
	return nalus
}

// AppendAVCC appends the NAL units to dst, each prefixed by its length as a
// 4-byte big-endian integer, and returns the extended slice.
func AppendAVCC(dst []byte, nalus ...[]byte) []byte {
	for _, nal := range nalus {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(nal)))
		dst = append(dst, nal...)
	}
	return dst
}

// AnnexBToAVCC converts an Annex B byte stream to AVCC with 4-byte lengths.
func AnnexBToAVCC(b []byte) []byte {
	nalus := SplitAnnexB(b)
	n := 0
	for _, nal := range nalus {
		n += 4 + len(nal)
	}
	return AppendAVCC(make([]byte, 0, n), nalus...)
}

// SplitAVCC splits AVCC data whose lengths take lengthSize bytes (1 to 4)
// into NAL units, sub-slices of b. Zero-length units are dropped. It fails
// with ErrTruncated if a length runs past the end of b.
func SplitAVCC(b []byte, lengthSize int) ([][]byte, error) {
	if lengthSize < 1 || lengthSize > 4 {
		return nil, fmt.Errorf("%w: NAL unit length size %d", ErrInvalid, lengthSize)
	}
	var nalus [][]byte
	for off := 0; off < len(b); {
		if len(b)-off < lengthSize {
			return nil, fmt.Errorf("%w: NAL unit length at offset %d: %d bytes left, need %d",
				ErrTruncated, off, len(b)-off, lengthSize)
		}
		var n uint64
		for _, c := range b[off : off+lengthSize] {
			n = n<<8 | uint64(c)
		}
		off += lengthSize
		if n > uint64(len(b)-off) {
			return nil, fmt.Errorf("%w: NAL unit at offset %d: length %d, %d bytes left",
				ErrTruncated, off, n, len(b)-off)
		}
		if n > 0 {
			nalus = append(nalus, b[off:off+int(n)])
		}
		off += int(n)
	}
	return nalus, nil
}

// AVCCToAnnexB converts AVCC data with 4-byte lengths to an Annex B byte
// stream with 4-byte start codes.
func AVCCToAnnexB(avcc []byte) ([]byte, error) {
	nalus, err := SplitAVCC(avcc, 4)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(avcc))
	for _, nal := range nalus {
		out = append(out, 0, 0, 0, 1)
		out = append(out, nal...)
	}
	return out, nil
}

// IsKeyframe reports whether AVCC data with 4-byte lengths (one access unit,
// as in media.Frame.Data) contains a slice of an IDR picture. It looks no
// further than a truncated length.
func IsKeyframe(avcc []byte) bool {
	for len(avcc) >= 4 {
		n := binary.BigEndian.Uint32(avcc)
		avcc = avcc[4:]
		if n > uint32(len(avcc)) {
			return false
		}
		if n > 0 && NALUType(avcc) == NALUTypeIDR {
			return true
		}
		avcc = avcc[n:]
	}
	return false
}

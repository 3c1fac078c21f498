package whip

import "encoding/binary"

// opusHead returns the Opus identification header (RFC 7845 5.1, mapping
// family 0) that describes a WebRTC Opus stream as media.Track.Config:
// 48 kHz, no pre-skip (an RTP stream has no priming samples to discard).
//
//	"OpusHead" | version 1 | channels | pre-skip (LE16) |
//	input sample rate (LE32) | output gain (LE16) | mapping family 0
func opusHead(channels int) []byte {
	b := append([]byte("OpusHead"), 1, byte(channels))
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 48000)
	b = binary.LittleEndian.AppendUint16(b, 0)
	return append(b, 0)
}

// opusSamples returns the duration of an Opus packet in samples at 48 kHz
// from its TOC byte and frame count (RFC 6716 3.1, 3.2), or 0 if the
// packet is malformed.
func opusSamples(pkt []byte) int64 {
	if len(pkt) == 0 {
		return 0
	}
	toc := pkt[0]
	cfg := toc >> 3
	var frame int64 // samples at 48 kHz
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = [4]int64{480, 960, 1920, 2880}[cfg&3]
	case cfg < 16: // Hybrid: 10, 20 ms
		frame = [2]int64{480, 960}[cfg&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [4]int64{120, 240, 480, 960}[cfg&3]
	}
	var n int64
	switch toc & 3 {
	case 0:
		n = 1
	case 1, 2:
		n = 2
	case 3:
		if len(pkt) < 2 {
			return 0
		}
		n = int64(pkt[1] & 0x3f)
	}
	if d := frame * n; d <= 5760 { // at most 120 ms
		return d
	}
	return 0
}

package whep

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/liveloop/liveloop/media/h264"
)

// H.264 RTP payloads, RFC 6184, non-interleaved mode (packetization-mode=1).
//
// A NAL unit that fits the payload size goes alone (5.6). Consecutive NAL
// units that fit together, such as SPS, PPS and a small slice, share one
// STAP-A (5.7.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|F|NRI| Type=24 |         NALU 1 Size           | NALU 1 HDR    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         NALU 1 Data  ...      | NALU 2 Size   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A larger NAL unit is cut into FU-A fragments (5.8), its header split
// between the FU indicator and the FU header:
//
//	+---------------+---------------+
//	|F|NRI| Type=28 |S|E|R| Type    |  FU payload ...
//	+---------------+---------------+

const (
	naluSTAPA = 24
	naluFUA   = 28
)

// appendH264Payloads appends to dst the RTP payloads of one access unit,
// its NAL units in order, each payload at most size bytes (size > 3).
// Access unit delimiters and filler data are left out.
//
// Each payload is two pieces, appended as two elements of dst: a head
// made for it, and a body that is a piece of one of nalus, shared, not
// copied; a payload is its head followed by its body. A single NAL unit
// is a body alone; a STAP-A a head alone; an FU-A fragment the FU
// indicator and header as its head and its share of the NAL unit as its
// body. So the payloads of a frame, shared by every viewer for as long as
// the hub keeps the frame, cost their heads (2 bytes a fragment), not a
// copy of the frame; each viewer joins the two pieces as it writes a
// packet. The heads are written into scratch, which is returned (grown if
// needed) for reuse with the next access unit. The last payload carries
// the access unit's end (the RTP marker bit).
//
// If the access unit's first payload is an FU-A fragment, it is short by
// first bytes (first < size-3), the size of the header extension its
// packet alone carries (abs-capture-time): then every fragment of a frame
// but the last makes a packet of the same size, and the frame goes out in
// one GSO send (see webrtcapi.Batch).
func appendH264Payloads(dst [][]byte, scratch []byte, nalus [][]byte, size, first int) ([][]byte, []byte) {
	// Reserve the worst case up front so that the heads cut from scratch
	// stay valid: every NAL unit in a STAP-A (its bytes, a 2-byte length,
	// a STAP-A header), every fragment a 2-byte FU header.
	// The payloads are counted too (at most), so that dst grows once: a
	// hub frame keeps its payloads as long as the hub keeps the frame.
	need, pays := 0, 0
	for _, n := range nalus {
		if len(n) <= size {
			need += len(n) + 3
			pays++
		} else {
			k := len(n)/(size-2) + 2
			need += 2 * k
			pays += k
		}
	}
	if cap(scratch) < need {
		scratch = make([]byte, 0, need)
	}
	scratch = scratch[:0]
	dst = slices.Grow(dst, 2*pays)

	var group [][]byte // NAL units waiting to go in one STAP-A
	groupSize := 1     // STAP-A header
	flush := func() {
		switch len(group) {
		case 0:
		case 1:
			dst = append(dst, nil, group[0])
		default:
			start := len(scratch)
			var nri byte
			f := byte(0)
			for _, n := range group {
				nri = max(nri, n[0]&0x60)
				f |= n[0] & 0x80
			}
			scratch = append(scratch, f|nri|naluSTAPA)
			for _, n := range group {
				scratch = binary.BigEndian.AppendUint16(scratch, uint16(len(n)))
				scratch = append(scratch, n...)
			}
			dst = append(dst, scratch[start:len(scratch):len(scratch)], nil)
		}
		group = group[:0]
		groupSize = 1
	}
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n) {
		case h264.NALUTypeAUD, h264.NALUTypeFillerData:
			continue
		}
		if len(n) > size {
			flush()
			// FU-A: the NAL unit header becomes the indicator and FU header.
			ind := n[0]&0xe0 | naluFUA
			typ := n[0] & 0x1f
			data := n[1:]
			for start := true; len(data) > 0; start = false {
				k := min(len(data), size-2)
				if len(dst) == 0 {
					k = min(len(data), size-2-first)
				}
				hdr := typ
				if start {
					hdr |= 0x80
				}
				if k == len(data) {
					hdr |= 0x40
				}
				start := len(scratch)
				scratch = append(scratch, ind, hdr)
				dst = append(dst, scratch[start:len(scratch):len(scratch)], data[:k:k])
				data = data[k:]
			}
			continue
		}
		if len(n) > 0xffff || groupSize+2+len(n) > size {
			flush()
		}
		group = append(group, n)
		groupSize += 2 + len(n)
	}
	flush()
	return dst, scratch
}

// joinPayload returns the payload of head and body: one of them if the
// other is empty, else the two copied into buf (grown if needed).
func joinPayload(buf, head, body []byte) []byte {
	switch {
	case len(head) == 0:
		return body
	case len(body) == 0:
		return head
	}
	return append(append(buf[:0], head...), body...)
}

// accessUnit returns the NAL units of an AVCC frame (4-byte lengths) to
// send: on a keyframe that lacks them, the parameter sets of the track's
// decoder configuration come first, so that a decoder can start from it
// (RTMP publishers send them out of band, in the AVC sequence header).
func accessUnit(dst [][]byte, data []byte, key bool, cfg *h264.DecoderConfig) ([][]byte, error) {
	nalus, err := h264.SplitAVCC(data, 4)
	if err != nil {
		return dst, err
	}
	if key && cfg != nil {
		hasSPS, hasPPS := false, false
		for _, n := range nalus {
			switch h264.NALUType(n) {
			case h264.NALUTypeSPS:
				hasSPS = true
			case h264.NALUTypePPS:
				hasPPS = true
			}
		}
		if !hasSPS || !hasPPS {
			dst = append(dst, cfg.SPS...)
			dst = append(dst, cfg.PPS...)
		}
	}
	return append(dst, nalus...), nil
}

// ntpEpochOffset is the number of seconds from 1900-01-01 (the NTP epoch)
// to 1970-01-01 (the Unix epoch).
const ntpEpochOffset = 2208988800

// ntpTime returns t as a 64-bit NTP timestamp (RFC 5905 6): seconds since
// 1900 in the high 32 bits, the fraction of a second in the low 32, as the
// abs-capture-time header extension carries it.
func ntpTime(t time.Time) uint64 {
	sec := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return sec<<32 | frac
}

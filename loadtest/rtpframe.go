package loadtest

import "encoding/binary"

// H.264 over RTP (RFC 6184), read just far enough to measure: which
// access units hold an IDR slice, and the stamp SEI of each. The WHEP
// server sends packetization-mode 1: single NAL units (5.6), STAP-A
// aggregates of small ones (5.7.1) and FU-A fragments of large ones
// (5.8). The stamp SEI is small (about 35 bytes), so it travels alone or
// in a STAP-A beside the parameter sets; FU-A fragments of an SEI are
// reassembled all the same. Slices are never copied.
//
//	STAP-A: |F|NRI|Type=24| size (16) | NAL unit | size (16) | NAL unit | ...
//	FU-A:   |F|NRI|Type=28|S|E|R| Type | fragment ...

const (
	rtpNALSTAPA = 24
	rtpNALFUA   = 28
	// maxSEISize bounds an SEI reassembled from FU-A fragments.
	maxSEISize = 4096
)

// auAssembler collects what the viewer needs of one access unit from its
// RTP payloads. Feed each payload of a video packet to payload; an access
// unit ends at the packet with the marker bit, or when a packet with a new
// RTP timestamp arrives (the marked one was lost).
type auAssembler struct {
	ts    uint32
	open  bool  // a payload of the access unit at ts has been fed
	key   bool  // it holds an IDR slice
	stamp Stamp // its stamp, if stamped
	// stamped reports that stamp was found.
	stamped bool
	// malformed counts payloads that could not be parsed.
	malformed uint64

	sei  []byte // an SEI NAL unit being reassembled from FU-A fragments
	inFU bool
}

// auFrame is one complete access unit as the assembler saw it.
type auFrame struct {
	key     bool
	stamp   Stamp
	stamped bool
}

// begin starts the access unit at RTP time ts, returning the previous one
// if it was still open (its marked packet never came).
func (a *auAssembler) begin(ts uint32) (auFrame, bool) {
	if a.open && a.ts == ts {
		return auFrame{}, false
	}
	var prev auFrame
	had := a.open
	if had {
		prev = a.finish()
	}
	a.ts, a.open = ts, true
	return prev, had
}

// finish ends the open access unit and returns it.
func (a *auAssembler) finish() auFrame {
	f := auFrame{key: a.key, stamp: a.stamp, stamped: a.stamped}
	a.open, a.key, a.stamped, a.stamp, a.inFU = false, false, false, Stamp{}, false
	a.sei = a.sei[:0]
	return f
}

// payload reads one RTP payload of the open access unit.
func (a *auAssembler) payload(p []byte) {
	if len(p) == 0 {
		a.malformed++
		return
	}
	switch typ := p[0] & 0x1f; typ {
	case rtpNALSTAPA:
		for rest := p[1:]; len(rest) > 0; {
			if len(rest) < 2 {
				a.malformed++
				return
			}
			n := int(binary.BigEndian.Uint16(rest))
			if n == 0 || 2+n > len(rest) {
				a.malformed++
				return
			}
			a.nal(rest[2 : 2+n])
			rest = rest[2+n:]
		}
	case rtpNALFUA:
		if len(p) < 2 {
			a.malformed++
			return
		}
		start, end, ntyp := p[1]&0x80 != 0, p[1]&0x40 != 0, p[1]&0x1f
		if ntyp == 5 {
			a.key = true
		}
		if ntyp != 6 {
			return
		}
		if start {
			a.sei = append(a.sei[:0], p[0]&0xe0|ntyp)
			a.inFU = true
		}
		if !a.inFU {
			return // its start was lost
		}
		if len(a.sei)+len(p)-2 > maxSEISize {
			a.inFU = false
			a.malformed++
			return
		}
		a.sei = append(a.sei, p[2:]...)
		if end {
			a.inFU = false
			a.nal(a.sei)
		}
	case 0, 25, 26, 27, 29, 30, 31:
		// Reserved, or aggregation and fragmentation modes that
		// packetization-mode 1 does not use.
	default:
		a.nal(p)
	}
}

// nal reads one whole NAL unit.
func (a *auAssembler) nal(n []byte) {
	switch n[0] & 0x1f {
	case 5:
		a.key = true
	case 6:
		if a.stamped {
			return
		}
		if s, ok := stampFromSEI(n); ok {
			a.stamp, a.stamped = s, true
		}
	}
}

// rtpSeq follows the sequence numbers of one RTP stream.
type rtpSeq struct {
	last uint16
	have bool
}

// next records sequence number seq and returns how many packets it skipped
// (missing, perhaps retransmitted later) and whether it came late (a
// retransmission or a reordered packet, at or before the newest seen).
func (r *rtpSeq) next(seq uint16) (missing uint64, late bool) {
	if !r.have {
		r.last, r.have = seq, true
		return 0, false
	}
	d := seq - r.last
	if d == 0 || d >= 0x8000 {
		return 0, true
	}
	r.last = seq
	return uint64(d - 1), false
}

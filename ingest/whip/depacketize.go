package whip

import (
	"errors"
	"fmt"
)

// Errors of the depacketizer, wrapped with detail.
var (
	// ErrPayload means an RTP payload breaks RFC 6184.
	ErrPayload = errors.New("whip: bad H.264 RTP payload")
	// ErrUnsupportedPayload means a payload uses the interleaved mode
	// (STAP-B, MTAP, FU-B), which WebRTC does not negotiate.
	ErrUnsupportedPayload = errors.New("whip: unsupported H.264 RTP payload")
	// ErrTooLarge means an access unit exceeds MaxAccessUnit.
	ErrTooLarge = errors.New("whip: access unit too large")
)

// H.264 RTP payload types (RFC 6184 5.2, Table 1), in the nal_unit_type
// field of the payload header.
const (
	naluSTAPA = 24 // single-time aggregation packet
	naluSTAPB = 25
	naluMTAP  = 26 // 26: MTAP16, 27: MTAP24
	naluFUA   = 28 // fragmentation unit
	naluFUB   = 29
)

// MaxAccessUnit bounds the size of one access unit, bytes.
const MaxAccessUnit = 8 << 20

// AccessUnit is one coded picture: every NAL unit sent with one RTP
// timestamp, in decoding order, each without start code or length.
type AccessUnit struct {
	Timestamp uint32
	NALUs     [][]byte
}

// Depacketizer turns H.264 RTP payloads (RFC 6184, packetization modes 0
// and 1) into access units. It is pure: no I/O, no clock.
//
// Packets must come in sequence order (see reorderBuffer); lost says that
// packets are missing before this one. An access unit ends at the packet
// with the marker bit, or when the timestamp changes. A picture that lost
// a packet is dropped whole and counted in Broken: a slice is never taken
// for a picture, nor a part of a picture for the whole.
//
// Payload formats handled:
//
//	single NAL unit (types 1-23):   [NAL header | NAL payload]
//
//	STAP-A (type 24):
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|STAP-A NAL HDR |         NALU 1 Size           | NALU 1 HDR    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         NALU 1 Data  ...      | NALU 2 Size   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//	FU-A (type 28):
//	+---------------+---------------+-------------------------------+
//	|F|NRI|  Type   |S|E|R|  Type   |       FU payload ...          |
//	+---------------+---------------+-------------------------------+
//	  FU indicator     FU header (S: first fragment, E: last)
type Depacketizer struct {
	cur     AccessUnit
	size    int
	active  bool // cur has a timestamp (a packet of it arrived)
	broken  bool // cur lost a packet, or a payload was bad
	fu      []byte
	inFU    bool
	scratch []AccessUnit
	// lostBefore carries a loss reported with a padding packet to the
	// next packet with a payload.
	lostBefore bool

	// Broken counts access units dropped because of loss or bad payloads.
	Broken int
}

// Push takes the next RTP packet, in sequence order. It returns the
// access units this packet completes (none, one, or two when a timestamp
// change ends one picture and the packet's marker the next), valid until
// the next call. An error reports a bad payload; the picture it belongs to
// is dropped, and later packets are still taken.
func (d *Depacketizer) Push(payload []byte, timestamp uint32, marker, lost bool) ([]AccessUnit, error) {
	out := d.scratch[:0]
	if len(payload) == 0 {
		// Padding only (RFC 3550 5.1; senders probe bandwidth with it):
		// not part of any picture, but a loss before it still counts.
		d.lostBefore = d.lostBefore || lost
		return out, nil
	}
	lost = lost || d.lostBefore
	d.lostBefore = false
	if lost && d.active {
		// Packets before this one are missing: the open picture is
		// incomplete (they were its end, or its end and the start of
		// this packet's picture).
		d.broken = true
	}
	if d.active && timestamp != d.cur.Timestamp {
		// The previous picture ended without its marker (not sent, or
		// lost): it is complete unless a fragment is open or a packet
		// was lost.
		if au, ok := d.finish(); ok {
			out = append(out, au)
		}
	}
	if !d.active {
		d.active = true
		d.cur.Timestamp = timestamp
		// The missing packets may have been the start of this picture.
		d.broken = lost
	}
	err := d.payload(payload)
	if err != nil {
		d.broken = true
	}
	if marker {
		if d.inFU {
			d.broken = true
		}
		if au, ok := d.finish(); ok {
			out = append(out, au)
		}
	}
	d.scratch = out
	return out, err
}

// finish ends the current picture and returns it unless it is broken or
// empty.
func (d *Depacketizer) finish() (AccessUnit, bool) {
	au := d.cur
	broken := d.broken || d.inFU
	empty := len(au.NALUs) == 0
	d.cur = AccessUnit{}
	d.size = 0
	d.active = false
	d.broken = false
	d.inFU = false
	d.fu = nil
	if broken {
		d.Broken++
		return AccessUnit{}, false
	}
	return au, !empty
}

func (d *Depacketizer) add(nal []byte) error {
	if len(nal) == 0 {
		return nil
	}
	d.size += len(nal)
	if d.size > MaxAccessUnit {
		return fmt.Errorf("%w: over %d bytes", ErrTooLarge, MaxAccessUnit)
	}
	d.cur.NALUs = append(d.cur.NALUs, append([]byte(nil), nal...))
	return nil
}

func (d *Depacketizer) payload(p []byte) error {
	if len(p) == 0 {
		return fmt.Errorf("%w: empty payload", ErrPayload)
	}
	if p[0]&0x80 != 0 {
		return fmt.Errorf("%w: forbidden_zero_bit set", ErrPayload)
	}
	typ := p[0] & 0x1f
	if typ != naluFUA && d.inFU {
		// A fragmented NAL unit lost its end.
		d.inFU = false
		d.fu = nil
		return fmt.Errorf("%w: fragment not ended", ErrPayload)
	}
	switch {
	case typ >= 1 && typ <= 23:
		return d.add(p)
	case typ == naluSTAPA:
		// RFC 6184 5.7.1.
		rest := p[1:]
		if len(rest) == 0 {
			return fmt.Errorf("%w: empty STAP-A", ErrPayload)
		}
		for len(rest) > 0 {
			if len(rest) < 2 {
				return fmt.Errorf("%w: STAP-A truncated size", ErrPayload)
			}
			n := int(rest[0])<<8 | int(rest[1])
			rest = rest[2:]
			if n == 0 || n > len(rest) {
				return fmt.Errorf("%w: STAP-A unit of %d bytes in %d", ErrPayload, n, len(rest))
			}
			if err := d.add(rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	case typ == naluFUA:
		// RFC 6184 5.8.
		if len(p) < 3 {
			return fmt.Errorf("%w: FU-A of %d bytes", ErrPayload, len(p))
		}
		start, end := p[1]&0x80 != 0, p[1]&0x40 != 0
		if start {
			if d.inFU {
				d.inFU = false
				d.fu = nil
				return fmt.Errorf("%w: FU-A start inside a fragment", ErrPayload)
			}
			if end {
				return fmt.Errorf("%w: FU-A with start and end", ErrPayload)
			}
			d.inFU = true
			d.fu = append(d.fu[:0], p[0]&0xe0|p[1]&0x1f)
		} else if !d.inFU {
			return fmt.Errorf("%w: FU-A fragment without its start", ErrPayload)
		}
		if len(d.fu)+len(p)-2 > MaxAccessUnit {
			d.inFU = false
			d.fu = nil
			return fmt.Errorf("%w: fragmented NAL unit over %d bytes", ErrTooLarge, MaxAccessUnit)
		}
		d.fu = append(d.fu, p[2:]...)
		if end {
			d.inFU = false
			nal := d.fu
			d.fu = nil
			return d.add(nal)
		}
		return nil
	case typ == naluSTAPB, typ == naluMTAP, typ == naluMTAP+1, typ == naluFUB:
		return fmt.Errorf("%w: type %d (interleaved mode)", ErrUnsupportedPayload, typ)
	}
	return fmt.Errorf("%w: NAL unit type %d", ErrPayload, typ)
}

package whip

import (
	"time"

	"github.com/pion/rtp"
)

// reorderSize is the number of packets a reorderBuffer holds: a power of
// two, more than one 2.5 Mbit/s keyframe's worth of packets in flight.
const reorderSize = 512

// reorderBuffer puts the RTP packets of one SSRC back in sequence order.
// A packet that arrives ahead of a gap waits until the gap is filled (a
// reordered or retransmitted packet) or until the oldest waiting packet
// has waited maxDelay, or the buffer is full; the gap is then declared
// lost, and the next packet out carries lost=true.
//
// It is pure (the caller passes the time) and owned by one goroutine.
type reorderBuffer struct {
	maxDelay time.Duration
	slots    [reorderSize]reorderSlot
	next     uint16 // sequence number expected next
	started  bool
	count    int // packets waiting
	lost     bool
	out      []orderedPacket

	// Counters.
	late, duplicate, skipped int
}

type reorderSlot struct {
	pkt *rtp.Packet
	at  time.Time
}

// orderedPacket is a packet released in order; lost says packets were
// lost just before it.
type orderedPacket struct {
	pkt  *rtp.Packet
	at   time.Time
	lost bool
}

func newReorderBuffer(maxDelay time.Duration) *reorderBuffer {
	return &reorderBuffer{maxDelay: maxDelay}
}

// push adds a packet that arrived at at and returns the packets now in
// order, valid until the next call.
func (b *reorderBuffer) push(p *rtp.Packet, at time.Time) []orderedPacket {
	b.out = b.out[:0]
	seq := p.SequenceNumber
	if !b.started {
		b.started = true
		b.next = seq
	}
	diff := int16(seq - b.next)
	switch {
	case diff < 0:
		// Older than what was released: a late packet or a duplicate.
		b.late++
		return b.out
	case int(diff) >= reorderSize:
		// Far ahead (a jump, or a long loss): release everything and
		// restart at this packet.
		b.drain(true)
		b.next = seq
		b.lost = true
	}
	slot := &b.slots[seq%reorderSize]
	if slot.pkt != nil {
		b.duplicate++
		return b.out
	}
	slot.pkt, slot.at = p, at
	b.count++
	b.release(at)
	return b.out
}

// expire releases packets whose gap has waited too long by now; the
// owner calls it periodically so that a gap at the end of a burst does not
// hold packets until the next one arrives.
func (b *reorderBuffer) expire(now time.Time) []orderedPacket {
	b.out = b.out[:0]
	b.release(now)
	return b.out
}

// release emits the packets in order from next, and skips a gap whose
// following packets have waited long enough.
func (b *reorderBuffer) release(now time.Time) {
	for b.count > 0 {
		slot := &b.slots[b.next%reorderSize]
		if slot.pkt != nil {
			b.emit(slot)
			continue
		}
		// A gap: wait unless the oldest waiting packet is too old or
		// the buffer is nearly full.
		oldest, ok := b.oldest()
		if !ok {
			return
		}
		if b.count < reorderSize/2 && now.Sub(oldest) < b.maxDelay {
			return
		}
		b.skipped++
		b.lost = true
		b.next++
	}
}

// oldest returns the arrival time of the waiting packet nearest to next.
func (b *reorderBuffer) oldest() (time.Time, bool) {
	for i := uint16(1); i < reorderSize; i++ {
		if s := &b.slots[(b.next+i)%reorderSize]; s.pkt != nil {
			return s.at, true
		}
	}
	return time.Time{}, false
}

func (b *reorderBuffer) emit(slot *reorderSlot) {
	b.out = append(b.out, orderedPacket{pkt: slot.pkt, at: slot.at, lost: b.lost})
	b.lost = false
	slot.pkt = nil
	b.count--
	b.next++
}

// drain releases every waiting packet in order, marking gaps as lost.
func (b *reorderBuffer) drain(lost bool) {
	for b.count > 0 {
		slot := &b.slots[b.next%reorderSize]
		if slot.pkt != nil {
			b.emit(slot)
			continue
		}
		b.lost = b.lost || lost
		b.skipped++
		b.next++
	}
}

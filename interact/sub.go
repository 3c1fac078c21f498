package interact

import (
	"encoding/json"
	"sync/atomic"
)

// Batch is one message of the viewer channel: a run of events, encoded
// once and shared by every subscriber of its audience (viewers, or staff).
type Batch struct {
	// From and To are the lowest and highest log sequence in the batch
	// (0 when it has only reactions and presence).
	From, To uint64
	// Bytes is the encoded message: {"type":"events","events":[...]}.
	Bytes []byte

	outs      []Out // immutable once the batch is made
	ephemeral bool  // has events without a sequence
}

// eventsMsg is the viewer channel's events message.
type eventsMsg struct {
	Type    string `json:"type"`
	Resumed bool   `json:"resumed,omitempty"`
	Events  []Out  `json:"events"`
}

func newBatch(outs []Out) *Batch {
	b := &Batch{outs: outs}
	for _, o := range outs {
		if o.Seq == 0 {
			b.ephemeral = true
			continue
		}
		if b.From == 0 || o.Seq < b.From {
			b.From = o.Seq
		}
		b.To = max(b.To, o.Seq)
	}
	b.Bytes = encodeEvents(outs, false)
	return b
}

func encodeEvents(outs []Out, resumed bool) []byte {
	if outs == nil {
		outs = []Out{}
	}
	b, err := json.Marshal(eventsMsg{Type: "events", Resumed: resumed, Events: outs})
	if err != nil {
		panic(err) // every Out's data is a plain value made here
	}
	return b
}

// Sub is one viewer's subscription to a room: the first message (a
// snapshot, or the events missed since a sequence) and then the batches
// as the room flushes them. A subscriber that falls SubscriberQueue
// batches behind is cut off: C closes and Lagged reports it; subscribe
// again from LastSeq to carry on without a gap.
type Sub struct {
	// First is the first message to send: a snapshot
	// ({"type":"snapshot","seq",...}) or the missed events
	// ({"type":"events","resumed":true,...}).
	First []byte
	staff bool
	c     chan *Batch
	room  *Room
	skip  uint64 // events up to this sequence are in First
	last  atomic.Uint64
	lag   atomic.Bool
}

// C returns the channel the batches come on, for a select; pass what it
// yields to Filter before sending.
func (s *Sub) C() <-chan *Batch { return s.c }

// Filter returns the bytes to send for b (nil: nothing), dropping what the
// subscription's first message already covered.
func (s *Sub) Filter(b *Batch) []byte {
	if b.To > 0 {
		s.last.Store(max(s.last.Load(), b.To))
	}
	switch {
	case b.From > s.skip || (b.From == 0 && b.To == 0):
		return b.Bytes
	case b.To <= s.skip && !b.ephemeral:
		return nil
	}
	var outs []Out
	for _, o := range b.outs {
		if o.Seq == 0 || o.Seq > s.skip {
			outs = append(outs, o)
		}
	}
	s.skip = 0
	return encodeEvents(outs, false)
}

// LastSeq returns the highest log sequence delivered to the subscriber:
// subscribe again with it as since to resume.
func (s *Sub) LastSeq() uint64 { return s.last.Load() }

// Lagged reports whether the room cut the subscriber off for falling
// behind.
func (s *Sub) Lagged() bool { return s.lag.Load() }

// Close ends the subscription.
func (s *Sub) Close() { s.room.unsubscribe(s) }

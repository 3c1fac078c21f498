package interact

import (
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/liveloop/liveloop/websocket"
)

// Batch is one message of the viewer channel: a run of events, encoded
// once and shared by every subscriber of its audience (viewers, or staff).
type Batch struct {
	// From and To are the lowest and highest log sequence in the batch
	// (0 when it has only reactions and presence).
	From, To uint64
	// Bytes is the encoded message: {"type":"events","events":[...]}.
	Bytes []byte
	// Frame is Bytes as a whole WebSocket text frame (header and
	// payload, Bytes its tail), made once for every connection.
	Frame []byte

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
	msg := encodeEvents(outs, false)
	b.Frame = websocket.AppendFrame(make([]byte, 0, websocket.MaxHeaderLen+len(msg)), websocket.OpText, msg)
	b.Bytes = b.Frame[len(b.Frame)-len(msg):]
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

// A Sink takes a subscriber's messages from the room's fan-out workers,
// which call Send for thousands of subscribers in a row: it must not
// block, but write what it can at once and keep the rest, in order (a
// WebSocket connection's Send). An error cuts the subscriber off, as
// falling behind does.
type Sink interface {
	// Send sends msg, one message of the viewer channel. frame is msg as
	// a whole WebSocket text frame, shared by every subscriber, or nil
	// when msg was made for this subscriber alone. Neither may be
	// modified, and both stay valid.
	Send(msg, frame []byte) error
}

// Sub is one viewer's subscription to a room: the first message (a
// snapshot, or the events missed since a sequence) and then the batches
// as the room flushes them.
//
// Until Attach, the batches come on C: pass each to Filter before
// sending. Once attached to a Sink, the room's fan-out workers hand them
// to the sink directly (no goroutine of the subscriber's is woken per
// batch), and C only closes. A subscriber that falls SubscriberQueue
// batches behind (or whose sink fails) is cut off: C closes and Lagged
// reports it; subscribe again from LastSeq to carry on without a gap.
type Sub struct {
	// First is the first message to send: a snapshot
	// ({"type":"snapshot","seq",...}) or the missed events
	// ({"type":"events","resumed":true,...}).
	First []byte
	staff bool
	id    uint64 // the room's count of subscriptions when it was made
	c     chan *Batch
	room  *Room
	skip  uint64 // events up to this sequence are in First (the deliverer's)
	last  atomic.Uint64
	lag   atomic.Bool

	// mu guards the hand-over from C to the sink, and closing C. Channel
	// operations under it never block (select with default, close).
	mu       sync.Mutex
	sink     Sink // set once, under mu; read-only after attached is set
	attached atomic.Bool
	closed   bool
	dead     atomic.Bool // cut off or stopped: deliver no more
}

// C returns the channel the batches come on, for a select; pass what it
// yields to Filter before sending.
func (s *Sub) C() <-chan *Batch { return s.c }

// Filter returns the bytes to send for b (nil: nothing), dropping what the
// subscription's first message already covered.
func (s *Sub) Filter(b *Batch) []byte {
	msg, _ := s.filter(b)
	s.advance(b)
	return msg
}

// filter returns the message to send for b (nil: nothing) and, when it is
// b's own, its frame.
func (s *Sub) filter(b *Batch) (msg, frame []byte) {
	switch {
	case b.From > s.skip || (b.From == 0 && b.To == 0):
		return b.Bytes, b.Frame
	case b.To <= s.skip && !b.ephemeral:
		return nil, nil
	}
	var outs []Out
	for _, o := range b.outs {
		if o.Seq == 0 || o.Seq > s.skip {
			outs = append(outs, o)
		}
	}
	s.skip = 0
	return encodeEvents(outs, false), nil
}

func (s *Sub) advance(b *Batch) {
	if b.To > 0 {
		s.last.Store(max(s.last.Load(), b.To))
	}
}

// Attach hands the subscription's delivery to sink, after the batches
// waiting on C (sent in order first). Call it once, after sending First,
// from the goroutine that reads C. It returns the sink's error, or
// ErrCutOff if the subscriber was cut off meanwhile.
func (s *Sub) Attach(sink Sink) error {
	for {
		s.mu.Lock()
		var (
			b  *Batch
			ok = true
		)
		select {
		case b, ok = <-s.c:
		default:
		}
		if b == nil {
			closed := s.closed || !ok
			if !closed {
				s.sink = sink
				s.attached.Store(true)
			}
			s.mu.Unlock()
			if closed {
				return ErrCutOff
			}
			return nil
		}
		s.mu.Unlock()
		if msg, frame := s.filter(b); msg != nil {
			if err := sink.Send(msg, frame); err != nil {
				s.cut()
				return err
			}
		}
		s.advance(b)
	}
}

// deliver hands b to the subscriber (its fan-out worker only): to the
// sink once attached, else to C. It reports whether the subscriber was
// cut off.
func (s *Sub) deliver(b *Batch) (cut bool) {
	if s.dead.Load() {
		return false
	}
	if !s.attached.Load() {
		s.mu.Lock()
		if !s.attached.Load() {
			full := false
			if !s.closed {
				select {
				case s.c <- b:
				default:
					full = true
				}
			}
			s.mu.Unlock()
			if full {
				s.cut()
			}
			return full
		}
		s.mu.Unlock()
	}
	msg, frame := s.filter(b)
	if msg != nil {
		if s.sink.Send(msg, frame) != nil {
			s.cut()
			return true
		}
	}
	s.advance(b)
	return false
}

// cut cuts the subscriber off for lagging: it delivers no more, and C
// closes.
func (s *Sub) cut() {
	s.lag.Store(true)
	s.stop()
}

// stop ends delivery and closes C (once).
func (s *Sub) stop() {
	s.dead.Store(true)
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.c)
	}
	s.mu.Unlock()
}

// LastSeq returns the highest log sequence delivered to the subscriber:
// subscribe again with it as since to resume.
func (s *Sub) LastSeq() uint64 { return s.last.Load() }

// Lagged reports whether the room cut the subscriber off for falling
// behind.
func (s *Sub) Lagged() bool { return s.lag.Load() }

// Close ends the subscription.
func (s *Sub) Close() { s.room.unsubscribe(s) }

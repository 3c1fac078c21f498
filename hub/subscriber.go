package hub

import (
	"context"
	"time"
)

// MaxBatch bounds the packets one Next call returns. A new subscriber's
// first batches are the GOP cache; small batches keep what a writer sizes
// for them (its vectored-write lists) small for the rest of its life.
const MaxBatch = 32

// Subscriber reads a stream's packets from the shared ring at its own pace.
// A Subscriber is used by one goroutine.
type Subscriber struct {
	stream *Stream
	cursor uint64 // Seq of the next packet to return
	// waitKey: skip packets until one a decoder can start from.
	waitKey bool
	state   State
	skips   uint64
	closed  bool
	// internal subscribers (the server's own consumers) are not counted.
	internal bool
	buf      []*Packet
	// cues skipped over by a catch-up, to deliver before what follows.
	cues []*Packet
}

// Batch is what one Next call returns. Cue packets (Packet.Cue set) come in
// order with the frames and are never skipped.
type Batch struct {
	// Packets in stream order, valid until the next call to Next. The first
	// packet after a skip, or under a new TrackSet, is a keyframe.
	Packets []*Packet
	// State is the stream's state now.
	State State
	// Skipped counts the packets skipped just before these because the
	// subscriber had fallen too far behind.
	Skipped uint64
}

func (s *Stream) subscribe(internal bool) (*Subscriber, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == StateEnded {
		return nil, ErrEnded
	}
	sub := &Subscriber{stream: s, internal: internal, buf: make([]*Packet, 0, 16)}
	if s.gop != 0 && s.atLocked(s.gop) != nil {
		sub.cursor = s.gop // fast start: from the newest keyframe
	} else {
		sub.cursor = s.next
		sub.waitKey = s.gop != 0
	}
	if !internal {
		s.subs++
		s.hub.stats.subscribers.Add(1)
	}
	return sub, nil
}

// Skips returns how many times this subscriber skipped to a keyframe.
func (sub *Subscriber) Skips() uint64 { return sub.skips }

// Close releases the subscriber.
func (sub *Subscriber) Close() {
	s := sub.stream
	s.mu.Lock()
	if !sub.closed {
		sub.closed = true
		if !sub.internal {
			s.subs--
			s.hub.stats.subscribers.Add(-1)
		}
	}
	s.mu.Unlock()
}

// Next returns the next packets, waiting until there are some, the stream's
// state changes, or ctx is done. After the stream has ended it returns
// ErrEnded.
//
// Next coalesces a video stream's audio with the video frame that follows it,
// so that a writer makes one write per video frame; audio waits at most
// Config.AudioHold for its video frame.
func (sub *Subscriber) Next(ctx context.Context) (Batch, error) {
	var holdTimer <-chan struct{}
	for {
		b, ok, wake, err := sub.Poll()
		if err != nil || ok {
			return b, err
		}
		if wake.Hold > 0 && holdTimer == nil {
			ch := make(chan struct{})
			stop := sub.stream.hub.clock.AfterFunc(wake.Hold, func() { close(ch) })
			defer stop()
			holdTimer = ch
		}
		select {
		case <-wake.Notify:
		case <-holdTimer:
			holdTimer = nil
		case <-ctx.Done():
			return Batch{}, ctx.Err()
		}
	}
}

// Wake says when a subscriber that Poll found nothing for should poll
// again: once Notify is closed (the stream changed), or once Hold has
// passed, if it is not zero (audio held back for its video frame must go
// then; the stream also wakes its subscribers for that, see appendLocked).
type Wake struct {
	Notify <-chan struct{}
	Hold   time.Duration
}

// Poll is Next without the wait: it returns the batch Next would return
// now, and ok true, or, if there is nothing to return (no packets, skip or
// change of state), ok false and when to poll again. After the stream has
// ended it returns ErrEnded. The Batch's Packets are valid until the next
// call to Poll or Next.
func (sub *Subscriber) Poll() (b Batch, ok bool, wake Wake, err error) {
	s := sub.stream
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.state == StateEnded {
		return Batch{State: StateEnded}, false, Wake{}, ErrEnded
	}
	b = Batch{State: s.state}
	b.Skipped = sub.catchUpLocked()
	wake.Hold = sub.collectLocked(s.hub.clock.Now(), s.hub.cfg.AudioHold)
	b.Packets = sub.buf
	wake.Notify = s.notify
	changed := b.State != sub.state
	sub.state = b.State
	if len(b.Packets) > 0 || changed || b.Skipped > 0 {
		return b, true, Wake{}, nil
	}
	return b, false, wake, nil
}

// Stream returns the stream the subscriber reads.
func (sub *Subscriber) Stream() *Stream { return sub.stream }

// catchUpLocked moves a subscriber that fell too far behind to the newest
// keyframe, returning the number of packets skipped.
func (sub *Subscriber) catchUpLocked() uint64 {
	s := sub.stream
	if sub.cursor >= s.next {
		return 0
	}
	cur := s.atLocked(sub.cursor)
	lagging := cur == nil // overwritten: the ring went round
	if !lagging {
		newest := s.atLocked(s.next - 1)
		lagging = newest.Wall().Sub(cur.Wall()) > s.hub.cfg.MaxLag
	}
	if !lagging {
		return 0
	}
	from := sub.cursor
	defer func() {
		// Frames may be skipped, cues may not: carry them over.
		for seq := from; seq < sub.cursor; seq++ {
			if p := s.atLocked(seq); p != nil && p.Cue != nil && len(sub.cues) < MaxBatch {
				sub.cues = append(sub.cues, p)
			}
		}
	}()
	if s.gop > sub.cursor && s.atLocked(s.gop) != nil {
		sub.cursor = s.gop
		sub.waitKey = false
	} else {
		// No newer keyframe yet: drop what is queued and start at the next.
		sub.cursor = s.next
		sub.waitKey = true
	}
	sub.skips++
	s.hub.stats.skips.Add(1)
	return sub.cursor - from
}

// collectLocked fills sub.buf with the packets to return now: cues carried
// over a catch-up, then the ring from the cursor. If it holds back trailing
// audio for the next video frame it returns how long until that audio must
// go anyway.
func (sub *Subscriber) collectLocked(now time.Time, audioHold time.Duration) time.Duration {
	s := sub.stream
	sub.buf = append(sub.buf[:0], sub.cues...)
	carried := len(sub.buf)
	clear(sub.cues)
	sub.cues = sub.cues[:0]
	lastVideo := -1
	seq := sub.cursor
	for seq < s.next && len(sub.buf) < MaxBatch {
		p := s.atLocked(seq)
		seq++
		if sub.waitKey && p.Cue == nil {
			if !startsDecoding(p) {
				continue
			}
			sub.waitKey = false
		}
		sub.buf = append(sub.buf, p)
		if p.Video {
			lastVideo = len(sub.buf) - 1
		}
	}
	sub.cursor = seq
	n := len(sub.buf)
	held := max(lastVideo+1, carried)
	for _, p := range sub.buf[held:] {
		if p.Cue != nil {
			held = n // a cue goes at once: it must reach players before its frame is shown
			break
		}
	}
	if held < n && n < MaxBatch && sub.buf[n-1].Tracks.Video >= 0 {
		// Trailing audio of a stream with video: send it with the next
		// video frame unless it has waited long enough.
		if waited := now.Sub(sub.buf[held].Wall()); waited < audioHold {
			sub.cursor = sub.buf[held].Seq
			sub.buf = sub.buf[:held]
			return audioHold - waited
		}
	}
	return 0
}

// startsDecoding reports whether a subscriber can start at p.
func startsDecoding(p *Packet) bool {
	if p.Tracks.Video >= 0 {
		return p.Video && p.Frame.Key
	}
	return p.Frame.Key
}

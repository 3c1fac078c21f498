package whep

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/webrtcapi"
)

// The live writers. A viewer has no goroutine of its own: each hub stream
// with viewers has a live writer, a few goroutines (one per CPU) that
// serve all of them. When the stream has news (its change channel,
// hub.Stream.Changed, closes), a viewer joins or leaves, or audio held
// back for its video frame is due, the writer runs a round: the viewers,
// in chunks of liveChunk that the writer's goroutines take in turn until
// none are left, are each drained without waiting (hub.Subscriber.Poll,
// see viewer.serve) and what they get is written: the frames as RTP, the
// companion's audio, one flush of the peer's webrtcapi.Batch. The next
// round starts when this one is over, so a viewer is served by one
// goroutine at a time, in order, and its Subscriber, writer and batch are
// touched by nothing else. Between rounds the writer adds the viewers
// that joined and lets go of those whose sessions ended (closing their
// subscribers, companions and batches, then releasing their sessions, see
// resource.Session.Hold); it stops once it has none.
//
// Why: a goroutine per viewer kept a stack sized for the deepest write
// (pion's SRTP and ICE, the batch) for as long as the viewer watched, and
// a frame woke one goroutine per viewer; the writers' few stacks are
// shared by all viewers. No viewer's write waits on its peer: over UDP
// every viewer shares one socket, and over ICE-TCP pion's mux queues what
// is written to each connection (webrtcapi.Transport gives it a write
// buffer) and fails the write, which ends that session, once a stalled
// peer's queue is full.

// liveChunk is how many viewers a writer goroutine serves at a time: small
// enough that the goroutines of a round finish together (a viewer's frame
// is some tens of microseconds of writes), large enough that they do not
// contend for the next chunk.
const liveChunk = 8

// live holds a handler's live writers.
type live struct {
	mu      sync.Mutex
	writers map[*hub.Stream]*liveWriter
	closed  bool
	quit    chan struct{} // closed by Handler.Close
	wg      sync.WaitGroup
}

// viewer is a session its stream's live writer serves.
type viewer struct {
	s       *session
	w       *mainWriter
	sub     *hub.Subscriber
	batch   *webrtcapi.Batch // nil: not batched (see session.batch)
	release func()           // the session's hold (resource.Session.Hold)
	left    atomic.Bool      // the session ended: the writer lets go of it
}

// close releases what the viewer holds, and lets its session finish.
func (v *viewer) close() {
	v.sub.Close()
	if v.w.companion != nil {
		v.w.companion.close()
	}
	if v.batch != nil {
		v.batch.Close()
	}
	v.release()
}

// liveShare is how many of a viewer's frames a round writes before it
// goes on to the next viewer (finishing the batch from the hub it is in,
// at most hub.MaxBatch packets): a viewer catching up (its first GOP, or
// after a skip or a PLI) does not hold back the others' live frames for
// all of its backlog; the rest goes in the next rounds.
const liveShare = 8

// serve drains the viewer's subscriber without waiting and writes what it
// returns: the frames as RTP, the companion's audio, one flush of the
// batch. It stops early, reporting more, after the batch that brought
// it to liveShare frames; otherwise, if the subscriber holds audio back for its video
// frame, it returns how long until the audio is due.
func (v *viewer) serve() (hold time.Duration, more bool) {
	s, w := v.s, v.w
	written := 0
	for {
		if s.Context().Err() != nil {
			return 0, false
		}
		if written >= liveShare {
			return 0, true
		}
		select {
		case <-s.keyframe:
			now := s.h.cfg.Now()
			if w.video != nil && now.Sub(w.lastKey) >= s.h.cfg.KeyframeInterval {
				// Restart from the GOP cache: the newest keyframe and the
				// frames since, on the compressed clock.
				nsub, err := s.h.cfg.Hub.Subscribe(s.Stream())
				if err == nil && nsub.Stream() != v.sub.Stream() {
					// The stream ended and another of its name began:
					// this one reports its end.
					nsub.Close()
				} else if err == nil {
					v.sub.Close()
					v.sub = nsub
					w.catchUp()
				}
			}
		default:
		}
		b, ok, wake, err := v.sub.Poll()
		if err != nil {
			if errors.Is(err, hub.ErrEnded) {
				s.End("stream ended")
			}
			return 0, false
		}
		if !ok {
			return wake.Hold, false
		}
		written += len(b.Packets)
		if b.Skipped > 0 {
			w.catchUp()
		}
		if v.batch != nil {
			v.batch.Open()
		}
		for _, p := range b.Packets {
			if err := w.write(p); err != nil {
				s.End("write: " + err.Error())
				return 0, false
			}
		}
		if w.companion != nil {
			if err := w.companion.poll(); err != nil {
				s.End("write: " + err.Error())
				return 0, false
			}
		}
		if v.batch != nil {
			if err := v.batch.Flush(); err != nil {
				s.End("write: " + err.Error())
				return 0, false
			}
		}
	}
}

// join adds v to its stream's live writer, starting one if the stream has
// none. The viewer leaves when its session's context ends.
func (h *Handler) join(v *viewer) {
	st := v.sub.Stream()
	h.live.mu.Lock()
	if h.live.closed {
		h.live.mu.Unlock()
		v.s.End("shutting down")
		v.close()
		return
	}
	lw := h.live.writers[st]
	if lw == nil {
		lw = newLiveWriter(h, st)
		if h.live.writers == nil {
			h.live.writers = make(map[*hub.Stream]*liveWriter)
		}
		h.live.writers[st] = lw
		lw.start()
	}
	lw.mu.Lock()
	lw.joining = append(lw.joining, v)
	lw.mu.Unlock()
	h.live.mu.Unlock()
	lw.poke()
	context.AfterFunc(v.s.Context(), func() {
		v.left.Store(true)
		lw.poke()
	})
}

// closeLive stops the live writers (Handler.Close, before it ends the
// sessions), which let go of their viewers, and waits for their
// goroutines. A viewer that connects afterwards is ended (see join).
func (h *Handler) closeLive() {
	h.live.mu.Lock()
	h.live.closed = true
	close(h.live.quit)
	h.live.mu.Unlock()
	h.live.wg.Wait()
}

// liveWriter writes one hub stream to its viewers (see above).
type liveWriter struct {
	h  *Handler
	st *hub.Stream

	mu      sync.Mutex
	joining []*viewer // added to viewers before the next round

	viewers []*viewer     // the run goroutine's, in the order they joined
	served  atomic.Int32  // len(viewers), for tests
	kick    chan struct{} // a viewer joined or left
	lanes   []chan *round // the helpers'
	stop    chan struct{} // closed when run returns: the helpers return
	timer   *time.Timer   // pokes when audio held back is due
}

func newLiveWriter(h *Handler, st *hub.Stream) *liveWriter {
	lw := &liveWriter{h: h, st: st, kick: make(chan struct{}, 1), stop: make(chan struct{})}
	lw.timer = time.AfterFunc(time.Hour, lw.poke)
	lw.timer.Stop()
	lw.lanes = make([]chan *round, runtime.GOMAXPROCS(0)-1)
	for i := range lw.lanes {
		lw.lanes[i] = make(chan *round, 1)
	}
	return lw
}

// start starts the writer's goroutines: run, and a helper per other CPU.
// The handler's live.wg counts them.
func (lw *liveWriter) start() {
	lw.h.live.wg.Add(1 + len(lw.lanes))
	go lw.run()
	for _, lane := range lw.lanes {
		go lw.help(lane)
	}
}

// poke has the writer run a round soon.
func (lw *liveWriter) poke() {
	select {
	case lw.kick <- struct{}{}:
	default:
	}
}

// round is one pass of a writer over its viewers.
type round struct {
	viewers []*viewer // not modified during the round
	next    atomic.Int64
	served  atomic.Int64
	done    chan struct{} // closed when served reaches len(viewers)
	hold    atomic.Int64  // the shortest hold a viewer returned, ns; 0: none
	more    atomic.Bool   // a viewer stopped at its share (see serve)
}

// run is the writer's first goroutine: it waits for news, updates the
// viewers between rounds, hands each round to as many helpers as it has
// chunks for, and serves chunks of it too. It waits for news (a change of
// the stream, a viewer joining or leaving, held audio due: a poke), then
// for the round to be over, before the next round.
func (lw *liveWriter) run() {
	defer lw.h.live.wg.Done()
	defer close(lw.stop)
	defer lw.timer.Stop()
	for {
		// Taken before the viewers are polled: a packet that comes during
		// the round closes it, and the next round sends it.
		changed := lw.st.Changed()
		if !lw.update() {
			return
		}
		r := &round{viewers: lw.viewers, done: make(chan struct{})}
		chunks := (len(r.viewers) + liveChunk - 1) / liveChunk
		for _, lane := range lw.lanes[:min(len(lw.lanes), chunks-1)] {
			lane <- r
		}
		lw.work(r)
		select {
		case <-changed:
		case <-lw.kick:
		case <-lw.h.live.quit:
		}
		// The round is over by now, as a rule: a helper's last chunk does
		// not wake this goroutine up when it is not.
		<-r.done
	}
}

// update adds the viewers that joined and lets go of those that left. It
// reports false, having stopped the writer, if none are left, or if the
// handler is closed (having let go of them all).
func (lw *liveWriter) update() bool {
	quit := false
	select {
	case <-lw.h.live.quit:
		quit = true
	default:
	}
	for {
		lw.mu.Lock()
		lw.viewers = append(lw.viewers, lw.joining...)
		clear(lw.joining)
		lw.joining = lw.joining[:0]
		lw.mu.Unlock()
		kept := lw.viewers[:0]
		for _, v := range lw.viewers {
			if quit || v.left.Load() {
				v.close()
			} else {
				kept = append(kept, v)
			}
		}
		clear(lw.viewers[len(kept):])
		lw.viewers = kept
		lw.served.Store(int32(len(kept)))
		if len(kept) > 0 {
			return true
		}
		// None left: stop, unless one joined meanwhile (join holds
		// live.mu while it adds one).
		lw.h.live.mu.Lock()
		lw.mu.Lock()
		stop := len(lw.joining) == 0
		if stop {
			delete(lw.h.live.writers, lw.st)
		}
		lw.mu.Unlock()
		lw.h.live.mu.Unlock()
		if stop {
			return false
		}
	}
}

// help is a helper goroutine of the writer: it serves chunks of the
// rounds it is given until the writer stops.
func (lw *liveWriter) help(lane chan *round) {
	defer lw.h.live.wg.Done()
	for {
		select {
		case r := <-lane:
			lw.work(r)
		case <-lw.stop:
			return
		}
	}
}

// work serves chunks of r's viewers until none are left.
func (lw *liveWriter) work(r *round) {
	n := int64(len(r.viewers))
	for {
		lo := r.next.Add(liveChunk) - liveChunk
		if lo >= n {
			return
		}
		hi := min(lo+liveChunk, n)
		var hold time.Duration
		for _, v := range r.viewers[lo:hi] {
			d, more := v.serve()
			if more {
				r.more.Store(true)
			}
			if d > 0 && (hold == 0 || d < hold) {
				hold = d
			}
		}
		for hold > 0 {
			old := r.hold.Load()
			if (old != 0 && old <= int64(hold)) || r.hold.CompareAndSwap(old, int64(hold)) {
				break
			}
		}
		if r.served.Add(hi-lo) == n {
			// The last chunk: run the next round at once if a viewer has
			// more to write, or when held audio is due. A timer left from
			// an earlier round only makes a round more.
			if r.more.Load() {
				lw.poke()
			} else if hold := r.hold.Load(); hold > 0 {
				lw.timer.Reset(time.Duration(hold))
			}
			close(r.done)
		}
	}
}

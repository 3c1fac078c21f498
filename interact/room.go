package interact

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Room is one stream's interactive room. One goroutine owns its state: it
// applies the log as the room's consumer delivers it, answers typed
// requests, and flushes events to subscribers. Everything else talks to it
// through the request channel.
type Room struct {
	name  string
	token string
	rs    *Rooms
	log   *slog.Logger

	reqs  chan any
	msgs  chan logEntry
	ackC  chan batchAck  // acknowledgements of the room's batches
	live  chan *nats.Msg // reactions and presence from every node
	quit  chan struct{}  // closed (once, by stop) to stop the room
	once  sync.Once
	done  chan struct{} // closed when the goroutine has ended
	ready chan struct{} // closed when the replay is done

	limiter limiter // chat and reaction rate limits, own mutex
	react   reactionCounter

	// Admission (see admit): commands taken and not yet answered, and how
	// long (ns) the last one to reach the log took to be answered.
	inflight atomic.Int64
	lastLat  atomic.Int64

	ackPrefix string // the room's ack inbox, "_INBOX.{nuid}.": a batch's reply is ackPrefix+id

	// Owned by the room's goroutine.
	st           *state
	replayTo     uint64 // log sequence at start: events up to it are replay
	replaying    bool
	waiters      map[string][]*waiter // by idempotency key, until judged
	appending    map[string]*batch    // keys a batch of this room carries, until judged
	queued       []*batch             // batches not yet published, the last one open
	unacked      []*batch             // batches published, not yet acknowledged
	batchID      uint64
	subs         map[*Sub]struct{}
	fanSubs      []*Sub // subs to fan out to, rebuilt (never modified) when fanDirty
	fanDirty     bool
	subSeq       uint64 // subscriptions made (Sub.id)
	pending      []Out
	lastFlush    time.Time
	flushArm     bool
	ring         []Out // recent flushed events, for resuming (circular)
	ringHead     int
	ringLen      int
	ringFloor    uint64
	remote       map[string]remoteCount // presence of other nodes
	lastPres     int
	presAt       time.Time
	lastUse      time.Time
	relAfter     time.Time // held messages released up to here
	closing      map[string]bool
	lastCue      time.Time
	appliedWaits []appliedReq
	snapSeq      uint64    // the sequence of the last snapshot (stored or loaded)
	sinceSnap    int       // events applied since it
	snapAt       time.Time // when the room last made a snapshot
	urgent       bool      // pending has staff events: flush at once
}

type remoteCount struct {
	n  int
	at time.Time
}

// Requests the room's goroutine answers.
type (
	prepareReq struct {
		actor Actor
		cmd   *Command
		key   string
		reply chan prepareResp
	}
	prepareResp struct {
		ev     Event
		wait   chan Result
		done   *Result
		expect uint64
		err    error
	}
	cancelReq struct {
		key  string
		wait chan Result
	}
	// logEntry is one log message as the room's consumer decoded it.
	logEntry struct {
		seq    uint64
		ctl    bool
		events []Event
		err    error // undecodable: skipped
	}
	dupReq struct {
		key string
		seq uint64
	}
	appliedReq struct {
		seq   uint64
		reply chan struct{}
	}
	subscribeReq struct {
		since uint64
		staff bool
		reply chan *Sub
	}
	unsubscribeReq struct{ sub *Sub }
	readReq        struct {
		fn   func(*state, int)
		done chan struct{}
	}
)

func newRoom(rs *Rooms, name string) *Room {
	return &Room{
		name: name, token: subjectToken(name), rs: rs,
		log:       rs.log.With("stream", name),
		reqs:      make(chan any, 64),
		msgs:      make(chan logEntry, 256),
		ackC:      make(chan batchAck, 2*maxBatchesInFlight),
		live:      make(chan *nats.Msg, 256),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		ready:     make(chan struct{}),
		limiter:   limiter{m: map[string]*bucket{}},
		react:     newReactionCounter(rs.cfg.Emoji),
		st:        newState(rs.lim),
		waiters:   map[string][]*waiter{},
		appending: map[string]*batch{},
		subs:      map[*Sub]struct{}{},
		remote:    map[string]remoteCount{},
		closing:   map[string]bool{},
		ring:      make([]Out, rs.cfg.EventRing),
	}
}

// start subscribes to the room's log and live subjects and runs its
// goroutine. The room is ready (its state replayed) when r.ready closes.
func (r *Room) start(ctx context.Context) error {
	js := r.rs.cfg.JetStream
	stream, err := js.Stream(ctx, StreamName)
	if err != nil {
		return err
	}
	last, err := stream.GetLastMsgForSubject(ctx, subjAll(r.token))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return err
	default:
		r.replayTo = last.Sequence
	}
	occ := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subjAll(r.token)}, DeliverPolicy: jetstream.DeliverAllPolicy}
	if im := r.loadSnapshot(ctx); im != nil {
		if im.Seq > r.replayTo {
			r.log.Warn("room snapshot ahead of the log; replaying the whole log", "snapshot", im.Seq, "log", r.replayTo)
		} else {
			r.st = im.restore(r.rs.lim)
			r.snapSeq, r.ringFloor = im.Seq, im.Seq
			occ.DeliverPolicy, occ.OptStartSeq = jetstream.DeliverByStartSequencePolicy, im.Seq+1
		}
	}
	cons, err := js.OrderedConsumer(ctx, StreamName, occ)
	if err != nil {
		return err
	}
	// Messages are decoded on the consumer's goroutine, not the room's.
	ctlSubj := subjCtl(r.token)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			r.log.Error("log message without metadata", "err", err)
			return
		}
		e := logEntry{seq: md.Sequence.Stream, ctl: m.Subject() == ctlSubj}
		e.events, e.err = decodeLog(m.Data())
		select {
		case r.msgs <- e:
		case <-r.quit:
		}
	})
	if err != nil {
		return err
	}
	liveSub, err := r.rs.cfg.NATS.ChanSubscribe("live."+r.token+".*", r.live)
	if err != nil {
		cc.Stop()
		return err
	}
	r.ackPrefix = r.rs.cfg.NATS.NewInbox() + "."
	ackSub, err := r.rs.cfg.NATS.Subscribe(r.ackPrefix+"*", r.ackHandler())
	if err != nil {
		liveSub.Unsubscribe()
		cc.Stop()
		return err
	}
	r.replaying = r.replayTo > r.st.seq
	r.lastUse = r.rs.now()
	r.relAfter = r.rs.now()
	r.rs.wg.Add(1)
	go func() {
		defer r.rs.wg.Done()
		defer close(r.done)
		defer liveSub.Unsubscribe()
		defer ackSub.Unsubscribe()
		defer cc.Stop()
		r.run()
	}()
	return nil
}

func (r *Room) run() {
	cfg := &r.rs.cfg
	if !r.replaying {
		close(r.ready)
	}
	flush := time.NewTimer(time.Hour)
	flush.Stop()
	wake := time.NewTimer(time.Hour) // poll timers and held messages
	wake.Stop()
	tick := time.NewTicker(cfg.ReactionWindow)
	defer tick.Stop()
	var reqs chan any // nil while replaying
	if !r.replaying {
		reqs = r.reqs
		r.arm(wake)
	}
	for {
		select {
		case m := <-r.msgs:
			r.applyMsg(m)
			if r.replaying && r.st.seq >= r.replayTo {
				r.replaying = false
				reqs = r.reqs
				r.log.Debug("room replayed", "from", r.snapSeq, "events", r.sinceSnap)
				close(r.ready)
			}
			if !r.replaying {
				if r.sinceSnap >= cfg.SnapshotEvery && r.rs.now().Sub(r.snapAt) >= cfg.SnapshotMinInterval {
					r.snapAt = r.rs.now()
					r.snapshot(false)
				}
				r.arm(wake)
				r.scheduleFlush(flush)
			}
		case req := <-reqs:
			r.lastUse = r.rs.now()
			r.handle(req)
			// Take what else has come before publishing, so that a batch
			// gathers what is already waiting.
			for range len(r.reqs) {
				r.handle(<-r.reqs)
			}
			r.publish()
			r.scheduleFlush(flush)
		case a := <-r.ackC:
			r.onAck(a)
		case m := <-r.live:
			r.handleLive(m)
			r.scheduleFlush(flush)
		case <-flush.C:
			r.flushArm = false
			r.flush()
		case <-wake.C:
			r.wake()
			r.arm(wake)
			r.scheduleFlush(flush)
		case <-tick.C:
			if r.replaying {
				continue
			}
			r.tick()
			r.checkAcks()
			r.scheduleFlush(flush)
			if r.idle() {
				r.log.Debug("room idle, stopping")
				r.stop()
				r.stopSubs()
				r.snapshot(true)
				return
			}
		case <-r.quit:
			r.stopSubs()
			r.snapshot(true)
			r.closeBatches()
			for _, q := range r.appliedWaits {
				close(q.reply)
			}
			return
		}
	}
}

func (r *Room) applyMsg(e logEntry) {
	if e.err != nil {
		// Not ours to judge: skip it, but move the sequence on.
		r.log.Warn("undecodable message in the log", "seq", e.seq, "err", e.err)
		r.st.advance(e.seq, e.ctl)
		return
	}
	r.st.advance(e.seq, e.ctl)
	for i := range e.events {
		ev := &e.events[i]
		res, outs, fresh := r.st.apply(e.seq, i, e.ctl, ev)
		r.pending = append(r.pending, outs...)
		if len(outs) > 0 && ev.Actor.Role.Staff() {
			r.urgent = true
		}
		r.judge(ev.Key, res)
		if fresh && res.Err == nil && !r.replaying && e.seq > r.replayTo && ev.Node == r.rs.cfg.NodeID {
			r.cue(ev)
		}
	}
	r.rs.metrics.applied.Add(int64(len(e.events)))
	r.sinceSnap += len(e.events)
	if len(r.appliedWaits) > 0 {
		r.appliedWaits = slices.DeleteFunc(r.appliedWaits, func(q appliedReq) bool {
			if q.seq <= r.st.seq {
				close(q.reply)
				return true
			}
			return false
		})
	}
}

// cue posts the in-band cue for an event viewers should see with the
// picture. Only the node that appended the event posts it.
func (r *Room) cue(ev *Event) {
	c := &ev.Cmd
	switch c.Type {
	case CmdPollCreate:
		if c.Poll.Open {
			r.rs.postCue(r.name, "poll.opened", r.st.polls[r.st.openPoll].view(false))
		}
	case CmdPollOpen:
		r.rs.postCue(r.name, "poll.opened", r.st.polls[c.ID].view(false))
	case CmdPollClose:
		r.rs.postCue(r.name, "poll.closed", r.st.polls[c.ID].view(false))
	case CmdChatPin:
		r.rs.postCue(r.name, "chat.pinned", r.st.pinned)
	case CmdChatUnpin:
		r.rs.postCue(r.name, "chat.unpinned", struct{}{})
	case CmdAnswer:
		r.rs.postCue(r.name, "qa.answered", r.st.questions[c.ID].QuestionView)
	}
}

func (r *Room) handle(req any) {
	switch q := req.(type) {
	case prepareReq:
		q.reply <- r.prepare(q)
	case appendReq:
		r.doAppend(q)
	case cancelReq:
		ws := r.waiters[q.key]
		for i, w := range ws {
			if w.c == q.wait {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(r.waiters, q.key)
		} else {
			r.waiters[q.key] = ws
		}
	case dupReq:
		// JetStream dropped a duplicate whose original was applied: if its
		// verdict has been forgotten, it was applied once, all the same.
		if _, ok := r.st.keys.verdict(q.key); !ok && q.seq <= r.st.seq {
			r.judge(q.key, Result{Seq: q.seq})
		}
	case appliedReq:
		if r.st.seq >= q.seq {
			close(q.reply)
			return
		}
		r.appliedWaits = append(r.appliedWaits, q)
	case subscribeReq:
		q.reply <- r.subscribe(q.since, q.staff)
	case unsubscribeReq:
		if _, ok := r.subs[q.sub]; ok {
			delete(r.subs, q.sub)
			r.fanDirty = true
			q.sub.stop()
		}
	case readReq:
		q.fn(r.st, r.viewers())
		close(q.done)
	}
}

// prepare checks a command against the state and, if it may go on, makes
// its event and registers a waiter for its verdict.
func (r *Room) prepare(q prepareReq) prepareResp {
	if res, ok := r.st.keys.verdict(q.key); ok {
		return prepareResp{done: &res}
	}
	if len(r.waiters) >= r.rs.cfg.MaxWaiters {
		r.rs.metrics.busy.Add(1)
		return prepareResp{err: ErrBusy}
	}
	now := r.rs.now()
	ev := Event{Cmd: *q.cmd, Key: q.key, Actor: q.actor, At: now, Node: r.rs.cfg.NodeID}
	ev.Cmd.Key = ""
	switch q.cmd.Type {
	case CmdChatSend:
		if r.rs.cfg.Hold > 0 && !q.actor.Role.Staff() {
			ev.HoldUntil = now.Add(r.rs.cfg.Hold)
		}
	case CmdAsk:
		ev.Pending = r.rs.cfg.QAModeration && !q.actor.Role.Staff()
	}
	if err := r.st.check(&ev); err != nil {
		return prepareResp{err: err}
	}
	w := &waiter{c: make(chan Result, 1)}
	r.waiters[q.key] = append(r.waiters[q.key], w)
	return prepareResp{ev: ev, wait: w.c, expect: r.st.ctlSeq}
}

func (r *Room) subscribe(since uint64, staff bool) *Sub {
	s := &Sub{staff: staff, c: make(chan *Batch, r.rs.cfg.SubscriberQueue), room: r, skip: r.st.seq}
	r.subSeq++
	s.id = r.subSeq
	s.last.Store(r.st.seq)
	r.subs[s] = struct{}{}
	r.fanDirty = true
	if since > 0 && since <= r.st.seq && since >= r.ringFloor {
		var outs []Out
		r.ringEach(func(o Out) {
			if o.Seq > since && (staff || !o.staff) {
				outs = append(outs, o)
			}
		})
		for _, o := range r.pending {
			if o.Seq > since && (staff || !o.staff) {
				outs = append(outs, o)
			}
		}
		for _, o := range r.st.peekDirty() {
			if staff || !o.staff {
				outs = append(outs, o)
			}
		}
		s.First = encodeEvents(outs, true)
		return s
	}
	snap := r.st.snapshot(r.rs.now(), staff)
	snap.Viewers = r.viewers()
	b, err := json.Marshal(struct {
		Type string    `json:"type"`
		Seq  uint64    `json:"seq"`
		Data *Snapshot `json:"data"`
	}{"snapshot", snap.Seq, &snap})
	if err != nil {
		panic(err)
	}
	s.First = b
	return s
}

func (r *Room) viewers() int {
	n := len(r.subs)
	now := r.rs.now()
	for node, rc := range r.remote {
		if now.Sub(rc.at) > 3*r.rs.cfg.PresenceInterval {
			delete(r.remote, node)
			continue
		}
		n += rc.n
	}
	return n
}

// liveMsg is a node's report on the live subjects.
type liveMsg struct {
	Node    string         `json:"node"`
	Viewers int            `json:"viewers,omitempty"`
	Counts  map[string]int `json:"counts,omitempty"`
}

func (r *Room) handleLive(m *nats.Msg) {
	var lm liveMsg
	if json.Unmarshal(m.Data, &lm) != nil {
		return
	}
	switch m.Subject {
	case subjReact(r.token):
		if len(lm.Counts) > 0 {
			r.pending = append(r.pending, Out{Type: "reactions", Data: map[string]any{"counts": lm.Counts}})
		}
	case subjPresence(r.token):
		if lm.Node != r.rs.cfg.NodeID {
			r.remote[lm.Node] = remoteCount{n: lm.Viewers, at: r.rs.now()}
		}
	}
}

// tick runs every reaction window: publish this node's reactions and,
// now and then, its viewer count.
func (r *Room) tick() {
	for s := range r.subs {
		if s.dead.Load() { // cut off by its fan-out worker
			delete(r.subs, s)
			r.fanDirty = true
		}
	}
	nc := r.rs.cfg.NATS
	if counts := r.react.take(); counts != nil {
		b, _ := json.Marshal(liveMsg{Node: r.rs.cfg.NodeID, Counts: counts})
		_ = nc.Publish(subjReact(r.token), b)
	}
	now := r.rs.now()
	n := r.viewers()
	if now.Sub(r.presAt) >= r.rs.cfg.PresenceInterval {
		r.presAt = now
		b, _ := json.Marshal(liveMsg{Node: r.rs.cfg.NodeID, Viewers: len(r.subs)})
		_ = nc.Publish(subjPresence(r.token), b)
		if n != r.lastPres {
			r.lastPres = n
			r.pending = append(r.pending, Out{Type: "presence", Data: map[string]int{"viewers": n}})
		}
	}
	if now.Sub(r.lastCue) >= r.rs.cfg.ResultsCueInterval && r.st.openPoll != "" {
		if p := r.st.polls[r.st.openPoll]; p.spec.Results == ResultsLive && p.dirty {
			r.lastCue = now
			r.rs.postCue(r.name, "poll.results", map[string]any{"id": p.id, "tally": append([]int(nil), p.tally...), "voters": len(p.votes)})
		}
	}
}

func (r *Room) idle() bool {
	if r.rs.cfg.IdleTimeout <= 0 || len(r.subs) > 0 || len(r.waiters) > 0 || len(r.queued) > 0 || len(r.unacked) > 0 {
		return false
	}
	if r.st.openPoll != "" && !r.st.polls[r.st.openPoll].closesAt.IsZero() {
		return false
	}
	return r.rs.now().Sub(r.lastUse) > r.rs.cfg.IdleTimeout
}

// arm sets the wake timer for the next poll deadline or held message.
func (r *Room) arm(t *time.Timer) {
	now := r.rs.now()
	next := r.st.nextRelease(now)
	if id := r.st.openPoll; id != "" && !r.closing[id] {
		if ca := r.st.polls[id].closesAt; !ca.IsZero() && (next.IsZero() || ca.Before(next)) {
			next = ca
		}
	}
	t.Stop()
	if !next.IsZero() {
		t.Reset(max(next.Sub(now), 0) + time.Millisecond)
	}
}

func (r *Room) wake() {
	now := r.rs.now()
	r.pending = append(r.pending, r.st.released(r.relAfter, now)...)
	r.relAfter = now
	if id := r.st.openPoll; id != "" && !r.closing[id] {
		if ca := r.st.polls[id].closesAt; !ca.IsZero() && !now.Before(ca) {
			r.closing[id] = true
			r.rs.closeTimedPoll(r.name, id)
		}
	}
}

// scheduleFlush flushes now when the room has been quiet for a flush
// interval, else at the end of the interval. Staff events (urgent) go at
// once: the audience's chatter is what batching is for, and the host's
// poll, message or moderation should not wait behind it. Staff are few and
// their channel commands rate-limited, so this does not undo the batching.
func (r *Room) scheduleFlush(t *time.Timer) {
	if (r.flushArm && !r.urgent) || (len(r.pending) == 0 && !r.st.hasDirty()) {
		return
	}
	since := r.rs.now().Sub(r.lastFlush)
	if since >= r.rs.cfg.FlushInterval || r.urgent {
		r.flush()
		return
	}
	r.flushArm = true
	t.Reset(r.rs.cfg.FlushInterval - since)
}

// flush sends the pending events to every subscriber: one batch for
// viewers and one for staff, each encoded once.
func (r *Room) flush() {
	outs := append(r.pending, r.st.dirtyOuts()...)
	r.pending = nil
	r.urgent = false
	r.lastFlush = r.rs.now()
	if len(outs) == 0 {
		return
	}
	var public []Out
	hasStaff := false
	for _, o := range outs {
		if o.Seq != 0 {
			r.record(o)
		}
		if o.staff {
			hasStaff = true
		} else {
			public = append(public, o)
		}
	}
	var pb, sb *Batch
	if len(public) > 0 {
		pb = newBatch(public)
	}
	if hasStaff {
		sb = newBatch(outs)
	} else {
		sb = pb
	}
	if r.fanDirty {
		r.fanSubs = fanList(r.subs)
		r.fanDirty = false
	}
	if len(r.fanSubs) > 0 {
		r.rs.fanout(newFanJob(pb, sb, r.fanSubs))
	}
	r.rs.metrics.batches.Add(1)
}

// record keeps a flushed event in the ring (a circular buffer of
// EventRing events) for resuming viewers.
func (r *Room) record(o Out) {
	if len(r.ring) == 0 {
		r.ringFloor = o.Seq
		return
	}
	if r.ringLen == len(r.ring) {
		r.ringFloor = r.ring[r.ringHead].Seq
		r.ring[r.ringHead] = o
		r.ringHead = (r.ringHead + 1) % len(r.ring)
		return
	}
	r.ring[(r.ringHead+r.ringLen)%len(r.ring)] = o
	r.ringLen++
}

// ringEach calls fn on the ring's events, oldest first.
func (r *Room) ringEach(fn func(Out)) {
	for i := range r.ringLen {
		fn(r.ring[(r.ringHead+i)%len(r.ring)])
	}
}

func (r *Room) stopSubs() {
	for s := range r.subs {
		delete(r.subs, s)
		s.stop()
	}
	r.fanSubs, r.fanDirty = nil, false
}

// stop tells the room's goroutine to end.
func (r *Room) stop() { r.once.Do(func() { close(r.quit) }) }

// request sends req to the room's goroutine.
func (r *Room) request(ctx context.Context, req any) error {
	select {
	case r.reqs <- req:
		return nil
	case <-r.done:
		return errRoomGone
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errRoomGone = errors.New("interact: room stopped")

func (r *Room) unsubscribe(s *Sub) {
	select {
	case r.reqs <- unsubscribeReq{s}:
	case <-r.done:
	}
}

// read runs fn on the room's goroutine with its state and viewer count.
// fn must copy what it keeps.
func (r *Room) read(ctx context.Context, fn func(*state, int)) error {
	done := make(chan struct{})
	if err := r.request(ctx, readReq{fn: fn, done: done}); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-r.done:
		return errRoomGone
	}
}

// limiter holds per-viewer token buckets.
type limiter struct {
	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds a room's rate-limit memory.
const maxBuckets = 100000

// allow takes one token from key's bucket (rate per second, burst).
func (l *limiter) allow(key string, now time.Time, rate float64, burst int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		if len(l.m) >= maxBuckets {
			for k, o := range l.m {
				if now.Sub(o.at).Seconds()*rate >= float64(burst) {
					delete(l.m, k)
				}
			}
		}
		b = &bucket{tokens: float64(burst), at: now}
		l.m[key] = b
	}
	b.tokens = min(float64(burst), b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

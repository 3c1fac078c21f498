package interact

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Group commit. A room appends its audience's commands (the act subject:
// chat, votes, questions, upvotes) in batches: the commands that arrive
// while an append is in flight are appended together, as one format 2
// message (see event.go), when its acknowledgement comes. A quiet room
// appends each command at once, alone; a busy one appends as many as came
// in one round trip to JetStream, and JetStream's per-message work (store,
// acknowledge, deliver) is paid per batch, not per command.
//
// Every command is still answered only when both have come, in either
// order: JetStream's acknowledgement of its batch (it is durable) and its
// verdict (the room applied its event from the log). Each event keeps its
// idempotency key; the projection drops a repeated key wherever it comes
// (in the same batch, a later one, another node's), and a room does not
// append a key again while a batch of its own carries it: a retry joins
// the first command's wait. So a command is applied at most once as long
// as the projection remembers its key (its actor's last KeysPerActor keyed
// commands, see keys.go) and answered with the one verdict.
//
// The room's goroutine owns the batches. Callers marshal their events (in
// parallel); the goroutine checks each against the state, appends it to
// the open batch and publishes batches with a reply inbox of the room's
// (asynchronous: no goroutine blocks on JetStream). Acknowledgements come
// back to it on ackC.

const (
	// maxBatchBytes bounds a batch's encoded size, well under the ROOMS
	// stream's MaxMsgSize (64 KiB); a single event larger than this goes
	// alone (commands are at most MaxCommandBytes).
	maxBatchBytes = 48 << 10
	// maxBatchEvents bounds a batch's events.
	maxBatchEvents = 512
	// maxBatchesInFlight bounds the batches published and not yet
	// acknowledged. One at a time is group commit's rhythm; more go only
	// when the open batch is full.
	maxBatchesInFlight = 4
	// ackTimeout bounds the wait for a batch's acknowledgement; then its
	// commands that have no verdict yet fail with ErrUnavailable (a retry
	// with the same key is safe: the batch may have been stored).
	ackTimeout = 5 * time.Second
)

// waiter is one caller waiting for its command's answer.
type waiter struct {
	c      chan Result // buffered (1): the answer, sent once
	b      *batch      // the batch carrying the command; nil on the ctl path (the caller has the ack)
	res    Result      // the verdict, once judged
	judged bool        // the event was applied (res is its verdict)
	sent   bool        // c has its answer
}

func (w *waiter) answer(res Result) {
	if !w.sent {
		w.sent = true
		w.c <- res
	}
}

// batch is a group of events appended as one message.
type batch struct {
	id      uint64
	buf     []byte // format 2 message, without its tail until published
	n       int    // events
	keys    []string
	waiters []*waiter
	acked   bool
	sentAt  time.Time
}

// batchAck is JetStream's answer to one batch.
type batchAck struct {
	id  uint64
	seq uint64
	err error
}

// appendReq asks the room to append one act command's event. The event is
// encoded by the caller; limit asks the room to take a token from the
// actor's chat bucket. With check, the room only judges: it answers a zero
// Result when the command may go on (the caller then asks the review
// service and sends it again without check), else its verdict or refusal.
type appendReq struct {
	ev    *Event
	data  []byte
	limit bool
	check bool
	c     chan Result
}

// doAppend handles an appendReq on the room's goroutine.
func (r *Room) doAppend(q appendReq) {
	key := q.ev.Key
	if res, ok := r.st.keys.verdict(key); ok {
		q.c <- res
		return
	}
	w := &waiter{c: q.c}
	if b := r.appending[key]; b != nil && !q.check {
		// A retry of a command a batch of this room carries: it gets that
		// command's answer.
		w.b = b
		b.waiters = append(b.waiters, w)
		r.waiters[key] = append(r.waiters[key], w)
		return
	}
	if len(r.waiters) >= r.rs.cfg.MaxWaiters {
		r.rs.metrics.busy.Add(1)
		q.c <- Result{Err: ErrBusy}
		return
	}
	if err := r.st.check(q.ev); err != nil {
		q.c <- Result{Err: err}
		return
	}
	if q.limit && !r.limiter.allow("c/"+q.ev.Actor.ID, r.rs.now(), r.rs.cfg.ChatRate, r.rs.cfg.ChatBurst) {
		q.c <- Result{Err: ErrRateLimited}
		return
	}
	if q.check {
		q.c <- Result{}
		return
	}
	b := r.openBatch(len(q.data))
	if b.n > 0 {
		b.buf = append(b.buf, ',')
	}
	b.buf = append(b.buf, q.data...)
	b.n++
	b.keys = append(b.keys, key)
	w.b = b
	b.waiters = append(b.waiters, w)
	r.waiters[key] = append(r.waiters[key], w)
	r.appending[key] = b
}

// openBatch returns the batch to add an event of size bytes to: the last
// unpublished one, or a new one when it is full.
func (r *Room) openBatch(size int) *batch {
	if n := len(r.queued); n > 0 {
		if b := r.queued[n-1]; b.n < maxBatchEvents && len(b.buf)+size+1 < maxBatchBytes {
			return b
		}
	}
	r.batchID++
	b := &batch{id: r.batchID, buf: append(make([]byte, 0, 1024), batchHead...)}
	r.queued = append(r.queued, b)
	return b
}

// publish sends the queued batches JetStream may take now: the first when
// none is in flight, and full ones up to maxBatchesInFlight.
func (r *Room) publish() {
	for len(r.queued) > 0 && len(r.unacked) < maxBatchesInFlight {
		if len(r.unacked) > 0 && len(r.queued) == 1 {
			return // still open: it takes what comes until the ack
		}
		b := r.queued[0]
		r.queued = r.queued[1:]
		b.buf = append(b.buf, batchTail...)
		b.sentAt = r.rs.now()
		r.unacked = append(r.unacked, b)
		msg := &nats.Msg{Subject: subjAct(r.token), Reply: r.ackPrefix + strconv.FormatUint(b.id, 10), Data: b.buf}
		if err := r.rs.cfg.NATS.PublishMsg(msg); err != nil {
			r.failBatch(b, err.Error())
			continue
		}
		r.rs.metrics.appends.Add(1)
	}
}

// onAck handles JetStream's acknowledgement of a batch.
func (r *Room) onAck(a batchAck) {
	i := -1
	for j, b := range r.unacked {
		if b.id == a.id {
			i = j
			break
		}
	}
	if i < 0 {
		return // failed already (timed out)
	}
	b := r.unacked[i]
	if a.err != nil {
		r.failBatch(b, a.err.Error())
		r.publish()
		return
	}
	r.unacked = append(r.unacked[:i], r.unacked[i+1:]...)
	b.acked = true
	for _, w := range b.waiters {
		if w.judged {
			w.answer(w.res)
		}
	}
	r.publish()
}

// failBatch answers a batch that did not reach the log, or may not have:
// its commands judged anyway (their key came in another message, or this
// one was stored and its acknowledgement lost) get their verdict, the
// others ErrUnavailable. A retry with the same key is safe either way.
func (r *Room) failBatch(b *batch, why string) {
	r.unacked = deleteBatch(r.unacked, b)
	e := errf(ErrUnavailable.Code, "the event log did not take the command (%s); retry with the same key", why)
	for _, w := range b.waiters {
		if w.judged {
			w.answer(w.res)
		} else {
			w.answer(Result{Err: e})
		}
	}
	for _, k := range b.keys {
		if r.appending[k] == b {
			delete(r.appending, k)
		}
		if ws := deleteWaiters(r.waiters[k], b); len(ws) == 0 {
			delete(r.waiters, k)
		} else {
			r.waiters[k] = ws
		}
	}
	r.rs.metrics.appendsFailed.Add(1)
}

// checkAcks fails the batches JetStream has not acknowledged in time.
func (r *Room) checkAcks() {
	now := r.rs.now()
	for len(r.unacked) > 0 && now.Sub(r.unacked[0].sentAt) > ackTimeout {
		r.failBatch(r.unacked[0], "no acknowledgement from JetStream in "+ackTimeout.String())
	}
	r.publish()
}

// judge hands an applied event's verdict to the commands waiting for it:
// answered now if their batch is acknowledged (or they have no batch),
// else when it is.
func (r *Room) judge(key string, res Result) {
	ws, ok := r.waiters[key]
	if !ok || key == "" {
		return
	}
	for _, w := range ws {
		w.res, w.judged = res, true
		if w.b == nil || w.b.acked {
			w.answer(res)
		}
	}
	delete(r.waiters, key)
	delete(r.appending, key)
}

// closeBatches answers every command still waiting, when the room stops:
// those applied and not acknowledged too (their retry gets the verdict).
func (r *Room) closeBatches() {
	for key, ws := range r.waiters {
		for _, w := range ws {
			w.answer(Result{Err: ErrClosed})
		}
		delete(r.waiters, key)
	}
	for _, list := range [][]*batch{r.queued, r.unacked} {
		for _, b := range list {
			for _, w := range b.waiters {
				w.answer(Result{Err: ErrClosed})
			}
		}
	}
	r.queued, r.unacked = nil, nil
	clear(r.appending)
}

func deleteBatch(list []*batch, b *batch) []*batch {
	for i, o := range list {
		if o == b {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

func deleteWaiters(ws []*waiter, b *batch) []*waiter {
	out := ws[:0]
	for _, w := range ws {
		if w.b != b {
			out = append(out, w)
		}
	}
	return out
}

// ackHandler returns the handler of the room's ack inbox: it parses
// JetStream's answer to a batch (the last subject token is the batch's
// id) and hands it to the room's goroutine.
func (r *Room) ackHandler() nats.MsgHandler {
	return func(m *nats.Msg) {
		id, err := strconv.ParseUint(strings.TrimPrefix(m.Subject, r.ackPrefix), 10, 64)
		if err != nil {
			return
		}
		a := batchAck{id: id}
		var ack struct {
			Seq   uint64              `json:"seq"`
			Error *jetstream.APIError `json:"error"`
		}
		switch {
		case len(m.Data) == 0 && m.Header.Get("Status") != "":
			a.err = fmt.Errorf("no answer from JetStream (status %s)", m.Header.Get("Status"))
		case json.Unmarshal(m.Data, &ack) != nil:
			a.err = errors.New("bad JetStream acknowledgement")
		case ack.Error != nil:
			a.err = ack.Error
		default:
			a.seq = ack.Seq
		}
		select {
		case r.ackC <- a:
		case <-r.quit:
		}
	}
}

// Package interact runs the audience's side of a stream: one room per
// stream with chat, polls, Q&A, reactions and presence.
//
// A room's state is a projection of its event log in JetStream (stream
// ROOMS, subjects room.{stream}.ctl and room.{stream}.act; see event.go).
// A command is checked against the room's state, appended to the log, and
// answered only once JetStream has acknowledged it and the room has
// applied its event: the verdict is the projection's, so every node that
// applies the log agrees on it, and an acknowledged command is in the log.
// Audience commands are appended in batches (group commit, appender.go).
// Idempotency keys make retries safe: the projection remembers verdicts by
// key, per actor (each actor's last KeysPerActor commands, for the
// MaxActors most recently active actors, MaxKeys verdicts at most; see
// keys.go), and applies a repeated key's event as a no-op, wherever it
// comes; a room does not append a key again while one of its batches
// carries it; and the staff's ctl commands also carry the key as
// JetStream's Nats-Msg-Id.
//
// Life cycle: New creates the log stream and the snapshot store if
// needed; rooms start on first use (loading their snapshot and replaying
// the log after it before answering, see snapshot.go) and stop when idle,
// storing a snapshot; Close stops every room and waits for their
// goroutines.
package interact

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// CuePoster posts cues on a stream's media timeline and reads the clock
// they are stamped on (package cue implements it against the hub). Called
// without a lock held.
type CuePoster interface {
	// PostCue posts a cue at the stream's newest frame. Called from one
	// goroutine per Rooms.
	PostCue(stream string, typ string, data json.RawMessage) error
	// MediaTime returns the stream's media clock, the time a cue posted
	// now is stamped with (the newest ingested frame), and false when the
	// stream has none (no such stream, no frame yet).
	MediaTime(stream string) (time.Duration, bool)
}

// Config configures Rooms. Zero values take the defaults shown.
type Config struct {
	// NATS and JetStream are the bus (required).
	NATS      *nats.Conn
	JetStream jetstream.JetStream
	// Cues receives the events viewers should see with the picture, and
	// is the media clock chat messages are stamped on (optional).
	Cues   CuePoster
	Logger *slog.Logger
	// NodeID names this node in events and presence. Default: random.
	NodeID string
	// Now is the clock. Default time.Now.
	Now func() time.Time

	// Replicas of the ROOMS stream (with a NATS cluster). Default 1.
	Replicas int
	// DedupWindow is JetStream's duplicate window. Default 2 min.
	DedupWindow time.Duration
	// MaxRooms bounds the rooms a node runs at once. Default 1000.
	MaxRooms int
	// IdleTimeout stops a room without viewers or requests. Default 10 min.
	IdleTimeout time.Duration

	// History is the number of chat messages a joiner gets. Default 50.
	History int
	// MaxChatLen bounds a chat message, in characters. Default 500.
	MaxChatLen int
	// ChatRate and ChatBurst are each viewer's token bucket for chat and
	// questions: messages per second and burst. Default 1/s, burst 5.
	ChatRate  float64
	ChatBurst int
	// ReactRate and ReactBurst are the same for reactions. Default 10/s, 20.
	ReactRate  float64
	ReactBurst int
	// Hold keeps non-staff chat messages from viewers for this long, so
	// moderators can remove them first. Default 0 (off).
	Hold time.Duration
	// QAModeration puts viewers' questions in a queue until approved.
	QAModeration bool
	// Review, if set, is asked about every non-staff chat message.
	Review *Review

	// Emoji lists the reactions allowed. Default ❤️ 😂 👏 🔥 😮 😢 👍 🎉.
	Emoji []string
	// ReactionWindow is the reaction aggregation window. Default 250 ms.
	ReactionWindow time.Duration
	// FlushInterval spaces batches to viewers under load. Default 250 ms.
	// Events of the host and moderators (a poll opened or closed, a host's
	// message, a deletion, a ban) do not wait for it: they go out at once,
	// with whatever else is pending.
	FlushInterval time.Duration
	// PresenceInterval spaces presence reports. Default 1 s.
	PresenceInterval time.Duration
	// ResultsCueInterval spaces live poll result cues. Default 2 s.
	ResultsCueInterval time.Duration
	// SubscriberQueue is the batches a subscriber may fall behind before
	// it is cut off (and resumes). Default 64.
	SubscriberQueue int
	// FanoutWorkers is the goroutines that hand the rooms' batches to
	// their subscribers' sinks, sharing out each batch's subscribers
	// between them. Default GOMAXPROCS.
	FanoutWorkers int
	// EventRing is the recent events kept per room for resuming.
	// Default 4096.
	EventRing int
	// SnapshotEvery is how many applied events a room goes between
	// snapshots of its state (see snapshot.go); a room also stores one when
	// it stops. Default 10000.
	SnapshotEvery int
	// SnapshotMinInterval spaces a room's periodic snapshots at least
	// this far apart, so a busy room (20,000 votes a second) does not
	// encode its whole state twice a second: replay after a crash is then
	// at most SnapshotEvery events or this long of them, whichever is
	// more. Default 5 s.
	SnapshotMinInterval time.Duration
	// MaxPolls, MaxQuestions bound a room's state (equal on every node).
	// Defaults 100, 1000.
	MaxPolls, MaxQuestions int
	// KeysPerActor, MaxActors and MaxKeys bound the idempotency verdicts a
	// room remembers (equal on every node; see keyMemory): each actor's
	// last KeysPerActor keyed commands, for the MaxActors most recently
	// active actors, MaxKeys verdicts in all (the least recently active
	// actors are forgotten first). A retry is applied once if it
	// repeats one of its actor's last KeysPerActor commands, fewer than
	// MaxActors other actors acted since and they hold fewer than
	// MaxKeys-KeysPerActor verdicts: whatever the room's rate and however
	// much any one actor sends. A verdict costs about 220 bytes of heap
	// and 100 of snapshot, so MaxKeys bounds a room's memory to about
	// 65 MB. Defaults 64, 100000, 300000.
	KeysPerActor, MaxActors, MaxKeys int
	// MaxWaiters bounds the verdicts a room's goroutine waits for (all
	// commands, also those of other nodes' retries). Default 20000.
	MaxWaiters int
	// MaxInFlight bounds the commands a room has taken and not yet
	// answered; beyond it a command is refused at once with ErrBusy
	// instead of queueing behind the log. Default 1024.
	MaxInFlight int
	// MaxInFlightAge is admission's bound on delay: while commands take
	// longer than this to be answered, a room admits no more than an
	// eighth of MaxInFlight at once (the rest get ErrBusy) until the
	// backlog clears. Default 1 s.
	MaxInFlightAge time.Duration
	// CommandTimeout bounds waiting for a command's verdict. Default 10 s.
	CommandTimeout time.Duration
}

func (c *Config) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defF := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.NodeID == "" {
		c.NodeID = randomID(6)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if len(c.Emoji) == 0 {
		c.Emoji = []string{"❤️", "😂", "👏", "🔥", "😮", "😢", "👍", "🎉"}
	}
	def(&c.Replicas, 1)
	defD(&c.DedupWindow, 2*time.Minute)
	def(&c.MaxRooms, 1000)
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	def(&c.History, 50)
	def(&c.MaxChatLen, 500)
	defF(&c.ChatRate, 1)
	def(&c.ChatBurst, 5)
	defF(&c.ReactRate, 10)
	def(&c.ReactBurst, 20)
	defD(&c.ReactionWindow, 250*time.Millisecond)
	defD(&c.FlushInterval, 250*time.Millisecond)
	defD(&c.PresenceInterval, time.Second)
	defD(&c.ResultsCueInterval, 2*time.Second)
	def(&c.SubscriberQueue, 64)
	def(&c.FanoutWorkers, runtime.GOMAXPROCS(0))
	def(&c.EventRing, 4096)
	def(&c.SnapshotEvery, 10000)
	defD(&c.SnapshotMinInterval, 5*time.Second)
	def(&c.MaxPolls, 100)
	def(&c.MaxQuestions, 1000)
	def(&c.KeysPerActor, 64)
	def(&c.MaxActors, 100000)
	def(&c.MaxKeys, 300000)
	def(&c.MaxWaiters, 20000)
	def(&c.MaxInFlight, 1024)
	defD(&c.MaxInFlightAge, time.Second)
	defD(&c.CommandTimeout, 10*time.Second)
}

// Rooms is a node's set of rooms.
type Rooms struct {
	cfg Config
	lim limits
	log *slog.Logger

	mu     sync.Mutex
	rooms  map[string]*Room
	closed bool

	cues     chan cueReq
	snaps    jetstream.ObjectStore // room snapshots
	snapJobs chan snapshotJob
	quit     chan struct{}
	wg       sync.WaitGroup
	metrics  Metrics

	lanes []chan *fanJob // one per fan-out worker
}

// Metrics counts what the rooms do; read them with Load.
type Metrics struct {
	applied, lagged, batches, cuesDropped, busy atomic.Int64
	snapshots, snapshotsSkipped                 atomic.Int64
	appends, appendsFailed                      atomic.Int64
}

// MetricsSnapshot is a reading of Metrics.
type MetricsSnapshot struct {
	Rooms       int   // running rooms
	Applied     int64 // log events applied
	Batches     int64 // batches flushed to subscribers
	Lagged      int64 // subscribers cut off for falling behind
	CuesDropped int64 // cues dropped because the cue queue was full
	Busy        int64 // commands refused with ErrBusy (admission control)
	Snapshots   int64 // room snapshots stored
	// SnapshotsSkipped counts periodic snapshots dropped because the
	// writer was behind (the next one comes SnapshotEvery events later).
	SnapshotsSkipped int64
	// Appends counts batches of audience commands published to the log
	// (group commit: Applied/Appends is about the mean batch), and
	// AppendsFailed those JetStream refused or did not acknowledge.
	Appends, AppendsFailed int64
}

// Metrics returns the counters.
func (rs *Rooms) Metrics() MetricsSnapshot {
	rs.mu.Lock()
	n := len(rs.rooms)
	rs.mu.Unlock()
	return MetricsSnapshot{
		Rooms: n, Applied: rs.metrics.applied.Load(), Batches: rs.metrics.batches.Load(),
		Lagged: rs.metrics.lagged.Load(), CuesDropped: rs.metrics.cuesDropped.Load(),
		Busy: rs.metrics.busy.Load(), Snapshots: rs.metrics.snapshots.Load(),
		SnapshotsSkipped: rs.metrics.snapshotsSkipped.Load(),
		Appends:          rs.metrics.appends.Load(), AppendsFailed: rs.metrics.appendsFailed.Load(),
	}
}

type cueReq struct {
	stream, typ string
	data        json.RawMessage
}

// New makes the node's rooms, creating or updating the ROOMS stream.
func New(ctx context.Context, cfg Config) (*Rooms, error) {
	if cfg.NATS == nil || cfg.JetStream == nil {
		return nil, errors.New("interact: NATS and JetStream are required")
	}
	cfg.defaults()
	_, err := cfg.JetStream.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Liveloop room event logs",
		Subjects:    []string{subjectPrefix + "*.ctl", subjectPrefix + "*.act"},
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  cfg.DedupWindow,
		MaxMsgSize:  64 << 10,
		Discard:     jetstream.DiscardNew,
	})
	if err != nil {
		return nil, fmt.Errorf("interact: stream %s: %w", StreamName, err)
	}
	snaps, err := cfg.JetStream.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      SnapshotBucket,
		Description: "Liveloop room snapshots",
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Compression: true,
	})
	if err != nil {
		return nil, fmt.Errorf("interact: object store %s: %w", SnapshotBucket, err)
	}
	rs := &Rooms{
		cfg: cfg,
		lim: limits{History: cfg.History, MaxPolls: cfg.MaxPolls, MaxQuestions: cfg.MaxQuestions,
			KeysPerActor: cfg.KeysPerActor, MaxActors: cfg.MaxActors, MaxKeys: cfg.MaxKeys},
		log: cfg.Logger, rooms: map[string]*Room{},
		cues: make(chan cueReq, 256), quit: make(chan struct{}),
		snaps: snaps, snapJobs: make(chan snapshotJob, 64),
	}
	rs.wg.Add(2)
	go rs.runCues()
	go rs.runSnapshots()
	rs.lanes = make([]chan *fanJob, cfg.FanoutWorkers)
	for i := range rs.lanes {
		rs.lanes[i] = make(chan *fanJob, fanQueue)
		rs.wg.Go(func() { rs.runFanout(rs.lanes[i]) })
	}
	return rs, nil
}

func (rs *Rooms) now() time.Time { return rs.cfg.Now() }

// Close stops every room (each stores its snapshot) and waits for their
// goroutines.
func (rs *Rooms) Close() error {
	rs.mu.Lock()
	if rs.closed {
		rs.mu.Unlock()
		return nil
	}
	rs.closed = true
	rooms := rs.rooms
	rs.rooms = nil
	rs.mu.Unlock()
	for _, r := range rooms {
		r.stop()
	}
	// The rooms hand their last snapshots to the writer as they stop; it
	// writes what is queued before it returns.
	for _, r := range rooms {
		<-r.done
	}
	close(rs.quit)
	rs.wg.Wait()
	return nil
}

// room returns the running room for name, starting it (and waiting for
// its replay) if needed.
func (rs *Rooms) room(ctx context.Context, name string) (*Room, error) {
	if !ValidRoom(name) {
		return nil, errf(ErrNotFound.Code, "%q cannot name a room", name)
	}
	rs.mu.Lock()
	if rs.closed {
		rs.mu.Unlock()
		return nil, ErrClosed
	}
	r := rs.rooms[name]
	if r != nil {
		select {
		case <-r.done:
			r = nil // stopped when idle
		default:
		}
	}
	if r == nil {
		if len(rs.rooms) >= rs.cfg.MaxRooms {
			for n, o := range rs.rooms {
				select {
				case <-o.done:
					delete(rs.rooms, n)
				default:
				}
			}
			if len(rs.rooms) >= rs.cfg.MaxRooms {
				rs.mu.Unlock()
				return nil, ErrTooManyRooms
			}
		}
		r = newRoom(rs, name)
		rs.rooms[name] = r
		// Started under the lock so that one goroutine starts a room; the
		// start is a few JetStream requests.
		if err := r.start(ctx); err != nil {
			delete(rs.rooms, name)
			rs.mu.Unlock()
			return nil, fmt.Errorf("%w: start room: %v", ErrUnavailable, err)
		}
	}
	rs.mu.Unlock()
	select {
	case <-r.ready:
		return r, nil
	case <-r.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: room %s replaying", ErrTimeout, name)
	}
}

// withRoom runs fn on the room, again on a fresh room if the first one
// stopped in between.
func (rs *Rooms) withRoom(ctx context.Context, name string, fn func(*Room) error) error {
	for range 3 {
		r, err := rs.room(ctx, name)
		if err != nil {
			return err
		}
		if err = fn(r); !errors.Is(err, errRoomGone) {
			return err
		}
	}
	return ErrUnavailable
}

// Do runs one command in a room on behalf of actor and returns its
// verdict once its event is in the log and applied (reactions, which are
// not logged, return at once). A refusal is an *Error, also in Result.Err.
// Retrying with the same cmd.Key is always safe.
func (rs *Rooms) Do(ctx context.Context, room string, actor Actor, cmd Command) (Result, error) {
	if err := cmd.Validate(); err != nil {
		return Result{}, err
	}
	if actor.ID == "" || len(actor.ID) > MaxViewerIDLen || !actor.Role.Valid() {
		return Result{}, errf(ErrForbidden.Code, "no valid actor")
	}
	if StaffOnly(cmd.Type) && !actor.Role.Staff() {
		return Result{}, ErrForbidden
	}
	ctx, cancel := context.WithTimeout(ctx, rs.cfg.CommandTimeout)
	defer cancel()
	var res Result
	err := rs.withRoom(ctx, room, func(r *Room) error {
		var err error
		if cmd.Type == CmdReact {
			return r.doReact(actor, &cmd)
		}
		res, err = r.do(ctx, actor, &cmd)
		return err
	})
	if res.Err != nil {
		return res, res.Err
	}
	return res, err
}

func (r *Room) doReact(actor Actor, cmd *Command) error {
	if !r.limiter.allow("r/"+actor.ID, r.rs.now(), r.rs.cfg.ReactRate, r.rs.cfg.ReactBurst) {
		return ErrRateLimited
	}
	if !r.react.add(cmd.Emoji, max(cmd.Count, 1)) {
		return errf(ErrBadRequest.Code, "emoji %q is not one of the room's reactions", cmd.Emoji)
	}
	return nil
}

// maxCtlRetries bounds re-checks after losing an optimistic-concurrency
// race on the ctl subject.
const maxCtlRetries = 5

func (r *Room) do(ctx context.Context, actor Actor, cmd *Command) (Result, error) {
	cfg := &r.rs.cfg
	key := actor.ID + "/" + cmd.Key
	if cmd.Key == "" {
		key = actor.ID + "/~" + randomID(12)
	}
	if cmd.Type == CmdChatSend {
		if n := len([]rune(cmd.Text)); n > cfg.MaxChatLen {
			return Result{}, errf(ErrTooLong.Code, "message is %d characters, at most %d", n, cfg.MaxChatLen)
		}
		r.stamp(cmd)
	}
	if !r.admit() {
		return Result{}, ErrBusy
	}
	defer r.inflight.Add(-1)
	if !ctlCommand(cmd.Type) {
		return r.doAct(ctx, actor, cmd, key)
	}
	for attempt := 0; ; attempt++ {
		reply := make(chan prepareResp, 1)
		if err := r.request(ctx, prepareReq{actor: actor, cmd: cmd, key: key, reply: reply}); err != nil {
			return Result{}, ctxErr(err)
		}
		var p prepareResp
		select {
		case p = <-reply:
		case <-r.done:
			return Result{}, errRoomGone
		}
		if p.done != nil {
			return *p.done, nil
		}
		if p.err != nil {
			return Result{}, p.err
		}
		cancelWait := func() { _ = r.request(context.Background(), cancelReq{key: key, wait: p.wait}) }
		data, err := json.Marshal(&p.ev)
		if err != nil {
			cancelWait()
			return Result{}, err
		}
		start := time.Now()
		ack, err := cfg.JetStream.PublishMsg(ctx, &nats.Msg{Subject: subjCtl(r.token), Data: data},
			jetstream.WithMsgID(r.name+"/"+key), jetstream.WithExpectLastSequencePerSubject(p.expect))
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			// Another node changed the room's rules first: catch up, check again.
			cancelWait()
			if attempt+1 >= maxCtlRetries {
				return Result{}, errf(ErrConflict.Code, "the room kept changing; retry")
			}
			if err := r.catchUp(ctx); err != nil {
				return Result{}, err
			}
			continue
		}
		if err != nil {
			cancelWait()
			if ctx.Err() != nil {
				return Result{}, ErrTimeout
			}
			return Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		if ack.Duplicate {
			_ = r.request(ctx, dupReq{key: key, seq: ack.Sequence})
		}
		select {
		case res := <-p.wait:
			r.lastLat.Store(int64(time.Since(start)))
			return res, nil
		case <-ctx.Done():
			cancelWait()
			return Result{}, ErrTimeout
		}
	}
}

// stamp places a chat message on the stream's media timeline, so pages in
// spoiler-free mode show it when each viewer's picture reaches it: the
// poster's mediaTime (the frame on their screen), or without one the
// stream's media clock, the time a cue posted now would carry. A claim
// ahead of the newest ingested frame cannot be true and is brought back
// to it. With no clock (the stream is not live here) the message keeps
// what it has.
func (r *Room) stamp(cmd *Command) {
	if r.rs.cfg.Cues == nil {
		return
	}
	clock, ok := r.rs.cfg.Cues.MediaTime(r.name)
	if !ok {
		return
	}
	if now := clock.Seconds(); cmd.MediaTime == nil || *cmd.MediaTime > now {
		cmd.MediaTime = &now
	}
}

// doAct appends a commuting (act) command's event in the room's next
// batch (see appender.go) and waits for its answer: its batch acknowledged
// and its verdict applied.
func (r *Room) doAct(ctx context.Context, actor Actor, cmd *Command, key string) (Result, error) {
	cfg := &r.rs.cfg
	now := r.rs.now()
	ev := Event{Cmd: *cmd, Key: key, Actor: actor, At: now, Node: cfg.NodeID}
	ev.Cmd.Key = ""
	switch cmd.Type {
	case CmdChatSend:
		if cfg.Hold > 0 && !actor.Role.Staff() {
			ev.HoldUntil = now.Add(cfg.Hold)
		}
	case CmdAsk:
		ev.Pending = cfg.QAModeration && !actor.Role.Staff()
	}
	data, err := json.Marshal(&ev)
	if err != nil {
		return Result{}, err
	}
	limit := !actor.Role.Staff() && (cmd.Type == CmdChatSend || cmd.Type == CmdAsk)
	c := make(chan Result, 1)
	wait := func() (Result, error) {
		select {
		case res := <-c:
			return res, nil
		case <-r.done:
			select {
			case res := <-c:
				return res, nil
			default:
				return Result{}, errRoomGone
			}
		case <-ctx.Done():
			_ = r.request(context.Background(), cancelReq{key: key, wait: c})
			return Result{}, ErrTimeout
		}
	}
	if limit && cmd.Type == CmdChatSend && cfg.Review != nil {
		// Judge first, so the review service is asked only about a
		// message that may go on.
		if err := r.request(ctx, appendReq{ev: &ev, limit: true, check: true, c: c}); err != nil {
			return Result{}, ctxErr(err)
		}
		res, err := wait()
		if err != nil || res != (Result{}) {
			return res, err
		}
		if !cfg.Review.Allow(ctx, r.name, actor, cmd) {
			return Result{}, ErrRejected
		}
		limit = false
	}
	start := time.Now()
	if err := r.request(ctx, appendReq{ev: &ev, data: data, limit: limit, c: c}); err != nil {
		return Result{}, ctxErr(err)
	}
	res, err := wait()
	if err == nil && res.Err != ErrBusy {
		r.lastLat.Store(int64(time.Since(start)))
	}
	return res, err
}

// admit takes an in-flight slot for one command, or reports the room busy:
// MaxInFlight commands are in flight, or commands have lately taken longer
// than MaxInFlightAge to be answered and more than an eighth of
// MaxInFlight are in flight. That floor keeps the log's pipeline full, so
// an overloaded room goes on accepting at its capacity (a plateau) with a
// bounded delay, instead of queueing until commands time out.
func (r *Room) admit() bool {
	cfg := &r.rs.cfg
	n := r.inflight.Add(1)
	if n > int64(cfg.MaxInFlight) ||
		(n > int64(max(cfg.MaxInFlight/8, 1)) && time.Duration(r.lastLat.Load()) > cfg.MaxInFlightAge) {
		r.inflight.Add(-1)
		r.rs.metrics.busy.Add(1)
		return false
	}
	return true
}

// catchUp waits until the room has applied the last event of its ctl
// subject.
func (r *Room) catchUp(ctx context.Context) error {
	stream, err := r.rs.cfg.JetStream.Stream(ctx, StreamName)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	m, err := stream.GetLastMsgForSubject(ctx, subjCtl(r.token))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	reply := make(chan struct{})
	if err := r.request(ctx, appliedReq{seq: m.Sequence, reply: reply}); err != nil {
		return ctxErr(err)
	}
	select {
	case <-reply:
		return nil
	case <-ctx.Done():
		return ErrTimeout
	}
}

func ctxErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return ErrTimeout
	}
	return err
}

// closeTimedPoll closes a poll whose timer ran out. The key is the same on
// every node, so racing nodes append one close.
func (rs *Rooms) closeTimedPoll(room, id string) {
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), rs.cfg.CommandTimeout)
		defer cancel()
		go func() {
			select {
			case <-rs.quit:
				cancel()
			case <-ctx.Done():
			}
		}()
		_, err := rs.Do(ctx, room, systemActor, Command{Type: CmdPollClose, ID: id, Key: "timer-" + id})
		if err != nil && !errors.Is(err, ErrPollClosed) && !errors.Is(err, ErrClosed) {
			rs.log.Warn("closing timed poll", "stream", room, "poll", id, "err", err)
		}
	}()
}

// Subscribe joins a viewer to a room's events. since > 0 asks for the
// events after that sequence (a reconnect); if the room no longer has
// them all, or since is 0, the first message is a snapshot.
func (rs *Rooms) Subscribe(ctx context.Context, room string, since uint64, staff bool) (*Sub, error) {
	var sub *Sub
	err := rs.withRoom(ctx, room, func(r *Room) error {
		reply := make(chan *Sub, 1)
		if err := r.request(ctx, subscribeReq{since: since, staff: staff, reply: reply}); err != nil {
			return err
		}
		select {
		case sub = <-reply:
			return nil
		case <-r.done:
			return errRoomGone
		}
	})
	return sub, ctxErr(err)
}

// Snapshot returns the room's state as a viewer (or staff) sees it.
func (rs *Rooms) Snapshot(ctx context.Context, room string, staff bool) (Snapshot, error) {
	var snap Snapshot
	err := rs.withRoom(ctx, room, func(r *Room) error {
		return r.read(ctx, func(s *state, viewers int) {
			snap = s.snapshot(rs.now(), staff)
			snap.Viewers = viewers
		})
	})
	return snap, ctxErr(err)
}

// Polls returns the room's polls, oldest first.
func (rs *Rooms) Polls(ctx context.Context, room string, staff bool) ([]PollView, error) {
	list := []PollView{}
	err := rs.withRoom(ctx, room, func(r *Room) error {
		return r.read(ctx, func(s *state, _ int) {
			for _, id := range s.pollOrder {
				if p := s.polls[id]; staff || p.status != PollDraft {
					list = append(list, p.view(staff))
				}
			}
		})
	})
	return list, ctxErr(err)
}

// Poll returns one poll, with its results if the reader may see them.
func (rs *Rooms) Poll(ctx context.Context, room, id string, staff bool) (PollView, error) {
	var v PollView
	found := false
	err := rs.withRoom(ctx, room, func(r *Room) error {
		return r.read(ctx, func(s *state, _ int) {
			if p := s.polls[id]; p != nil && (staff || p.status != PollDraft) {
				v, found = p.view(staff), true
			}
		})
	})
	if err == nil && !found {
		err = errf(ErrNotFound.Code, "no poll %q", id)
	}
	return v, ctxErr(err)
}

// Questions returns questions by upvotes: visible ones, or (staff only)
// those of a status.
func (rs *Rooms) Questions(ctx context.Context, room, status string, staff bool) ([]QuestionView, error) {
	var list []QuestionView
	err := rs.withRoom(ctx, room, func(r *Room) error {
		return r.read(ctx, func(s *state, _ int) { list = s.questionList(status, staff, rs.cfg.MaxQuestions) })
	})
	return list, ctxErr(err)
}

// postCue queues a cue; a full queue drops it (counted).
func (rs *Rooms) postCue(stream, typ string, data any) {
	if rs.cfg.Cues == nil {
		return
	}
	b, err := json.Marshal(data)
	if err != nil {
		return
	}
	select {
	case rs.cues <- cueReq{stream: stream, typ: typ, data: b}:
	default:
		rs.metrics.cuesDropped.Add(1)
	}
}

func (rs *Rooms) runCues() {
	defer rs.wg.Done()
	for {
		select {
		case c := <-rs.cues:
			if err := rs.cfg.Cues.PostCue(c.stream, c.typ, c.data); err != nil {
				rs.log.Warn("posting cue", "stream", c.stream, "type", c.typ, "err", err)
			}
		case <-rs.quit:
			return
		}
	}
}

// reactionCounter sums reactions between windows without a lock.
type reactionCounter struct {
	emoji  []string
	counts []atomic.Int64
}

func newReactionCounter(emoji []string) reactionCounter {
	return reactionCounter{emoji: emoji, counts: make([]atomic.Int64, len(emoji))}
}

func (c *reactionCounter) add(emoji string, n int) bool {
	for i, e := range c.emoji {
		if e == emoji {
			c.counts[i].Add(int64(n))
			return true
		}
	}
	return false
}

// take returns and resets the counts, nil if none.
func (c *reactionCounter) take() map[string]int {
	var m map[string]int
	for i := range c.counts {
		if n := c.counts[i].Swap(0); n > 0 {
			if m == nil {
				m = map[string]int{}
			}
			m[c.emoji[i]] = int(n)
		}
	}
	return m
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.TrimRight(base64.RawURLEncoding.EncodeToString(b), "=")
}

// Review asks the operator's moderation service about chat messages: an
// HTTP POST of {"stream","viewer","name","text","mediaTime"} to URL, whose
// JSON answer {"allow": bool} decides. A failure or no answer within
// Timeout falls back to Fallback.
type Review struct {
	URL      string
	Timeout  time.Duration // default 500 ms
	Fallback bool          // allow (true) or deny (false) when the service fails
	Client   *http.Client  // default http.DefaultClient
}

// Allow asks the review service about one message.
func (rv *Review) Allow(ctx context.Context, stream string, actor Actor, cmd *Command) bool {
	timeout := rv.Timeout
	if timeout <= 0 {
		timeout = 500 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, _ := json.Marshal(map[string]any{
		"stream": stream, "viewer": actor.ID, "name": actor.Name, "text": cmd.Text, "mediaTime": cmd.MediaTime,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rv.URL, strings.NewReader(string(body)))
	if err != nil {
		return rv.Fallback
	}
	req.Header.Set("Content-Type", "application/json")
	client := rv.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return rv.Fallback
	}
	defer resp.Body.Close()
	var ans struct {
		Allow *bool `json:"allow"`
	}
	if resp.StatusCode/100 != 2 || json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&ans) != nil || ans.Allow == nil {
		return rv.Fallback
	}
	return *ans.Allow
}

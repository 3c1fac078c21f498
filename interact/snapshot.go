package interact

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Snapshots bound a room's replay. A room's projection, with the log
// sequence it covers, is stored in the JetStream object store SnapshotBucket
// (one object per room, named after it) every SnapshotEvery applied events
// and when the room stops (idle, or a clean shutdown). A starting room
// loads its snapshot and replays only the events after it; a snapshot that
// cannot be read or decoded, or that covers more than the log holds, is
// logged and ignored (the room replays its whole log).
//
// The snapshot holds everything the projection's verdicts depend on,
// including the remembered idempotency verdicts in their eviction order
// (actors least recently active first, each one's keys oldest first), so
// a restart from a snapshot reaches exactly the state, and gives exactly
// the answers, of a full replay. What is only for broadcasting (which
// tallies changed since the last flush) is not kept.

// SnapshotBucket is the object store of room snapshots.
const SnapshotBucket = "ROOMSNAP"

// snapshotVersion is the format of stateImage; a snapshot of another
// version is ignored (the room replays its whole log). Version 2: the
// verdicts are remembered per actor (Actors), not in one ring of the room.
const snapshotVersion = 2

// stateImage is a state as stored: plain exported fields, deterministic
// JSON (maps encode with sorted keys, lists in the state's order).
type stateImage struct {
	Version   int                  `json:"v"`
	Room      string               `json:"room"`
	Seq       uint64               `json:"seq"`
	CtlSeq    uint64               `json:"ctlSeq"`
	Chat      []*ChatMessage       `json:"chat"`
	Pinned    *ChatMessage         `json:"pinned,omitempty"`
	Slow      float64              `json:"slow,omitempty"`
	ChatSync  bool                 `json:"chatSync,omitempty"`
	Bans      map[string]time.Time `json:"bans,omitempty"`
	Staff     []string             `json:"staff,omitempty"`
	LastChat  map[string]time.Time `json:"lastChat,omitempty"`
	Polls     []pollImage          `json:"polls,omitempty"`
	OpenPoll  string               `json:"openPoll,omitempty"`
	Questions []questionImage      `json:"questions,omitempty"`
	// Actors are the remembered verdicts, least recently active actor
	// first (evicted first), each one's keys oldest first.
	Actors []actorImage `json:"actors,omitempty"`
}

type pollImage struct {
	ID       string            `json:"id"`
	Spec     PollSpec          `json:"spec"`
	Status   string            `json:"status"`
	Created  time.Time         `json:"created"`
	Opened   time.Time         `json:"opened,omitzero"`
	ClosesAt time.Time         `json:"closesAt,omitzero"`
	Closed   time.Time         `json:"closed,omitzero"`
	Tally    []int             `json:"tally"`
	Votes    map[string]uint16 `json:"votes,omitempty"`
}

type questionImage struct {
	QuestionView
	Upvoters []string `json:"upvoters,omitempty"`
}

type actorImage struct {
	ID   string     `json:"a"`
	Keys []keyImage `json:"k"`
}

type keyImage struct {
	Key    string `json:"k"`
	Result Result `json:"r"`
}

// image returns the state as stored for room.
func (s *state) image(room string) *stateImage {
	im := &stateImage{
		Version: snapshotVersion, Room: room, Seq: s.seq, CtlSeq: s.ctlSeq,
		Chat: s.chat, Pinned: s.pinned, Slow: s.slow, ChatSync: s.chatSync,
		Bans: s.bans, LastChat: s.lastChat, OpenPoll: s.openPoll,
		Staff: slices.Sorted(maps.Keys(s.staff)),
	}
	for _, id := range s.pollOrder {
		p := s.polls[id]
		im.Polls = append(im.Polls, pollImage{
			ID: p.id, Spec: p.spec, Status: p.status, Created: p.created, Opened: p.opened,
			ClosesAt: p.closesAt, Closed: p.closed, Tally: p.tally, Votes: p.votes,
		})
	}
	for _, id := range s.qOrder {
		q := s.questions[id]
		im.Questions = append(im.Questions, questionImage{QuestionView: q.QuestionView, Upvoters: slices.Sorted(maps.Keys(q.upvoters))})
	}
	s.keys.each(func(actor string, keys []string) {
		a := actorImage{ID: actor, Keys: make([]keyImage, len(keys))}
		for i, k := range keys {
			a.Keys[i] = keyImage{Key: k, Result: s.keys.results[k]}
		}
		im.Actors = append(im.Actors, a)
	})
	return im
}

// restore makes the state an image describes, under the limits lim
// (which may have changed since: the newest entries are kept).
func (im *stateImage) restore(lim limits) *state {
	s := newState(lim)
	s.seq, s.ctlSeq = im.Seq, im.CtlSeq
	s.chat = im.Chat
	if len(s.chat) > lim.History {
		s.chat = s.chat[len(s.chat)-lim.History:]
	}
	s.pinned, s.slow, s.chatSync, s.openPoll = im.Pinned, im.Slow, im.ChatSync, im.OpenPoll
	if im.Bans != nil {
		s.bans = im.Bans
	}
	if im.LastChat != nil {
		s.lastChat = im.LastChat
	}
	for _, v := range im.Staff {
		s.staff[v] = true
	}
	for _, p := range im.Polls {
		votes := p.Votes
		if votes == nil {
			votes = map[string]uint16{}
		}
		s.polls[p.ID] = &poll{
			id: p.ID, spec: p.Spec, status: p.Status, created: p.Created, opened: p.Opened,
			closesAt: p.ClosesAt, closed: p.Closed, tally: p.Tally, votes: votes,
		}
		s.pollOrder = append(s.pollOrder, p.ID)
	}
	for _, q := range im.Questions {
		up := make(map[string]struct{}, len(q.Upvoters))
		for _, v := range q.Upvoters {
			up[v] = struct{}{}
		}
		s.questions[q.ID] = &question{QuestionView: q.QuestionView, upvoters: up}
		s.qOrder = append(s.qOrder, q.ID)
	}
	// Remembered again in order: the same memory under the same limits,
	// the newest of it under smaller ones.
	for _, a := range im.Actors {
		for _, k := range a.Keys {
			s.keys.remember(a.ID, k.Key, k.Result)
		}
	}
	return s
}

// check reports an image that does not describe a state of room.
func (im *stateImage) check(room string) error {
	switch {
	case im.Version != snapshotVersion:
		return fmt.Errorf("version %d, want %d", im.Version, snapshotVersion)
	case im.Room != room:
		return fmt.Errorf("snapshot of room %q", im.Room)
	case im.CtlSeq > im.Seq:
		return errors.New("ctl sequence beyond the sequence")
	}
	if im.OpenPoll != "" && !slices.ContainsFunc(im.Polls, func(p pollImage) bool { return p.ID == im.OpenPoll }) {
		return fmt.Errorf("open poll %q missing", im.OpenPoll)
	}
	for _, p := range im.Polls {
		if len(p.Tally) != len(p.Spec.Options) || p.ID == "" {
			return fmt.Errorf("poll %q malformed", p.ID)
		}
	}
	for _, m := range im.Chat {
		if m == nil {
			return errors.New("empty chat message")
		}
	}
	return nil
}

// snapshotJob is one snapshot for the writer.
type snapshotJob struct {
	room string
	seq  uint64
	data []byte
}

// loadSnapshot returns the room's stored snapshot, or nil (logged) when
// there is none usable.
func (r *Room) loadSnapshot(ctx context.Context) *stateImage {
	data, err := r.rs.snaps.GetBytes(ctx, r.name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil
	}
	if err != nil {
		r.log.Warn("room snapshot unreadable; replaying the whole log", "err", err)
		return nil
	}
	var im stateImage
	if err := json.Unmarshal(data, &im); err != nil {
		r.log.Warn("room snapshot undecodable; replaying the whole log", "err", err)
		return nil
	}
	if err := im.check(r.name); err != nil {
		r.log.Warn("room snapshot invalid; replaying the whole log", "err", err)
		return nil
	}
	return &im
}

// snapshot hands the room's state to the snapshot writer: wait says
// whether to wait for room in its queue (when the room stops) or to skip
// this one if the queue is full (the next comes SnapshotEvery events on).
func (r *Room) snapshot(wait bool) {
	if r.st.seq == r.snapSeq {
		return
	}
	data, err := json.Marshal(r.st.image(r.name))
	if err != nil {
		r.log.Error("encoding room snapshot", "err", err)
		return
	}
	job := snapshotJob{room: r.name, seq: r.st.seq, data: data}
	r.snapSeq, r.sinceSnap = r.st.seq, 0
	if wait {
		r.rs.snapJobs <- job
		return
	}
	select {
	case r.rs.snapJobs <- job:
	default:
		r.rs.metrics.snapshotsSkipped.Add(1)
	}
}

// runSnapshots writes snapshots, one at a time and in the order the rooms
// made them (so a room's older snapshot never replaces a newer one), until
// Close; it writes what is queued before it returns.
func (rs *Rooms) runSnapshots() {
	defer rs.wg.Done()
	for {
		select {
		case job := <-rs.snapJobs:
			rs.writeSnapshot(job)
		case <-rs.quit:
			for {
				select {
				case job := <-rs.snapJobs:
					rs.writeSnapshot(job)
				default:
					return
				}
			}
		}
	}
}

func (rs *Rooms) writeSnapshot(job snapshotJob) {
	ctx, cancel := context.WithTimeout(context.Background(), rs.cfg.CommandTimeout)
	defer cancel()
	if _, err := rs.snaps.PutBytes(ctx, job.room, job.data); err != nil {
		rs.log.Warn("storing room snapshot", "stream", job.room, "seq", job.seq, "err", err)
		return
	}
	rs.metrics.snapshots.Add(1)
}

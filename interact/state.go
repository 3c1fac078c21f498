package interact

import (
	"slices"
	"sort"
	"strconv"
	"time"
)

// state is a room's projection: what its log adds up to. It is pure (no
// I/O, no clock: times come from the events) and deterministic, so every
// node that applies the same log reaches the same state and the same
// verdict on every event. Only the room's goroutine touches it.
type state struct {
	lim limits

	seq    uint64 // last applied stream sequence
	ctlSeq uint64 // last applied sequence of the ctl subject

	chat     []*ChatMessage // the last lim.History messages, oldest first
	pinned   *ChatMessage
	slow     float64              // slow mode interval, seconds; 0 is off
	chatSync bool                 // spoiler-free chat: pages show messages at their media time
	bans     map[string]time.Time // viewer -> until; zero time is permanent
	staff    map[string]bool      // actors seen with a staff role
	lastChat map[string]time.Time // viewer -> their last accepted message

	polls     map[string]*poll
	pollOrder []string
	openPoll  string

	questions map[string]*question
	qOrder    []string

	anyDirty bool // some poll or question has a change not yet broadcast

	keys keyMemory // idempotency verdicts, per actor (keys.go)
}

// limits bound a room's state. They must be equal on every node.
type limits struct {
	History      int // chat messages kept for joiners
	MaxPolls     int
	MaxQuestions int
	// KeysPerActor, MaxActors and MaxKeys bound the idempotency verdicts
	// remembered (see keyMemory): per actor, actors, verdicts in all.
	KeysPerActor int
	MaxActors    int
	MaxKeys      int
}

// ChatMessage is one chat message as viewers see it.
type ChatMessage struct {
	ID        string    `json:"id"`
	Seq       uint64    `json:"seq"`
	Viewer    string    `json:"viewer"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Text      string    `json:"text"`
	At        time.Time `json:"at"`
	MediaTime *float64  `json:"mediaTime,omitempty"`
	// HeldUntil is set while the message is held for moderation (only
	// staff see it then).
	HeldUntil *time.Time `json:"heldUntil,omitempty"`
}

func (m *ChatMessage) heldAt(now time.Time) bool {
	return m.HeldUntil != nil && now.Before(*m.HeldUntil)
}

// Poll statuses.
const (
	PollDraft  = "draft"
	PollOpen   = "open"
	PollClosed = "closed"
)

type poll struct {
	id       string
	spec     PollSpec
	status   string
	created  time.Time
	opened   time.Time
	closesAt time.Time // zero: no timer
	closed   time.Time
	tally    []int
	votes    map[string]uint16 // viewer -> chosen options, a bit each
	dirty    bool              // tally changed since the last broadcast
}

// PollView is a poll as the API and the viewer channel show it. Tally
// and Voters are absent while the results are hidden from the reader.
type PollView struct {
	ID         string     `json:"id"`
	Question   string     `json:"question"`
	Options    []string   `json:"options"`
	Multiple   bool       `json:"multiple"`
	MaxChoices int        `json:"maxChoices,omitempty"`
	Changeable bool       `json:"changeable"`
	Results    string     `json:"results"`
	Duration   float64    `json:"duration,omitempty"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"createdAt"`
	OpenedAt   *time.Time `json:"openedAt,omitempty"`
	ClosesAt   *time.Time `json:"closesAt,omitempty"`
	ClosedAt   *time.Time `json:"closedAt,omitempty"`
	Tally      []int      `json:"tally,omitempty"`
	Voters     *int       `json:"voters,omitempty"`
}

func (p *poll) view(staff bool) PollView {
	v := PollView{
		ID: p.id, Question: p.spec.Question, Options: p.spec.Options, Multiple: p.spec.Multiple,
		MaxChoices: p.spec.MaxChoices, Changeable: p.spec.Changeable, Results: p.spec.Results,
		Duration: p.spec.Duration, Status: p.status, CreatedAt: p.created,
	}
	if !p.opened.IsZero() {
		v.OpenedAt = ptr(p.opened)
	}
	if !p.closesAt.IsZero() {
		v.ClosesAt = ptr(p.closesAt)
	}
	if !p.closed.IsZero() {
		v.ClosedAt = ptr(p.closed)
	}
	if p.resultsVisible(staff) {
		v.Tally = slices.Clone(p.tally)
		v.Voters = ptr(len(p.votes))
	}
	return v
}

func (p *poll) resultsVisible(staff bool) bool {
	return staff || p.spec.Results == ResultsLive || p.status == PollClosed
}

// Question statuses.
const (
	QuestionPending = "pending" // in the moderation queue
	QuestionVisible = "visible"
	QuestionHidden  = "hidden"
)

type question struct {
	QuestionView
	upvoters map[string]struct{}
	dirty    bool
}

// QuestionView is a question as the API shows it.
type QuestionView struct {
	ID        string    `json:"id"`
	Seq       uint64    `json:"seq"`
	Viewer    string    `json:"viewer"`
	Name      string    `json:"name"`
	Text      string    `json:"text"`
	At        time.Time `json:"at"`
	MediaTime *float64  `json:"mediaTime,omitempty"`
	Status    string    `json:"status"`
	Upvotes   int       `json:"upvotes"`
	Answered  bool      `json:"answered"`
}

// Result is the verdict on one command: the sequence of its event in the
// log, the id of what it created, or the refusal.
type Result struct {
	Seq uint64 `json:"seq,omitempty"`
	ID  string `json:"id,omitempty"`
	Err *Error `json:"error,omitempty"`
}

// Out is one event for viewers: a change of the room, with the log
// sequence it came from (none for reactions and presence, which are not
// logged).
type Out struct {
	Seq   uint64 `json:"seq,omitempty"`
	Type  string `json:"type"`
	Data  any    `json:"data,omitempty"`
	staff bool   // only for moderators and the host
}

func newState(lim limits) *state {
	return &state{
		lim:       lim,
		bans:      map[string]time.Time{},
		staff:     map[string]bool{},
		lastChat:  map[string]time.Time{},
		polls:     map[string]*poll{},
		questions: map[string]*question{},
		keys:      newKeyMemory(lim.KeysPerActor, lim.MaxActors, lim.MaxKeys),
	}
}

// advance moves the state to the message at seq (of the ctl subject or
// not) without applying an event: a message whose events cannot be read.
func (s *state) advance(seq uint64, ctl bool) {
	if seq > s.seq {
		s.seq = seq
	}
	if ctl && seq > s.ctlSeq {
		s.ctlSeq = seq
	}
}

// apply applies event idx of the message at seq and returns its verdict
// and the events viewers should see. fresh is false when the event repeats
// an earlier one's idempotency key, in an earlier message or earlier in
// the same batch (its verdict is the earlier one, nothing changes).
func (s *state) apply(seq uint64, idx int, ctl bool, ev *Event) (res Result, outs []Out, fresh bool) {
	s.advance(seq, ctl)
	if r, ok := s.keys.verdict(ev.Key); ok && ev.Key != "" {
		return r, nil, false
	}
	res = Result{Seq: seq}
	if err := s.check(ev); err != nil {
		res.Err = err
	} else {
		res.ID, outs = s.mutate(seq, idx, ev)
	}
	s.keys.remember(ev.Actor.ID, ev.Key, res)
	return res, outs, true
}

// itemID names what event idx of the message at seq creates: prefix and
// the sequence ("m42"), and for the second event of a batch on, its index
// ("m42.1"). A single-event message's names are those of format 1.
func itemID(prefix byte, seq uint64, idx int) string {
	b := make([]byte, 0, 24)
	b = append(b, prefix)
	b = strconv.AppendUint(b, seq, 10)
	if idx > 0 {
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(idx), 10)
	}
	return string(b)
}

// banned returns whether viewer may not post at t, and until when (zero:
// permanently).
func (s *state) banned(viewer string, t time.Time) (bool, time.Time) {
	until, ok := s.bans[viewer]
	if !ok {
		return false, time.Time{}
	}
	if until.IsZero() || t.Before(until) {
		return true, until
	}
	return false, time.Time{}
}

// check judges ev against the state.
func (s *state) check(ev *Event) *Error {
	c := &ev.Cmd
	if StaffOnly(c.Type) && !ev.Actor.Role.Staff() {
		return ErrForbidden
	}
	switch c.Type {
	case CmdChatSend, CmdAsk:
		if b, until := s.banned(ev.Actor.ID, ev.At); b && !ev.Actor.Role.Staff() {
			if until.IsZero() {
				return ErrBanned
			}
			return errf(ErrBanned.Code, "you are timed out until %s", until.UTC().Format(time.RFC3339))
		}
		if c.Type == CmdChatSend && s.slow > 0 && !ev.Actor.Role.Staff() {
			if last, ok := s.lastChat[ev.Actor.ID]; ok && ev.At.Sub(last) < seconds(s.slow) {
				return errf(ErrSlowMode.Code, "slow mode: one message every %g s", s.slow)
			}
		}
		if c.Type == CmdAsk && len(s.questions) >= s.lim.MaxQuestions {
			return errf(ErrLimit.Code, "the room holds %d questions already", s.lim.MaxQuestions)
		}
	case CmdChatPin:
		if s.message(c.ID) == nil {
			return errf(ErrNotFound.Code, "no message %q in the recent chat", c.ID)
		}
	case CmdBan, CmdTimeout:
		if s.staff[c.Viewer] || c.Viewer == ev.Actor.ID {
			return errf(ErrForbidden.Code, "staff cannot be banned")
		}
	case CmdPollCreate:
		if c.Poll.Open && s.openPoll != "" {
			return errf(ErrConflict.Code, "poll %s is open; close it first", s.openPoll)
		}
		if len(s.polls) >= s.lim.MaxPolls && s.oldestClosedPoll() == "" {
			return errf(ErrLimit.Code, "at most %d polls", s.lim.MaxPolls)
		}
	case CmdPollOpen, CmdPollClose, CmdVote:
		p := s.polls[c.ID]
		if p == nil {
			return errf(ErrNotFound.Code, "no poll %q", c.ID)
		}
		switch c.Type {
		case CmdPollOpen:
			if p.status == PollClosed {
				return ErrPollClosed
			}
			if p.status == PollOpen || s.openPoll != "" {
				return errf(ErrConflict.Code, "poll %s is open already", s.openPoll)
			}
		case CmdPollClose:
			if p.status == PollDraft {
				return ErrPollNotOpen
			}
			if p.status == PollClosed {
				return ErrPollClosed
			}
		case CmdVote:
			if p.status == PollDraft {
				return ErrPollNotOpen
			}
			if p.status == PollClosed || (!p.closesAt.IsZero() && !ev.At.Before(p.closesAt)) {
				return ErrPollClosed
			}
			if len(c.Choices) > 1 && !p.spec.Multiple {
				return errf(ErrBadRequest.Code, "this poll takes one choice")
			}
			if p.spec.MaxChoices > 0 && len(c.Choices) > p.spec.MaxChoices {
				return errf(ErrBadRequest.Code, "this poll takes at most %d choices", p.spec.MaxChoices)
			}
			for _, ch := range c.Choices {
				if ch >= len(p.spec.Options) {
					return errf(ErrBadRequest.Code, "choice %d: the poll has %d options", ch, len(p.spec.Options))
				}
			}
			if _, voted := p.votes[ev.Actor.ID]; voted && !p.spec.Changeable {
				return ErrAlreadyVoted
			}
		}
	case CmdUpvote, CmdApprove, CmdHide, CmdAnswer:
		q := s.questions[c.ID]
		if q == nil || (c.Type == CmdUpvote && q.Status != QuestionVisible) {
			return errf(ErrNotFound.Code, "no question %q", c.ID)
		}
		if c.Type == CmdUpvote {
			if _, ok := q.upvoters[ev.Actor.ID]; ok {
				return errf(ErrAlreadyVoted.Code, "you upvoted this question already")
			}
		}
	}
	return nil
}

// mutate applies a checked event.
func (s *state) mutate(seq uint64, idx int, ev *Event) (id string, outs []Out) {
	c := &ev.Cmd
	if ev.Actor.Role.Staff() {
		s.staff[ev.Actor.ID] = true
	}
	out := func(typ string, data any, staff bool) {
		outs = append(outs, Out{Seq: seq, Type: typ, Data: data, staff: staff})
	}
	switch c.Type {
	case CmdChatSend:
		m := &ChatMessage{
			ID: itemID('m', seq, idx), Seq: seq, Viewer: ev.Actor.ID, Name: ev.Actor.Name,
			Role: ev.Actor.Role, Text: c.Text, At: ev.At, MediaTime: c.MediaTime,
		}
		if ev.HoldUntil.After(ev.At) {
			m.HeldUntil = ptr(ev.HoldUntil)
		}
		s.chat = append(s.chat, m)
		if len(s.chat) > s.lim.History {
			s.chat = slices.Delete(s.chat, 0, len(s.chat)-s.lim.History)
		}
		s.touchChat(ev.Actor.ID, ev.At)
		out("chat.message", m, m.HeldUntil != nil)
		return m.ID, outs
	case CmdChatDelete:
		s.chat = slices.DeleteFunc(s.chat, func(m *ChatMessage) bool { return m.ID == c.ID })
		out("chat.deleted", map[string]string{"id": c.ID}, false)
		if s.pinned != nil && s.pinned.ID == c.ID {
			s.pinned = nil
			out("chat.unpinned", nil, false)
		}
	case CmdChatPin:
		s.pinned = s.message(c.ID)
		out("chat.pinned", s.pinned, false)
	case CmdChatUnpin:
		s.pinned = nil
		out("chat.unpinned", nil, false)
	case CmdSlowMode:
		s.slow = c.Seconds
		out("chat.slow", map[string]float64{"seconds": c.Seconds}, false)
	case CmdChatSync:
		s.chatSync = *c.Enabled
		out("chat.sync", map[string]bool{"enabled": s.chatSync}, false)
	case CmdBan, CmdTimeout:
		var until time.Time
		if c.Type == CmdTimeout {
			until = ev.At.Add(seconds(c.Seconds))
		}
		s.bans[c.Viewer] = until
		s.chat = slices.DeleteFunc(s.chat, func(m *ChatMessage) bool { return m.Viewer == c.Viewer })
		if s.pinned != nil && s.pinned.Viewer == c.Viewer {
			s.pinned = nil
			out("chat.unpinned", nil, false)
		}
		d := map[string]any{"viewer": c.Viewer}
		if !until.IsZero() {
			d["until"] = until
		}
		out("mod.banned", d, false)
		s.pruneBans(ev.At)
	case CmdUnban:
		delete(s.bans, c.Viewer)
		out("mod.unbanned", map[string]string{"viewer": c.Viewer}, false)
	case CmdPollCreate:
		if len(s.polls) >= s.lim.MaxPolls {
			old := s.oldestClosedPoll()
			delete(s.polls, old)
			s.pollOrder = slices.DeleteFunc(s.pollOrder, func(id string) bool { return id == old })
		}
		spec := *c.Poll
		spec.Options = slices.Clone(spec.Options)
		if spec.Results == "" {
			spec.Results = ResultsLive
		}
		p := &poll{
			id: itemID('p', seq, idx), spec: spec, status: PollDraft, created: ev.At,
			tally: make([]int, len(spec.Options)), votes: map[string]uint16{},
		}
		s.polls[p.id] = p
		s.pollOrder = append(s.pollOrder, p.id)
		out("poll.created", p.view(true), true)
		if spec.Open {
			s.openPollAt(p, ev.At)
			out("poll.opened", p.view(false), false)
		}
		return p.id, outs
	case CmdPollOpen:
		p := s.polls[c.ID]
		s.openPollAt(p, ev.At)
		out("poll.opened", p.view(false), false)
	case CmdPollClose:
		p := s.polls[c.ID]
		p.status, p.closed, p.dirty = PollClosed, ev.At, false
		s.openPoll = ""
		out("poll.closed", p.view(false), false)
	case CmdVote:
		p := s.polls[c.ID]
		if old, ok := p.votes[ev.Actor.ID]; ok {
			for i := range p.tally {
				if old&(1<<i) != 0 {
					p.tally[i]--
				}
			}
		}
		var bits uint16
		for _, ch := range c.Choices {
			bits |= 1 << ch
			p.tally[ch]++
		}
		p.votes[ev.Actor.ID] = bits
		p.dirty, s.anyDirty = true, true
		return p.id, nil
	case CmdAsk:
		q := &question{QuestionView: QuestionView{
			ID: itemID('q', seq, idx), Seq: seq, Viewer: ev.Actor.ID, Name: ev.Actor.Name,
			Text: c.Text, At: ev.At, MediaTime: c.MediaTime, Status: QuestionVisible,
		}, upvoters: map[string]struct{}{}}
		if ev.Pending {
			q.Status = QuestionPending
		}
		s.questions[q.ID] = q
		s.qOrder = append(s.qOrder, q.ID)
		out("qa.question", q.QuestionView, q.Status != QuestionVisible)
		return q.ID, outs
	case CmdUpvote:
		q := s.questions[c.ID]
		q.upvoters[ev.Actor.ID] = struct{}{}
		q.Upvotes++
		q.dirty, s.anyDirty = true, true
		return q.ID, nil
	case CmdApprove, CmdHide, CmdAnswer:
		q := s.questions[c.ID]
		switch c.Type {
		case CmdApprove:
			q.Status = QuestionVisible
		case CmdHide:
			q.Status = QuestionHidden
			out("qa.hidden", map[string]string{"id": q.ID}, false)
		case CmdAnswer:
			q.Answered = true
		}
		q.dirty = false
		out("qa.question", q.QuestionView, q.Status != QuestionVisible)
	}
	return c.ID, outs
}

func (s *state) openPollAt(p *poll, at time.Time) {
	p.status, p.opened = PollOpen, at
	if p.spec.Duration > 0 {
		p.closesAt = at.Add(seconds(p.spec.Duration))
	}
	s.openPoll = p.id
}

func (s *state) oldestClosedPoll() string {
	for _, id := range s.pollOrder {
		if s.polls[id].status == PollClosed {
			return id
		}
	}
	return ""
}

func (s *state) message(id string) *ChatMessage {
	for _, m := range s.chat {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// maxChatters bounds the slow-mode memory of who posted when.
const maxChatters = 50000

func (s *state) touchChat(viewer string, at time.Time) {
	s.lastChat[viewer] = at
	if len(s.lastChat) <= maxChatters {
		return
	}
	for v, t := range s.lastChat {
		if at.Sub(t) >= seconds(s.slow) {
			delete(s.lastChat, v)
		}
	}
	if len(s.lastChat) > maxChatters {
		clear(s.lastChat)
	}
}

func (s *state) pruneBans(now time.Time) {
	for v, until := range s.bans {
		if !until.IsZero() && !now.Before(until) {
			delete(s.bans, v)
		}
	}
}

// dirtyOuts returns the coalesced updates (poll tallies, question votes)
// since the last call.
func (s *state) dirtyOuts() []Out {
	if !s.anyDirty {
		return nil
	}
	s.anyDirty = false
	var outs []Out
	for _, id := range s.pollOrder {
		p := s.polls[id]
		if !p.dirty {
			continue
		}
		p.dirty = false
		outs = append(outs, Out{Seq: s.seq, Type: "poll.results", Data: map[string]any{
			"id": p.id, "tally": slices.Clone(p.tally), "voters": len(p.votes),
		}, staff: !p.resultsVisible(false)})
	}
	for _, id := range s.qOrder {
		q := s.questions[id]
		if q.dirty {
			q.dirty = false
			outs = append(outs, Out{Seq: s.seq, Type: "qa.question", Data: q.QuestionView, staff: q.Status != QuestionVisible})
		}
	}
	return outs
}

// peekDirty returns what dirtyOuts would, without clearing.
func (s *state) peekDirty() []Out {
	var marks []func()
	for _, p := range s.polls {
		if p.dirty {
			marks = append(marks, func() { p.dirty = true })
		}
	}
	for _, q := range s.questions {
		if q.dirty {
			marks = append(marks, func() { q.dirty = true })
		}
	}
	was := s.anyDirty
	outs := s.dirtyOuts()
	for _, m := range marks {
		m()
	}
	s.anyDirty = was
	return outs
}

func (s *state) hasDirty() bool { return s.anyDirty }

// Snapshot is the state of a room as a joining viewer gets it.
type Snapshot struct {
	Seq      uint64         `json:"seq"`
	Viewers  int            `json:"viewers"`
	Chat     []*ChatMessage `json:"chat"`
	Pinned   *ChatMessage   `json:"pinned,omitempty"`
	SlowMode float64        `json:"slowMode"`
	// ChatSync is spoiler-free chat: pages hold each message until the
	// viewer's picture reaches its mediaTime.
	ChatSync  bool           `json:"chatSync"`
	Poll      *PollView      `json:"poll,omitempty"` // the open poll, or the last closed one
	Questions []QuestionView `json:"questions"`      // top questions
	Bans      map[string]any `json:"bans,omitempty"` // staff only
}

// maxSnapshotQuestions bounds the questions in a snapshot.
const maxSnapshotQuestions = 50

func (s *state) snapshot(now time.Time, staff bool) Snapshot {
	snap := Snapshot{Seq: s.seq, SlowMode: s.slow, ChatSync: s.chatSync, Pinned: s.pinned, Chat: []*ChatMessage{}}
	for _, m := range s.chat {
		if staff || !m.heldAt(now) {
			snap.Chat = append(snap.Chat, m)
		}
	}
	if p := s.currentPoll(); p != nil {
		v := p.view(staff)
		snap.Poll = &v
	}
	snap.Questions = s.questionList("", staff, maxSnapshotQuestions)
	if staff {
		snap.Bans = map[string]any{}
		for v, until := range s.bans {
			if until.IsZero() {
				snap.Bans[v] = "permanent"
			} else if now.Before(until) {
				snap.Bans[v] = until
			}
		}
	}
	return snap
}

// currentPoll is the open poll, else the most recent closed one.
func (s *state) currentPoll() *poll {
	if s.openPoll != "" {
		return s.polls[s.openPoll]
	}
	for i := len(s.pollOrder) - 1; i >= 0; i-- {
		if p := s.polls[s.pollOrder[i]]; p.status == PollClosed {
			return p
		}
	}
	return nil
}

// questionList returns questions of the given status ("" for visible ones,
// or every status for staff), ordered by upvotes then age, at most max.
func (s *state) questionList(status string, staff bool, max int) []QuestionView {
	list := []QuestionView{}
	for _, id := range s.qOrder {
		q := s.questions[id]
		switch {
		case status != "" && q.Status != status:
			continue
		case status == "" && q.Status != QuestionVisible:
			continue
		case q.Status != QuestionVisible && !staff:
			continue
		}
		list = append(list, q.QuestionView)
	}
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].Answered != list[j].Answered {
			return !list[i].Answered
		}
		return list[i].Upvotes > list[j].Upvotes
	})
	if len(list) > max {
		list = list[:max]
	}
	return list
}

// nextRelease returns the earliest time a held message becomes public
// after now, or zero.
func (s *state) nextRelease(now time.Time) time.Time {
	var next time.Time
	for _, m := range s.chat {
		if m.heldAt(now) && (next.IsZero() || m.HeldUntil.Before(next)) {
			next = *m.HeldUntil
		}
	}
	return next
}

// released returns the held messages whose hold ended in (after, now].
func (s *state) released(after, now time.Time) []Out {
	var outs []Out
	for _, m := range s.chat {
		if m.HeldUntil != nil && m.HeldUntil.After(after) && !m.HeldUntil.After(now) {
			outs = append(outs, Out{Seq: m.Seq, Type: "chat.message", Data: m})
		}
	}
	return outs
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func ptr[T any](v T) *T { return &v }

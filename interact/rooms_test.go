package interact

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveloop/liveloop/bus"
)

// node is a bus and its rooms on a data directory.
type node struct {
	bus   *bus.Bus
	rooms *Rooms
}

func startNode(t testing.TB, dir string, mod func(*Config)) *node {
	t.Helper()
	b, err := bus.New(bus.Config{DataDir: dir, Listen: bus.ListenNone})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{NATS: b.Conn(), JetStream: b.JetStream(), NodeID: "n1"}
	if mod != nil {
		mod(&cfg)
	}
	rs, err := New(context.Background(), cfg)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	n := &node{bus: b, rooms: rs}
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	if n.rooms != nil {
		n.rooms.Close()
		n.bus.Close()
		n.rooms = nil
	}
}

var (
	host = Actor{ID: "h", Name: "Host", Role: RoleHost}
	mod  = Actor{ID: "m", Name: "Mod", Role: RoleModerator}
)

func viewer(i int) Actor {
	return Actor{ID: fmt.Sprintf("v%d", i), Name: fmt.Sprintf("V%d", i), Role: RoleViewer}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustDo(t testing.TB, rs *Rooms, actor Actor, cmd Command) Result {
	t.Helper()
	res, err := rs.Do(ctx(t), "s", actor, cmd)
	if err != nil {
		t.Fatalf("%s by %s: %v", cmd.Type, actor.ID, err)
	}
	return res
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func TestPollLifecycle(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	rs := n.rooms
	res := mustDo(t, rs, host, Command{Type: CmdPollCreate, Poll: &PollSpec{Question: "Best?", Options: []string{"a", "b", "c"}}})
	id := res.ID
	_, err := rs.Do(ctx(t), "s", viewer(1), Command{Type: CmdVote, ID: id, Choices: []int{0}})
	wantErr(t, err, ErrPollNotOpen)
	_, err = rs.Do(ctx(t), "s", viewer(1), Command{Type: CmdPollOpen, ID: id})
	wantErr(t, err, ErrForbidden)
	mustDo(t, rs, host, Command{Type: CmdPollOpen, ID: id})
	for i := range 5 {
		mustDo(t, rs, viewer(i), Command{Type: CmdVote, ID: id, Choices: []int{i % 2}})
	}
	_, err = rs.Do(ctx(t), "s", viewer(0), Command{Type: CmdVote, ID: id, Choices: []int{2}})
	wantErr(t, err, ErrAlreadyVoted)
	_, err = rs.Do(ctx(t), "s", viewer(9), Command{Type: CmdVote, ID: id, Choices: []int{0, 1}})
	wantErr(t, err, ErrBadRequest)
	_, err = rs.Do(ctx(t), "s", viewer(9), Command{Type: CmdVote, ID: id, Choices: []int{5}})
	wantErr(t, err, ErrBadRequest)
	mustDo(t, rs, host, Command{Type: CmdPollClose, ID: id})
	_, err = rs.Do(ctx(t), "s", viewer(7), Command{Type: CmdVote, ID: id, Choices: []int{0}})
	wantErr(t, err, ErrPollClosed)
	p, err := rs.Poll(ctx(t), "s", id, false)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p.Tally) != "[3 2 0]" || *p.Voters != 5 || p.Status != PollClosed {
		t.Fatalf("poll = %+v", p)
	}
}

func TestPollMultipleChangeableHidden(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	rs := n.rooms
	id := mustDo(t, rs, host, Command{Type: CmdPollCreate, Poll: &PollSpec{
		Question: "Pick", Options: []string{"a", "b", "c"}, Multiple: true, MaxChoices: 2,
		Changeable: true, Results: ResultsClose, Open: true,
	}}).ID
	mustDo(t, rs, viewer(1), Command{Type: CmdVote, ID: id, Choices: []int{0, 1}})
	mustDo(t, rs, viewer(1), Command{Type: CmdVote, ID: id, Choices: []int{2}})
	_, err := rs.Do(ctx(t), "s", viewer(2), Command{Type: CmdVote, ID: id, Choices: []int{0, 1, 2}})
	wantErr(t, err, ErrBadRequest)
	p, _ := rs.Poll(ctx(t), "s", id, false)
	if p.Tally != nil {
		t.Fatalf("results visible to viewers before close: %+v", p)
	}
	p, _ = rs.Poll(ctx(t), "s", id, true)
	if fmt.Sprint(p.Tally) != "[0 0 1]" {
		t.Fatalf("staff tally = %v", p.Tally)
	}
}

func TestTimedPollClosesItself(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	rs := n.rooms
	id := mustDo(t, rs, host, Command{Type: CmdPollCreate, Poll: &PollSpec{
		Question: "Quick", Options: []string{"a", "b"}, Duration: 0.3, Open: true,
	}}).ID
	mustDo(t, rs, viewer(1), Command{Type: CmdVote, ID: id, Choices: []int{1}})
	waitFor(t, func() bool {
		p, err := rs.Poll(ctx(t), "s", id, false)
		return err == nil && p.Status == PollClosed
	})
	_, err := rs.Do(ctx(t), "s", viewer(2), Command{Type: CmdVote, ID: id, Choices: []int{1}})
	wantErr(t, err, ErrPollClosed)
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestIdempotencyAndReplay(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	id := mustDo(t, n.rooms, host, Command{Type: CmdPollCreate, Key: "create-1", Poll: &PollSpec{Question: "Q", Options: []string{"a", "b"}, Open: true}}).ID
	again := mustDo(t, n.rooms, host, Command{Type: CmdPollCreate, Key: "create-1", Poll: &PollSpec{Question: "Q", Options: []string{"a", "b"}, Open: true}})
	if again.ID != id {
		t.Fatalf("same key created a second poll: %s then %s", id, again.ID)
	}
	// Concurrent duplicates: all get the same answer, applied once.
	var wg sync.WaitGroup
	results := make([]Result, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = mustDo(t, n.rooms, viewer(1), Command{Type: CmdVote, Key: "vote-1", ID: id, Choices: []int{1}})
		}()
	}
	wg.Wait()
	for _, r := range results[1:] {
		if r != results[0] {
			t.Fatalf("answers differ: %+v vs %+v", r, results[0])
		}
	}
	// A rejected command keeps its rejection under its key.
	_, err1 := n.rooms.Do(ctx(t), "s", viewer(1), Command{Type: CmdVote, Key: "vote-2", ID: id, Choices: []int{0}})
	wantErr(t, err1, ErrAlreadyVoted)
	mustDo(t, n.rooms, viewer(2), Command{Type: CmdChatSend, Key: "c1", Text: "hello"})
	n.stop()

	n = startNode(t, dir, nil)
	p, err := n.rooms.Poll(ctx(t), "s", id, false)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p.Tally) != "[0 1]" || p.Status != PollOpen {
		t.Fatalf("after restart: %+v", p)
	}
	// The verdicts survive the restart (beyond JetStream's own window).
	r := mustDo(t, n.rooms, viewer(1), Command{Type: CmdVote, Key: "vote-1", ID: id, Choices: []int{1}})
	if r != results[0] {
		t.Fatalf("after restart: %+v, want %+v", r, results[0])
	}
	snap, err := n.rooms.Snapshot(ctx(t), "s", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Chat) != 1 || snap.Chat[0].Text != "hello" {
		t.Fatalf("chat after restart: %+v", snap.Chat)
	}
}

func TestModerationAndRateLimits(t *testing.T) {
	n := startNode(t, t.TempDir(), func(c *Config) { c.ChatRate, c.ChatBurst = 1, 3 })
	rs := n.rooms
	m := mustDo(t, rs, viewer(1), Command{Type: CmdChatSend, Text: "spam"})
	mustDo(t, rs, mod, Command{Type: CmdChatPin, ID: m.ID})
	mustDo(t, rs, mod, Command{Type: CmdBan, Viewer: "v1"})
	_, err := rs.Do(ctx(t), "s", viewer(1), Command{Type: CmdChatSend, Text: "again"})
	wantErr(t, err, ErrBanned)
	snap, _ := rs.Snapshot(ctx(t), "s", false)
	if len(snap.Chat) != 0 || snap.Pinned != nil {
		t.Fatalf("banned viewer's messages remain: %+v", snap)
	}
	_, err = rs.Do(ctx(t), "s", mod, Command{Type: CmdBan, Viewer: "h"})
	if err == nil {
		mustDo(t, rs, host, Command{Type: CmdChatSend, Text: "x"})
	}
	mustDo(t, rs, mod, Command{Type: CmdUnban, Viewer: "v1"})
	mustDo(t, rs, viewer(1), Command{Type: CmdChatSend, Text: "back"})
	mustDo(t, rs, mod, Command{Type: CmdTimeout, Viewer: "v1", Seconds: 60})
	_, err = rs.Do(ctx(t), "s", viewer(1), Command{Type: CmdChatSend, Text: "again"})
	wantErr(t, err, ErrBanned)

	// A flood from one viewer is refused; another viewer still posts.
	limited := 0
	for range 20 {
		if _, err := rs.Do(ctx(t), "s", viewer(2), Command{Type: CmdChatSend, Text: "flood"}); errors.Is(err, ErrRateLimited) {
			limited++
		}
	}
	if limited < 15 {
		t.Fatalf("%d of 20 flood messages refused", limited)
	}
	mustDo(t, rs, viewer(3), Command{Type: CmdChatSend, Text: "normal"})

	mustDo(t, rs, mod, Command{Type: CmdSlowMode, Seconds: 30})
	mustDo(t, rs, viewer(4), Command{Type: CmdChatSend, Text: "one"})
	_, err = rs.Do(ctx(t), "s", viewer(4), Command{Type: CmdChatSend, Text: "two"})
	wantErr(t, err, ErrSlowMode)
	mustDo(t, rs, mod, Command{Type: CmdChatSend, Text: "staff ignore slow mode"})
	mustDo(t, rs, mod, Command{Type: CmdChatSend, Text: "staff ignore slow mode"})
}

func TestQuestions(t *testing.T) {
	n := startNode(t, t.TempDir(), func(c *Config) { c.QAModeration = true })
	rs := n.rooms
	q1 := mustDo(t, rs, viewer(1), Command{Type: CmdAsk, Text: "first?"}).ID
	q2 := mustDo(t, rs, viewer(2), Command{Type: CmdAsk, Text: "second?"}).ID
	list, _ := rs.Questions(ctx(t), "s", "", false)
	if len(list) != 0 {
		t.Fatalf("pending questions visible: %+v", list)
	}
	_, err := rs.Do(ctx(t), "s", viewer(3), Command{Type: CmdUpvote, ID: q1})
	wantErr(t, err, ErrNotFound)
	mustDo(t, rs, mod, Command{Type: CmdApprove, ID: q1})
	mustDo(t, rs, mod, Command{Type: CmdApprove, ID: q2})
	mustDo(t, rs, viewer(3), Command{Type: CmdUpvote, ID: q2})
	_, err = rs.Do(ctx(t), "s", viewer(3), Command{Type: CmdUpvote, ID: q2})
	wantErr(t, err, ErrAlreadyVoted)
	list, _ = rs.Questions(ctx(t), "s", "", false)
	if len(list) != 2 || list[0].ID != q2 || list[0].Upvotes != 1 {
		t.Fatalf("questions = %+v", list)
	}
	mustDo(t, rs, host, Command{Type: CmdAnswer, ID: q2})
	mustDo(t, rs, mod, Command{Type: CmdHide, ID: q1})
	list, _ = rs.Questions(ctx(t), "s", "", false)
	if len(list) != 1 || !list[0].Answered {
		t.Fatalf("questions = %+v", list)
	}
}

// cueRec records cues and stands in for a stream's media clock.
type cueRec struct {
	mu    sync.Mutex
	cues  []string
	live  bool
	clock time.Duration
}

func (c *cueRec) MediaTime(stream string) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clock, c.live
}

func (c *cueRec) setClock(d time.Duration, live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock, c.live = d, live
}

func (c *cueRec) PostCue(stream, typ string, data json.RawMessage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cues = append(c.cues, stream+" "+typ)
	return nil
}

func (c *cueRec) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.cues...)
}

func TestSubscribeSnapshotEventsResumeAndCues(t *testing.T) {
	cues := &cueRec{}
	n := startNode(t, t.TempDir(), func(c *Config) { c.Cues = cues })
	rs := n.rooms
	mustDo(t, rs, viewer(1), Command{Type: CmdChatSend, Text: "before"})
	sub, err := rs.Subscribe(ctx(t), "s", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	var snap struct {
		Type string
		Seq  uint64
		Data Snapshot
	}
	if err := json.Unmarshal(sub.First, &snap); err != nil || snap.Type != "snapshot" || len(snap.Data.Chat) != 1 || snap.Data.Viewers != 1 {
		t.Fatalf("first = %s (%v)", sub.First, err)
	}
	id := mustDo(t, rs, host, Command{Type: CmdPollCreate, Poll: &PollSpec{Question: "Q", Options: []string{"a", "b"}, Open: true}}).ID
	mustDo(t, rs, viewer(2), Command{Type: CmdVote, ID: id, Choices: []int{0}})
	got := map[string]bool{}
	var last uint64
	timeout := time.After(10 * time.Second)
	for !got["poll.opened"] || !got["poll.results"] {
		select {
		case b := <-sub.C():
			msg := sub.Filter(b)
			var ev eventsMsg
			var raw struct {
				Events []struct {
					Seq  uint64
					Type string
				}
			}
			json.Unmarshal(msg, &ev)
			json.Unmarshal(msg, &raw)
			for _, e := range raw.Events {
				got[e.Type] = true
				if e.Seq > 0 && e.Seq <= snap.Seq {
					t.Errorf("event %s at %d already in the snapshot at %d", e.Type, e.Seq, snap.Seq)
				}
				last = max(last, e.Seq)
			}
		case <-timeout:
			t.Fatalf("events so far: %v", got)
		}
	}
	if sub.LastSeq() != last {
		t.Errorf("LastSeq = %d, want %d", sub.LastSeq(), last)
	}
	sub.Close()
	// Missed while away.
	mustDo(t, rs, viewer(3), Command{Type: CmdChatSend, Text: "missed"})
	sub, err = rs.Subscribe(ctx(t), "s", last, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var res struct {
		Type    string
		Resumed bool
		Events  []struct {
			Type string
			Data ChatMessage
		}
	}
	if err := json.Unmarshal(sub.First, &res); err != nil || !res.Resumed || len(res.Events) != 1 || res.Events[0].Data.Text != "missed" {
		t.Fatalf("resume = %s", sub.First)
	}
	waitFor(t, func() bool { return len(cues.list()) >= 1 })
	if c := cues.list(); c[0] != "s poll.opened" {
		t.Fatalf("cues = %v", c)
	}
}

func TestReactionsAggregated(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	rs := n.rooms
	sub, err := rs.Subscribe(ctx(t), "s", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := range 10 {
		if _, err := rs.Do(ctx(t), "s", viewer(i), Command{Type: CmdReact, Emoji: "🔥", Count: 2}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = rs.Do(ctx(t), "s", viewer(1), Command{Type: CmdReact, Emoji: "x"})
	wantErr(t, err, ErrBadRequest)
	total := 0
	timeout := time.After(10 * time.Second)
	for total < 20 {
		select {
		case b := <-sub.C():
			var m struct {
				Events []struct {
					Type string
					Data struct{ Counts map[string]int }
				}
			}
			json.Unmarshal(sub.Filter(b), &m)
			for _, e := range m.Events {
				if e.Type == "reactions" {
					total += e.Data.Counts["🔥"]
				}
			}
		case <-timeout:
			t.Fatalf("reactions seen: %d", total)
		}
	}
	if total != 20 {
		t.Fatalf("reactions = %d, want 20", total)
	}
}

func TestResumeBeyondRingGetsSnapshot(t *testing.T) {
	n := startNode(t, t.TempDir(), func(c *Config) { c.EventRing = 4; c.FlushInterval = time.Millisecond })
	rs := n.rooms
	sub, _ := rs.Subscribe(ctx(t), "s", 0, false)
	defer sub.Close()
	first := mustDo(t, rs, viewer(1), Command{Type: CmdChatSend, Text: "0"}).Seq
	for i := range 10 {
		mustDo(t, rs, Actor{ID: fmt.Sprint("x", i), Role: RoleViewer}, Command{Type: CmdChatSend, Text: fmt.Sprint(i + 1)})
	}
	waitFor(t, func() bool {
		for {
			select {
			case b := <-sub.C():
				sub.Filter(b)
			default:
				return sub.LastSeq() >= first+10
			}
		}
	})
	old, _ := rs.Subscribe(ctx(t), "s", first, false)
	defer old.Close()
	if !strings.Contains(string(old.First), `"type":"snapshot"`) {
		t.Fatalf("resume from beyond the ring: %s", old.First)
	}
	recent, _ := rs.Subscribe(ctx(t), "s", first+8, false)
	defer recent.Close()
	if !strings.Contains(string(recent.First), `"resumed":true`) || strings.Count(string(recent.First), `"chat.message"`) != 2 {
		t.Fatalf("resume within the ring: %s", recent.First)
	}
}

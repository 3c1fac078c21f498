package interact

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// holdRoom blocks room s's goroutine until the returned release is called,
// so that the commands sent meanwhile queue up and go out as one batch.
func holdRoom(t *testing.T, rs *Rooms) (*Room, func()) {
	t.Helper()
	r, err := rs.room(ctx(t), "s")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	c := ctx(t)
	go func() { _ = r.read(c, func(*state, int) { close(entered); <-release }) }()
	<-entered
	return r, sync.OnceFunc(func() { close(release) })
}

type outcome struct {
	res Result
	err error
}

// queue sends cmd from a goroutine and waits until the held room has it
// queued, so that commands queue in the order given.
func queue(t *testing.T, rs *Rooms, r *Room, wg *sync.WaitGroup, a Actor, cmd Command) *outcome {
	t.Helper()
	o := &outcome{}
	n := len(r.reqs)
	wg.Go(func() { o.res, o.err = rs.Do(ctx(t), "s", a, cmd) })
	waitFor(t, func() bool { return len(r.reqs) > n })
	return o
}

// TestGroupCommitBatch: commands that arrive while the room is busy go out
// as one message; each gets its own verdict (some refused at apply while
// the others apply), a retry inside the batch gets its original's
// answer, and retries after it, also after a restart from the log alone or
// from a snapshot, get the same answers and change nothing, even after
// another viewer's flood of more keys than the room remembers in all
// (the memory is per actor).
func TestGroupCommitBatch(t *testing.T) {
	dir := t.TempDir()
	cfg := func(c *Config) { c.KeysPerActor = 8; c.MaxKeys = 40 }
	n := startNode(t, dir, cfg)
	rs := n.rooms
	poll := mustDo(t, rs, host, Command{Type: CmdPollCreate, Key: "poll", Poll: &PollSpec{Question: "Q", Options: []string{"a", "b", "c"}, Open: true}}).ID
	appends := rs.Metrics().Appends

	r, release := holdRoom(t, rs)
	defer release()
	var wg sync.WaitGroup
	vote := func(key string, choice int) Command {
		return Command{Type: CmdVote, Key: key, ID: poll, Choices: []int{choice}}
	}
	cmds := []struct {
		a   Actor
		cmd Command
	}{
		{viewer(1), vote("a", 0)},
		{viewer(2), vote("k", 1)},
		{viewer(2), vote("k", 1)}, // the same command again: a retry inside the batch
		{viewer(3), vote("x", 0)},
		{viewer(3), vote("y", 2)}, // a second vote: refused when applied, after x
		{viewer(4), Command{Type: CmdChatSend, Key: "c", Text: "one"}},
		{viewer(5), Command{Type: CmdChatSend, Key: "c", Text: "two"}},
	}
	var outs []*outcome
	for _, c := range cmds {
		outs = append(outs, queue(t, rs, r, &wg, c.a, c.cmd))
	}
	release()
	wg.Wait()

	if got := rs.Metrics().Appends - appends; got != 1 {
		t.Fatalf("%d appends for one batch", got)
	}
	seq := outs[0].res.Seq
	for i, o := range outs {
		if i == 4 {
			wantErr(t, o.err, ErrAlreadyVoted)
		} else if o.err != nil {
			t.Fatalf("command %d: %v", i, o.err)
		}
		if o.res.Seq != seq {
			t.Fatalf("command %d at %d, the batch at %d", i, o.res.Seq, seq)
		}
	}
	if outs[1].res != outs[2].res {
		t.Fatalf("retry inside the batch answered %+v, original %+v", outs[2].res, outs[1].res)
	}
	if a, b := outs[5].res.ID, outs[6].res.ID; a != itemID('m', seq, 4) || b != itemID('m', seq, 5) {
		t.Fatalf("chat ids %q %q", a, b)
	}
	for i := range 100 {
		_, err := rs.Do(ctx(t), "s", viewer(9), vote(fmt.Sprint("flood-", i), 0))
		if i > 0 {
			wantErr(t, err, ErrAlreadyVoted)
		}
	}

	check := func(t *testing.T, rs *Rooms) {
		t.Helper()
		p, err := rs.Poll(ctx(t), "s", poll, true)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(p.Tally) != "[3 1 0]" || *p.Voters != 4 {
			t.Fatalf("tally %v, %d voters", p.Tally, *p.Voters)
		}
		snap, err := rs.Snapshot(ctx(t), "s", false)
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Chat) != 2 || snap.Chat[0].ID != outs[5].res.ID || snap.Chat[1].Text != "two" {
			t.Fatalf("chat %+v", snap.Chat)
		}
		// Retries across batches: the same answers, nothing applied again.
		for i, c := range cmds {
			res, err := rs.Do(ctx(t), "s", c.a, c.cmd)
			if !same(res, outs[i].res) || (err == nil) != (outs[i].err == nil) {
				t.Fatalf("retry of command %d: %+v %v, first %+v %v", i, res, err, outs[i].res, outs[i].err)
			}
		}
		if p2, _ := rs.Poll(ctx(t), "s", poll, true); fmt.Sprint(p2.Tally) != "[3 1 0]" {
			t.Fatalf("tally after retries %v", p2.Tally)
		}
	}
	check(t, rs)

	t.Run("replay", func(t *testing.T) {
		n.stop()
		n = startNode(t, dir, cfg)
		if err := snapshotStore(t, n).Delete(ctx(t), "s"); err != nil {
			t.Fatal(err)
		}
		check(t, n.rooms)
	})
	t.Run("snapshot", func(t *testing.T) {
		n.stop() // stores a snapshot
		n = startNode(t, dir, cfg)
		check(t, n.rooms)
		if got := n.rooms.Metrics().Applied; got != 0 {
			t.Fatalf("replayed %d events after a clean stop's snapshot", got)
		}
	})
}

// TestReplayBothFormats: a log holding format 1 messages (one event each,
// as written before group commit) and format 2 batches replays to one
// state: a key repeated across formats and inside a batch is applied once,
// and a message of an unknown format is skipped without stopping the
// room.
func TestReplayBothFormats(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	js := n.bus.JetStream()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := func(a Actor, key string, c Command) []byte {
		b, err := json.Marshal(Event{Cmd: c, Key: a.ID + "/" + key, Actor: a, At: at, Node: "old"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	put := func(subj string, data []byte) uint64 {
		ack, err := js.PublishMsg(ctx(t), &nats.Msg{Subject: subj, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	tok := subjectToken("s")
	vote := func(ch int) Command { return Command{Type: CmdVote, ID: "p1", Choices: []int{ch}} }
	put(subjCtl(tok), ev(host, "poll", Command{Type: CmdPollCreate, Poll: &PollSpec{Question: "Q", Options: []string{"a", "b"}, Open: true}}))
	put(subjAct(tok), ev(viewer(1), "v", vote(0)))
	seq := put(subjAct(tok), encodeBatch(
		ev(viewer(1), "v", vote(0)), // the format 1 vote again
		ev(viewer(2), "v", vote(1)),
		ev(viewer(2), "v", vote(1)), // twice in the batch
		ev(viewer(3), "c", Command{Type: CmdChatSend, Text: "hi"}),
	))
	put(subjAct(tok), []byte(`{"v":3,"e":[]}`))
	put(subjAct(tok), encodeBatch(ev(viewer(4), "v", vote(1))))

	p, err := n.rooms.Poll(ctx(t), "s", "p1", true)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p.Tally) != "[1 2]" || *p.Voters != 3 {
		t.Fatalf("tally %v, %d voters", p.Tally, *p.Voters)
	}
	snap, err := n.rooms.Snapshot(ctx(t), "s", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Chat) != 1 || snap.Chat[0].ID != itemID('m', seq, 3) || snap.Seq != seq+2 {
		t.Fatalf("snapshot at %d, chat %+v", snap.Seq, snap.Chat)
	}
	// The retries are answered from the log's verdicts.
	res, err := n.rooms.Do(ctx(t), "s", viewer(2), Command{Type: CmdVote, Key: "v", ID: "p1", Choices: []int{1}})
	if err != nil || res.Seq != seq {
		t.Fatalf("retry: %+v %v, want the batch's verdict at %d", res, err, seq)
	}
}

// TestGroupCommitConcurrent: many viewers voting at once, each command sent
// twice concurrently (a retry racing its original), are batched, and every
// vote counts once.
func TestGroupCommitConcurrent(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	rs := n.rooms
	poll := mustDo(t, rs, host, Command{Type: CmdPollCreate, Poll: &PollSpec{Question: "Q", Options: []string{"a", "b"}, Open: true}}).ID
	const viewers = 200
	results := make([][2]Result, viewers)
	var wg sync.WaitGroup
	for i := range viewers {
		for j := range 2 {
			wg.Go(func() {
				res, err := rs.Do(ctx(t), "s", viewer(i), Command{Type: CmdVote, Key: "k", ID: poll, Choices: []int{i % 2}})
				if err != nil {
					t.Error(err)
				}
				results[i][j] = res
			})
		}
	}
	wg.Wait()
	for i, r := range results {
		if r[0] != r[1] || r[0].Seq == 0 {
			t.Fatalf("viewer %d: answers %+v and %+v", i, r[0], r[1])
		}
	}
	p, err := rs.Poll(ctx(t), "s", poll, true)
	if err != nil {
		t.Fatal(err)
	}
	if *p.Voters != viewers || p.Tally[0]+p.Tally[1] != viewers {
		t.Fatalf("tally %v, %d voters", p.Tally, *p.Voters)
	}
	m := rs.Metrics()
	if m.Appends >= viewers {
		t.Errorf("%d appends for %d votes: no batching", m.Appends, viewers)
	}
	t.Logf("%d events in %d appends", m.Applied, m.Appends)
}

// same reports whether two answers are the same verdict.
func same(a, b Result) bool {
	return a.Seq == b.Seq && a.ID == b.ID && (a.Err == nil) == (b.Err == nil) && (a.Err == nil || a.Err.Code == b.Err.Code)
}

// TestStaffEventsFlushAtOnce: under load (a flush interval running) the
// audience's messages wait for the interval, and a host's message goes out
// at once, taking what is pending with it.
func TestStaffEventsFlushAtOnce(t *testing.T) {
	n := startNode(t, t.TempDir(), func(c *Config) { c.FlushInterval = time.Hour })
	rs := n.rooms
	sub, err := rs.Subscribe(ctx(t), "s", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	next := func() string {
		t.Helper()
		select {
		case b := <-sub.C():
			return string(sub.Filter(b))
		case <-ctx(t).Done():
			t.Fatal("no batch")
			return ""
		}
	}
	mustDo(t, rs, viewer(1), Command{Type: CmdChatSend, Text: "quiet"})
	for !strings.Contains(next(), `"quiet"`) {
	}
	mustDo(t, rs, viewer(2), Command{Type: CmdChatSend, Text: "chatter"}) // waits for the interval
	mustDo(t, rs, host, Command{Type: CmdChatSend, Text: "from the host"})
	if b := next(); !strings.Contains(b, `"chatter"`) || !strings.Contains(b, `"from the host"`) {
		t.Fatalf("next batch %s", b)
	}
}

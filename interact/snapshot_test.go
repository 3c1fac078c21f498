package interact

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// roomImage returns room s's projection as a snapshot would store it.
func roomImage(t testing.TB, rs *Rooms) []byte {
	t.Helper()
	var b []byte
	err := rs.withRoom(ctx(t), "s", func(r *Room) error {
		return r.read(ctx(t), func(s *state, _ int) {
			var err error
			if b, err = json.Marshal(s.image("s")); err != nil {
				t.Error(err)
			}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func snapshotStore(t testing.TB, n *node) jetstream.ObjectStore {
	t.Helper()
	obs, err := n.bus.JetStream().ObjectStore(ctx(t), SnapshotBucket)
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

// logLast returns the ROOMS stream's last sequence (every event here is
// room s's).
func logLast(t testing.TB, n *node) uint64 {
	t.Helper()
	st, err := n.bus.JetStream().Stream(ctx(t), StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// workload runs commands of every kind; round makes its keys and texts
// distinct.
func workload(t testing.TB, rs *Rooms, round int, poll string) {
	for i := range 12 {
		v := viewer(round*100 + i)
		mustDo(t, rs, v, Command{Type: CmdVote, Key: "vote", ID: poll, Choices: []int{i % 3}})
		mustDo(t, rs, v, Command{Type: CmdChatSend, Key: "chat", Text: fmt.Sprintf("hello %d/%d", round, i)})
	}
	q := mustDo(t, rs, viewer(round*100), Command{Type: CmdAsk, Key: "ask", Text: fmt.Sprintf("question %d", round)}).ID
	mustDo(t, rs, viewer(round*100+1), Command{Type: CmdUpvote, Key: "up", ID: q})
	mustDo(t, rs, mod, Command{Type: CmdTimeout, Key: fmt.Sprintf("to-%d", round), Viewer: viewer(round*100 + 2).ID, Seconds: 600})
	mustDo(t, rs, host, Command{Type: CmdSlowMode, Key: fmt.Sprintf("slow-%d", round), Seconds: float64(round)})
	mustDo(t, rs, host, Command{Type: CmdChatSync, Key: fmt.Sprintf("sync-%d", round), Enabled: ptr(round%2 == 0)})
}

// TestSnapshotRestartEqualsFullReplay: a room restarted from a snapshot
// replays only the events after it and reaches exactly the state of a
// full replay, idempotency verdicts included (retries are answered the
// same and applied once); a clean stop stores a snapshot that leaves
// nothing to replay.
func TestSnapshotRestartEqualsFullReplay(t *testing.T) {
	dir := t.TempDir()
	// Bounds below the keyed commands, so eviction order matters too:
	// the host outruns KeysPerActor, the two rounds' viewers MaxKeys.
	cfg := func(c *Config) { c.SnapshotEvery = 30; c.KeysPerActor = 2; c.MaxActors = 20; c.MaxKeys = 50 }
	n := startNode(t, dir, cfg)
	poll := mustDo(t, n.rooms, host, Command{Type: CmdPollCreate, Key: "poll", Poll: &PollSpec{Question: "Q", Options: []string{"a", "b", "c"}, Open: true}}).ID
	workload(t, n.rooms, 0, poll)
	waitFor(t, func() bool { return n.rooms.Metrics().Snapshots >= 1 })
	periodic, err := snapshotStore(t, n).GetBytes(ctx(t), "s")
	if err != nil {
		t.Fatal(err)
	}
	var im stateImage
	if err := json.Unmarshal(periodic, &im); err != nil {
		t.Fatal(err)
	}
	// The tail: events after the periodic snapshot. Remember a verdict
	// from before it and one from after it.
	early := mustDo(t, n.rooms, viewer(11), Command{Type: CmdVote, Key: "vote", ID: poll, Choices: []int{0}})
	workload(t, n.rooms, 1, poll)
	late := mustDo(t, n.rooms, viewer(103), Command{Type: CmdVote, Key: "vote", ID: poll, Choices: []int{0}})
	last := logLast(t, n)
	n.stop()

	// Full replay: no snapshot.
	n = startNode(t, dir, cfg)
	if err := snapshotStore(t, n).Delete(ctx(t), "s"); err != nil {
		t.Fatal(err)
	}
	want := roomImage(t, n.rooms)
	if got := n.rooms.Metrics().Applied; got != int64(last) {
		t.Fatalf("full replay applied %d events, want %d", got, last)
	}
	var full stateImage
	if err := json.Unmarshal(want, &full); err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	for _, a := range full.Actors {
		keys[a.ID] = len(a.Keys)
	}
	if _, ok := keys[viewer(2).ID]; ok || keys[host.ID] != 2 || keys[viewer(11).ID] != 2 || len(keys) > 20 {
		t.Fatalf("remembered keys per actor %v: want viewer 2 forgotten, 2 of the host's, viewer 11's", keys)
	}
	n.stop() // stores a snapshot of everything

	// From the clean stop's snapshot: nothing to replay.
	n = startNode(t, dir, cfg)
	if got := roomImage(t, n.rooms); string(got) != string(want) {
		t.Fatalf("from the final snapshot:\n%s\nwant\n%s", got, want)
	}
	if got := n.rooms.Metrics().Applied; got != 0 {
		t.Fatalf("replayed %d events after a clean stop", got)
	}
	// From the periodic snapshot: the tail only.
	n.stop()
	n = startNode(t, dir, cfg)
	if _, err := snapshotStore(t, n).PutBytes(ctx(t), "s", periodic); err != nil {
		t.Fatal(err)
	}
	if got := roomImage(t, n.rooms); string(got) != string(want) {
		t.Fatalf("from the periodic snapshot:\n%s\nwant\n%s", got, want)
	}
	if got, tail := n.rooms.Metrics().Applied, int64(last-im.Seq); got != tail || tail <= 0 || im.Seq == 0 {
		t.Fatalf("replayed %d events, want the tail after %d: %d", got, im.Seq, tail)
	}
	// Retries after the restart: answered as before, applied once.
	for _, tc := range []struct {
		actor Actor
		want  Result
	}{{viewer(11), early}, {viewer(103), late}} {
		res, err := n.rooms.Do(ctx(t), "s", tc.actor, Command{Type: CmdVote, Key: "vote", ID: poll, Choices: []int{0}})
		if res != tc.want || !errorsEqual(err, tc.want.Err) {
			t.Fatalf("retry by %s: %+v (%v), want %+v", tc.actor.ID, res, err, tc.want)
		}
	}
	if got := roomImage(t, n.rooms); string(got) != string(want) {
		t.Fatalf("retries changed the state:\n%s\nwant\n%s", got, want)
	}
	if last2 := logLast(t, n); last2 != last {
		t.Fatalf("retries appended %d events", last2-last)
	}
}

func errorsEqual(err error, want *Error) bool {
	if want == nil {
		return err == nil
	}
	return err != nil && err.Error() == want.Error()
}

// TestSnapshotUndecodableIgnored: a snapshot that does not decode is
// ignored and the room replays its whole log.
func TestSnapshotUndecodableIgnored(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	poll := mustDo(t, n.rooms, host, Command{Type: CmdPollCreate, Poll: &PollSpec{Question: "Q", Options: []string{"a", "b", "c"}, Open: true}}).ID
	workload(t, n.rooms, 0, poll)
	want := roomImage(t, n.rooms)
	last := logLast(t, n)
	n.stop()
	for _, bad := range []string{`{"v":2,"room":"s","seq":`, `{"v":99,"room":"s","seq":1}`, `{"v":1,"room":"s","seq":1}`, `{"v":2,"room":"other","seq":1}`, `{"v":2,"room":"s","seq":99999}`} {
		n = startNode(t, dir, nil)
		if _, err := snapshotStore(t, n).PutBytes(ctx(t), "s", []byte(bad)); err != nil {
			t.Fatal(err)
		}
		if got := roomImage(t, n.rooms); string(got) != string(want) {
			t.Fatalf("snapshot %s: state\n%s\nwant\n%s", bad, got, want)
		}
		if got := n.rooms.Metrics().Applied; got != int64(last) {
			t.Fatalf("snapshot %s: replayed %d events, want all %d", bad, got, last)
		}
		n.stop()
	}
}

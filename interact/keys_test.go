package interact

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// defaultLimits are a room's limits under the default Config.
func defaultLimits() limits {
	var c Config
	c.defaults()
	return limits{History: c.History, MaxPolls: c.MaxPolls, MaxQuestions: c.MaxQuestions,
		KeysPerActor: c.KeysPerActor, MaxActors: c.MaxActors, MaxKeys: c.MaxKeys}
}

// keyedApplier applies commands to a bare state, as a room applies its
// log: one event per message.
type keyedApplier struct {
	t  testing.TB
	s  *state
	at time.Time
}

func (k *keyedApplier) do(a Actor, key string, c Command) (Result, bool) {
	k.t.Helper()
	k.at = k.at.Add(time.Millisecond)
	ev := Event{Cmd: c, Key: a.ID + "/" + key, Actor: a, At: k.at}
	res, _, fresh := k.s.apply(k.s.seq+1, 0, StaffOnly(c.Type), &ev)
	return res, fresh
}

// TestKeysFloodKeepsQuietActor: the memory is per actor, so neither one
// actor's flood nor many actors' commands (each far more than the 100,000
// keys the room-wide ring held) make a quiet viewer's recent command
// apply twice: a retry of their chat message adds nothing, and a late
// retry of their first vote does not undo the vote they changed since.
func TestKeysFloodKeepsQuietActor(t *testing.T) {
	if testing.Short() {
		t.Skip("floods 400,000 commands")
	}
	lim := defaultLimits()
	k := &keyedApplier{t: t, s: newState(lim), at: time.Unix(1e9, 0)}
	poll, _ := k.do(host, "poll", Command{Type: CmdPollCreate, Poll: &PollSpec{Question: "Q", Options: []string{"a", "b"}, Open: true, Changeable: true}})
	quiet := viewer(1)
	chat, _ := k.do(quiet, "chat", Command{Type: CmdChatSend, Text: "hi"})
	first, _ := k.do(quiet, "vote-1", Command{Type: CmdVote, ID: poll.ID, Choices: []int{0}})
	k.do(quiet, "vote-2", Command{Type: CmdVote, ID: poll.ID, Choices: []int{1}})

	heavy := viewer(2)
	for i := range 200000 {
		if _, fresh := k.do(heavy, fmt.Sprint("v", i), Command{Type: CmdVote, ID: poll.ID, Choices: []int{i % 2}}); !fresh {
			t.Fatalf("heavy vote %d not fresh", i)
		}
	}
	others := lim.MaxActors / 2
	for i := range 200000 {
		k.do(viewer(1000+i%others), fmt.Sprint("v", i), Command{Type: CmdVote, ID: poll.ID, Choices: []int{i % 2}})
	}
	if n := len(k.s.keys.actors[heavy.ID].keys); n != lim.KeysPerActor {
		t.Fatalf("heavy actor holds %d keys, want %d", n, lim.KeysPerActor)
	}

	tally := slices.Clone(k.s.polls[poll.ID].tally)
	messages := len(k.s.chat)
	if res, fresh := k.do(quiet, "chat", Command{Type: CmdChatSend, Text: "hi"}); fresh || res != chat {
		t.Fatalf("chat retry: %+v fresh %v, want %+v", res, fresh, chat)
	}
	if res, fresh := k.do(quiet, "vote-1", Command{Type: CmdVote, ID: poll.ID, Choices: []int{0}}); fresh || res != first {
		t.Fatalf("old vote retry: %+v fresh %v, want %+v", res, fresh, first)
	}
	if got := k.s.polls[poll.ID].tally; !slices.Equal(got, tally) || len(k.s.chat) != messages {
		t.Fatalf("retries changed the room: tally %v, want %v; %d messages, want %d", got, tally, len(k.s.chat), messages)
	}
	if v := k.s.polls[poll.ID].votes[quiet.ID]; v != 1<<1 {
		t.Fatalf("quiet viewer's vote %b, want the changed one", v)
	}
}

// TestKeysPerActorLimit: the documented limit. An actor's last
// KeysPerActor keys are remembered; the one before is forgotten and its
// retry is applied anew.
func TestKeysPerActorLimit(t *testing.T) {
	lim := defaultLimits()
	k := &keyedApplier{t: t, s: newState(lim), at: time.Unix(1e9, 0)}
	v := viewer(1)
	var res []Result
	for i := range lim.KeysPerActor + 1 {
		r, _ := k.do(v, fmt.Sprint("c", i), Command{Type: CmdChatSend, Text: fmt.Sprint("m", i)})
		res = append(res, r)
	}
	for i := 1; i <= lim.KeysPerActor; i++ {
		if r, fresh := k.do(v, fmt.Sprint("c", i), Command{Type: CmdChatSend, Text: fmt.Sprint("m", i)}); fresh || r != res[i] {
			t.Fatalf("retry of key %d: %+v fresh %v, want %+v", i, r, fresh, res[i])
		}
	}
	if _, fresh := k.do(v, "c0", Command{Type: CmdChatSend, Text: "m0"}); !fresh {
		t.Fatalf("key %d of %d newer ones still remembered", 0, lim.KeysPerActor)
	}
}

// TestKeysGlobalBounds: beyond MaxActors or MaxKeys the least recently
// active actors are forgotten first, wholly.
func TestKeysGlobalBounds(t *testing.T) {
	m := newKeyMemory(3, 4, 8)
	for _, step := range []struct{ actor, key string }{
		{"a", "a/1"}, {"b", "b/1"}, {"a", "a/2"}, {"c", "c/1"}, {"d", "d/1"}, // 4 actors: b oldest
		{"e", "e/1"},               // 5 actors: b goes
		{"a", "a/3"}, {"a", "a/4"}, // a keeps 3: a/1 goes
		{"c", "c/2"}, {"c", "c/3"}, // 8 keys
		{"f", "f/1"}, // 5 actors and 9 keys: d goes (oldest), then 8 keys
	} {
		m.remember(step.actor, step.key, Result{ID: step.key})
	}
	var got []string
	m.each(func(actor string, keys []string) { got = append(got, fmt.Sprintf("%s %v", actor, keys)) })
	want := []string{"e [e/1]", "a [a/2 a/3 a/4]", "c [c/1 c/2 c/3]", "f [f/1]"}
	if !slices.Equal(got, want) {
		t.Fatalf("memory %v, want %v", got, want)
	}
	for _, k := range []string{"b/1", "a/1", "d/1"} {
		if _, ok := m.verdict(k); ok {
			t.Errorf("%s still remembered", k)
		}
	}
	if len(m.results) != 8 {
		t.Errorf("%d verdicts, want 8", len(m.results))
	}
}

// TestKeysSnapshotReproducesEvictions: a state restored from its image
// remembers the same keys and, applying the same events from there,
// forgets the same ones as the state it was taken from.
func TestKeysSnapshotReproducesEvictions(t *testing.T) {
	lim := limits{History: 10, MaxPolls: 4, MaxQuestions: 10, KeysPerActor: 3, MaxActors: 7, MaxKeys: 12}
	rng := rand.New(rand.NewPCG(1, 2))
	cmds := make([]struct {
		a   Actor
		key string
	}, 2000)
	for i := range cmds {
		cmds[i].a = viewer(rng.IntN(12))
		cmds[i].key = fmt.Sprint(rng.IntN(8)) // repeats: retries, some remembered, some not
	}
	run := func(k *keyedApplier, from, to int) (out []string) {
		for _, c := range cmds[from:to] {
			res, fresh := k.do(c.a, c.key, Command{Type: CmdChatSend, Text: "x"})
			out = append(out, fmt.Sprint(res, fresh))
		}
		return out
	}
	orig := &keyedApplier{t: t, s: newState(lim), at: time.Unix(1e9, 0)}
	run(orig, 0, 1000)
	data, err := json.Marshal(orig.s.image("s"))
	if err != nil {
		t.Fatal(err)
	}
	var im stateImage
	if err := json.Unmarshal(data, &im); err != nil {
		t.Fatal(err)
	}
	restored := &keyedApplier{t: t, s: im.restore(lim), at: orig.at}
	if again, _ := json.Marshal(restored.s.image("s")); string(again) != string(data) {
		t.Fatalf("restored image differs:\n%s\nwant\n%s", again, data)
	}
	a, b := run(orig, 1000, 2000), run(restored, 1000, 2000)
	if !slices.Equal(a, b) {
		t.Fatal("verdicts after the restore differ")
	}
	// Both kinds of answer to a repeated key came: remembered, forgotten.
	seen := map[string]bool{}
	var kept, forgot int
	for i, c := range cmds {
		k := c.a.ID + "/" + c.key
		switch fresh := strings.HasSuffix(a[max(i-1000, 0)], "true"); {
		case i < 1000 || !seen[k]:
		case fresh:
			forgot++
		default:
			kept++
		}
		seen[k] = true
	}
	if kept == 0 || forgot == 0 {
		t.Fatalf("repeated keys: %d remembered, %d forgotten; want both", kept, forgot)
	}
	x, _ := json.Marshal(orig.s.image("s"))
	y, _ := json.Marshal(restored.s.image("s"))
	if string(x) != string(y) {
		t.Fatalf("states differ after the same events:\n%s\n%s", x, y)
	}
}

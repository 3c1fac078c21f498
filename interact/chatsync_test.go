package interact

import (
	"encoding/json"
	"testing"
	"time"
)

// TestChatMediaTime: a chat message's event carries the media time it
// belongs to: the poster's, or the stream's media clock when they gave
// none; a claim ahead of the clock is brought back to it; without a clock
// the message keeps what it has.
func TestChatMediaTime(t *testing.T) {
	clock := &cueRec{}
	n := startNode(t, t.TempDir(), func(c *Config) { c.Cues = clock })
	rs := n.rooms
	sub, err := rs.Subscribe(ctx(t), "s", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	cases := []struct {
		name   string
		live   bool
		clock  time.Duration
		actor  Actor
		poster *float64
		want   *float64
	}{
		{"poster's", true, 20 * time.Second, viewer(1), ptr(12.5), ptr(12.5)},
		{"clock for REST", true, 20 * time.Second, viewer(2), nil, ptr(20.0)},
		{"clock for host", true, 21500 * time.Millisecond, host, nil, ptr(21.5)},
		{"ahead of the clock", true, 22 * time.Second, viewer(3), ptr(99.0), ptr(22.0)},
		{"no clock, poster's", false, 0, viewer(4), ptr(3.0), ptr(3.0)},
		{"no clock, none", false, 0, viewer(5), nil, nil},
	}
	want := map[string]*float64{}
	for _, tc := range cases {
		clock.setClock(tc.clock, tc.live)
		id := mustDo(t, rs, tc.actor, Command{Type: CmdChatSend, Text: tc.name, MediaTime: tc.poster}).ID
		want[id] = tc.want
	}
	// The events as viewers get them.
	timeout := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case b := <-sub.C():
			var m struct {
				Events []struct {
					Type string
					Data ChatMessage
				}
			}
			if err := json.Unmarshal(sub.Filter(b), &m); err != nil {
				t.Fatal(err)
			}
			for _, e := range m.Events {
				w, ok := want[e.Data.ID]
				if e.Type != "chat.message" || !ok {
					continue
				}
				delete(want, e.Data.ID)
				if (w == nil) != (e.Data.MediaTime == nil) || (w != nil && *w != *e.Data.MediaTime) {
					t.Errorf("%s: mediaTime %v, want %v", e.Data.Text, show(e.Data.MediaTime), show(w))
				}
			}
		case <-timeout:
			t.Fatalf("messages never came: %v", want)
		}
	}
}

func show(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// TestChatSyncSetting: spoiler-free chat is a staff setting carried in the
// snapshot and as an event, and it survives a restart, by replay and from a
// snapshot.
func TestChatSyncSetting(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	rs := n.rooms
	_, err := rs.Do(ctx(t), "s", viewer(1), Command{Type: CmdChatSync, Enabled: ptr(true)})
	wantErr(t, err, ErrForbidden)
	sub, err := rs.Subscribe(ctx(t), "s", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	mustDo(t, rs, host, Command{Type: CmdChatSync, Enabled: ptr(true)})
	timeout := time.After(10 * time.Second)
	for got := false; !got; {
		select {
		case b := <-sub.C():
			var m struct {
				Events []struct {
					Type string
					Data map[string]bool
				}
			}
			json.Unmarshal(sub.Filter(b), &m)
			for _, e := range m.Events {
				got = got || (e.Type == "chat.sync" && e.Data["enabled"])
			}
		case <-timeout:
			t.Fatal("no chat.sync event")
		}
	}
	sub.Close()
	syncOn := func(rs *Rooms) bool {
		t.Helper()
		snap, err := rs.Snapshot(ctx(t), "s", false)
		if err != nil {
			t.Fatal(err)
		}
		return snap.ChatSync
	}
	if !syncOn(rs) {
		t.Fatal("snapshot: chatSync off after turning it on")
	}
	n.stop()

	// By replay of the log.
	n = startNode(t, dir, nil)
	if err := snapshotStore(t, n).Delete(ctx(t), "s"); err != nil {
		t.Fatal(err)
	}
	if !syncOn(n.rooms) || n.rooms.Metrics().Applied != 1 {
		t.Fatalf("after a replay: chatSync off (%d events)", n.rooms.Metrics().Applied)
	}
	mustDo(t, n.rooms, mod, Command{Type: CmdChatSync, Enabled: ptr(false)})
	n.stop()

	// From the snapshot stored at the stop.
	n = startNode(t, dir, nil)
	if syncOn(n.rooms) || n.rooms.Metrics().Applied != 0 {
		t.Fatalf("from the snapshot: chatSync on (%d events replayed)", n.rooms.Metrics().Applied)
	}
}

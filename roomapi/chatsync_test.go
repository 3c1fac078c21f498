package roomapi

import (
	"testing"
	"time"

	"github.com/liveloop/liveloop/cue"
	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/interact"
	mediapkg "github.com/liveloop/liveloop/media"
)

// testAVCC is a baseline 320x240 H.264 decoder configuration.
var testAVCC = []byte{0x01, 0x42, 0xc0, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0x99, 0x20, 0x01, 0x00, 0x04, 0x68, 0xcb, 0x83, 0xcb, 0x20}

// TestChatSyncAndMediaTime: the host turns spoiler-free chat on over REST
// (viewers may not; a body without enabled is a 400), the room's snapshot
// carries it, and chat messages carry their media time: the poster's on the
// viewer channel, the stream's media clock (the hub's newest frame, as cues
// are stamped) for a REST post without one.
func TestChatSyncAndMediaTime(t *testing.T) {
	h := hub.New(hub.Config{GracePeriod: time.Hour}, nil, nil)
	t.Cleanup(h.Close)
	cues := cue.New(cue.Config{Hub: h})
	n := startNode(t, t.TempDir(), func(c *interact.Config) { c.Cues = cues })
	host := n.session(t, "Host", interact.RoleHost)
	v := n.session(t, "Viewer", interact.RoleViewer)

	var e apiErr
	var res interact.Result
	if st := n.call(t, "PUT", "/api/v1/streams/s/chat-sync", v.Token, map[string]any{"enabled": true}, &e); st != 403 {
		t.Fatalf("viewer: %d %+v", st, e)
	}
	for _, body := range []any{map[string]any{}, map[string]any{"enabled": "yes"}, map[string]any{"enabled": true, "seconds": 3}} {
		if st := n.call(t, "PUT", "/api/v1/streams/s/chat-sync", host.Token, body, &e); st != 400 || e.Error.Code != "bad_request" {
			t.Fatalf("body %v: %d %+v", body, st, e)
		}
	}
	if st := n.call(t, "PUT", "/api/v1/streams/s/chat-sync", host.Token, map[string]any{"enabled": true}, &res); st != 200 {
		t.Fatalf("host: %d", st)
	}
	var snap interact.Snapshot
	if n.call(t, "GET", "/api/v1/streams/s/room", "", nil, &snap); !snap.ChatSync {
		t.Fatalf("snapshot: %+v", snap)
	}

	// The stream's media clock: its newest frame at 4 s.
	p, err := h.Publish("s")
	if err != nil {
		t.Fatal(err)
	}
	video := &mediapkg.Track{ID: 1, Kind: mediapkg.KindVideo, Codec: mediapkg.CodecH264, Config: testAVCC, CodecString: "avc1.42c00d", ClockRate: 90000, Width: 320, Height: 240}
	if err := p.SetTracks([]*mediapkg.Track{video}); err != nil {
		t.Fatal(err)
	}
	for i := range int64(5) {
		nal := []byte{0x41, 0x9a, byte(i)}
		if i == 0 {
			nal[0] = 0x65
		}
		f := &mediapkg.Frame{DTS: i * 90000, PTS: i * 90000, Key: i == 0, Data: append([]byte{0, 0, 0, byte(len(nal))}, nal...), Wall: time.Now()}
		if err := p.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	clock, ok := cues.MediaTime("s")
	if !ok || clock != 4*time.Second {
		t.Fatalf("media clock %v %v, want 4s", clock, ok)
	}

	c := dialLive(t, n, "?token="+v.Token)
	c.next("snapshot")
	c.send(map[string]any{"type": "chat.send", "text": "seen at 2.5", "mediaTime": 2.5, "key": "k1"})
	if st := n.call(t, "POST", "/api/v1/streams/s/chat", host.Token, map[string]any{"text": "from the desk"}, &res); st != 201 {
		t.Fatalf("REST chat: %d", st)
	}
	want := map[string]float64{"seen at 2.5": 2.5, "from the desk": 4}
	for len(want) > 0 {
		for _, e := range c.next("events")["events"].([]any) {
			ev := e.(map[string]any)
			d, _ := ev["data"].(map[string]any)
			text, _ := d["text"].(string)
			if w, ok := want[text]; ok && ev["type"] == "chat.message" {
				if d["mediaTime"] != w {
					t.Fatalf("%q: mediaTime %v, want %v", text, d["mediaTime"], w)
				}
				delete(want, text)
			}
		}
	}
}

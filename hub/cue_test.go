package hub

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/media"
)

func TestPostCueStampsNewestFrameAndArrivesInOrder(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{}, nil, clock)
	src := newSource(t, h, clock, "s", 10)
	src.frame()
	sub, _ := h.Subscribe("s")
	next(t, sub)
	src.frame() // video frame 1 at PTS 1/30 s
	c, err := h.Stream("s").PostCue(Cue{Type: "poll.opened", Data: json.RawMessage(`{"q":"?"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == "" || c.Time != time.Second/30 {
		t.Fatalf("cue stamped id=%q time=%v, want an id and 33.3ms", c.ID, c.Time)
	}
	src.frame()
	var order []string
	for len(order) < 3 {
		for _, p := range next(t, sub).Packets {
			switch {
			case p.Cue != nil:
				order = append(order, "cue")
			case p.Video:
				order = append(order, "video")
			}
		}
	}
	if strings.Join(order[:3], ",") != "video,cue,video" {
		t.Fatalf("order %v, want the cue between the frames it was posted between", order)
	}
}

func TestPostCueAtWallClock(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{}, nil, clock)
	src := newSource(t, h, clock, "s", 10)
	src.frame()
	src.frame()
	st := h.Stream("s")
	last := st.Info().LastFrame
	c, err := st.PostCue(Cue{Type: "x", Wall: last.Add(-20 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Second/30 - 20*time.Millisecond; c.Time != want {
		t.Fatalf("time %v, want %v (newest frame's time minus 20 ms)", c.Time, want)
	}
}

func TestCueSurvivesSkip(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{MaxLag: 500 * time.Millisecond}, nil, clock)
	src := newSource(t, h, clock, "s", 30)
	src.frame()
	slow, _ := h.Subscribe("s")
	next(t, slow)
	src.frame()
	if _, err := h.Stream("s").PostCue(Cue{ID: "keep", Type: "lot.sold"}); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		src.frame()
	}
	b := next(t, slow)
	if b.Skipped == 0 {
		t.Fatal("no skip")
	}
	if b.Packets[0].Cue == nil || b.Packets[0].Cue.ID != "keep" {
		t.Fatalf("first packet after the skip is not the skipped cue")
	}
	if !b.Packets[1].Video || !b.Packets[1].Frame.Key {
		t.Fatal("media after the carried cue does not start at a keyframe")
	}
}

func TestPostCueErrors(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{}, nil, clock)
	src := newSource(t, h, clock, "s", 10)
	st := h.Stream("s")
	if _, err := st.PostCue(Cue{Type: "x"}); !errors.Is(err, ErrNotLive) {
		t.Fatalf("before any frame: %v, want ErrNotLive", err)
	}
	src.frame()
	for _, c := range []Cue{
		{},
		{Type: strings.Repeat("t", MaxCueType+1)},
		{Type: "x", Data: json.RawMessage(`{`)},
		{Type: "x", Data: json.RawMessage(`"` + strings.Repeat("a", MaxCueData) + `"`)},
		{Type: "x", Duration: -time.Second},
	} {
		if _, err := st.PostCue(c); !errors.Is(err, ErrBadCue) {
			t.Errorf("PostCue(%.40v) = %v, want ErrBadCue", c, err)
		}
	}
}

// TestCueIsNotHeldForVideo: audio waits for the next video frame; a cue
// does not (a WebRTC player must have it before its frame is shown).
func TestCueIsNotHeldForVideo(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{AudioHold: time.Hour}, nil, clock)
	src := newSource(t, h, clock, "s", 10)
	src.frame()
	sub, _ := h.Subscribe("s")
	next(t, sub)
	must(t, src.p.WriteFrame(&media.Frame{Track: 1, DTS: 1600, PTS: 1600, Key: true, Data: []byte{1}, Wall: clock.Now()}))
	if _, err := h.Stream("s").PostCue(Cue{Type: "x"}); err != nil {
		t.Fatal(err)
	}
	b := next(t, sub)
	if len(b.Packets) != 2 || b.Packets[1].Cue == nil {
		t.Fatalf("got %d packets, want the held audio and the cue at once", len(b.Packets))
	}
}

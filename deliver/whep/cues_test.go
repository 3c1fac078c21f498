package whep_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/internal/webrtctest"
	"github.com/liveloop/liveloop/media"
)

// channelCue is a message of the cue channel.
type channelCue struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Payload      json.RawMessage `json:"payload"`
	MediaTime    *float64        `json:"mediaTime"`
	RTPTimestamp *uint32         `json:"rtpTimestamp"`
}

// videoTimes records the presentation times of a stream's video frames,
// from a subscriber of its own.
type videoTimes struct {
	mu    sync.Mutex
	times []time.Duration
}

func watchVideo(t *testing.T, h *hub.Hub, stream string) *videoTimes {
	t.Helper()
	sub, err := h.Subscribe(stream)
	if err != nil {
		t.Fatal(err)
	}
	vt := &videoTimes{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sub.Close()
		for {
			b, err := sub.Next(ctx)
			if err != nil {
				return
			}
			vt.mu.Lock()
			for _, p := range b.Packets {
				if p.Video {
					vt.times = append(vt.times, p.Time)
				}
			}
			vt.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return vt
}

func (vt *videoTimes) newest() time.Duration {
	vt.mu.Lock()
	defer vt.mu.Unlock()
	return vt.times[len(vt.times)-1]
}

// TestCuesOnDataChannel: a viewer that opens the liveloop-cues data
// channel gets each cue posted after its offer, once, as JSON with its
// media time and its RTP timestamp: a cue stamped with a video frame's
// time carries exactly the RTP timestamp of that frame as the viewer
// received it, and a cue stamped with the stream's media clock the RTP
// time of the newest frame, less than a frame before the next. A cue
// posted before the offer is not sent.
func TestCuesOnDataChannel(t *testing.T) {
	webrtctest.CheckLeaks(t)
	p := newPipeline(t, false)
	p.publishDemo(t, "cues")
	p.waitTracks(t, "cues", 2)
	st := p.hub.Stream("cues")
	vt := watchVideo(t, p.hub, "cues")
	old, err := st.PostCue(hub.Cue{Type: "old"})
	if err != nil {
		t.Fatal(err)
	}

	c := newClient(t, clientOpts{noAudio: true, cues: true})
	c.play(p.url, "cues")
	if !strings.Contains(c.answer, "m=application ") {
		t.Fatalf("the answer has no application section:\n%s", c.answer)
	}
	if err := wait(c.connected, 10*time.Second); err != nil {
		t.Fatal("never connected")
	}
	if err := wait(c.cueOpen, 10*time.Second); err != nil {
		t.Fatal("the cue channel never opened")
	}
	webrtctest.WaitFor(t, 10*time.Second, "video", func() bool { return c.videoFrames.Load() > 15 })

	// Cues at the time of a video frame, and on the media clock.
	var posted []hub.Cue
	for i := range 5 {
		at, err := st.PostCue(hub.Cue{Type: "frame", Time: vt.newest(), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
		if err != nil {
			t.Fatal(err)
		}
		now, err := st.PostCue(hub.Cue{Type: "now"})
		if err != nil {
			t.Fatal(err)
		}
		posted = append(posted, at, now)
		time.Sleep(70 * time.Millisecond)
	}
	webrtctest.WaitFor(t, 10*time.Second, "the cues", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.cueMsgs) >= len(posted)
	})
	time.Sleep(100 * time.Millisecond) // anything more (the old cue) would come now

	c.mu.Lock()
	msgs := append([]string(nil), c.cueMsgs...)
	frames := append([]frameInfo(nil), c.frames...)
	c.mu.Unlock()
	if len(msgs) != len(posted) {
		t.Fatalf("%d cue messages, want %d: %q", len(msgs), len(posted), msgs)
	}
	interval := frames[len(frames)-1].ts - frames[len(frames)-2].ts
	var firstFrame *channelCue
	for i, m := range msgs {
		var got channelCue
		if err := json.Unmarshal([]byte(m), &got); err != nil {
			t.Fatalf("message %q: %v", m, err)
		}
		want := posted[i]
		if got.ID == old.ID {
			t.Fatalf("the cue posted before the offer was sent: %s", m)
		}
		if got.ID != want.ID || got.Type != want.Type || got.MediaTime == nil || *got.MediaTime != want.Time.Seconds() || got.RTPTimestamp == nil {
			t.Fatalf("message %d: %s, want cue %+v", i, m, want)
		}
		if want.Type == "frame" && string(got.Payload) != string(want.Data) {
			t.Errorf("payload %s, want %s", got.Payload, want.Data)
		}
		if want.Type == "now" && string(got.Payload) != "null" {
			t.Errorf("payload %s, want null", got.Payload)
		}
		rtp := *got.RTPTimestamp
		// The received frame at or just before the cue's RTP time.
		var at *frameInfo
		for j := range frames {
			if d := rtp - frames[j].ts; d < 1<<31 && (at == nil || d < rtp-at.ts) {
				at = &frames[j]
			}
		}
		if at == nil {
			t.Fatalf("cue %s at RTP %d: no frame at or before it", want.ID, rtp)
		}
		t.Logf("cue %-5s media time %.3f s, RTP %d: %d ticks after a received frame", want.Type, *got.MediaTime, rtp, rtp-at.ts)
		switch want.Type {
		case "frame":
			if at.ts != rtp {
				t.Errorf("cue at a frame's time: RTP %d, %d after the nearest frame (%d), want equal", rtp, rtp-at.ts, at.ts)
			}
			// One RTP clock for them all: RTP differences are media time
			// differences.
			if firstFrame == nil {
				firstFrame = &got
			} else if d, wantD := int64(int32(rtp-*firstFrame.RTPTimestamp)), media.DurationToTicks(time.Duration((*got.MediaTime-*firstFrame.MediaTime)*1e9), 90000); d < wantD-1 || d > wantD+1 {
				t.Errorf("RTP %d ticks after the first cue's, media time %d", d, wantD)
			}
		case "now":
			if rtp-at.ts >= interval {
				t.Errorf("cue on the media clock: RTP %d ticks after the nearest frame, want under a frame (%d)", rtp-at.ts, interval)
			}
		}
	}
	if s := p.whep.Stats(); s.CuesSent != uint64(len(posted)) || s.CuesDropped != 0 {
		t.Errorf("stats: %d cues sent, %d dropped; want %d, 0", s.CuesSent, s.CuesDropped, len(posted))
	}
}

// TestNoCueChannelWithoutApplicationSection: an offer without a data
// channel is answered without one, and plays as before.
func TestNoCueChannelWithoutApplicationSection(t *testing.T) {
	webrtctest.CheckLeaks(t)
	p := newPipeline(t, false)
	p.publishDemo(t, "plain")
	p.waitTracks(t, "plain", 2)
	c := newClient(t, clientOpts{noAudio: true})
	c.play(p.url, "plain")
	if strings.Contains(c.answer, "m=application") {
		t.Fatalf("the answer has an application section:\n%s", c.answer)
	}
	if err := wait(c.connected, 10*time.Second); err != nil {
		t.Fatal("never connected")
	}
	webrtctest.WaitFor(t, 10*time.Second, "video", func() bool { return c.videoFrames.Load() > 5 })
	if _, err := p.hub.Stream("plain").PostCue(hub.Cue{Type: "x"}); err != nil {
		t.Fatal(err)
	}
	webrtctest.WaitFor(t, 10*time.Second, "video", func() bool { return c.videoFrames.Load() > 15 })
	if s := p.whep.Stats(); s.CuesSent != 0 {
		t.Errorf("%d cues sent without a channel", s.CuesSent)
	}
}

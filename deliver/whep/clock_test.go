package whep_test

import (
	"encoding/json"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/liveloop/liveloop/deliver/whep"
	"github.com/liveloop/liveloop/internal/webrtctest"
)

// clockMsg is a clock point on the cue channel.
type clockMsg struct {
	Clock *struct {
		RTPTimestamp *uint32  `json:"rtpTimestamp"`
		MediaTime    *float64 `json:"mediaTime"`
	} `json:"clock"`
}

// TestCueChannelClock: a player that opens the cue channel with the
// protocol "clock" gets clock points on it, and through them every video
// frame it receives maps to the presentation time the hub has for it,
// exactly: the frames of the first catch-up from the GOP cache, the live
// ones after it, and those of a restart from the GOP cache that a PLI asks
// for. No cue is sent (none was posted).
func TestCueChannelClock(t *testing.T) {
	webrtctest.CheckLeaks(t)
	p := newPipeline(t, false)
	p.publishDemo(t, "clock")
	p.waitTracks(t, "clock", 2)
	vt := watchVideo(t, p.hub, "clock")

	c := newClient(t, clientOpts{noAudio: true})
	proto := whep.CueChannelClock
	dc, err := c.pc.CreateDataChannel(whep.CueChannel, &webrtc.DataChannelInit{Protocol: &proto})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var msgs []string
	opened := make(chan struct{})
	dc.OnOpen(func() { close(opened) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		mu.Lock()
		msgs = append(msgs, string(m.Data))
		mu.Unlock()
	})
	c.play(p.url, "clock")
	if err := wait(c.connected, 10*time.Second); err != nil {
		t.Fatal("never connected")
	}
	if err := wait(opened, 10*time.Second); err != nil {
		t.Fatal("the cue channel never opened")
	}
	webrtctest.WaitFor(t, 10*time.Second, "video", func() bool { return c.videoFrames.Load() > 20 })
	// A keyframe request restarts the session from the GOP cache (catch-up
	// frames, then a new RTP offset).
	var ssrc uint32
	for _, r := range c.pc.GetReceivers() {
		if tr := r.Track(); tr != nil && tr.Kind() == webrtc.RTPCodecTypeVideo {
			ssrc = uint32(tr.SSRC())
		}
	}
	if err := c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		t.Fatal(err)
	}
	n := c.videoFrames.Load()
	webrtctest.WaitFor(t, 10*time.Second, "video after the PLI", func() bool { return c.videoFrames.Load() > n+40 })

	mu.Lock()
	got := append([]string(nil), msgs...)
	mu.Unlock()
	c.mu.Lock()
	frames := append([]frameInfo(nil), c.frames...)
	c.mu.Unlock()
	vt.mu.Lock()
	hubTimes := map[int64]bool{}
	for _, d := range vt.times {
		hubTimes[int64(math.Round(d.Seconds()*90000))] = true
	}
	vt.mu.Unlock()

	// RTP times relative to the first frame's, unwrapped (the test is short).
	base := frames[0].ts
	rel := func(ts uint32) int64 { return int64(int32(ts - base)) }
	type point struct {
		rtp   int64
		ticks int64 // media time, 90 kHz
	}
	var points []point
	for _, m := range got {
		var cm clockMsg
		if err := json.Unmarshal([]byte(m), &cm); err != nil || cm.Clock == nil || cm.Clock.RTPTimestamp == nil || cm.Clock.MediaTime == nil {
			t.Fatalf("message %q: not a clock point (%v)", m, err)
		}
		pt := point{rel(*cm.Clock.RTPTimestamp), int64(math.Round(*cm.Clock.MediaTime * 90000))}
		if len(points) > 0 && pt.rtp <= points[len(points)-1].rtp {
			t.Fatalf("clock point %s is not after the previous (RTP %+d)", m, pt.rtp-points[len(points)-1].rtp)
		}
		points = append(points, pt)
	}
	if len(points) < 2 {
		t.Fatalf("%d clock points, want at least 2 (a start and a restart)", len(points))
	}
	mapped, before := 0, 0
	for _, f := range frames {
		r := rel(f.ts)
		i := len(points) - 1
		for i >= 0 && points[i].rtp > r {
			i--
		}
		if i < 0 {
			before++ // a catch-up frame whose point the server no longer held
			continue
		}
		ticks := points[i].ticks + r - points[i].rtp
		if !hubTimes[ticks] {
			t.Errorf("frame at RTP %d maps to %.6f s, which is no frame's time in the hub", f.ts, float64(ticks)/90000)
		}
		mapped++
	}
	t.Logf("%d clock points; %d frames mapped to their hub time, %d before the first point", len(points), mapped, before)
	if mapped < len(frames)-5 {
		t.Errorf("only %d of %d frames mapped", mapped, len(frames))
	}
	if s := p.whep.Stats(); s.CuesSent != 0 {
		t.Errorf("%d cues sent, want none", s.CuesSent)
	}
}

package whep_test

import (
	"net/http"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/liveloop/liveloop/deliver/whep"
	"github.com/liveloop/liveloop/internal/webrtctest"
	"github.com/liveloop/liveloop/media/h264"
)

// TestFFmpegToPionViewer: ffmpeg publishes x264 zerolatency and AAC over
// RTMP; a pion WHEP viewer gets an IDR with SPS and PPS first, then video,
// Opus audio from the transcoder, and abs-capture-time on both.
func TestFFmpegToPionViewer(t *testing.T) {
	webrtctest.CheckLeaks(t)
	p := newPipeline(t, true)
	p.publishFFmpeg(t, "cam", 30)
	p.waitTracks(t, "cam", 2)
	if err := p.tc.Start("cam"); err != nil {
		t.Fatal(err)
	}
	p.waitTracks(t, "cam/opus", 1)

	c := newClient(t, clientOpts{})
	c.play(p.url, "cam")
	if err := wait(c.connected, 10*time.Second); err != nil {
		t.Fatal("peer never connected")
	}
	webrtctest.WaitFor(t, 10*time.Second, "60 video frames and 50 Opus packets", func() bool {
		return c.videoFrames.Load() >= 60 && c.audioPackets.Load() >= 50
	})
	c.mu.Lock()
	first := c.firstNALs
	startup := c.firstAt.Sub(c.connAt)
	lat := slices.Clone(c.latencies)
	c.mu.Unlock()
	iSPS, iPPS, iIDR := slices.Index(first, h264.NALUTypeSPS), slices.Index(first, h264.NALUTypePPS), slices.Index(first, h264.NALUTypeIDR)
	if iSPS < 0 || iPPS < 0 || iIDR < 0 || !(iSPS < iIDR && iPPS < iIDR) {
		t.Errorf("first frame's NAL unit types %v: want SPS and PPS before an IDR", first)
	}
	if c.videoAbs.Load() == 0 || c.audioAbs.Load() == 0 {
		t.Errorf("abs-capture-time: %d video, %d audio packets carry it", c.videoAbs.Load(), c.audioAbs.Load())
	}
	slices.Sort(lat)
	st := p.whep.Stats()
	t.Logf("first frame %v after the client connected; server: first keyframe %v after DTLS (max %v); latency from abs-capture-time: median %v, p90 %v (%d frames)",
		startup, st.FirstKeyframe, st.FirstKeyframeMax, lat[len(lat)/2], lat[len(lat)*9/10], len(lat))
	if st.Sessions != 1 {
		t.Errorf("Stats.Sessions = %d, want 1", st.Sessions)
	}
	// The frames went out in batches, runs of them in GSO sends.
	if st.PacketsBatched == 0 || (runtime.GOOS == "linux" && st.GSOSends == 0) {
		t.Errorf("%d packets batched, %d GSO sends", st.PacketsBatched, st.GSOSends)
	}
	if code := c.delete(p.url); code != http.StatusOK {
		t.Errorf("DELETE: %d", code)
	}
	if st := p.whep.Stats(); st.Sessions != 0 {
		t.Errorf("after DELETE: %d sessions", st.Sessions)
	}
	if n := whep.HeldSSRCs(p.whep); n != 0 {
		t.Errorf("after DELETE: %d SSRCs held", n)
	}
	if code := c.delete(p.url); code != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", code)
	}
}

// TestPLIAnsweredFromGOPCache: a PLI makes the server restart the viewer
// at the GOP cache's newest keyframe (SPS, PPS, IDR) at once, on the
// compressed clock (1 ms after the previous frame), without waiting for
// the publisher's next keyframe.
func TestPLIAnsweredFromGOPCache(t *testing.T) {
	webrtctest.CheckLeaks(t)
	p := newPipeline(t, false)
	p.publishDemo(t, "demo")
	p.waitTracks(t, "demo", 2)
	c := newClient(t, clientOpts{noAudio: true})
	c.play(p.url, "demo")
	if err := wait(c.connected, 10*time.Second); err != nil {
		t.Fatal("never connected")
	}
	webrtctest.WaitFor(t, 10*time.Second, "video", func() bool { return c.videoFrames.Load() > 20 })
	var ssrc uint32
	for _, tr := range c.pc.GetTransceivers() {
		if r := tr.Receiver(); r != nil && r.Track() != nil {
			ssrc = uint32(r.Track().SSRC())
		}
	}
	c.mu.Lock()
	before := len(c.frames)
	c.mu.Unlock()
	sent := time.Now()
	if err := c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		t.Fatal(err)
	}
	webrtctest.WaitFor(t, 5*time.Second, "the catch-up", func() bool { return p.whep.Stats().CatchUps >= 2 })
	var got *frameInfo
	webrtctest.WaitFor(t, 5*time.Second, "a keyframe 1 ms after its predecessor", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i := max(before, 1); i < len(c.frames); i++ {
			f := &c.frames[i]
			if f.ts-c.frames[i-1].ts == 90 && slices.Contains(f.types, h264.NALUTypeIDR) {
				got = f
				return true
			}
		}
		return false
	})
	if !slices.Contains(got.types, h264.NALUTypeSPS) || !slices.Contains(got.types, h264.NALUTypePPS) {
		t.Errorf("catch-up keyframe's NAL units %v", got.types)
	}
	st := p.whep.Stats()
	t.Logf("keyframe %v after the PLI; %d keyframe requests", got.at.Sub(sent), st.KeyframeRequests)
	if st.KeyframeRequests == 0 {
		t.Errorf("no keyframe request counted")
	}
}

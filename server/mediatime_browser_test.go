package server_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"
)

// mediaTimeAtCue records, for every liveloop:cue event, the player's
// mediaTime() at that moment (the event is dispatched from the player's
// frame callback, so the frame on screen is the one the cue fired on).
const mediaTimeAtCue = `(() => {
  window.__cues = [];
  window.addEventListener('liveloop:cue', e => window.__cues.push({cue: e.detail, mediaTime: window.liveloop.player.mediaTime()}));
  return true;
})()`

// mediaTimeAdvances waits (in the page) for mediaTime() to be known, then
// for it to advance by a second, and returns both readings with the page
// time between them; it gives up after timeoutMs.
const mediaTimeAdvances = `(async (timeoutMs) => {
  const p = window.liveloop.player;
  const deadline = performance.now() + timeoutMs;
  const next = async () => {
    if (performance.now() > deadline) throw new Error('mediaTime() ' + p.mediaTime() + ', stats ' + JSON.stringify(p.stats()));
    await new Promise(r => setTimeout(r, 20));
  };
  while (p.mediaTime() === null) await next();
  const a = p.mediaTime(), t0 = performance.now();
  while (p.mediaTime() === null || p.mediaTime() < a + 1) await next();
  return {from: a, to: p.mediaTime(), seconds: (performance.now() - t0) / 1000};
})(%d)`

type mediaTimeAdvance struct {
	From    float64 `json:"from"`
	To      float64 `json:"to"`
	Seconds float64 `json:"seconds"`
}

type cueAtMediaTime struct {
	Cue struct {
		ID string `json:"id"`
	} `json:"cue"`
	MediaTime *float64 `json:"mediaTime"`
}

// TestPlayerMediaTimeOnEveryTransport: one ffmpeg RTMP source played in
// Chromium over the WebSocket, WebRTC and LL-HLS: on each, the player's
// mediaTime() (the stream-timeline time of the frame on screen, which
// viewers' commands carry and spoiler-free chat waits for) becomes known,
// advances with the picture, and when a posted cue fires on its frame it
// equals the cue's media time (the stream's timeline, as the API stamped
// it) within two frames: the three transports place the same picture at
// the same stream time.
func TestPlayerMediaTimeOnEveryTransport(t *testing.T) {
	requireTools(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	srv := startServer(t, nil)
	ffmpegPublish(t, ctx, "rtmp://"+srv.RTMPAddr().String()+"/live/mt", 140, "-tune", "zerolatency")
	waitLive(t, ctx, srv, "mt")
	tab := newBrowserWith(t, ctx, map[string]any{"allow-loopback-in-peer-connection": true})
	base := "http://" + srv.HTTPAddr().String()
	const fps = 30.0
	// HLS places cues through millisecond dates, up to 1 ms early; media
	// times are microseconds.
	const early = 0.0015
	for _, transport := range []string{"ws", "webrtc", "hls"} {
		t.Run(transport, func(t *testing.T) {
			got := playOver(t, tab, base+"/watch/mt?proto="+transport, transport, 30, 1)
			if got.Transport != transport {
				t.Fatalf("playing over %q, want %q", got.Transport, transport)
			}
			adv, err := evalAwait[mediaTimeAdvance](tab, fmt.Sprintf(mediaTimeAdvances, 10000))
			if err != nil {
				t.Fatalf("mediaTime() over %s: %v", transport, err)
			}
			t.Logf("%s: mediaTime() went from %.3f to %.3f in %.2f s", transport, adv.From, adv.To, adv.Seconds)
			if adv.From <= 0 || adv.Seconds < 0.6 || adv.Seconds > 1.8 {
				t.Errorf("mediaTime() advanced %.3f s in %.2f s from %.3f: not with the picture", adv.To-adv.From, adv.Seconds, adv.From)
			}
			if _, err := evalAwait[bool](tab, mediaTimeAtCue); err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i := range 5 {
				id, mediaTime := postTestCue(t, base, "mt", i)
				fired := waitFired[cueAtMediaTime](t, tab, id)
				if fired.MediaTime == nil {
					t.Fatalf("cue %s fired while mediaTime() was null", id)
				}
				d := *fired.MediaTime - mediaTime
				worst = max(worst, math.Abs(d))
				t.Logf("%s: cue %s at %.6f fired with mediaTime() %.6f (%+.2f frames)", transport, id, mediaTime, *fired.MediaTime, d*fps)
				if d < -early || d > 2/fps+early {
					t.Errorf("cue %s at media time %.6f fired with mediaTime() %.6f: %+.2f frames, want 0 to 2", id, mediaTime, *fired.MediaTime, d*fps)
				}
				// Cues land on different frames and parts.
				time.Sleep(time.Duration(120+41*i) * time.Millisecond)
			}
			t.Logf("%s: worst |mediaTime() - cue| %.2f frames", transport, worst*fps)
		})
	}
}

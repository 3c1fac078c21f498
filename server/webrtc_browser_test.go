package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/liveloop/liveloop/internal/chromium"
	"github.com/liveloop/liveloop/internal/webrtctest"
)

// newBrowserWith is newBrowser with extra Chromium flags. The server's ICE
// socket is on loopback, which Chromium pairs only with
// allow-loopback-in-peer-connection.
func newBrowserWith(t *testing.T, ctx context.Context, flags map[string]any) context.Context {
	t.Helper()
	requireTools(t, "chromium")
	tab, cancel, err := chromium.New(ctx, chromium.Options{UserDataDir: t.TempDir(), Logf: t.Logf, ExtraFlags: flags})
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(cancel)
	return tab
}

// sampleTransport waits (in the page) until the player plays and the video
// has shown minFrames frames over that transport, then samples the
// player's latency n times, 100 ms apart. It gives up after timeoutMs.
const sampleTransport = `(async (minFrames, n, timeoutMs) => {
  const v = document.querySelector('video');
  const frames = () => v.getVideoPlaybackQuality().totalVideoFrames;
  const deadline = performance.now() + timeoutMs;
  const stats = () => window.liveloop.stats();
  while (stats().state !== 'playing' || stats().startupTime == null) {
    if (performance.now() > deadline) throw new Error('not playing: ' + JSON.stringify(stats()));
    await new Promise(r => setTimeout(r, 50));
  }
  const f0 = frames();
  while (frames() < f0 + minFrames) {
    if (performance.now() > deadline) throw new Error('frames stopped at ' + frames() + ': ' + JSON.stringify(stats()));
    await new Promise(r => setTimeout(r, 50));
  }
  const latencies = [];
  while (latencies.length < n) {
    const s = stats();
    if (s.latency != null) latencies.push(s.latency);
    if (performance.now() > deadline) break;
    await new Promise(r => setTimeout(r, 100));
  }
  const s = stats();
  return {frames: frames(), latencies, startup: s.startupTime, stalls: s.stalls, transport: s.transport, width: s.width,
          fallbackReason: s.fallbackReason, bitrate: s.bitrate};
})(%d, %d, %d)`

type transportSample struct {
	playerSample
	FallbackReason *string `json:"fallbackReason"`
	Bitrate        float64 `json:"bitrate"`
}

// playOver opens the watch page at url (whose ?proto asks for transport)
// and samples playback.
func playOver(t *testing.T, tab context.Context, url, transport string, minFrames, n int) transportSample {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	got, err := evalAwait[transportSample](ctx, fmt.Sprintf(sampleTransport, minFrames, n, 15000))
	if err != nil {
		t.Fatalf("playback over %s: %v", transport, err)
	}
	return got
}

// TestChromiumPlaysWebRTC: ffmpeg publishes over RTMP (x264 zerolatency in
// High profile, as OBS sends by default, AAC made Opus by the transcoder;
// Chromium without hardware decoding offers High only as Predictive High
// 4:4:4); Chromium plays the watch page over
// WebRTC (WHEP): frames are shown, and the latency the player measures from
// abs-capture-time is under 500 ms. Without ?proto the player picks WebRTC.
func TestChromiumPlaysWebRTC(t *testing.T) {
	requireTools(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startServer(t, nil)
	ffmpegPublish(t, ctx, "rtmp://"+srv.RTMPAddr().String()+"/live/rtc", 40, "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "high")
	waitLive(t, ctx, srv, "rtc")
	tab := newBrowserWith(t, ctx, map[string]any{"allow-loopback-in-peer-connection": true})
	base := "http://" + srv.HTTPAddr().String()

	for _, tc := range []struct{ name, query, transport string }{
		{"webrtc", "?proto=webrtc", "webrtc"},
		{"auto", "", "auto"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := playOver(t, tab, base+"/watch/rtc"+tc.query, tc.transport, 60, 20)
			stats, _ := evalAwait[map[string]any](tab, "window.liveloop.stats()")
			t.Logf("player stats: %v", stats)
			if got.Transport != "webrtc" {
				t.Fatalf("transport %q (fallback %v), want webrtc", got.Transport, deref2(got.FallbackReason))
			}
			if got.Width != 640 {
				t.Errorf("width %v, want 640", got.Width)
			}
			if len(got.Latencies) < 10 {
				t.Fatalf("only %d latency samples (abs-capture-time missing?)", len(got.Latencies))
			}
			lat := median(got.Latencies)
			t.Logf("chromium %s playback: median latency %.0f ms (%d samples), startup %v s, stalls %v, frames %v, bitrate %.0f kbit/s",
				tc.name, lat*1000, len(got.Latencies), deref(got.Startup), got.Stalls, got.Frames, got.Bitrate/1000)
			if lat <= 0 || lat >= 0.5 {
				t.Fatalf("median latency %.3f s, want under 0.5 s", lat)
			}
			if got.Bitrate <= 0 {
				t.Errorf("bitrate %v", got.Bitrate)
			}
		})
	}
	// Leaving the page ends its WHEP session (the peer connection closes
	// with the document): the stream loses that subscriber.
	before := srv.Hub().Stream("rtc").Info().Subscribers
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Hub().Stream("rtc").Info().Subscribers >= before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := srv.Hub().Stream("rtc").Info().Subscribers; n >= before {
		t.Errorf("%d subscribers after the page went away, %d before", n, before)
	}
}

// relayOnly makes every RTCPeerConnection of the page gather relay
// candidates only, and there is no TURN server: like a network that blocks
// UDP, ICE cannot succeed. (Chromium's --force-webrtc-ip-handling-policy
// does not reach headless pages, and on one machine Chromium reaches the
// server's loopback candidate from its own LAN address.)
const relayOnly = `(() => {
  const PC = window.RTCPeerConnection;
  const Relay = function (cfg) { return new PC({...(cfg || {}), iceTransportPolicy: 'relay'}); };
  Relay.prototype = PC.prototype;
  window.RTCPeerConnection = Relay;
})();`

// TestChromiumWebRTCFallsBackToWebSocket: where ICE cannot succeed, the player in
// auto mode falls back to the WebSocket transport and plays, and says why.
func TestChromiumWebRTCFallsBackToWebSocket(t *testing.T) {
	requireTools(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startServer(t, nil)
	ffmpegPublish(t, ctx, "rtmp://"+srv.RTMPAddr().String()+"/live/nortc", 30, "-tune", "zerolatency")
	waitLive(t, ctx, srv, "nortc")
	tab := newBrowserWith(t, ctx, map[string]any{"allow-loopback-in-peer-connection": true})
	if err := chromedp.Do(tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: relayOnly})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	got := playOver(t, tab, "http://"+srv.HTTPAddr().String()+"/watch/nortc", "auto", 30, 5)
	t.Logf("fell back: transport %s, reason %v, startup %v s, frames %v", got.Transport, deref2(got.FallbackReason), deref(got.Startup), got.Frames)
	if got.Transport != "ws" || got.FallbackReason == nil || *got.FallbackReason == "" {
		t.Fatalf("transport %q, fallback reason %v; want ws with a reason", got.Transport, deref2(got.FallbackReason))
	}
	if got.Startup == nil || *got.Startup > 8 {
		t.Errorf("startup %v s, want under 8 s including the fallback", deref(got.Startup))
	}
}

// TestChromiumBFramesPlayOverWebSocket: a source with B-frames (x264's
// defaults, as OBS sends) cannot be played over WebRTC by browsers; WHEP
// refuses it (no_compatible_codec, the message saying why: see the WHEP
// package's TestErrors), the player in auto mode falls back to the
// WebSocket transport and plays, and the stream API shows the B-frames.
func TestChromiumBFramesPlayOverWebSocket(t *testing.T) {
	requireTools(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startServer(t, nil)
	ffmpegPublish(t, ctx, "rtmp://"+srv.RTMPAddr().String()+"/live/bframes", 30, "-preset", "veryfast", "-bf", "2")
	waitLive(t, ctx, srv, "bframes")
	webrtctest.WaitFor(t, 10*time.Second, "B-frames seen", func() bool { return srv.Hub().Stream("bframes").Info().Reordered })
	tab := newBrowserWith(t, ctx, map[string]any{"allow-loopback-in-peer-connection": true})
	got := playOver(t, tab, "http://"+srv.HTTPAddr().String()+"/watch/bframes", "auto", 30, 5)
	t.Logf("transport %s, reason %v, startup %v s, frames %v", got.Transport, deref2(got.FallbackReason), deref(got.Startup), got.Frames)
	if got.Transport != "ws" || got.FallbackReason == nil || *got.FallbackReason != "no_compatible_codec" {
		t.Fatalf("transport %q, fallback reason %v; want ws after no_compatible_codec", got.Transport, deref2(got.FallbackReason))
	}
	resp, err := http.Get("http://" + srv.HTTPAddr().String() + "/api/v1/streams/bframes")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct{ BFrames bool }
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || !info.BFrames {
		t.Errorf("stream API: bframes %v (%v), want true", info.BFrames, err)
	}
}

func deref2(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// postTestCue posts cue number i ({"type":"test.mark","data":{"n":i}}) to
// stream and returns its ID and media time (seconds on the stream's
// timeline).
func postTestCue(t *testing.T, base, stream string, i int) (string, float64) {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/streams/"+stream+"/cues", "application/json",
		strings.NewReader(fmt.Sprintf(`{"type":"test.mark","data":{"n":%d}}`, i)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var posted struct {
		ID        string  `json:"id"`
		MediaTime float64 `json:"mediaTime"`
	}
	json.NewDecoder(resp.Body).Decode(&posted)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST cue: %s", resp.Status)
	}
	return posted.ID, posted.MediaTime
}

// waitFired waits until the in-page recorder (cueInPage or a variant) has
// the cue id, and returns what it recorded.
func waitFired[T any](t *testing.T, tab context.Context, id string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	fired, err := evalAwait[T](ctx, fmt.Sprintf(`(async (id) => {
  for (;;) {
    const c = window.__cues.find(c => c.cue.id === id);
    if (c) return c;
    await new Promise(r => setTimeout(r, 10));
  }
})(%q)`, id))
	if err != nil {
		t.Fatalf("cue %s never fired: %v", id, err)
	}
	return fired
}

// cueInPageRTP is cueInPage that also records the presented frame's RTP
// timestamp (requestVideoFrameCallback metadata, WebRTC only).
var cueInPageRTP = strings.Replace(cueInPage, "frameTime: meta.mediaTime", "frameTime: meta.mediaTime, rtpTimestamp: meta.rtpTimestamp", 1)

// framesInPage records a field of the requestVideoFrameCallback metadata
// of every frame presented (rtpTimestamp, mediaTime), in window.__frames.
const framesInPage = `((field) => {
  const v = document.querySelector('video');
  window.__frames = [];
  const onFrame = (now, meta) => {
    window.__frames.push(meta[field]);
    if (window.__frames.length > 4000) window.__frames.splice(0, 1000);
    v.requestVideoFrameCallback(onFrame);
  };
  v.requestVideoFrameCallback(onFrame);
  return true;
})(%q)`

type firedRTPCue struct {
	firedCue
	RTPTimestamp *float64 `json:"rtpTimestamp"`
}

// TestCueFiresWithItsFrameWebRTC: a cue posted during playback over WebRTC
// reaches Chromium on the liveloop-cues data channel and fires on the
// frame it was stamped on, within one frame. The WebRTC frame clock is the
// RTP timestamp: the cue's (its mediaTime on the player's frame clock,
// unwrapped RTP seconds) is compared with that of the frame presented when
// it fired, both at 90 kHz, so one frame at 30 fps is 3000 ticks.
//
// Chromium does not present every frame: after a hiccup in reception it
// shows the newest and skips those before (requestVideoFrameCallback's
// presentedFrames jumps), and a cue whose frame is skipped can only fire
// on the first frame shown after it. So the error asserted is counted in
// frames presented: from the first frame presented at or after the cue's
// RTP time to the one it fired with; the error in RTP time is logged.
func TestCueFiresWithItsFrameWebRTC(t *testing.T) {
	requireTools(t, "ffmpeg")
	if cueInPageRTP == cueInPage {
		t.Fatal("cueInPage changed: no frameTime to add the RTP timestamp to")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startServer(t, nil)
	ffmpegPublish(t, ctx, "rtmp://"+srv.RTMPAddr().String()+"/live/rtccues", 60, "-tune", "zerolatency")
	waitLive(t, ctx, srv, "rtccues")
	tab := newBrowserWith(t, ctx, map[string]any{"allow-loopback-in-peer-connection": true})
	base := "http://" + srv.HTTPAddr().String()
	got := playOver(t, tab, base+"/watch/rtccues?proto=webrtc", "webrtc", 30, 1)
	if got.Transport != "webrtc" {
		t.Fatalf("transport %q (fallback %v), want webrtc", got.Transport, deref2(got.FallbackReason))
	}
	if _, err := evalAwait[bool](tab, cueInPageRTP); err != nil {
		t.Fatal(err)
	}
	if _, err := evalAwait[bool](tab, fmt.Sprintf(framesInPage, "rtpTimestamp")); err != nil {
		t.Fatal(err)
	}
	const ticksPerFrame = 90000 / 30
	worst, worstRTP := 0, 0.0
	for i := range 8 {
		id, mediaTime := postTestCue(t, base, "rtccues", i)
		fired := waitFired[firedRTPCue](t, tab, id)
		if fired.Cue.Type != "test.mark" || string(fired.Cue.Payload) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("fired cue %+v", fired.Cue)
		}
		if fired.RTPTimestamp == nil || math.IsInf(fired.Cue.MediaTime, 0) {
			t.Fatalf("cue %s: frame RTP timestamp %v, cue time %v: no RTP time to compare", id, deref(fired.RTPTimestamp), fired.Cue.MediaTime)
		}
		cueRTP := uint32(int64(math.Round(fired.Cue.MediaTime * 90000)))
		firedRTP := uint32(*fired.RTPTimestamp)
		diff := int32(firedRTP - cueRTP)
		errRTP := math.Abs(float64(diff)) / ticksPerFrame
		worstRTP = max(worstRTP, errRTP)
		frames, err := evalAwait[[]float64](tab, "window.__frames")
		if err != nil {
			t.Fatal(err)
		}
		// The frame it fired with, and the first presented at or after
		// the cue's time: presented frames from one to the other.
		at := -1
		for j := len(frames) - 1; j >= 0; j-- {
			if uint32(frames[j]) == firedRTP {
				at = j
				break
			}
		}
		if at < 0 {
			t.Fatalf("cue %s fired with frame RTP %d, which was not presented", id, firedRTP)
		}
		first := at
		for first > 0 && int32(uint32(frames[first-1])-cueRTP) >= 0 {
			first--
		}
		late := at - first
		if diff < 0 {
			late = -int(math.Ceil(-float64(diff) / ticksPerFrame)) // fired early
		}
		worst = max(worst, max(late, -late))
		t.Logf("cue %s at media time %.3f (RTP %d) fired with frame RTP %d: %+d ticks (%.2f frames); first frame presented at or after it %d, %d frames presented later",
			id, mediaTime, cueRTP, firedRTP, diff, errRTP, uint32(frames[first]), late)
		if late > 1 || late < 0 {
			t.Errorf("cue fired %d presented frames from its frame, want at most 1 after it", late)
		}
		time.Sleep(time.Duration(150+37*i) * time.Millisecond)
	}
	t.Logf("webrtc cues: worst error %d presented frames (%.2f frames of RTP time)", worst, worstRTP)
}

package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/liveloop/liveloop/internal/chromium"
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

// TestChromiumPlaysWebRTC: ffmpeg publishes over RTMP (x264 zerolatency,
// AAC made Opus by the transcoder); Chromium plays the watch page over
// WebRTC (WHEP): frames are shown, and the latency the player measures from
// abs-capture-time is under 500 ms. Without ?proto the player picks WebRTC.
func TestChromiumPlaysWebRTC(t *testing.T) {
	requireTools(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startServer(t, nil)
	ffmpegPublish(t, ctx, "rtmp://"+srv.RTMPAddr().String()+"/live/rtc", 40, "-tune", "zerolatency")
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

func deref2(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

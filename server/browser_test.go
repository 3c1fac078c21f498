package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/internal/chromium"
	"github.com/liveloop/liveloop/server"
)

// newBrowser starts headless Chromium and returns a context for one tab.
func newBrowser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	requireTools(t, "chromium")
	tab, cancel, err := chromium.New(ctx, chromium.Options{UserDataDir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(cancel)
	return tab
}

// evalAwait evaluates JavaScript in the tab, awaiting a promise.
func evalAwait[T any](tab context.Context, js string) (T, error) { return chromium.Eval[T](tab, js) }

// waitLive waits until the hub has the stream live with its tracks.
func waitLive(t *testing.T, ctx context.Context, srv *server.Server, name string) {
	t.Helper()
	for {
		if s := srv.Hub().Stream(name); s != nil {
			if inf := s.Info(); inf.State == hub.StateLive && inf.Packets > 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stream %q never went live", name)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// playerSample is what the watch page reports about playback.
type playerSample struct {
	Frames    float64   `json:"frames"`
	Latencies []float64 `json:"latencies"`
	Startup   *float64  `json:"startup"`
	Stalls    float64   `json:"stalls"`
	Transport string    `json:"transport"`
	Width     float64   `json:"width"`
}

// samplePlayback waits (in the page) until the video has shown minFrames
// frames, then samples the player's latency n times, 100 ms apart.
const samplePlayback = `(async (minFrames, n) => {
  const v = document.querySelector('video');
  const frames = () => v.getVideoPlaybackQuality().totalVideoFrames;
  while (!window.liveloop || frames() < minFrames) await new Promise(r => setTimeout(r, 50));
  const latencies = [];
  while (latencies.length < n) {
    const s = window.liveloop.stats();
    if (s.latency != null) latencies.push(s.latency);
    await new Promise(r => setTimeout(r, 100));
  }
  const s = window.liveloop.stats();
  return {frames: frames(), latencies, startup: s.startupTime, stalls: s.stalls, transport: s.transport, width: s.width};
})(%d, %d)`

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// TestChromiumPlaysWebSocketStream: a real ffmpeg publishes over RTMP with
// x264 zerolatency; headless Chromium opens the watch page; frames are
// shown, and the player's latency (ingest to display, from prft and the
// server clock) is under one second.
func TestChromiumPlaysWebSocketStream(t *testing.T) {
	requireTools(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startServer(t, nil)
	ffmpegPublish(t, ctx, "rtmp://"+srv.RTMPAddr().String()+"/live/cam", 60, "-tune", "zerolatency")
	waitLive(t, ctx, srv, "cam")

	tab := newBrowser(t, ctx)
	if err := chromedp.Do(tab, chromedp.Navigate("http://"+srv.HTTPAddr().String()+"/watch/cam?proto=ws")); err != nil {
		t.Fatal(err)
	}
	got, err := evalAwait[playerSample](tab, fmt.Sprintf(samplePlayback, 150, 20))
	if err != nil {
		t.Fatalf("playback in chromium: %v", err)
	}
	again, err := evalAwait[float64](tab, `new Promise(r => setTimeout(() => r(document.querySelector('video').getVideoPlaybackQuality().totalVideoFrames), 500))`)
	if err != nil {
		t.Fatal(err)
	}
	if again <= got.Frames {
		t.Fatalf("video frames stopped at %v", again)
	}
	if got.Transport != "ws" || got.Width != 640 {
		t.Errorf("transport %q width %v, want ws 640", got.Transport, got.Width)
	}
	lat := median(got.Latencies)
	stats, _ := evalAwait[map[string]any](tab, "window.liveloop.stats()")
	t.Logf("player stats: %v", stats)
	t.Logf("chromium ws playback: median latency %.0f ms (%d samples), startup %v s, stalls %v, frames %v",
		lat*1000, len(got.Latencies), deref(got.Startup), got.Stalls, again)
	if lat <= 0 || lat >= 1 {
		t.Fatalf("median latency %.3f s, want under 1 s", lat)
	}
	if got.Startup == nil {
		t.Fatal("player reported no startup time")
	}
	if os.Getenv("LIVELOOP_SCREENSHOT") != "" {
		png, _ := chromedp.Run(tab, chromedp.FullScreenshot(100))
		os.WriteFile(os.Getenv("LIVELOOP_SCREENSHOT"), png, 0o644)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// cueInPage records each liveloop:cue event with the media time of the
// frame presented when it fired: the page's frame callback runs right after
// the player's for the same frame, so a cue fired while frame F is
// presented is matched with F (a cue fired between frames, with the next).
const cueInPage = `(() => {
  const v = document.querySelector('video');
  window.__cues = [];
  let pending = [];
  window.addEventListener('liveloop:cue', e => pending.push(e.detail));
  const onFrame = (now, meta) => {
    for (const cue of pending) window.__cues.push({cue, frameTime: meta.mediaTime});
    pending = [];
    v.requestVideoFrameCallback(onFrame);
  };
  v.requestVideoFrameCallback(onFrame);
  return true;
})()`

type firedCue struct {
	Cue struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		MediaTime float64         `json:"mediaTime"`
		Payload   json.RawMessage `json:"payload"`
	} `json:"cue"`
	FrameTime float64 `json:"frameTime"`
}

// TestCueFiresWithItsFrame: a cue posted during playback fires in Chromium
// on the frame it was stamped on, within one frame, on the WebSocket path.
func TestCueFiresWithItsFrame(t *testing.T) {
	requireTools(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startServer(t, nil)
	ffmpegPublish(t, ctx, "rtmp://"+srv.RTMPAddr().String()+"/live/cues", 60, "-tune", "zerolatency")
	waitLive(t, ctx, srv, "cues")
	tab := newBrowser(t, ctx)
	if err := chromedp.Do(tab, chromedp.Navigate("http://"+srv.HTTPAddr().String()+"/watch/cues?proto=ws")); err != nil {
		t.Fatal(err)
	}
	if _, err := evalAwait[playerSample](tab, fmt.Sprintf(samplePlayback, 30, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := evalAwait[bool](tab, cueInPage); err != nil {
		t.Fatal(err)
	}
	const fps = 30.0
	for i := range 5 {
		resp, err := http.Post("http://"+srv.HTTPAddr().String()+"/api/v1/streams/cues/cues", "application/json",
			strings.NewReader(fmt.Sprintf(`{"type":"test.mark","data":{"n":%d}}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		var posted struct {
			ID        string  `json:"id"`
			MediaTime float64 `json:"mediaTime"`
		}
		json.NewDecoder(resp.Body).Decode(&posted)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST cue: %s", resp.Status)
		}
		fired, err := evalAwait[firedCue](tab, fmt.Sprintf(`(async (id) => {
  for (;;) {
    const c = window.__cues.find(c => c.cue.id === id);
    if (c) return c;
    await new Promise(r => setTimeout(r, 10));
  }
})(%q)`, posted.ID))
		if err != nil {
			t.Fatal(err)
		}
		errFrames := math.Abs(fired.FrameTime-posted.MediaTime) * fps
		t.Logf("cue %s at media time %.3f fired with frame %.3f: %.2f frames off", posted.ID, posted.MediaTime, fired.FrameTime, errFrames)
		if fired.Cue.Type != "test.mark" || string(fired.Cue.Payload) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("fired cue %+v", fired.Cue)
		}
		// The 5% is timestamp rounding: Chromium reports media times in
		// microseconds.
		if errFrames > 1.05 {
			t.Fatalf("cue fired %.2f frames from its frame, want at most 1", errFrames)
		}
	}
}

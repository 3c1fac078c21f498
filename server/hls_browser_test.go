package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestChromiumPlaysLLHLS: ffmpeg publishes over RTMP; Chromium plays the
// watch page over LL-HLS with hls.js in low-latency mode: frames are shown,
// and the latency the player measures from EXT-X-PROGRAM-DATE-TIME has a
// median under 2.5 s; a cue posted during playback fires with the picture
// (from the playlist's EXT-X-DATERANGE).
func TestChromiumPlaysLLHLS(t *testing.T) {
	requireTools(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startServer(t, nil)
	ffmpegPublish(t, ctx, "rtmp://"+srv.RTMPAddr().String()+"/live/ll", 40, "-tune", "zerolatency")
	waitLive(t, ctx, srv, "ll")
	tab := newBrowser(t, ctx)
	got := playOver(t, tab, "http://"+srv.HTTPAddr().String()+"/watch/ll?proto=hls", "hls", 60, 30)
	stats, _ := evalAwait[map[string]any](tab, "window.liveloop.stats()")
	t.Logf("player stats: %v", stats)
	if got.Transport != "hls" {
		t.Fatalf("transport %q, want hls", got.Transport)
	}
	if got.Width != 640 {
		t.Errorf("width %v, want 640", got.Width)
	}
	if len(got.Latencies) < 10 {
		t.Fatalf("only %d latency samples (no PROGRAM-DATE-TIME?)", len(got.Latencies))
	}
	lat := median(got.Latencies)
	t.Logf("chromium hls playback: median latency %.0f ms (%d samples), startup %v s, stalls %v, frames %v, bitrate %.0f kbit/s",
		lat*1000, len(got.Latencies), deref(got.Startup), got.Stalls, got.Frames, got.Bitrate/1000)
	if lat <= 0 || lat >= 2.5 {
		t.Fatalf("median latency %.3f s, want under 2.5 s", lat)
	}

	// A cue posted now reaches the player as an EXT-X-DATERANGE and fires
	// when the picture gets to it: about one latency later.
	if _, err := evalAwait[bool](tab, `(window.__hlsCues = [], window.liveloop.player.on('cue', c => window.__hlsCues.push({cue: c, at: performance.now()})), true)`); err != nil {
		t.Fatal(err)
	}
	postedAt, err := evalAwait[float64](tab, "performance.now()")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+srv.HTTPAddr().String()+"/api/v1/streams/ll/cues", "application/json",
		strings.NewReader(`{"type":"test.mark","data":{"n":7}}`))
	if err != nil {
		t.Fatal(err)
	}
	var posted struct {
		ID string `json:"id"`
	}
	json.NewDecoder(resp.Body).Decode(&posted)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST cue: %s", resp.Status)
	}
	cctx, ccancel := context.WithTimeout(tab, 10*time.Second)
	defer ccancel()
	fired, err := evalAwait[struct {
		Cue struct {
			ID      string          `json:"id"`
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		} `json:"cue"`
		At float64 `json:"at"`
	}](cctx, fmt.Sprintf(`(async (id) => {
  for (;;) {
    const c = window.__hlsCues.find(c => c.cue.id === id);
    if (c) return c;
    await new Promise(r => setTimeout(r, 10));
  }
})(%q)`, posted.ID))
	if err != nil {
		t.Fatalf("cue %s never fired: %v", posted.ID, err)
	}
	after := (fired.At - postedAt) / 1000
	t.Logf("cue %s fired %.0f ms after it was posted (latency %.0f ms)", posted.ID, after*1000, lat*1000)
	if fired.Cue.Type != "test.mark" || string(fired.Cue.Payload) != `{"n":7}` {
		t.Errorf("fired cue %+v", fired.Cue)
	}
	if after < lat/2 || after > lat+1.5 {
		t.Errorf("cue fired %.2f s after posting, want about the latency %.2f s", after, lat)
	}
}

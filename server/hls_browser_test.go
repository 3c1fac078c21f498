package server_test

import (
	"context"
	"testing"
	"time"
)

// TestChromiumPlaysLLHLS: ffmpeg publishes over RTMP; Chromium plays the
// watch page over LL-HLS with hls.js in low-latency mode: frames are shown,
// and the latency the player measures from EXT-X-PROGRAM-DATE-TIME has a
// median under 2.5 s.
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
}

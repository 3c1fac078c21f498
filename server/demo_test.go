package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/config"
)

// initWidth returns the video width of an init message's tracks.
func initWidth(t *testing.T, m *wsMsg) int {
	t.Helper()
	var tracks []struct {
		Kind  string `json:"kind"`
		Width int    `json:"width"`
	}
	if err := json.Unmarshal(m.Tracks, &tracks); err != nil {
		t.Fatal(err)
	}
	for _, tr := range tracks {
		if tr.Kind == "video" {
			return tr.Width
		}
	}
	return 0
}

// nextInit reads until the next init message and returns its video width.
func nextInit(t *testing.T, v *wsViewer) int {
	t.Helper()
	for {
		if m, _ := v.next(); m != nil && m.Type == "init" {
			return initWidth(t, m)
		}
	}
}

// TestDemoStreamGivesWayToARealPublisher: --demo publishes the built-in
// 720p H.264+AAC clip as "demo" with no encoder; a real publisher on "demo"
// takes over and keeps it while it publishes; when it leaves, the demo
// comes back.
func TestDemoStreamGivesWayToARealPublisher(t *testing.T) {
	requireTools(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := startServer(t, func(c *config.Config) { c.Demo = true; c.GracePeriod = 30 * time.Second })
	v := dialViewer(t, ctx, srv, "demo")
	m := v.text()
	if m.Type != "init" || !strings.Contains(m.Mime, "avc1.4d") || !strings.Contains(m.Mime, "mp4a.40.2") || initWidth(t, &m) != 1280 {
		t.Fatalf("demo init %+v", m)
	}

	ffmpeg := ffmpegPublish(t, ctx, "rtmp://"+srv.RTMPAddr().String()+"/live/demo", 3, "-tune", "zerolatency")
	if w := nextInit(t, v); w != 640 {
		t.Fatalf("after takeover the stream is %d wide, want the publisher's 640", w)
	}
	done := make(chan error, 1)
	go func() { done <- ffmpeg.Wait() }()
	// While ffmpeg publishes, the demo must not take the stream back.
	for {
		m, _ := v.next()
		if m != nil && m.Type == "init" {
			// The demo comes back only after the publisher's connection
			// closed; ffmpeg's process exits a moment after that.
			select {
			case <-done:
				if w := initWidth(t, m); w != 1280 {
					t.Fatalf("after the publisher left the stream is %d wide, want the demo's 1280", w)
				}
				return
			case <-time.After(2 * time.Second):
				t.Fatalf("the demo took the stream back while the publisher was live (width %d)", initWidth(t, m))
			}
		}
	}
}

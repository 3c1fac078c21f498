package g2g_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/liveloop/liveloop/g2g"
	"github.com/liveloop/liveloop/internal/chromium"
	"github.com/liveloop/liveloop/internal/testserver"
	"github.com/liveloop/liveloop/server"
)

// startServer runs a real server on free loopback ports for the test.
func startServer(t *testing.T) *server.Server { return testserver.Start(t, nil) }

// TestEndToEnd runs the whole tool for a few seconds against an in-process
// server: stamped frames go through ffmpeg, RTMP, the hub, the WebSocket
// and Chromium's player, and come back as glass-to-glass samples. The bound
// is functional (the stamps are read back and make sense), not a speed
// figure.
func TestEndToEnd(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "chromium"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (CI installs it: see .ci/run): %v", tool, err)
		}
	}
	for _, audio := range []bool{false, true} {
		name := map[bool]string{false: "video", true: "audio+video"}[audio]
		t.Run(name, func(t *testing.T) {
			srv := startServer(t)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			rep, err := g2g.Run(ctx, g2g.Config{
				HTTPAddr: srv.HTTPAddr().String(),
				RTMPAddr: srv.RTMPAddr().String(),
				Runs:     1,
				Duration: 2500 * time.Millisecond,
				Skip:     500 * time.Millisecond,
				Publisher: g2g.PublisherConfig{
					Width: 640, Height: 360, Audio: audio,
				},
				Chromium: chromium.Options{UserDataDir: t.TempDir(), Logf: t.Logf},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Runs) != 1 {
				t.Fatalf("%d runs, want 1", len(rep.Runs))
			}
			r := rep.Runs[0]
			t.Logf("g2g %+v, early %+v, first frame %.0f ms, %d frames (%d unread), player %v",
				r.G2G, r.Early, r.FirstFrame, r.Frames, r.Undecoded, r.Player)
			// About 2 s of 30 fps after the skipped start, allowing for a
			// busy machine.
			if r.G2G.N < 20 {
				t.Errorf("%d steady-state samples, want at least 20", r.G2G.N)
			}
			if r.G2G.Min <= 0 || r.G2G.Max >= 2000 {
				t.Errorf("g2g from %.0f to %.0f ms, want within (0, 2000)", r.G2G.Min, r.G2G.Max)
			}
			if r.FirstFrame <= 0 || r.FirstFrame > r.FirstStamped+1 {
				t.Errorf("first frame at %.0f ms, first stamped at %.0f ms", r.FirstFrame, r.FirstStamped)
			}
			if r.Undecoded > r.Frames/10 {
				t.Errorf("%d of %d frames unreadable", r.Undecoded, r.Frames)
			}
		})
	}
}

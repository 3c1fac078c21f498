package loadtest_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/config"
	"github.com/liveloop/liveloop/internal/testserver"
	"github.com/liveloop/liveloop/loadtest"
	"github.com/liveloop/liveloop/server"
)

// TestRunAgainstServer runs the whole load test (publisher, five viewers,
// measured window) against a real server on port 0, in this process.
func TestRunAgainstServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	t.Cleanup(func() { checkNoLoadtestGoroutines(t) }) // runs after the server stopped
	srv := testserver.Start(t, nil)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := loadtest.Run(ctx, loadtest.Config{
		HTTPAddr: srv.HTTPAddr().String(),
		RTMPAddr: srv.RTMPAddr().String(),
		// The server runs in this process: its CPU figures include the
		// tool's, but the /proc path is exercised.
		ServerPID: os.Getpid(),
		Viewers:   []int{5},
		Warmup:    500 * time.Millisecond,
		Duration:  3 * time.Second,
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Points) != 1 {
		t.Fatalf("%d points", len(rep.Points))
	}
	p := rep.Points[0]
	var sb strings.Builder
	rep.WriteTable(&sb)
	t.Log("\n" + sb.String())
	if p.Connected != 5 || p.Failed != 0 {
		t.Errorf("connected %d, failed %d (%v)", p.Connected, p.Failed, p.Errors)
	}
	if p.Startup.N != 5 || p.Startup.P50 <= 0 {
		t.Errorf("startup %+v", p.Startup)
	}
	if p.Latency.P50 <= 0 || p.Latency.N != p.FramesReceived {
		t.Errorf("latency %+v for %d frames", p.Latency, p.FramesReceived)
	}
	// 3 s at 30 fps to each of 5 viewers, give or take the window's edges.
	if p.FramesReceived < 5*80 || p.FramesSent < 80 {
		t.Errorf("received %d frames, sent %d", p.FramesReceived, p.FramesSent)
	}
	if p.FramesMissing != 0 || p.Loss != 0 || p.Gaps != 0 || p.Unstamped != 0 || p.Reorders != 0 {
		t.Errorf("missing %d loss %v gaps %d unstamped %d reorders %d", p.FramesMissing, p.Loss, p.Gaps, p.Unstamped, p.Reorders)
	}
	if p.ServerCPUSeconds <= 0 || p.RSSBaselineBytes <= 0 || p.DeliveredMbpsPerViewer <= 0.5 {
		t.Errorf("cpu %v s, rss %d, delivered %v Mbit/s", p.ServerCPUSeconds, p.RSSBaselineBytes, p.DeliveredMbpsPerViewer)
	}
}

// checkNoLoadtestGoroutines waits (with a deadline) until no goroutine runs
// loadtest code: Run must stop everything it started.
func checkNoLoadtestGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "liveloop/loadtest.") && !strings.Contains(g, "loadtest_test.") && !strings.Contains(g, "testing.tRunner") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left running:\n%s", strings.Join(leaked, "\n\n"))
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond) // polling interval of a condition wait
	}
}

// startServer runs a real server on free ports in this process until the
// test ends, then checks that the tool left no goroutine behind.
func startServer(t *testing.T, adminKey string) *server.Server {
	t.Helper()
	t.Cleanup(func() { checkNoLoadtestGoroutines(t) }) // runs after the server stopped
	return testserver.Start(t, func(c *config.Config) { c.AdminKey = adminKey })
}

// TestRunHLS runs five LL-HLS viewers for about four seconds against a real
// server in this process.
func TestRunHLS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	srv := startServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := loadtest.Run(ctx, loadtest.Config{
		Mode:     loadtest.ModeHLS,
		HTTPAddr: srv.HTTPAddr().String(), RTMPAddr: srv.RTMPAddr().String(),
		ServerPID: os.Getpid(),
		Viewers:   []int{5},
		Warmup:    500 * time.Millisecond,
		Duration:  3 * time.Second,
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Points[0]
	var sb strings.Builder
	rep.WriteTable(&sb)
	t.Log("\n" + sb.String())
	if p.Connected != 5 || p.Failed != 0 || p.Startup.N != 5 {
		t.Errorf("connected %d, failed %d (%v), startups %d", p.Connected, p.Failed, p.Errors, p.Startup.N)
	}
	if p.Latency.P50 <= 0 || p.Latency.N != p.FramesReceived || p.FramesReceived < 5*60 {
		t.Errorf("latency %+v for %d frames", p.Latency, p.FramesReceived)
	}
	h := p.HLS
	if h == nil {
		t.Fatal("no HLS figures")
	}
	if bad := h.Status400 + h.Status404 + h.Status503 + h.StatusOther + h.TransportErrors; bad != 0 || h.Resyncs != 0 {
		t.Errorf("%d failed requests, %d resyncs: %+v", bad, h.Resyncs, h)
	}
	// Two requests per part (the part and its blocking reload), parts of
	// about 200 ms.
	if h.PartRequests < 5*10 || h.PlaylistRequests < 5*10 || h.RequestsPerSecond <= 0 {
		t.Errorf("requests: %+v", h)
	}
	if p.Unstamped != 0 || p.Reorders != 0 {
		t.Errorf("unstamped %d, reorders %d", p.Unstamped, p.Reorders)
	}
}

// TestRunRoom runs twenty viewer-channel clients that vote, chat and react,
// and a host, against a real server in this process.
func TestRunRoom(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	srv := startServer(t, "test-admin-key")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := loadtest.Run(ctx, loadtest.Config{
		Mode:      loadtest.ModeRoom,
		HTTPAddr:  srv.HTTPAddr().String(),
		AdminKey:  "test-admin-key",
		ServerPID: os.Getpid(),
		Viewers:   []int{20},
		VoteRate:  100, ChatRate: 5, ReactRate: 10,
		MarkInterval: 200 * time.Millisecond,
		Warmup:       500 * time.Millisecond,
		Duration:     3 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Points[0]
	var sb strings.Builder
	rep.WriteTable(&sb)
	t.Log("\n" + sb.String())
	if p.Connected != 20 || p.Failed != 0 {
		t.Errorf("connected %d, failed %d (%v)", p.Connected, p.Failed, p.Errors)
	}
	f := p.Room
	if f == nil {
		t.Fatal("no room figures")
	}
	// 3 s at 100 votes/s, 5 chats/s; the window's edges cut a few.
	if f.Accepted["vote"] < 200 || f.VoteAck.N != f.Accepted["vote"] || f.VoteAck.P50 <= 0 {
		t.Errorf("votes: sent %d, accepted %d, ack %+v", f.Sent["vote"], f.Accepted["vote"], f.VoteAck)
	}
	if f.Accepted["chat"] < 8 || f.Accepted["react"] < 15 || len(f.Refused) != 0 || f.Unmatched != 0 {
		t.Errorf("accepted %v of %v, refused %v, unmatched %d", f.Accepted, f.Sent, f.Refused, f.Unmatched)
	}
	// Every client gets the host's markers and everyone's chat.
	if f.Markers < 10 || f.MarkerDeliveries < 20*(f.Markers-2) || f.Fanout.P50 <= 0 {
		t.Errorf("markers %d, deliveries %d, fan-out %+v", f.Markers, f.MarkerDeliveries, f.Fanout)
	}
	if f.ChatDeliveriesPerSecond < 20*5 {
		t.Errorf("chat deliveries %v/s", f.ChatDeliveriesPerSecond)
	}
}

// TestRunWHEP runs five WebRTC viewers for about four seconds against a
// real server in this process, transcoding AAC to Opus with ffmpeg.
func TestRunWHEP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is not installed (the Opus track needs it): make deps (or make test) installs it")
	}
	t.Cleanup(func() { checkNoLoadtestGoroutines(t) }) // runs after the server stopped
	srv := testserver.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := loadtest.Run(ctx, loadtest.Config{
		Mode:     loadtest.ModeWHEP,
		HTTPAddr: srv.HTTPAddr().String(), RTMPAddr: srv.RTMPAddr().String(),
		ServerPID: os.Getpid(),
		Viewers:   []int{5},
		Warmup:    500 * time.Millisecond,
		Duration:  3 * time.Second,
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Points[0]
	var sb strings.Builder
	rep.WriteTable(&sb)
	t.Log("\n" + sb.String())
	if p.Connected != 5 || p.Failed != 0 || p.Startup.N != 5 {
		t.Errorf("connected %d, failed %d (%v), startups %d", p.Connected, p.Failed, p.Errors, p.Startup.N)
	}
	// 3 s at 30 fps to each of 5 viewers, give or take the window's edges.
	if p.Latency.P50 <= 0 || p.Latency.N != p.FramesReceived || p.FramesReceived < 5*80 {
		t.Errorf("latency %+v for %d frames", p.Latency, p.FramesReceived)
	}
	if p.FramesMissing != 0 || p.Loss != 0 || p.Gaps != 0 || p.Unstamped != 0 || p.Reorders != 0 {
		t.Errorf("missing %d loss %v gaps %d unstamped %d reorders %d", p.FramesMissing, p.Loss, p.Gaps, p.Unstamped, p.Reorders)
	}
	f := p.WHEP
	if f == nil {
		t.Fatal("no WHEP figures")
	}
	if f.FirstKeyframe.N != 5 || f.Connect.N != 5 || f.Answer.N != 5 || f.FirstKeyframe.Max >= p.Startup.Max {
		t.Errorf("startup %+v, DTLS to keyframe %+v, connect %+v", p.Startup, f.FirstKeyframe, f.Connect)
	}
	// Opus in 20 ms packets (the transcoder's), to every viewer.
	if f.ViewersWithoutAudio != 0 || f.AudioPacketsPerVSec < 40 || f.Malformed != 0 {
		t.Errorf("%d viewers without audio, %.1f audio packets per viewer-second, %d malformed", f.ViewersWithoutAudio, f.AudioPacketsPerVSec, f.Malformed)
	}
	if f.VideoMbpsPerViewer <= 0.5 || p.DeliveredMbpsPerViewer < f.VideoMbpsPerViewer {
		t.Errorf("video %v Mbit/s per viewer, all %v", f.VideoMbpsPerViewer, p.DeliveredMbpsPerViewer)
	}
}

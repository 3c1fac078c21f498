package loadtest_test

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/config"
	"github.com/liveloop/liveloop/loadtest"
	"github.com/liveloop/liveloop/server"
)

// TestRunAgainstServer runs the whole load test (publisher, five viewers,
// measured window) against a real server on port 0, in this process.
func TestRunAgainstServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	cfg := config.Default()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.RTMPAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	srv, err := server.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(sctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("server Run: %v", err)
		}
		checkNoLoadtestGoroutines(t)
	}()

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

package whep_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/deliver/whep"
	"github.com/liveloop/liveloop/demo"
	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/ingest/rtmp"
	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/transcode"
)

// pipeline is an in-process Liveloop: hub, RTMP ingest, the WHEP handler
// on an httptest server and the Opus transcoder.
type pipeline struct {
	hub      *hub.Hub
	rtmpAddr string
	whep     *whep.Handler
	url      string // base URL of the HTTP server
	tc       *transcode.Manager
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("WHEP_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newPipeline(t *testing.T, withTranscode bool) *pipeline {
	t.Helper()
	log := testLogger(t)
	h := hub.New(hub.Config{}, log, nil)
	ctx, cancel := context.WithCancel(context.Background())
	rs, err := rtmp.New(rtmp.Config{Addr: "127.0.0.1:0", Publish: func(s string) (media.Sink, error) { return h.Publish(s) }, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rtmpDone := make(chan error, 1)
	go func() { rtmpDone <- rs.Run(ctx) }()
	wh, err := whep.New(whep.Config{Hub: h, Logger: log, UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/whep/", wh)
	srv := httptest.NewServer(mux)
	p := &pipeline{hub: h, rtmpAddr: rs.Addr().String(), whep: wh, url: srv.URL}
	var tcDone chan error
	if withTranscode {
		p.tc, err = transcode.New(transcode.Config{Hub: h, Logger: log, PollInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		tcDone = make(chan error, 1)
		go func() { tcDone <- p.tc.Run(ctx) }()
	}
	t.Cleanup(func() {
		srv.Close()
		wh.Close()
		cancel()
		if tcDone != nil {
			<-tcDone
		}
		h.Close()
		<-rtmpDone
	})
	return p
}

// publishFFmpeg publishes a test pattern with a tone over RTMP as x264
// zerolatency and AAC, for the given seconds.
func (p *pipeline) publishFFmpeg(t *testing.T, stream string, seconds int) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", fmt.Sprint(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", "rtmp://" + p.rtmpAddr + "/live/" + stream}
	cmd := exec.Command("ffmpeg", args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// publishDemo publishes the built-in clip (H.264 + AAC) without ffmpeg.
func (p *pipeline) publishDemo(t *testing.T, stream string) {
	t.Helper()
	c, err := demo.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		demo.Run(ctx, c, stream, func(s string) (media.Sink, error) { return p.hub.Publish(s) }, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitTracks waits until stream has tracks of the given count.
func (p *pipeline) waitTracks(t *testing.T, stream string, n int) {
	t.Helper()
	waitFor(t, 15*time.Second, "stream "+stream, func() bool {
		s := p.hub.Stream(stream)
		return s != nil && len(s.Info().Tracks) >= n && s.Info().Packets > 0
	})
}

// post sends an offer and returns the response.
func (p *pipeline) post(t *testing.T, path, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// checkLeaks fails the test if goroutines of pion or Liveloop outlive it.
// Register it first, so that it runs after every other cleanup.
func checkLeaks(t *testing.T) {
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			leaked := leakedGoroutines()
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func leakedGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "leakedGoroutines") || strings.Contains(g, "testing.tRunner") ||
			strings.Contains(g, "testing.(*T).Run") || strings.Contains(g, "testing.runTests") ||
			strings.Contains(g, "testing.(*M)") {
			continue
		}
		if strings.Contains(g, "github.com/pion/") || strings.Contains(g, "github.com/liveloop/") {
			out = append(out, g)
		}
	}
	return out
}

func httptestServer(h http.Handler) *httptest.Server { return httptest.NewServer(h) }

package whep_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/liveloop/liveloop/deliver/whep"
	"github.com/liveloop/liveloop/demo"
	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/ingest/rtmp"
	"github.com/liveloop/liveloop/internal/webrtctest"
	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/transcode"
	"github.com/liveloop/liveloop/webrtcapi/icetcp"
)

// pipeline is an in-process Liveloop: hub, RTMP ingest, the WHEP handler
// on an httptest server and the Opus transcoder. As in the server, ICE-TCP
// shares the HTTP port.
type pipeline struct {
	hub      *hub.Hub
	rtmpAddr string
	whep     *whep.Handler
	url      string // base URL of the HTTP server
	tc       *transcode.Manager
}

func newPipeline(t *testing.T, withTranscode bool) *pipeline {
	t.Helper()
	log := webrtctest.Logger("WHEP_LOG")
	h := hub.New(hub.Config{}, log, nil)
	ctx, cancel := context.WithCancel(context.Background())
	rs, err := rtmp.New(rtmp.Config{Addr: "127.0.0.1:0", Publish: func(s string) (media.Sink, error) { return h.Publish(s) }, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rtmpDone := make(chan error, 1)
	go func() { rtmpDone <- rs.Run(ctx) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	demux, err := icetcp.New(ln, icetcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	wh, err := whep.New(whep.Config{Hub: h, Logger: log, UDPAddr: "127.0.0.1:0", TCPListener: demux.ICE()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/whep/", wh)
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = demux.Other()
	srv.Start()
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
		wh.Close() // first: it ends the sessions a DELETE may be waiting for
		srv.Close()
		demux.Close()
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
		t.Fatal("ffmpeg is not installed: make deps (or make test) installs it")
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
		publish := func(s string) (media.Sink, error) { return p.hub.Publish(s) }
		demo.Run(ctx, c, stream, publish, func(string) bool { return false }, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// waitTracks waits until stream has tracks of the given count.
func (p *pipeline) waitTracks(t *testing.T, stream string, n int) {
	t.Helper()
	webrtctest.WaitFor(t, 15*time.Second, "stream "+stream, func() bool {
		s := p.hub.Stream(stream)
		return s != nil && len(s.Info().Tracks) >= n && s.Info().Packets > 0
	})
}

// post sends an offer and returns the response.
func (p *pipeline) post(t *testing.T, path, contentType, body string) (*http.Response, string) {
	t.Helper()
	return webrtctest.Do(t, http.MethodPost, p.url+path, map[string]string{"Content-Type": contentType}, body)
}

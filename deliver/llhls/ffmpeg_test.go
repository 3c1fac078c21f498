package llhls

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/ingest/rtmp"
	"github.com/liveloop/liveloop/media"
)

// pipeline is an in-process ingest-to-LL-HLS path: a hub, an RTMP server
// publishing into it, and a Handler on an httptest server.
type pipeline struct {
	hub     *hub.Hub
	rtmp    *rtmp.Server
	handler *Handler
	http    *httptest.Server
}

func newPipeline(t *testing.T, cfg Config) *pipeline {
	t.Helper()
	p := &pipeline{hub: hub.New(hub.Config{GracePeriod: 2 * time.Second}, nil, nil)}
	var err error
	p.rtmp, err = rtmp.New(rtmp.Config{
		Addr:    "127.0.0.1:0",
		Publish: func(s string) (media.Sink, error) { return p.hub.Publish(s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.rtmp.Run(ctx) }()
	cfg.Hub = p.hub
	p.handler = New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/hls/", p.handler)
	p.http = httptest.NewUnstartedServer(mux)
	p.http.Config.ConnContext = ConnContext
	p.http.Start()
	t.Cleanup(func() {
		p.http.CloseClientConnections()
		p.http.Close()
		p.handler.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("rtmp: %v", err)
		}
		p.hub.Close()
	})
	return p
}

func (p *pipeline) url(path string) string { return p.http.URL + "/hls/" + path }

// get fetches a URL, failing the test on transport errors.
func get(t testing.TB, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// waitLive retries the multivariant playlist until the stream is there.
func waitLive(t *testing.T, ctx context.Context, p *pipeline, stream string) {
	t.Helper()
	for {
		resp, _ := get(t, p.url(stream+"/index.m3u8"))
		if resp.StatusCode == http.StatusOK {
			return
		}
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("index.m3u8: %s", resp.Status)
		}
		select {
		case <-ctx.Done():
			t.Fatal("stream never went live")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (CI installs it): %v", tool, err)
		}
	}
}

// TestFFmpeg: ffmpeg publishes H.264+AAC over RTMP; ffprobe and ffmpeg read
// /hls/{stream}/index.m3u8 and decode it without a single warning.
func TestFFmpeg(t *testing.T) {
	requireTools(t, "ffmpeg", "ffprobe")
	for _, tc := range []struct {
		name    string
		x264    []string
		chunked bool
	}{
		{"zerolatency", []string{"-tune", "zerolatency", "-profile:v", "baseline"}, false},
		{"bframes", []string{"-bf", "2", "-profile:v", "high"}, false},
		{"bframes_chunked", []string{"-bf", "2", "-profile:v", "high"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			p := newPipeline(t, Config{ChunkedParts: tc.chunked})
			args := []string{"-hide_banner", "-loglevel", "error", "-re",
				"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
				"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
				"-t", "14", "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p"}
			args = append(args, tc.x264...)
			args = append(args, "-c:a", "aac", "-f", "flv", "rtmp://"+p.rtmp.Addr().String()+"/live/cam")
			pub := exec.CommandContext(ctx, "ffmpeg", args...)
			pub.Stderr = os.Stderr
			if err := pub.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pub.Process.Kill(); pub.Wait() })

			const stream = "cam"
			waitLive(t, ctx, p, stream)
			// Block until three segments are complete.
			for msn := 0; msn <= 2; msn++ {
				resp, body := get(t, p.url(fmt.Sprintf("%s/media.m3u8?_HLS_msn=%d", stream, msn)))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("blocking reload msn %d: %s %s", msn, resp.Status, body)
				}
			}
			index := p.url(stream + "/index.m3u8")

			out, errOut := runTool(t, ctx, "ffprobe", "-v", "error", "-show_streams", "-of", "json", index)
			if len(errOut) > 0 {
				t.Errorf("ffprobe complained:\n%s", errOut)
			}
			var probe struct {
				Streams []struct {
					CodecType string `json:"codec_type"`
					CodecName string `json:"codec_name"`
					Width     int    `json:"width"`
				} `json:"streams"`
			}
			if err := json.Unmarshal(out, &probe); err != nil {
				t.Fatalf("ffprobe output: %v\n%s", err, out)
			}
			var got []string
			for _, s := range probe.Streams {
				got = append(got, s.CodecType+"/"+s.CodecName)
			}
			if strings.Join(got, ",") != "video/h264,audio/aac" {
				t.Errorf("ffprobe streams %v, want video/h264 and audio/aac", got)
			}

			_, errOut = runTool(t, ctx, "ffmpeg", "-hide_banner", "-v", "error", "-i", index, "-t", "3", "-f", "null", "-")
			if len(errOut) > 0 {
				t.Errorf("ffmpeg decoding complained:\n%s", errOut)
			}
			st := p.handler.Stats()
			t.Logf("stats: %+v", st)
			if st.MuxerRuns != 1 {
				t.Errorf("%d muxer runs for one stream, want 1", st.MuxerRuns)
			}
		})
	}
}

func runTool(t *testing.T, ctx context.Context, name string, args ...string) (stdout, stderr []byte) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.Bytes())
	}
	return out.Bytes(), errb.Bytes()
}

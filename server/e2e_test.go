package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/config"
	"github.com/liveloop/liveloop/fmp4"
	"github.com/liveloop/liveloop/internal/testserver"
	"github.com/liveloop/liveloop/server"
	"github.com/liveloop/liveloop/websocket"
)

// startServer runs a real server on free ports for the test's lifetime.
func startServer(t *testing.T, mod func(*config.Config)) *server.Server {
	t.Helper()
	return testserver.Start(t, mod)
}

// ffmpegPublish starts a real ffmpeg publishing a test pattern over RTMP for
// the given duration. extra are x264 options.
func ffmpegPublish(t *testing.T, ctx context.Context, rtmpURL string, seconds float64, x264 ...string) *exec.Cmd {
	t.Helper()
	args := []string{"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", fmt.Sprint(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p"}
	args = append(args, x264...)
	args = append(args, "-c:a", "aac", "-f", "flv", rtmpURL)
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// wsViewer is a test client of GET /ws/{stream}.
type wsViewer struct {
	t    *testing.T
	conn *websocket.Conn
}

type wsMsg struct {
	Type   string          `json:"type"`
	State  string          `json:"state"`
	Code   string          `json:"code"`
	Mime   string          `json:"mime"`
	Tracks json.RawMessage `json:"tracks"`
}

// dialViewer connects to the stream, retrying until it is live.
func dialViewer(t *testing.T, ctx context.Context, srv *server.Server, stream string) *wsViewer {
	t.Helper()
	url := "ws://" + srv.HTTPAddr().String() + "/ws/" + stream
	for {
		c, err := websocket.Dial(ctx, url, websocket.Options{})
		if err != nil {
			t.Fatal(err)
		}
		v := &wsViewer{t: t, conn: c}
		hello := v.text()
		if hello.Type != "hello" {
			t.Fatalf("first message %+v, want hello", hello)
		}
		// The next message says whether the stream is there.
		op, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var m wsMsg
		if op == websocket.OpText {
			json.Unmarshal(msg, &m)
		}
		if m.Type == "error" && m.Code == "not_found" {
			c.Close(websocket.CloseNormal, "")
			select {
			case <-ctx.Done():
				t.Fatal("stream never went live")
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if m.Type != "status" || m.State != "live" {
			t.Fatalf("second message %s, want status live", msg)
		}
		t.Cleanup(func() { c.Close(websocket.CloseNormal, "") })
		return v
	}
}

func (v *wsViewer) text() wsMsg {
	v.t.Helper()
	op, msg, err := v.conn.ReadMessage()
	if err != nil {
		v.t.Fatal(err)
	}
	if op != websocket.OpText {
		v.t.Fatalf("got binary message, want text")
	}
	var m wsMsg
	if err := json.Unmarshal(msg, &m); err != nil {
		v.t.Fatal(err)
	}
	return m
}

// next returns the next message: text as a parsed wsMsg, binary as bytes.
func (v *wsViewer) next() (*wsMsg, []byte) {
	v.t.Helper()
	op, msg, err := v.conn.ReadMessage()
	if err != nil {
		v.t.Fatal(err)
	}
	if op == websocket.OpText {
		var m wsMsg
		if err := json.Unmarshal(msg, &m); err != nil {
			v.t.Fatal(err)
		}
		return &m, nil
	}
	return nil, msg
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (CI installs it: see .ci/run): %v", tool, err)
		}
	}
}

// TestFFmpegToWebSocket: ffmpeg publishes H.264+AAC over RTMP; a WebSocket
// viewer receives the init segment and fragments with continuous,
// increasing timestamps and correct codecs; ffprobe decodes what it received
// without a warning.
func TestFFmpegToWebSocket(t *testing.T) {
	requireTools(t, "ffmpeg", "ffprobe")
	for _, tc := range []struct {
		name string
		x264 []string
	}{
		{"zerolatency", []string{"-tune", "zerolatency", "-profile:v", "baseline"}},
		{"bframes", []string{"-bf", "2", "-profile:v", "high"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			srv := startServer(t, nil)
			ffmpegPublish(t, ctx, "rtmp://"+srv.RTMPAddr().String()+"/live/cam", 4, tc.x264...)
			v := dialViewer(t, ctx, srv, "cam")

			init := v.text()
			if init.Type != "init" || !strings.HasPrefix(init.Mime, `video/mp4; codecs="avc1.`) || !strings.Contains(init.Mime, "mp4a.40.2") {
				t.Fatalf("init message %+v", init)
			}
			_, initSeg := v.next()
			var out bytes.Buffer
			out.Write(initSeg)

			lastDTS := map[uint32]uint64{}
			videoFrames, audioFrames, prfts := 0, 0, 0
			for videoFrames < 60 {
				m, b := v.next()
				if m != nil {
					t.Fatalf("unexpected %+v mid-stream", m)
				}
				frags, err := fmp4.ParseFragments(b)
				if err != nil {
					t.Fatalf("fragment: %v", err)
				}
				for i, f := range frags {
					if len(f.PRFTs) > 0 {
						prfts++
					}
					for _, tr := range f.Tracks {
						if last, ok := lastDTS[tr.TrackID]; ok && tr.BaseDecodeTime <= last {
							t.Fatalf("track %d decode time %d after %d", tr.TrackID, tr.BaseDecodeTime, last)
						}
						lastDTS[tr.TrackID] = tr.BaseDecodeTime
						if tr.TrackID == 1 {
							if videoFrames == 0 && i == 0 && !fmp4.IsSync(tr.Samples[0].Flags) {
								t.Fatal("first video sample is not a sync sample")
							}
							videoFrames++
						} else {
							audioFrames++
						}
					}
				}
				out.Write(b)
			}
			if prfts < 60 || audioFrames < 60 {
				t.Fatalf("prft %d, audio %d over 60 video frames", prfts, audioFrames)
			}
			path := filepath.Join(t.TempDir(), "out.mp4")
			os.WriteFile(path, out.Bytes(), 0o644)
			probe(t, path)
		})
	}
}

// probe checks that ffmpeg decodes the file without a single warning and
// that ffprobe sees H.264 640x360 and AAC.
func probe(t *testing.T, path string) {
	t.Helper()
	dec, err := exec.Command("ffmpeg", "-v", "warning", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(dec)) > 0 {
		t.Fatalf("ffmpeg decoding the received stream: %v\n%s", err, dec)
	}
	info, err := exec.Command("ffprobe", "-v", "warning", "-show_entries", "stream=codec_name,width,height", "-of", "compact", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, info)
	}
	s := string(info)
	if !strings.Contains(s, "codec_name=h264|width=640|height=360") || !strings.Contains(s, "codec_name=aac") {
		t.Fatalf("ffprobe sees:\n%s", s)
	}
}

// TestPublisherReconnectKeepsViewers: the encoder drops and comes back
// within the grace period; the viewer's connection stays open, it is told
// the stream is waiting, and frames resume from a keyframe on a timeline
// that continues.
func TestPublisherReconnectKeepsViewers(t *testing.T) {
	requireTools(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := startServer(t, nil)
	url := "rtmp://" + srv.RTMPAddr().String() + "/live/show"
	first := ffmpegPublish(t, ctx, url, 2, "-tune", "zerolatency")
	v := dialViewer(t, ctx, srv, "show")
	var last uint64
	waiting, initSeg := false, false
	for !waiting {
		m, b := v.next()
		switch {
		case m != nil && m.Type == "status" && m.State == "waiting":
			waiting = true
		case m != nil:
			initSeg = m.Type == "init"
		case initSeg:
			initSeg = false
		default:
			frags, err := fmp4.ParseFragments(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range frags {
				for _, tr := range f.Tracks {
					if tr.TrackID == 1 {
						last = tr.BaseDecodeTime
					}
				}
			}
		}
	}
	first.Wait()

	ffmpegPublish(t, ctx, url, 2, "-tune", "zerolatency")
	for {
		m, b := v.next()
		if m != nil {
			if m.Type == "error" || m.State == "ended" {
				t.Fatalf("viewer got %+v after the publisher returned", m)
			}
			initSeg = m.Type == "init"
			continue
		}
		if initSeg {
			initSeg = false
			continue
		}
		frags, err := fmp4.ParseFragments(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frags {
			for _, tr := range f.Tracks {
				if tr.TrackID != 1 {
					continue
				}
				if !fmp4.IsSync(tr.Samples[0].Flags) {
					t.Fatal("first video frame after the publisher returned is not a keyframe")
				}
				if tr.BaseDecodeTime <= last || tr.BaseDecodeTime > last+90000 {
					t.Fatalf("timeline jumped from %d to %d", last, tr.BaseDecodeTime)
				}
				return
			}
		}
	}
}

// TestUnknownStreamIsNotFound: a viewer of a stream that is not live is told
// so with a stable error code.
func TestUnknownStreamIsNotFound(t *testing.T) {
	srv := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := websocket.Dial(ctx, "ws://"+srv.HTTPAddr().String()+"/ws/nothing", websocket.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := &wsViewer{t: t, conn: c}
	v.text()
	if m := v.text(); m.Type != "error" || m.Code != "not_found" {
		t.Fatalf("got %+v, want error not_found", m)
	}
}

// TestFFmpegReadsLLHLS: ffmpeg publishes over RTMP; ffmpeg reads the
// server's LL-HLS playlist back and decodes it without a warning.
func TestFFmpegReadsLLHLS(t *testing.T) {
	requireTools(t, "ffmpeg", "ffprobe")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := startServer(t, nil)
	ffmpegPublish(t, ctx, "rtmp://"+srv.RTMPAddr().String()+"/live/hls", 20, "-tune", "zerolatency")
	waitLive(t, ctx, srv, "hls")
	// A blocking reload for media sequence 1 returns once segment 0 is
	// complete: ffmpeg's HLS reader needs whole segments.
	resp, err := http.Get("http://" + srv.HTTPAddr().String() + "/hls/hls/media.m3u8?_HLS_msn=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("blocking reload: %s", resp.Status)
	}
	url := "http://" + srv.HTTPAddr().String() + "/hls/hls/index.m3u8"
	out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "warning", "-i", url, "-t", "3", "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("ffmpeg reading %s: %v\n%s", url, err, out)
	}
	info, err := exec.CommandContext(ctx, "ffprobe", "-v", "warning", "-show_entries", "stream=codec_name,width,height", "-of", "compact", url).CombinedOutput()
	if err != nil || !strings.Contains(string(info), "codec_name=h264|width=640|height=360") || !strings.Contains(string(info), "codec_name=aac") {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, info)
	}
}

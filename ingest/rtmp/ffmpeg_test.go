package rtmp

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/media"
)

// TestFFmpegPublish publishes with a real ffmpeg (which uses the digest
// handshake) and checks the tracks and frames the Sink receives. ffmpeg is
// required: CI installs it.
func TestFFmpegPublish(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg is required for this test: ", err)
	}
	for _, c := range []struct {
		name    string
		x264    []string
		bframes bool
	}{
		{"zerolatency", []string{"-preset", "ultrafast", "-tune", "zerolatency"}, false},
		{"b-frames", []string{"-preset", "veryfast", "-bf", "2"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := startServer(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := []string{"-hide_banner", "-loglevel", "error", "-re",
				"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
				"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
				"-t", "3", "-c:v", "libx264"}
			args = append(args, c.x264...)
			args = append(args, "-g", "30", "-c:a", "aac", "-f", "flv", ts.url("test"))
			out, err := exec.CommandContext(ctx, ffmpeg, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, out)
			}
			sink := ts.sink("test")
			if sink == nil {
				t.Fatal("ffmpeg did not publish")
			}
			waitClosed(t, sink.closed, 10*time.Second, "Sink.Close after ffmpeg exits")

			announced, _ := sink.snapshot()
			if len(announced) != 1 {
				t.Fatalf("%d announcements, want 1", len(announced))
			}
			v, a := announced[0][0], announced[0][1]
			if v.Codec != media.CodecH264 || !strings.HasPrefix(v.CodecString, "avc1.") || len(v.CodecString) != 11 ||
				v.Width != 640 || v.Height != 360 || v.ClockRate != 90000 {
				t.Errorf("video track %+v", v)
			}
			if a.Codec != media.CodecAAC || a.CodecString != "mp4a.40.2" || a.SampleRate != 48000 || a.ClockRate != 48000 {
				t.Errorf("audio track %+v", a)
			}

			vf := sink.track(0)
			if len(vf) < 85 || len(vf) > 92 {
				t.Errorf("%d video frames in 3 s at 30 fps", len(vf))
			}
			reordered := false
			for i, f := range vf {
				if i > 0 && f.DTS <= vf[i-1].DTS {
					t.Errorf("video frame %d: DTS %d not after %d", i, f.DTS, vf[i-1].DTS)
				}
				if f.PTS < f.DTS {
					t.Errorf("video frame %d: PTS %d before DTS %d", i, f.PTS, f.DTS)
				}
				reordered = reordered || f.PTS != f.DTS
				if f.Key != (i%30 == 0) {
					t.Errorf("video frame %d: key %v (GOP 30)", i, f.Key)
				}
				if f.Wall.IsZero() {
					t.Errorf("video frame %d: no wall clock", i)
				}
			}
			if reordered != c.bframes {
				t.Errorf("PTS != DTS somewhere: %v, B-frames: %v", reordered, c.bframes)
			}

			af := sink.track(1)
			if len(af) < 130 { // 3 s * 48000 / 1024 = 140
				t.Errorf("%d audio frames", len(af))
			}
			for i := 1; i < len(af); i++ {
				if d := af[i].DTS - af[i-1].DTS; d != 1024 {
					t.Errorf("audio frame %d: DTS step %d, want 1024", i, d)
				}
			}
			for _, s := range ts.Sessions() {
				t.Errorf("session still open: %+v", s)
			}
			if st := ts.Stats(); st.Published != 1 || st.Digest != 1 || st.MessagesIn < 200 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

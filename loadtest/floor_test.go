package loadtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/liveloop/liveloop/demo"
	"github.com/liveloop/liveloop/flv"
)

// floorWriterEnv makes the test binary the floor's writer process.
const floorWriterEnv = "LIVELOOP_TEST_FLOOR_WRITER"

func TestMain(m *testing.M) {
	if os.Getenv(hlsFloorServerEnv) == "1" {
		clip, err := demo.Builtin()
		if err == nil {
			err = HLSFloorServer(context.Background(), clip, os.Stdout)
		}
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv(floorWriterEnv) == "1" {
		clip, err := demo.Builtin()
		if err == nil {
			err = FloorWriter(context.Background(), clip, os.Stdout)
		}
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestFloorFrames checks that the floor sends every byte of the clip's
// media, frame by frame, on the clip's timing.
func TestFloorFrames(t *testing.T) {
	clip, err := demo.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	sizes, gaps := floorFrames(clip)
	media, videos := 0, 0
	for _, tag := range clip.Tags {
		if tag.Type == flv.TagVideo || tag.Type == flv.TagAudio {
			media += len(tag.Body)
		}
		if tag.Type == flv.TagVideo {
			videos++
		}
	}
	sent := 0
	var loop time.Duration
	for i := range sizes {
		sent += sizes[i]
		loop += gaps[i]
	}
	// Audio after the last video frame rides with the next loop's first.
	if len(sizes) != videos || sent > media || sent < media*99/100 {
		t.Errorf("floor sends %d frames of %d bytes; the clip has %d video frames and %d media bytes", len(sizes), sent, videos, media)
	}
	if want := time.Duration(clip.Period) * time.Millisecond; loop != want {
		t.Errorf("one loop of gaps lasts %v, the clip's period is %v", loop, want)
	}
}

// TestRunFloor runs the floor with this test binary as the writer and
// checks that every reader gets the frames, each timed. (The writer's CPU
// over a second is often below the 10 ms resolution of /proc.)
func TestRunFloor(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(floorWriterEnv, "1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	points, err := RunFloor(ctx, FloorConfig{Command: []string{exe}, Viewers: []int{3}, Warmup: 300 * time.Millisecond, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p := points[0]
	// 3 viewers at 30 frames/s for a second: about 90 writes.
	if p.Writes < 3*20 || p.Latency.N != p.Writes || p.WallSeconds < 0.9 {
		t.Errorf("floor point %+v: want ~90 writes over a second, each timed", p)
	}
}

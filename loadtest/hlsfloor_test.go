package loadtest

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

// hlsFloorServerEnv makes the test binary the LL-HLS floor's serving
// process (see TestMain).
const hlsFloorServerEnv = "LIVELOOP_TEST_HLS_FLOOR_SERVER"

// TestRunHLSFloor runs the LL-HLS floor with this test binary as the
// server and checks that the load tool's LL-HLS viewers play it as they
// play the server: every viewer starts, makes a blocking reload and a
// part request per part (about five of each a second), all answered,
// and receives every stamped frame.
func TestRunHLSFloor(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(hlsFloorServerEnv, "1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	points, err := RunHLSFloor(ctx, HLSFloorConfig{Command: []string{exe}, Viewers: []int{3}, Warmup: time.Second, Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p := points[0]
	h := p.HLS
	if p.Connected != 3 || len(p.Errors) > 0 {
		t.Fatalf("%d of 3 viewers started; errors %v", p.Connected, p.Errors)
	}
	// 3 viewers, 5 parts a second, 2 s: about 30 parts and 30 reloads.
	if h.PartRequests < 20 || h.PlaylistRequests < 20 || h.OK != h.Requests || h.Resyncs != 0 {
		t.Errorf("requests %+v: want about 30 parts and 30 reloads, all answered", h)
	}
	if h.PartsPerViewerSec < 3.5 || h.PartsPerViewerSec > 6.5 {
		t.Errorf("%.2f parts per viewer-second, want about 5", h.PartsPerViewerSec)
	}
	if p.Latency.N < 3*30 || p.Loss != 0 {
		t.Errorf("latency %+v, loss %v: want every frame (about 3×60), stamped", p.Latency, p.Loss)
	}
}

// FuzzHLSFloorDirectives: the floor server's query reader never panics,
// and finds _HLS_msn only where the query has it.
func FuzzHLSFloorDirectives(f *testing.F) {
	f.Add([]byte("_HLS_msn=12&_HLS_part=3"))
	f.Add([]byte("_HLS_part=3&_HLS_msn=x&_HLS_skip=YES"))
	f.Add([]byte("&&=&_HLS_msn=99999999999999999999"))
	f.Fuzz(func(t *testing.T, q []byte) {
		if _, _, ok := hlsFloorDirectives(q); ok && !bytes.Contains(q, []byte("_HLS_msn=")) {
			t.Fatalf("_HLS_msn found in %q", q)
		}
	})
}

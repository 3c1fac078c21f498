package loadtest

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"
)

// roomFloorWriterEnv makes the test binary the room floor's writing
// process: init runs it before the tests (TestMain is floor_test.go's).
const roomFloorWriterEnv = "LIVELOOP_TEST_ROOM_FLOOR_WRITER"

func init() {
	if os.Getenv(roomFloorWriterEnv) != "1" {
		return
	}
	if err := RoomFloorWriter(context.Background(), 100*time.Millisecond, os.Stdout); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(0)
}

// TestRoomFloorFrame checks that a round's frame is one unmasked text
// frame whose payload the room mode's reader takes for an events message
// with one stamped marker.
func TestRoomFloorFrame(t *testing.T) {
	sent := time.Unix(1_763_700_000, 123_456_789)
	c := &roomClient{shard: &roomShard{}}
	for _, seq := range []uint64{1, 12345678901} {
		frame := roomFloorFrame(seq, sent)
		if frame[0] != 0x81 || frame[1]&0x80 != 0 {
			t.Fatalf("round %d: frame header % x: want FIN, text, unmasked", seq, frame[:2])
		}
		payload := frame[2:]
		if frame[1] == 126 {
			payload = frame[4:]
			if n := int(frame[2])<<8 | int(frame[3]); n != len(payload) {
				t.Fatalf("round %d: length %d, payload %d bytes", seq, n, len(payload))
			}
		} else if int(frame[1]) != len(payload) {
			t.Fatalf("round %d: length %d, payload %d bytes", seq, frame[1], len(payload))
		}
		c.handle(payload, sent.Add(5*time.Millisecond))
	}
	st := &c.shard.st
	if st.eventMsgs != 2 || st.chatMsgs != 2 || st.fanLat.Count() != 2 {
		t.Fatalf("reader saw %d events messages, %d chat messages, %d markers: want 2 of each", st.eventMsgs, st.chatMsgs, st.fanLat.Count())
	}
	if q := histQuantiles(&st.fanLat); q.Max < 4 || q.Max > 6 {
		t.Errorf("marker latency %+v: want 5 ms", q)
	}
}

// TestRunRoomFloor runs the room floor with this test binary as the
// writer (a frame every 100 ms) and checks that every reader gets marker
// frames, each timed, and that the writer's CPU is measured.
func TestRunRoomFloor(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the room mode's epoll readers are Linux's")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(roomFloorWriterEnv, "1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	points, err := RunRoomFloor(ctx, RoomFloorConfig{Command: []string{exe}, Viewers: []int{3}, Warmup: 300 * time.Millisecond, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p := points[0]
	if p.Connected != 3 || len(p.Errors) > 0 {
		t.Fatalf("%d of 3 readers connected; errors %v", p.Connected, p.Errors)
	}
	if p.Deliveries < 3 || p.Fanout.N != p.Deliveries || p.WallSeconds < 0.9 {
		t.Errorf("room floor point %+v: want markers for every reader over a second, each timed", p)
	}
}

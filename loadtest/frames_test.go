package loadtest

import (
	"bytes"
	"testing"

	"github.com/liveloop/liveloop/websocket"
)

// FuzzSplitFrames feeds the room readers' frame splitter arbitrary bytes:
// it never panics, hands out only payloads inside the input, and what it
// leaves is a suffix of the input shorter than a whole frame.
func FuzzSplitFrames(f *testing.F) {
	two := websocket.AppendFrame(nil, websocket.OpText, []byte(`{"type":"events"}`))
	two = websocket.AppendFrame(two, websocket.OpText, []byte("LLMARK:1"))
	f.Add(two)
	f.Add(two[:len(two)-3])
	f.Add(websocket.AppendFrame(nil, websocket.OpClose, nil))
	f.Add([]byte{0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x81, 0xfe, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		got := 0
		rest, err := splitFrames(data, 1<<16, func(op byte, msg []byte) bool {
			got += len(msg)
			return op != websocket.OpClose
		})
		if err != nil {
			return
		}
		if got+len(rest) > len(data) || !bytes.HasSuffix(data, rest) {
			t.Fatalf("%d payload bytes and a rest of %d from %d bytes", got, len(rest), len(data))
		}
	})
}

func TestSplitFrames(t *testing.T) {
	var in []byte
	for _, m := range []string{"a", "bb", "ccc"} {
		in = websocket.AppendFrame(in, websocket.OpText, []byte(m))
	}
	var msgs []string
	rest, err := splitFrames(in[:len(in)-1], 1<<10, func(op byte, msg []byte) bool {
		msgs = append(msgs, string(msg))
		return true
	})
	if err != nil || len(msgs) != 2 || msgs[1] != "bb" || len(rest) != 4 {
		t.Fatalf("messages %q, rest %d, err %v", msgs, len(rest), err)
	}
	big := websocket.AppendHeader(nil, websocket.OpText, 1<<11)
	if _, err := splitFrames(big, 1<<10, func(byte, []byte) bool { return true }); err == nil {
		t.Fatal("a message over the bound was accepted")
	}
}

package whep

import (
	"bytes"
	"testing"
)

// TestHistory: the history holds the last n packets, across the wrap of
// the sequence number, and nothing else; each as it was sent.
func TestHistory(t *testing.T) {
	h := newHistory(128)
	start := uint16(65500)
	seq := start
	// Frames of 4 to 7 packets (so that n/4 frames hold n packets), 200
	// packets in all; payload i is packet start+i's.
	for i := 0; seq-start < 200; i++ {
		n := uint16(4 + i%4)
		if seq-start+n > 200 {
			n = 200 - (seq - start)
		}
		var pieces [][]byte
		for k := range n {
			pieces = append(pieces, []byte{byte(k)}, []byte{byte(seq - start + k)})
		}
		h.put(sentFrame{pieces: pieces, ts: uint32(i), seq: seq, count: n, marker: true, abs: true})
		seq += n
	}
	cases := []struct {
		name string
		seq  uint16
		ok   bool
	}{
		{"newest", start + 199, true},
		{"oldest kept", start + 72, true},
		{"one too old", start + 71, false},
		{"first, gone", start, false},
		{"not sent yet", start + 200, false},
		{"never near", 1000, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pk, ok := h.get(c.seq)
			if ok != c.ok {
				t.Fatalf("get(%d): %v, want %v", c.seq, ok, c.ok)
			}
			if !ok {
				return
			}
			if pk.seq != c.seq || !bytes.Equal(pk.body, []byte{byte(c.seq - start)}) {
				t.Errorf("get(%d) = seq %d body %v", c.seq, pk.seq, pk.body)
			}
			// Its place in its frame: the first carries abs-capture-time,
			// the last the marker.
			next, _ := h.get(c.seq + 1)
			if pk.abs != (pk.head[0] == 0) || (c.seq != start+199 && pk.marker != (next.head[0] == 0)) {
				t.Errorf("get(%d): abs %v marker %v at index %d in its frame", c.seq, pk.abs, pk.marker, pk.head[0])
			}
		})
	}
	if _, ok := newHistory(4).get(0); ok {
		t.Errorf("an empty history has packet 0")
	}
}

// TestHistoryFrames: of frames of a packet each, the history holds the
// last n/4.
func TestHistoryFrames(t *testing.T) {
	h := newHistory(128)
	for seq := range uint16(40) {
		h.put(sentFrame{pieces: [][]byte{nil, {byte(seq)}}, seq: seq, count: 1, marker: true})
	}
	for seq := range uint16(40) {
		pk, ok := h.get(seq)
		if want := seq >= 40-32; ok != want || ok && pk.body[0] != byte(seq) {
			t.Errorf("get(%d): %v %v, want %v", seq, ok, pk.body, want)
		}
	}
}

func TestJoinPayload(t *testing.T) {
	var buf []byte
	cases := []struct{ head, body, want []byte }{
		{nil, []byte{1, 2}, []byte{1, 2}},
		{[]byte{1, 2}, nil, []byte{1, 2}},
		{[]byte{1}, []byte{2, 3}, []byte{1, 2, 3}},
		{[]byte{4, 5}, []byte{6}, []byte{4, 5, 6}},
	}
	for _, c := range cases {
		got := joinPayload(buf, c.head, c.body)
		if len(c.head) > 0 && len(c.body) > 0 {
			buf = got
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("joinPayload(%v, %v) = %v", c.head, c.body, got)
		}
	}
}

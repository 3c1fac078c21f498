package whep

import (
	"bytes"
	"testing"
)

// TestHistory: the history holds the last n packets, across the wrap of
// the sequence number, and nothing else.
func TestHistory(t *testing.T) {
	h := newHistory(128)
	body := []byte{1, 2, 3}
	start := uint16(65500)
	for i := range uint16(200) {
		h.put(sentPacket{head: []byte{byte(i)}, body: body, seq: start + i, ts: uint32(i)})
	}
	cases := []struct {
		name string
		seq  uint16
		ok   bool
	}{
		{"newest", start + 199, true},
		{"oldest kept", start + 72, true},
		{"one too old", start + 71, false},
		{"first, overwritten", start, false},
		{"not sent yet", start + 200, false},
		{"never near", 1000, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pk, ok := h.get(c.seq)
			if ok != c.ok {
				t.Fatalf("get(%d): %v, want %v", c.seq, ok, c.ok)
			}
			if ok && (pk.seq != c.seq || pk.ts != uint32(c.seq-start) || pk.head[0] != byte(c.seq-start) || !bytes.Equal(pk.body, body)) {
				t.Errorf("get(%d) = seq %d ts %d head %v", c.seq, pk.seq, pk.ts, pk.head)
			}
		})
	}
	if _, ok := newHistory(4).get(0); ok {
		t.Errorf("an empty history has packet 0")
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
		var got []byte
		got, buf = joinPayload(buf, c.head, c.body)
		if !bytes.Equal(got, c.want) {
			t.Errorf("joinPayload(%v, %v) = %v", c.head, c.body, got)
		}
	}
}

package transcode

import (
	"io"
	"testing"
	"time"
)

var errEOF = io.EOF

func TestPacketSamples(t *testing.T) {
	cases := []struct {
		pkt  []byte
		want int
	}{
		{[]byte{0xf8}, 960},        // CELT FB 20 ms, 1 frame
		{[]byte{0xf0}, 480},        // CELT 10 ms
		{[]byte{0xe0}, 120},        // CELT 2.5 ms
		{[]byte{0xf9}, 1920},       // 2 frames of 20 ms
		{[]byte{0xfb, 0x03}, 2880}, // code 3, 3 frames
		{[]byte{0x08}, 960},        // SILK NB 20 ms
		{[]byte{0x18}, 2880},       // SILK NB 60 ms
		{[]byte{0x68}, 960},        // hybrid 20 ms
		{[]byte{0x1b, 0x02}, 5760}, // 2 x 60 ms
		{[]byte{0xfb, 0x07}, 0},    // 140 ms: invalid
		{[]byte{0xfb}, 0},          // code 3 without count
		{nil, 0},
	}
	for _, c := range cases {
		got, err := PacketSamples(c.pkt)
		if (err != nil) != (c.want == 0) || got != c.want {
			t.Errorf("%x: %d, %v; want %d", c.pkt, got, err, c.want)
		}
	}
}

func TestOpusHead(t *testing.T) {
	h := OpusHead{Channels: 2, PreSkip: 312, InputRate: 48000, OutputGain: -3}
	g, err := ParseOpusHead(h.Marshal())
	if err != nil || g != h {
		t.Fatalf("%+v %v", g, err)
	}
	for _, bad := range [][]byte{nil, []byte("OpusHead"), []byte("OpusTags\x01\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		append([]byte("OpusHead\x01\x00"), make([]byte, 9)...)} {
		if _, err := ParseOpusHead(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzOpus(f *testing.F) {
	f.Add((OpusHead{Channels: 1, PreSkip: 120}).Marshal())
	f.Add([]byte{0xfb, 0x03})
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := ParseOpusHead(b); err == nil {
			if g, err := ParseOpusHead(h.Marshal()); err != nil || g != h {
				t.Fatalf("round trip %+v %+v %v", h, g, err)
			}
		}
		if n, err := PacketSamples(b); err == nil && (n <= 0 || n > 5760 || n%120 != 0) {
			t.Fatalf("%d samples", n)
		}
	})
}

// TestTimeMap: output positions map to the frame fed at that input
// position, across a gap in the source, at another input rate, and before
// the first frame (pre-skip).
func TestTimeMap(t *testing.T) {
	wall := time.Unix(100, 0)
	m := newTimeMap(48000)
	m.add(0, 1024, wall)
	m.add(1024, 1024, wall.Add(1024*time.Second/48000))
	m.add(48000, 1024, wall.Add(time.Second)) // a 1 s gap in the source
	cases := []struct {
		pos, pts int64
	}{
		{-120, -120}, {0, 0}, {1000, 1000}, {1024, 1024}, {2047, 2047}, {2048, 48000}, {2100, 48052},
	}
	for _, c := range cases {
		pts, w, ok := m.at(c.pos)
		if !ok || pts != c.pts {
			t.Errorf("at(%d) = %d, want %d", c.pos, pts, c.pts)
		}
		if want := wall.Add(time.Duration(c.pts) * time.Second / 48000); !w.Equal(want) {
			t.Errorf("at(%d) wall %v, want %v", c.pos, w, want)
		}
	}
	m44 := newTimeMap(44100)
	m44.add(44100, 1024, wall) // source at 1 s
	if pts, _, _ := m44.at(480); pts != 48000+480 {
		t.Errorf("44.1 kHz: %d", pts)
	}
	if _, _, ok := newTimeMap(48000).at(0); ok {
		t.Errorf("empty map answered")
	}
}

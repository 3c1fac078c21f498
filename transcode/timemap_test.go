package transcode

import (
	"testing"
	"time"
)

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

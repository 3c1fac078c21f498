package g2g

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"testing"
)

func TestCRC16CheckValue(t *testing.T) {
	if got := crc16([]byte("123456789")); got != 0x29B1 {
		t.Fatalf("crc16 = %#04x, want 0x29b1", got)
	}
}

// picture returns a w x h yuv420p picture with moving content and s's
// barcode.
func picture(w, h int, l Layout, s Stamp) (y, u, v []byte) {
	y, u, v = make([]byte, w*h), make([]byte, w*h/4), make([]byte, w*h/4)
	drawBackground(y, u, v, w, h, int(s.Seq))
	l.Draw(y, u, v, w, s)
	return y, u, v
}

// blur is a 3x3 box blur of a luma plane (an encoder's smoothing).
func blur(y []byte, w, h int) []byte {
	out := make([]byte, len(y))
	for r := range h {
		for c := range w {
			sum, n := 0, 0
			for dr := -1; dr <= 1; dr++ {
				for dc := -1; dc <= 1; dc++ {
					rr, cc := r+dr, c+dc
					if rr >= 0 && rr < h && cc >= 0 && cc < w {
						sum += int(y[rr*w+cc])
						n++
					}
				}
			}
			out[r*w+c] = byte(sum / n)
		}
	}
	return out
}

// jpegRoundTrip compresses a luma plane as a JPEG of the given quality and
// decodes it again (blocking, ringing and quantisation like a video codec's).
func jpegRoundTrip(t *testing.T, y []byte, w, h, quality int) []byte {
	t.Helper()
	img := &image.Gray{Pix: y, Stride: w, Rect: image.Rect(0, 0, w, h)}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	dec, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := dec.(*image.Gray)
	if !ok {
		t.Fatalf("decoded %T", dec)
	}
	return g.Pix
}

func TestBarcodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	stamps := []Stamp{
		{CaptureMs: 0, Seq: 0},
		{CaptureMs: 1763740800123, Seq: 1},
		{CaptureMs: 1<<48 - 1, Seq: 0xFFFF},
		{CaptureMs: 0xAAAAAAAAAAAA, Seq: 0x5555},
	}
	for range 20 {
		stamps = append(stamps, Stamp{CaptureMs: rng.Int64N(1 << 48), Seq: uint16(rng.Uint32())})
	}
	for _, tc := range []struct {
		name string
		w, h int
		l    Layout
		mess func(y []byte, w, h int) []byte
	}{
		{"clean 640x360", 640, 360, DefaultLayout(), nil},
		{"clean 1280x720", 1280, 720, DefaultLayout(), nil},
		{"small blocks", 640, 360, Layout{X: 8, Y: 8, Block: 8, Cols: 40}, nil},
		{"noise", 640, 360, DefaultLayout(), func(y []byte, w, h int) []byte {
			for i := range y {
				y[i] = byte(max(0, min(255, int(y[i])+rng.IntN(81)-40)))
			}
			return y
		}},
		{"blur", 640, 360, DefaultLayout(), blur},
		{"jpeg q20", 640, 360, DefaultLayout(), func(y []byte, w, h int) []byte { return jpegRoundTrip(t, y, w, h, 20) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.l.Check(tc.w, tc.h); err != nil {
				t.Fatal(err)
			}
			for _, s := range stamps {
				y, _, _ := picture(tc.w, tc.h, tc.l, s)
				if tc.mess != nil {
					y = tc.mess(y, tc.w, tc.h)
				}
				got, err := tc.l.Read(y, tc.w)
				if err != nil || got != s {
					t.Fatalf("Read = %+v, %v; want %+v", got, err, s)
				}
			}
		})
	}
}

// A picture without a code, or with a damaged one, is refused.
func TestBarcodeRejects(t *testing.T) {
	w, h, l := 640, 360, DefaultLayout()
	y := make([]byte, w*h)
	drawBackground(y, make([]byte, w*h/4), make([]byte, w*h/4), w, h, 7)
	if _, err := l.Read(y, w); !errors.Is(err, ErrNoCode) {
		t.Errorf("no code: err = %v, want ErrNoCode", err)
	}
	y, _, _ = picture(w, h, l, Stamp{CaptureMs: 1763740800123, Seq: 9})
	// Flip one bit: invert the third block.
	bx, by := l.X+2*l.Block, l.Y
	for r := by; r < by+l.Block; r++ {
		for c := bx; c < bx+l.Block; c++ {
			y[r*w+c] = 255 - y[r*w+c]
		}
	}
	if _, err := l.Read(y, w); !errors.Is(err, ErrNoCode) {
		t.Errorf("flipped bit: err = %v, want ErrNoCode", err)
	}
}

func TestLayoutCheck(t *testing.T) {
	for _, tc := range []struct {
		l    Layout
		w, h int
		ok   bool
	}{
		{DefaultLayout(), 640, 360, true},
		{DefaultLayout(), 352, 96, true},
		{DefaultLayout(), 320, 96, false},
		{Layout{X: 1, Y: 0, Block: 16, Cols: 20}, 640, 360, false},
		{Layout{X: 0, Y: 0, Block: 15, Cols: 20}, 640, 360, false},
	} {
		if err := tc.l.Check(tc.w, tc.h); (err == nil) != tc.ok {
			t.Errorf("%+v in %dx%d: err = %v", tc.l, tc.w, tc.h, err)
		}
	}
}

// FuzzStamp: any 10 bytes either fail the check or round-trip.
func FuzzStamp(f *testing.F) {
	for _, s := range []Stamp{{}, {CaptureMs: 1763740800123, Seq: 3}} {
		b := s.Marshal()
		f.Add(b[:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Stamp
		if err := s.Unmarshal(b); err != nil {
			return
		}
		if m := s.Marshal(); !bytes.Equal(m[:], b) {
			t.Fatalf("%x → %+v → %x", b, s, m)
		}
	})
}

func TestSummarize(t *testing.T) {
	got := Summarize([]float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6})
	want := Summary{N: 10, Median: 5, P90: 9, Min: 1, Max: 10}
	if got != want {
		t.Fatalf("Summarize = %+v, want %+v", got, want)
	}
	if (Summarize(nil) != Summary{}) {
		t.Fatal("Summarize(nil) not zero")
	}
}

package whep

import (
	"bytes"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/rtp/codecs"

	"github.com/liveloop/liveloop/media/h264"
)

func nal(typ byte, n int) []byte {
	b := make([]byte, n)
	b[0] = 0x60 | typ
	for i := 1; i < n; i++ {
		b[i] = byte(i)
	}
	return b
}

// packetizeCases feed the round-trip test and the fuzz seeds.
var packetizeCases = []struct {
	name  string
	nalus [][]byte
	size  int
	first int   // the first payload shorter by, if a fragment
	want  int   // payloads
	sizes []int // the payloads' sizes, if given
}{
	{"one small", [][]byte{nal(1, 100)}, 1200, 0, 1, []int{100}},
	{"parameter sets aggregate", [][]byte{nal(7, 20), nal(8, 5), nal(5, 500)}, 1200, 0, 1, nil},
	{"idr fragments", [][]byte{nal(7, 20), nal(8, 5), nal(5, 5000)}, 1200, 0, 6, nil},
	{"aud and filler dropped", [][]byte{nal(9, 2), nal(1, 10), nal(12, 50)}, 1200, 0, 1, nil},
	{"exact size", [][]byte{nal(1, 1200)}, 1200, 0, 1, []int{1200}},
	{"one over", [][]byte{nal(1, 1201)}, 1200, 0, 2, []int{1200, 4}},
	{"tiny mtu", [][]byte{nal(7, 20), nal(5, 30)}, 4, 0, 25, nil},
	{"many slices", [][]byte{nal(5, 700), nal(5, 700), nal(5, 700)}, 1200, 0, 3, nil},
	{"first fragment short", [][]byte{nal(1, 3000)}, 1200, 16, 3, []int{1184, 1200, 621}},
	{"first not a fragment", [][]byte{nal(7, 20), nal(8, 5), nal(5, 3000)}, 1200, 16, 4, []int{30, 1200, 1200, 605}},
	{"first fragment one byte", [][]byte{nal(1, 1201)}, 1200, 1197, 3, []int{3, 1200, 3}},
}

// TestPacketizeRoundTrip: pion's depacketizer gives back the NAL units.
func TestPacketizeRoundTrip(t *testing.T) {
	for _, c := range packetizeCases {
		t.Run(c.name, func(t *testing.T) {
			pays, _ := appendH264Payloads(nil, nil, c.nalus, c.size, c.first)
			if len(pays) != 2*c.want {
				t.Errorf("%d payloads, want %d", len(pays)/2, c.want)
			}
			if c.sizes != nil {
				var sizes []int
				for i := 0; i < len(pays); i += 2 {
					sizes = append(sizes, len(pays[i])+len(pays[i+1]))
				}
				if !slices.Equal(sizes, c.sizes) {
					t.Errorf("payload sizes %v, want %v", sizes, c.sizes)
				}
			}
			checkRoundTrip(t, c.nalus, pays, c.size)
		})
	}
}

// checkRoundTrip depacketizes pays (head and body pieces, see
// appendH264Payloads) and compares the result with nalus. The bodies must
// be pieces of nalus, not copies.
func checkRoundTrip(t *testing.T, nalus, pays [][]byte, size int) {
	t.Helper()
	var dep codecs.H264Packet
	var got []byte
	if len(pays)%2 != 0 {
		t.Fatalf("%d pieces: not head and body pairs", len(pays))
	}
	for i := 0; i < len(pays); i += 2 {
		if body := pays[i+1]; len(body) > 0 && !within(body, nalus) {
			t.Fatalf("payload %d: its body is not a piece of the NAL units", i/2)
		}
		p := joinPayload(nil, pays[i], pays[i+1])
		if len(p) == 0 {
			t.Fatalf("payload %d is empty", i/2)
		}
		if len(p) > size {
			t.Fatalf("payload of %d bytes over %d", len(p), size)
		}
		b, err := dep.Unmarshal(p)
		if err != nil {
			t.Fatalf("depacketize: %v", err)
		}
		got = append(got, b...)
	}
	var want []byte
	for _, n := range nalus {
		if len(n) == 0 || h264.NALUType(n) == h264.NALUTypeAUD || h264.NALUType(n) == h264.NALUTypeFillerData {
			continue
		}
		want = append(want, 0, 0, 0, 1)
		want = append(want, n...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("round trip differs: got %d bytes, want %d", len(got), len(want))
	}
}

// within reports whether b is a piece of the memory of one of nalus.
func within(b []byte, nalus [][]byte) bool {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for _, n := range nalus {
		q := uintptr(unsafe.Pointer(unsafe.SliceData(n)))
		if len(n) > 0 && p >= q && p+uintptr(len(b)) <= q+uintptr(len(n)) {
			return true
		}
	}
	return false
}

// TestScratchReuse: the scratch buffer returned serves the next access
// unit.
func TestScratchReuse(t *testing.T) {
	_, scratch := appendH264Payloads(nil, nil, [][]byte{nal(5, 5000)}, 1200, 16)
	next := [][]byte{nal(7, 10), nal(8, 4), nal(5, 3000)}
	pays, _ := appendH264Payloads(nil, scratch, next, 1200, 16)
	checkRoundTrip(t, next, pays, 1200)
}

func TestAccessUnit(t *testing.T) {
	cfg := &h264.DecoderConfig{SPS: [][]byte{nal(7, 10)}, PPS: [][]byte{nal(8, 4)}}
	idr := h264.AppendAVCC(nil, nal(6, 8), nal(5, 50))
	nalus, err := accessUnit(nil, idr, true, cfg)
	if err != nil || len(nalus) != 4 || h264.NALUType(nalus[0]) != 7 || h264.NALUType(nalus[1]) != 8 || h264.NALUType(nalus[3]) != 5 {
		t.Errorf("keyframe without parameter sets: %d units, %v", len(nalus), err)
	}
	withPS := h264.AppendAVCC(nil, nal(7, 10), nal(8, 4), nal(5, 50))
	if nalus, _ := accessUnit(nil, withPS, true, cfg); len(nalus) != 3 {
		t.Errorf("keyframe with parameter sets: %d units", len(nalus))
	}
	if nalus, _ := accessUnit(nil, h264.AppendAVCC(nil, nal(1, 50)), false, cfg); len(nalus) != 1 {
		t.Errorf("delta frame: %d units", len(nalus))
	}
	if _, err := accessUnit(nil, []byte{0, 0, 0, 9, 1}, false, cfg); err == nil {
		t.Errorf("truncated AVCC accepted")
	}
}

func TestNTPTime(t *testing.T) {
	tm := time.Date(2024, 1, 1, 0, 0, 0, 500_000_000, time.UTC)
	got := ntpTime(tm)
	if sec := got >> 32; sec != uint64(tm.Unix()+2208988800) {
		t.Errorf("seconds %d", sec)
	}
	if frac := uint32(got); frac != 1<<31 {
		t.Errorf("fraction %x, want half a second", frac)
	}
}

// FuzzPacketize packetizes arbitrary NAL units (split from the input) at
// payload sizes from 4 bytes, and checks the round trip.
func FuzzPacketize(f *testing.F) {
	for _, c := range packetizeCases {
		f.Add(h264.AppendAVCC(nil, c.nalus...), uint16(c.size), uint16(c.first))
	}
	f.Fuzz(func(t *testing.T, avcc []byte, size, first uint16) {
		nalus, err := h264.SplitAVCC(avcc, 4)
		if err != nil || size < 4 {
			return
		}
		for _, n := range nalus {
			if n[0]&0x1f == 0 || n[0]&0x1f >= 24 {
				return // not valid single NAL unit types; the depacketizer would read them as aggregates
			}
		}
		pays, _ := appendH264Payloads(nil, nil, nalus, int(size), int(first)%(int(size)-2))
		checkRoundTrip(t, nalus, pays, int(size))
	})
}

package whip

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"
)

type testPacket struct {
	payload []byte
	ts      uint32
	marker  bool
	lost    bool
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

var (
	sps   = []byte{0x67, 0x42, 0xc0, 0x1f, 0xda}
	pps   = []byte{0x68, 0xce, 0x3c, 0x80}
	idr   = []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff}
	slice = []byte{0x41, 0x9a, 0x24, 0x6c}
	// slice2 is a second slice of the same picture.
	slice2 = []byte{0x41, 0x9a, 0x00, 0x01}
)

func stapA(nalus ...[]byte) []byte {
	b := []byte{0x78} // F=0 NRI=3 type 24
	for _, n := range nalus {
		b = append(b, byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

// fuA fragments nal into FU-A payloads of at most size bytes of data.
func fuA(nal []byte, size int) [][]byte {
	var out [][]byte
	data := nal[1:]
	for i := 0; i < len(data); i += size {
		end := min(i+size, len(data))
		h := nal[0] & 0x1f
		if i == 0 {
			h |= 0x80
		}
		if end == len(data) {
			h |= 0x40
		}
		out = append(out, cat([]byte{nal[0]&0xe0 | 28, h}, data[i:end]))
	}
	return out
}

var depacketizeCases = []struct {
	name    string
	packets []testPacket
	want    []AccessUnit
	broken  int
	errs    int
}{
	{
		name:    "single NAL units, marker ends the picture",
		packets: []testPacket{{payload: sps, ts: 1}, {payload: pps, ts: 1}, {payload: idr, ts: 1, marker: true}, {payload: slice, ts: 3001, marker: true}},
		want:    []AccessUnit{{1, [][]byte{sps, pps, idr}}, {3001, [][]byte{slice}}},
	},
	{
		name:    "STAP-A",
		packets: []testPacket{{payload: stapA(sps, pps), ts: 7}, {payload: idr, ts: 7, marker: true}},
		want:    []AccessUnit{{7, [][]byte{sps, pps, idr}}},
	},
	{
		name: "FU-A start, middle, end",
		packets: func() []testPacket {
			var ps []testPacket
			for i, f := range fuA(idr, 2) {
				ps = append(ps, testPacket{payload: f, ts: 9, marker: i == 2})
			}
			return ps
		}(),
		want: []AccessUnit{{9, [][]byte{idr}}},
	},
	{
		name:    "multi-slice picture is one access unit",
		packets: []testPacket{{payload: slice, ts: 10}, {payload: slice2, ts: 10, marker: true}},
		want:    []AccessUnit{{10, [][]byte{slice, slice2}}},
	},
	{
		name:    "timestamp change ends a picture without marker",
		packets: []testPacket{{payload: slice, ts: 10}, {payload: slice2, ts: 10}, {payload: slice, ts: 20, marker: true}},
		want:    []AccessUnit{{10, [][]byte{slice, slice2}}, {20, [][]byte{slice}}},
	},
	{
		name: "loss inside a fragmented NAL unit drops the picture",
		packets: func() []testPacket {
			f := fuA(idr, 2)
			return []testPacket{{payload: f[0], ts: 9}, {payload: f[2], ts: 9, marker: true, lost: true}, {payload: slice, ts: 12, marker: true}}
		}(),
		want:   []AccessUnit{{12, [][]byte{slice}}},
		broken: 1,
	},
	{
		name:    "loss of a picture's first packet drops it",
		packets: []testPacket{{payload: slice, ts: 1, marker: true}, {payload: slice2, ts: 2, marker: true, lost: true}, {payload: slice, ts: 3, marker: true}},
		want:    []AccessUnit{{1, [][]byte{slice}}, {3, [][]byte{slice}}},
		broken:  1,
	},
	{
		name:    "loss of the marker packet drops the picture at the next timestamp",
		packets: []testPacket{{payload: slice, ts: 1}, {payload: slice, ts: 2, lost: true}, {payload: slice2, ts: 2, marker: true}},
		want:    nil,
		broken:  2,
	},
	{
		name:    "padding is skipped, its loss carried",
		packets: []testPacket{{payload: slice, ts: 1, marker: true}, {payload: nil, ts: 1, lost: true}, {payload: slice, ts: 2, marker: true}, {payload: nil, ts: 2}, {payload: slice2, ts: 3, marker: true}},
		want:    []AccessUnit{{1, [][]byte{slice}}, {3, [][]byte{slice2}}},
		broken:  1,
	},
	{
		name:    "FU-A middle without start",
		packets: []testPacket{{payload: fuA(idr, 2)[1], ts: 5}, {payload: fuA(idr, 2)[2], ts: 5, marker: true}, {payload: slice, ts: 6, marker: true}},
		want:    []AccessUnit{{6, [][]byte{slice}}},
		broken:  1,
		errs:    2,
	},
	{
		name:    "truncated STAP-A",
		packets: []testPacket{{payload: []byte{0x78, 0x00, 0x09, 0x65}, ts: 5, marker: true}},
		broken:  1,
		errs:    1,
	},
	{
		name:    "interleaved modes are refused",
		packets: []testPacket{{payload: []byte{0x19, 0, 0, 0, 1, 0x65}, ts: 5, marker: true}, {payload: []byte{0x7d, 0x85, 0}, ts: 6, marker: true}},
		broken:  2,
		errs:    2,
	},
}

func TestDepacketize(t *testing.T) {
	for _, c := range depacketizeCases {
		t.Run(c.name, func(t *testing.T) {
			var d Depacketizer
			var got []AccessUnit
			errs := 0
			for _, p := range c.packets {
				aus, err := d.Push(p.payload, p.ts, p.marker, p.lost)
				if err != nil {
					errs++
					if !errors.Is(err, ErrPayload) && !errors.Is(err, ErrUnsupportedPayload) {
						t.Errorf("error %v wraps no sentinel", err)
					}
				}
				got = append(got, aus...)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("got %x\nwant %x", got, c.want)
			}
			if d.Broken != c.broken || errs != c.errs {
				t.Errorf("broken %d errors %d, want %d and %d", d.Broken, errs, c.broken, c.errs)
			}
		})
	}
}

// packetize is a reference RFC 6184 packetizer for the tests: NAL units
// of one picture aggregated in STAP-A while they fit mtu, fragmented in
// FU-A when larger, single otherwise.
func packetize(nalus [][]byte, mtu int) [][]byte {
	var out [][]byte
	var stap [][]byte
	size := 1
	flush := func() {
		switch len(stap) {
		case 0:
		case 1:
			out = append(out, stap[0])
		default:
			out = append(out, stapA(stap...))
		}
		stap, size = nil, 1
	}
	for _, n := range nalus {
		switch {
		case len(n) > mtu:
			flush()
			out = append(out, fuA(n, mtu-2)...)
		case size+2+len(n) > mtu:
			flush()
			stap, size = [][]byte{n}, 1+2+len(n)
		default:
			stap = append(stap, n)
			size += 2 + len(n)
		}
	}
	flush()
	return out
}

// FuzzDepacketize feeds the depacketizer two ways: raw bytes split into
// packets at arbitrary points (it must not panic, and what it returns must
// be well formed), and pictures made of the input's NAL units, packetized
// with an arbitrary MTU, which must come back whole.
func FuzzDepacketize(f *testing.F) {
	for _, c := range depacketizeCases {
		var b []byte
		for _, p := range c.packets {
			b = append(b, byte(len(p.payload)))
			b = append(b, p.payload...)
		}
		f.Add(b, uint8(3))
	}
	f.Add(cat(sps, []byte{0}, pps, []byte{0}, idr, []byte{0}, bytes.Repeat([]byte{0x41, 1, 2, 3}, 100)), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, mtu uint8) {
		// Raw: length-prefixed payloads, flags from the length byte.
		var d Depacketizer
		for i, rest := 0, data; len(rest) > 0; i++ {
			n := min(int(rest[0]), len(rest)-1)
			pl := rest[1 : 1+n]
			aus, _ := d.Push(pl, uint32(i/3), rest[0]&1 == 1, rest[0]&2 == 2 && i%5 == 0)
			for _, au := range aus {
				if len(au.NALUs) == 0 {
					t.Fatal("empty access unit")
				}
				for _, nal := range au.NALUs {
					if len(nal) == 0 {
						t.Fatal("empty NAL unit")
					}
				}
			}
			rest = rest[1+n:]
		}

		// Round trip: NAL units separated by zero bytes, two pictures.
		var nalus [][]byte
		for _, n := range bytes.Split(data, []byte{0}) {
			if len(n) > 0 {
				n[0] = n[0]&0x7f | 1 // F=0 and a type of 1..23 that is never 0
				if n[0]&0x1f > 23 {
					n[0] &^= 0x18
				}
				nalus = append(nalus, n)
			}
		}
		if len(nalus) == 0 {
			return
		}
		size := max(int(mtu), 4)
		var dp Depacketizer
		var got []AccessUnit
		for pic := uint32(0); pic < 2; pic++ {
			pays := packetize(nalus, size)
			for i, pl := range pays {
				aus, err := dp.Push(pl, 1000+pic*3000, i == len(pays)-1, false)
				if err != nil {
					t.Fatalf("picture %d packet %d: %v", pic, i, err)
				}
				for _, au := range aus {
					got = append(got, AccessUnit{au.Timestamp, append([][]byte(nil), au.NALUs...)})
				}
			}
		}
		if len(got) != 2 || dp.Broken != 0 {
			t.Fatalf("%d access units, %d broken, want 2 and 0", len(got), dp.Broken)
		}
		for _, au := range got {
			if fmt.Sprint(au.NALUs) != fmt.Sprint(nalus) {
				t.Fatalf("access unit %d: NAL units differ", au.Timestamp)
			}
		}
	})
}

func TestReorderBuffer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	pkt := func(seq uint16) *rtp.Packet { return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq}} }
	type step struct {
		seq    int // -1: expire at the time
		at     time.Duration
		want   []uint16
		lostAt []uint16
	}
	cases := []struct {
		name  string
		steps []step
		late  int
	}{
		{"in order", []step{{seq: 65534, want: []uint16{65534}}, {seq: 65535, want: []uint16{65535}}, {seq: 0, want: []uint16{0}}}, 0},
		{"swap", []step{{seq: 1, want: []uint16{1}}, {seq: 3}, {seq: 2, want: []uint16{2, 3}}}, 0},
		{"gap expires", []step{{seq: 1, want: []uint16{1}}, {seq: 3, at: 10 * time.Millisecond}, {seq: -1, at: 50 * time.Millisecond},
			{seq: -1, at: 111 * time.Millisecond, want: []uint16{3}, lostAt: []uint16{3}}, {seq: 2, at: 120 * time.Millisecond}}, 1},
		{"duplicate and late", []step{{seq: 5, want: []uint16{5}}, {seq: 5}, {seq: 4}}, 2},
		{"jump", []step{{seq: 1, want: []uint16{1}}, {seq: 3}, {seq: 3000, want: []uint16{3, 3000}, lostAt: []uint16{3, 3000}}}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newReorderBuffer(100 * time.Millisecond)
			for i, s := range c.steps {
				var out []orderedPacket
				if s.seq < 0 {
					out = b.expire(t0.Add(s.at))
				} else {
					out = b.push(pkt(uint16(s.seq)), t0.Add(s.at))
				}
				var got, lost []uint16
				for _, o := range out {
					got = append(got, o.pkt.SequenceNumber)
					if o.lost {
						lost = append(lost, o.pkt.SequenceNumber)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(s.want) || fmt.Sprint(lost) != fmt.Sprint(s.lostAt) {
					t.Errorf("step %d: got %v lost %v, want %v lost %v", i, got, lost, s.want, s.lostAt)
				}
			}
			if b.late+b.duplicate != c.late {
				t.Errorf("late+duplicate %d, want %d", b.late+b.duplicate, c.late)
			}
		})
	}
}

package loadtest

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// Payloads of RFC 6184 packets, built by hand.

func stapA(nalus ...[]byte) []byte {
	p := []byte{0x78} // NRI 3, type 24
	for _, n := range nalus {
		p = binary.BigEndian.AppendUint16(p, uint16(len(n)))
		p = append(p, n...)
	}
	return p
}

// fuA cuts nal into FU-A payloads of at most size bytes of fragment.
func fuA(nal []byte, size int) [][]byte {
	var out [][]byte
	data := nal[1:]
	for first := true; len(data) > 0; first = false {
		k := min(len(data), size)
		hdr := nal[0] & 0x1f
		if first {
			hdr |= 0x80
		}
		if k == len(data) {
			hdr |= 0x40
		}
		out = append(out, append([]byte{nal[0]&0xe0 | 28, hdr}, data[:k]...))
		data = data[k:]
	}
	return out
}

var (
	testSPS   = []byte{0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01}
	testPPS   = []byte{0x68, 0xce, 0x3c, 0x80}
	testIDR   = append([]byte{0x65}, bytes.Repeat([]byte{0x88}, 3000)...)
	testSlice = append([]byte{0x41}, bytes.Repeat([]byte{0x9a}, 500)...)
	testStamp = Stamp{SendTime: 1763740800123456789, Seq: 7}
	otherSEI  = []byte{0x06, 0x05, 0x01, 0xaa, 0x80} // one byte of unregistered data: not a stamp
)

// rtpFrameCases feed the assembler's test and its fuzz seeds: each is the
// payloads of one access unit, the last one marked.
var rtpFrameCases = []struct {
	name     string
	payloads [][]byte
	want     auFrame
}{
	{"keyframe: STAP-A of SPS, PPS, SEI; FU-A IDR",
		append([][]byte{stapA(testSPS, testPPS, MarshalStampSEI(testStamp))}, fuA(testIDR, 1198)...),
		auFrame{key: true, stamp: testStamp, stamped: true}},
	{"inter frame: SEI and slice in one STAP-A",
		[][]byte{stapA(MarshalStampSEI(testStamp), testSlice)},
		auFrame{stamp: testStamp, stamped: true}},
	{"single NAL units",
		[][]byte{MarshalStampSEI(testStamp), testSlice},
		auFrame{stamp: testStamp, stamped: true}},
	{"SEI in FU-A fragments",
		append(fuA(MarshalStampSEI(testStamp), 7), testSlice),
		auFrame{stamp: testStamp, stamped: true}},
	{"another SEI first",
		[][]byte{otherSEI, MarshalStampSEI(testStamp), testSlice},
		auFrame{stamp: testStamp, stamped: true}},
	{"unstamped keyframe",
		append([][]byte{stapA(testSPS, testPPS)}, fuA(testIDR, 1198)...),
		auFrame{key: true}},
	{"SEI fragments without their start",
		append(fuA(MarshalStampSEI(testStamp), 7)[1:], testSlice),
		auFrame{}},
}

func TestAUAssembler(t *testing.T) {
	for _, c := range rtpFrameCases {
		t.Run(c.name, func(t *testing.T) {
			var a auAssembler
			for ts := uint32(1000); ts < 1003; ts++ { // three in a row: state is reset
				for i, p := range c.payloads {
					if _, ended := a.begin(ts); ended {
						t.Fatalf("payload %d: a previous access unit ended", i)
					}
					a.payload(p)
				}
				if got := a.finish(); got != c.want {
					t.Errorf("ts %d: got %+v, want %+v", ts, got, c.want)
				}
			}
			if a.malformed != 0 {
				t.Errorf("%d malformed", a.malformed)
			}
		})
	}
}

// TestAUAssemblerLostMarker: a new RTP timestamp ends an access unit whose
// marked packet was lost.
func TestAUAssemblerLostMarker(t *testing.T) {
	var a auAssembler
	a.begin(1)
	a.payload(stapA(MarshalStampSEI(testStamp), testSlice))
	prev, ended := a.begin(2)
	if !ended || prev != (auFrame{stamp: testStamp, stamped: true}) {
		t.Fatalf("ended %v, %+v", ended, prev)
	}
	a.payload(testSlice)
	if got := a.finish(); got != (auFrame{}) {
		t.Errorf("second: %+v", got)
	}
}

func TestAUAssemblerMalformed(t *testing.T) {
	for _, p := range [][]byte{
		{},
		{0x78, 0x00},             // STAP-A: a size cut short
		{0x78, 0x00, 0x05, 0x06}, // STAP-A: a NAL unit cut short
		{0x78, 0x00, 0x00},       // STAP-A: an empty NAL unit
		{0x7c},                   // FU-A without its header
	} {
		var a auAssembler
		a.begin(1)
		a.payload(p)
		if a.malformed != 1 {
			t.Errorf("%x: %d malformed", p, a.malformed)
		}
	}
}

func TestRTPSeq(t *testing.T) {
	for _, c := range []struct {
		name    string
		seqs    []uint16
		missing uint64
		late    int
	}{
		{"in order", []uint16{10, 11, 12}, 0, 0},
		{"wrap", []uint16{65534, 65535, 0, 1}, 0, 0},
		{"gap", []uint16{10, 13, 14}, 2, 0},
		{"gap over the wrap", []uint16{65535, 2}, 2, 0},
		{"retransmission", []uint16{10, 12, 11, 13}, 1, 1},
		{"duplicate", []uint16{10, 10, 11}, 0, 1},
	} {
		var r rtpSeq
		var missing uint64
		late := 0
		for _, s := range c.seqs {
			m, l := r.next(s)
			missing += m
			if l {
				late++
			}
		}
		if missing != c.missing || late != c.late {
			t.Errorf("%s: missing %d late %d, want %d %d", c.name, missing, late, c.missing, c.late)
		}
	}
}

// FuzzAUAssembler feeds arbitrary payloads, cut at arbitrary points as
// packet boundaries: the assembler must not panic, and holds a stamp only
// when it says so.
func FuzzAUAssembler(f *testing.F) {
	for _, c := range rtpFrameCases {
		f.Add(bytes.Join(c.payloads, nil), uint8(len(c.payloads[0])))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		var a auAssembler
		a.begin(1)
		for n := max(int(cut), 1); len(b) > 0; {
			k := min(n, len(b))
			a.payload(b[:k])
			b = b[k:]
		}
		fr := a.finish()
		if !fr.stamped && fr.stamp != (Stamp{}) {
			t.Fatalf("stamp %+v but stamped %v", fr.stamp, fr.stamped)
		}
	})
}

package h264

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

var (
	aud   = []byte{0x09, 0xf0}
	sps   = spsCases[0].sps
	pps   = spsCases[0].pps
	idr   = []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff}
	slice = []byte{0x41, 0x9a, 0x24, 0x6c, 0x41}
)

// annexBCases feeds TestSplitAnnexB, TestAnnexBToAVCC, TestAVCCToAnnexB and
// the fuzz seeds.
var annexBCases = []struct {
	name    string
	annexB  []byte
	nalus   [][]byte
	key     bool
	unique4 bool // annexB is what AVCCToAnnexB writes for nalus
}{
	{
		name:    "4-byte start codes, keyframe",
		annexB:  cat([]byte{0, 0, 0, 1}, aud, []byte{0, 0, 0, 1}, sps, []byte{0, 0, 0, 1}, pps, []byte{0, 0, 0, 1}, idr),
		nalus:   [][]byte{aud, sps, pps, idr},
		key:     true,
		unique4: true,
	},
	{
		name:   "3-byte start codes",
		annexB: cat([]byte{0, 0, 1}, aud, []byte{0, 0, 1}, slice),
		nalus:  [][]byte{aud, slice},
	},
	{
		name:   "mixed, leading and trailing zeros",
		annexB: cat([]byte{0, 0, 0, 0, 0, 1}, slice, []byte{0, 0, 0, 0, 1}, slice, []byte{0, 0}),
		nalus:  [][]byte{slice, slice},
	},
	{
		name:   "empty units",
		annexB: cat([]byte{0, 0, 1, 0, 0, 1}, idr, []byte{0, 0, 0, 1}),
		nalus:  [][]byte{idr},
		key:    true,
	},
	{
		name:   "no start code",
		annexB: slice,
		nalus:  [][]byte{slice},
	},
	{
		name:    "empty",
		unique4: true,
	},
}

func TestSplitAnnexB(t *testing.T) {
	for _, tc := range annexBCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := SplitAnnexB(tc.annexB); !reflect.DeepEqual(got, tc.nalus) {
				t.Errorf("got  %x\nwant %x", got, tc.nalus)
			}
		})
	}
}

func TestAnnexBToAVCC(t *testing.T) {
	for _, tc := range annexBCases {
		t.Run(tc.name, func(t *testing.T) {
			avcc := AnnexBToAVCC(tc.annexB)
			if want := AppendAVCC(nil, tc.nalus...); !bytes.Equal(avcc, want) {
				t.Errorf("got  %x\nwant %x", avcc, want)
			}
			if got := IsKeyframe(avcc); got != tc.key {
				t.Errorf("IsKeyframe() = %v, want %v", got, tc.key)
			}
			nalus, err := SplitAVCC(avcc, 4)
			if err != nil || !reflect.DeepEqual(nalus, tc.nalus) {
				t.Errorf("SplitAVCC: %x, %v; want %x", nalus, err, tc.nalus)
			}
		})
	}
}

func TestAVCCToAnnexB(t *testing.T) {
	for _, tc := range annexBCases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := AVCCToAnnexB(AppendAVCC(nil, tc.nalus...))
			if err != nil {
				t.Fatal(err)
			}
			if tc.unique4 && !bytes.Equal(b, tc.annexB) {
				t.Errorf("got  %x\nwant %x", b, tc.annexB)
			}
			if got := SplitAnnexB(b); !reflect.DeepEqual(got, tc.nalus) {
				t.Errorf("split back: %x, want %x", got, tc.nalus)
			}
		})
	}
}

func TestSplitAVCC(t *testing.T) {
	for _, tc := range []struct {
		name       string
		b          []byte
		lengthSize int
		want       [][]byte
		err        error
	}{
		{"1-byte lengths", cat([]byte{2}, aud, []byte{0, 6}, idr), 1, [][]byte{aud, idr}, nil},
		{"2-byte lengths", cat([]byte{0, 2}, aud, []byte{0, 0}), 2, [][]byte{aud}, nil},
		{"length size 0", aud, 0, nil, ErrInvalid},
		{"length size 5", aud, 5, nil, ErrInvalid},
		{"truncated length", []byte{0, 0, 0}, 4, nil, ErrTruncated},
		{"truncated unit", cat([]byte{0, 0, 0, 7}, idr), 4, nil, ErrTruncated},
		{"huge length", cat([]byte{0xff, 0xff, 0xff, 0xff}, idr), 4, nil, ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SplitAVCC(tc.b, tc.lengthSize)
			if !errors.Is(err, tc.err) || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %x, %v; want %x, %v", got, err, tc.want, tc.err)
			}
		})
	}
	if IsKeyframe(cat([]byte{0, 0, 0, 9}, idr)) {
		t.Error("IsKeyframe of a truncated unit")
	}
}

// FuzzSplitAVCC also feeds every prefix of the input, as a network read
// would cut it: a prefix either splits into a prefix of the units or fails
// with ErrTruncated.
func FuzzSplitAVCC(f *testing.F) {
	for _, tc := range annexBCases {
		f.Add(AppendAVCC(nil, tc.nalus...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		nalus, err := SplitAVCC(b, 4)
		if err != nil {
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("error %v is not ErrTruncated", err)
			}
			return
		}
		if got, _ := SplitAVCC(AppendAVCC(nil, nalus...), 4); !reflect.DeepEqual(got, nalus) {
			t.Fatalf("round trip: got %x, want %x", got, nalus)
		}
		_ = IsKeyframe(b)
		for k := 0; k < len(b) && k < 512; k++ {
			part, err := SplitAVCC(b[:k], 4)
			if err != nil {
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("prefix %d: error %v is not ErrTruncated", k, err)
				}
				continue
			}
			if len(part) > len(nalus) {
				t.Fatalf("prefix %d: %d units, whole input %d", k, len(part), len(nalus))
			}
			for i := range part {
				if !bytes.Equal(part[i], nalus[i]) {
					t.Fatalf("prefix %d: unit %d is %x, want %x", k, i, part[i], nalus[i])
				}
			}
		}
	})
}

func FuzzSplitAnnexB(f *testing.F) {
	for _, tc := range annexBCases {
		f.Add(tc.annexB)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		nalus := SplitAnnexB(b)
		for _, nal := range nalus {
			if len(nal) == 0 || nal[len(nal)-1] == 0 || bytes.Contains(nal, startCode) {
				t.Fatalf("bad unit %x", nal)
			}
		}
		back, err := AVCCToAnnexB(AnnexBToAVCC(b))
		if err != nil {
			t.Fatal(err)
		}
		if got := SplitAnnexB(back); !reflect.DeepEqual(got, nalus) {
			t.Fatalf("round trip: got %x, want %x", got, nalus)
		}
	})
}

// emulationCases feeds TestEmulationPrevention and the fuzz seeds: rbsp is
// the payload, escaped its form inside a NAL unit.
var emulationCases = []struct {
	name          string
	rbsp, escaped []byte
}{
	{"none", []byte{1, 2, 3}, []byte{1, 2, 3}},
	{"empty", []byte{}, []byte{}},
	{"each low byte", []byte{0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3}, []byte{0, 0, 3, 0, 0, 3, 0, 1, 0, 0, 3, 2, 0, 0, 3, 3}},
	{"no escape before 4", []byte{0, 0, 4, 0, 0}, []byte{0, 0, 4, 0, 0, 3}},
	{"single trailing zero", []byte{0x80, 0}, []byte{0x80, 0}},
	{"long run", []byte{0, 0, 0, 0, 0, 0}, []byte{0, 0, 3, 0, 0, 3, 0, 0, 3}},
}

func TestEmulationPrevention(t *testing.T) {
	for _, tc := range emulationCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := AddEmulationPrevention(tc.rbsp); !bytes.Equal(got, tc.escaped) {
				t.Errorf("Add: got %x, want %x", got, tc.escaped)
			}
			if got := RemoveEmulationPrevention(tc.escaped); !bytes.Equal(got, tc.rbsp) {
				t.Errorf("Remove: got %x, want %x", got, tc.rbsp)
			}
		})
	}
}

func FuzzEmulationPrevention(f *testing.F) {
	for _, tc := range emulationCases {
		f.Add(tc.rbsp)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		esc := AddEmulationPrevention(b)
		if bytes.Contains(esc, []byte{0, 0, 0}) || bytes.Contains(esc, []byte{0, 0, 1}) ||
			bytes.Contains(esc, []byte{0, 0, 2}) || bytes.HasSuffix(esc, []byte{0, 0}) {
			t.Fatalf("%x escaped to %x", b, esc)
		}
		if got := RemoveEmulationPrevention(esc); !bytes.Equal(got, b) {
			t.Fatalf("round trip of %x: %x", b, got)
		}
		_ = RemoveEmulationPrevention(b)
	})
}

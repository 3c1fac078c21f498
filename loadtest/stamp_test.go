package loadtest

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/liveloop/liveloop/demo"
	"github.com/liveloop/liveloop/flv"
	"github.com/liveloop/liveloop/media/h264"
)

// stampCases feed the round-trip test and the fuzz seeds. Some need
// emulation prevention (runs of zero bytes) in the SEI.
var stampCases = []struct {
	name string
	s    Stamp
}{
	{"zero", Stamp{}},
	{"now", Stamp{SendTime: 1763740800123456789, Seq: 42}},
	{"zero runs", Stamp{SendTime: 0x0000000100000003, Seq: 0x00000003}},
	{"max", Stamp{SendTime: math.MaxInt64, Seq: math.MaxUint32}},
	{"negative", Stamp{SendTime: -1, Seq: 1}},
}

// demoFrames returns the demo clip's coded AVC video tags: the first
// (keyframe with x264's own SEI), a keyframe later on and an inter frame.
func demoFrames(t testing.TB) []flv.Tag {
	t.Helper()
	clip, err := demo.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var key, inter []flv.Tag
	for _, tag := range clip.Tags {
		if tag.Type != flv.TagVideo {
			continue
		}
		vt, err := flv.ParseVideoTag(tag.Body)
		if err != nil || vt.PacketType != flv.PacketCodedFrames {
			continue
		}
		if vt.FrameType == flv.FrameKey {
			key = append(key, tag)
		} else {
			inter = append(inter, tag)
		}
	}
	if len(key) < 2 || len(inter) == 0 {
		t.Fatalf("demo clip: %d keyframes, %d inter frames", len(key), len(inter))
	}
	return []flv.Tag{key[0], key[1], inter[0]}
}

func TestStampRoundTrip(t *testing.T) {
	for _, tag := range demoFrames(t) {
		off, err := StampOffset(tag.Body, 4)
		if err != nil {
			t.Fatalf("tag at %d ms: StampOffset: %v", tag.Timestamp, err)
		}
		orig, _ := flv.ParseVideoTag(tag.Body)
		origNALs, err := h264.SplitAVCC(orig.Data, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range stampCases {
			t.Run(c.name, func(t *testing.T) {
				sei := MarshalStampSEI(c.s)
				body := AppendStamped(nil, tag.Body, off, 4, sei)
				vt, err := flv.ParseVideoTag(body)
				if err != nil {
					t.Fatal(err)
				}
				got, err := ExtractStamp(vt.Data)
				if err != nil || got != c.s {
					t.Fatalf("ExtractStamp = %+v, %v; want %+v", got, err, c.s)
				}
				// The frame is the original NAL units with the SEI before
				// the first slice.
				nals, err := h264.SplitAVCC(vt.Data, 4)
				if err != nil {
					t.Fatal(err)
				}
				if len(nals) != len(origNALs)+1 {
					t.Fatalf("%d NAL units, want %d", len(nals), len(origNALs)+1)
				}
				at := -1
				for i, n := range nals {
					if bytes.Equal(n, sei) {
						at = i
						break
					}
				}
				if at < 0 || !isVCL(h264.NALUType(nals[at+1])) {
					t.Fatalf("SEI at %d, not just before a slice", at)
				}
				for i := range at {
					if isVCL(h264.NALUType(nals[i])) {
						t.Fatalf("slice before the SEI at %d", i)
					}
				}
				rest := append(append([][]byte{}, nals[:at]...), nals[at+1:]...)
				for i := range rest {
					if !bytes.Equal(rest[i], origNALs[i]) {
						t.Fatalf("NAL unit %d changed", i)
					}
				}
				if vt.FrameType != orig.FrameType || vt.CompositionTime != orig.CompositionTime {
					t.Fatalf("tag header changed")
				}
			})
		}
	}
}

func TestStampOffsetRefuses(t *testing.T) {
	clip, err := demo.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range clip.Tags {
		if !isConfig(tag) || tag.Type != flv.TagVideo {
			continue
		}
		if _, err := StampOffset(tag.Body, 4); !errors.Is(err, ErrNotCoded) {
			t.Errorf("sequence header: err %v, want ErrNotCoded", err)
		}
	}
	if _, err := StampOffset([]byte{0x27, 1, 0, 0, 0, 0, 0, 0, 9, 0x41}, 4); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated NAL unit: err %v, want ErrMalformed", err)
	}
}

func TestExtractStampIgnoresOthers(t *testing.T) {
	other := h264.MarshalUserDataUnregisteredSEI([16]byte{1, 2, 3}, make([]byte, StampSize))
	slice := []byte{0x65, 0x88, 0x84}
	for _, c := range []struct {
		name string
		avcc []byte
		err  error
	}{
		{"no SEI", h264.AppendAVCC(nil, slice), ErrNoStamp},
		{"other UUID", h264.AppendAVCC(nil, other, slice), ErrNoStamp},
		{"after the slice", h264.AppendAVCC(nil, slice, MarshalStampSEI(Stamp{Seq: 1})), ErrNoStamp},
		{"truncated", []byte{0, 0, 0, 9, 6}, ErrMalformed},
		{"empty", nil, ErrNoStamp},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ExtractStamp(c.avcc); !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
		})
	}
}

func FuzzExtractStamp(f *testing.F) {
	for _, c := range stampCases {
		f.Add(h264.AppendAVCC(nil, MarshalStampSEI(c.s), []byte{0x65, 0x88}))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ExtractStamp(b)
		if err != nil {
			return
		}
		// What was found re-marshals to a SEI that yields it again.
		again, err := ExtractStamp(h264.AppendAVCC(nil, MarshalStampSEI(s)))
		if err != nil || again != s {
			t.Fatalf("re-extract %+v: %+v, %v", s, again, err)
		}
	})
}

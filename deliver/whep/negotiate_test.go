package whep

import (
	"errors"
	"slices"
	"testing"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		plid string
		want profile
	}{
		{"42001f", profileBaseline},
		{"42e01f", profileConstrainedBaseline},
		{"42c01e", profileConstrainedBaseline}, // x264 baseline
		{"4d001f", profileMain},
		{"4d401f", profileMain},
		{"4d801f", profileConstrainedBaseline},
		{"64001f", profileHigh},
		{"640c1f", profileConstrainedHigh},
		{"f4001f", profilePredictiveHigh444},
		{"6e001f", profileUnknown}, // High 10
	}
	for _, c := range cases {
		o, ok := parseH264Offer(offeredCodec{Name: "H264", ClockRate: 90000, Fmtp: "packetization-mode=1;profile-level-id=" + c.plid})
		if !ok || o.profile != c.want {
			t.Errorf("%s: %v (%v), want %v", c.plid, o.profile, ok, c.want)
		}
	}
}

func TestChooseH264(t *testing.T) {
	chrome := []offeredCodec{
		{PayloadType: 96, Name: "VP8", ClockRate: 90000},
		{PayloadType: 102, Name: "H264", ClockRate: 90000, Fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"},
		{PayloadType: 103, Name: "H264", ClockRate: 90000, Fmtp: "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f"},
		{PayloadType: 104, Name: "H264", ClockRate: 90000, Fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
		{PayloadType: 106, Name: "H264", ClockRate: 90000, Fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"},
		{PayloadType: 108, Name: "H264", ClockRate: 90000, Fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f"},
	}
	// Chromium without hardware decoding (Debian's, headless) offers
	// High as Predictive High 4:4:4, whose decoders decode High.
	chromium := append(slices.Clone(chrome[:5]), offeredCodec{PayloadType: 41, Name: "H264", ClockRate: 90000,
		Fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=f4001f"})
	cases := []struct {
		name   string
		codecs []offeredCodec
		src    sourceH264
		want   uint8 // 0: ErrNoCodec
	}{
		{"x264 baseline prefers CB", chrome, sourceH264{0x42, 0xc0, 0x1e}, 104},
		{"main", chrome, sourceH264{0x4d, 0x40, 0x1f}, 106},
		{"high 4.0 with asymmetry", chrome, sourceH264{0x64, 0x00, 0x28}, 108},
		{"high 10 nowhere", chrome, sourceH264{0x6e, 0x00, 0x1f}, 0},
		{"CB falls back on main", chrome[4:5], sourceH264{0x42, 0xc0, 0x1e}, 106},
		{"main not on CB", chrome[:4], sourceH264{0x4d, 0x00, 0x1f}, 0},
		{"level too high without asymmetry", []offeredCodec{{PayloadType: 97, Name: "H264", ClockRate: 90000,
			Fmtp: "packetization-mode=1;profile-level-id=42e01e"}}, sourceH264{0x42, 0xc0, 0x1f}, 0},
		{"default profile-level-id is 42000a", []offeredCodec{{PayloadType: 97, Name: "h264", ClockRate: 90000,
			Fmtp: "packetization-mode=1;level-asymmetry-allowed=1"}}, sourceH264{0x42, 0xc0, 0x1f}, 97},
		{"vp8 only", chrome[:1], sourceH264{0x42, 0xc0, 0x1e}, 0},
		{"high on predictive high 4:4:4", chromium, sourceH264{0x64, 0x00, 0x1e}, 41},
		{"main prefers main to 4:4:4", chromium, sourceH264{0x4d, 0x40, 0x1f}, 106},
		{"high prefers high to 4:4:4", append(slices.Clone(chromium), chrome[5]), sourceH264{0x64, 0x00, 0x1f}, 108},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := chooseH264(c.codecs, c.src)
			if c.want == 0 {
				if !errors.Is(err, ErrNoCodec) {
					t.Errorf("got %d, %v; want ErrNoCodec", got.PayloadType, err)
				}
				return
			}
			if err != nil || got.PayloadType != c.want {
				t.Errorf("got %d, %v; want %d", got.PayloadType, err, c.want)
			}
		})
	}
}

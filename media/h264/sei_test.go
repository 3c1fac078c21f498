package h264

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

// x264UUID is the user_data_unregistered UUID under which x264 writes its
// version and options.
var x264UUID = [16]byte{0xdc, 0x45, 0xe9, 0xbd, 0xe6, 0xd9, 0x48, 0xb7, 0x96, 0x2c, 0xd8, 0x20, 0xd9, 0x23, 0xee, 0xef}

var loadUUID = [16]byte{0x6c, 0x69, 0x76, 0x65, 0x6c, 0x6f, 0x6f, 0x70, 0, 0, 0, 1, 0, 0, 0, 3}

// seiCases feeds TestParseSEI, TestMarshalSEI and the fuzz seeds.
func seiCases(t testing.TB) []struct {
	name string
	nal  []byte
	msgs []SEIMessage
} {
	// testdata/x264_sei.264 is the SEI NAL unit of the "high 320x240"
	// stream of spsCases.
	x264, err := os.ReadFile("testdata/x264_sei.264")
	if err != nil {
		t.Fatal(err)
	}
	// 06: NAL header; 05: payload type; ff ff aa: payload size 680.
	x264Payload := RemoveEmulationPrevention(x264[5 : len(x264)-1])
	big := bytes.Repeat([]byte{0, 0, 1, 0, 0, 0, 3}, 60)
	return []struct {
		name string
		nal  []byte
		msgs []SEIMessage
	}{
		{
			name: "x264 version",
			nal:  x264,
			msgs: []SEIMessage{{Type: SEITypeUserDataUnregistered, Payload: x264Payload}},
		},
		{
			name: "recovery point",
			nal:  unhex("060601c480"),
			msgs: []SEIMessage{{Type: SEITypeRecoveryPoint, Payload: []byte{0xc4}}},
		},
		{
			name: "two messages, escaped",
			nal:  unhex("060002000005060314000003000080"),
			msgs: []SEIMessage{
				{Type: SEITypeBufferingPeriod, Payload: []byte{0, 0}},
				{Type: SEITypeUserDataUnregistered, Payload: []byte{0x03, 0x14, 0, 0, 0, 0}},
			},
		},
		{
			name: "type and size over 255",
			nal:  cat([]byte{6, 0xff, 0x2d, 0xff, 0xa5}, AddEmulationPrevention(append(big[:420:420], 0x80))),
			msgs: []SEIMessage{{Type: 300, Payload: big[:420]}},
		},
		{
			name: "load tool timestamp",
			nal:  unhex("0605176c6976656c6f6f7000000300010000030003000003018c0000030380"),
			msgs: []SEIMessage{{Type: 5, Payload: cat(loadUUID[:], unhex("0000018c000003"))}},
		},
		{
			name: "empty",
			nal:  unhex("0680"),
		},
	}
}

func TestParseSEI(t *testing.T) {
	for _, tc := range seiCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := ParseSEI(tc.nal)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(msgs, tc.msgs) {
				t.Errorf("got  %x\nwant %x", msgs, tc.msgs)
			}
		})
	}
}

func TestMarshalSEI(t *testing.T) {
	for _, tc := range seiCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			if got := MarshalSEI(tc.msgs...); !bytes.Equal(got, tc.nal) {
				t.Errorf("got  %x\nwant %x", got, tc.nal)
			}
		})
	}
}

func TestUserDataUnregistered(t *testing.T) {
	msgs, err := ParseSEI(seiCases(t)[0].nal)
	if err != nil {
		t.Fatal(err)
	}
	uuid, data, ok := UserDataUnregistered(msgs[0])
	if !ok || uuid != x264UUID || !strings.HasPrefix(string(data), "x264 - core 164") {
		t.Errorf("got %x %q %v", uuid, data, ok)
	}
	if _, _, ok := UserDataUnregistered(SEIMessage{Type: 5, Payload: make([]byte, 15)}); ok {
		t.Error("15-byte payload accepted")
	}
	if _, _, ok := UserDataUnregistered(SEIMessage{Type: 4, Payload: make([]byte, 20)}); ok {
		t.Error("type 4 accepted")
	}

	for _, data := range [][]byte{
		nil,
		{0},
		{0, 0},
		{0, 0, 0},
		{0, 0, 3},
		{0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0},
		{0x80},
		bytes.Repeat([]byte{0}, 300),
		bytes.Repeat([]byte{0xff}, 300),
	} {
		checkUserDataRoundTrip(t, loadUUID, data)
		checkUserDataRoundTrip(t, [16]byte{}, data)
	}
}

// checkUserDataRoundTrip checks that data stamped in an SEI NAL unit comes
// back exactly, and that the NAL unit is safe in an Annex B stream.
func checkUserDataRoundTrip(t *testing.T, uuid [16]byte, data []byte) {
	t.Helper()
	nal := MarshalUserDataUnregisteredSEI(uuid, data)
	if bytes.Contains(nal, []byte{0, 0, 0}) || bytes.Contains(nal, []byte{0, 0, 1}) ||
		bytes.Contains(nal, []byte{0, 0, 2}) || nal[len(nal)-1] == 0 {
		t.Fatalf("NAL unit %x emulates a start code", nal)
	}
	if got := SplitAnnexB(avccToAnnexB(t, AppendAVCC(nil, nal))); len(got) != 1 || !bytes.Equal(got[0], nal) {
		t.Fatalf("Annex B round trip of %x: %x", nal, got)
	}
	msgs, err := ParseSEI(nal)
	if err != nil {
		t.Fatalf("%x: %v", nal, err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%x: %d messages", nal, len(msgs))
	}
	gotUUID, gotData, ok := UserDataUnregistered(msgs[0])
	if !ok || gotUUID != uuid || !bytes.Equal(gotData, data) {
		t.Fatalf("round trip of %x %x: got %x %x %v", uuid, data, gotUUID, gotData, ok)
	}
}

func avccToAnnexB(t *testing.T, avcc []byte) []byte {
	t.Helper()
	b, err := AVCCToAnnexB(avcc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSEIErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		nal  []byte
	}{
		{"empty", nil},
		{"not SEI", unhex("0605")[1:]},
		{"type runs out", unhex("06ffff")},
		{"size runs out", unhex("0605ff")},
		{"payload runs out", unhex("060510000102")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msgs, err := ParseSEI(tc.nal); err == nil {
				t.Fatalf("no error; got %x", msgs)
			}
		})
	}
}

func FuzzParseSEI(f *testing.F) {
	for _, tc := range seiCases(f) {
		f.Add(tc.nal)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if msgs, err := ParseSEI(b); err == nil {
			back, err := ParseSEI(MarshalSEI(msgs...))
			if err != nil || len(back) != len(msgs) {
				t.Fatalf("re-marshalled: %x, %v; want %x", back, err, msgs)
			}
			for i := range msgs {
				if back[i].Type != msgs[i].Type || !bytes.Equal(back[i].Payload, msgs[i].Payload) {
					t.Fatalf("re-marshalled: %x; want %x", back, msgs)
				}
			}
		}
		// Any bytes must survive being stamped into a frame.
		var uuid [16]byte
		copy(uuid[:], b)
		checkUserDataRoundTrip(t, uuid, b)
	})
}

package whep

import (
	"testing"

	"github.com/pion/transport/v4/packetio"
)

// TestSSRCRouting: the RTCP buffer of a claimed video SSRC is its sink;
// those of an audio SSRC, an unknown one and a released one drop what
// they get.
func TestSSRCRouting(t *testing.T) {
	h := &Handler{}
	sink := &rtcpSink{}
	video, audio := h.claimSSRC(sink), h.claimSSRC(nil)
	if video == audio || video == 0 || audio == 0 {
		t.Fatalf("claimed %d and %d", video, audio)
	}
	if b := h.newBuffer(packetio.RTCPBufferPacket, video); b != sink {
		t.Errorf("video SSRC: buffer %T, want its sink", b)
	}
	for name, ssrc := range map[string]uint32{"audio": audio, "unknown": video ^ audio ^ 1} {
		if b := h.newBuffer(packetio.RTCPBufferPacket, ssrc); b != (dropSink{}) {
			t.Errorf("%s SSRC: buffer %T, want dropSink", name, b)
		}
	}
	if _, ok := h.newBuffer(packetio.RTPBufferPacket, video).(*packetio.Buffer); !ok {
		t.Errorf("RTP: not pion's buffer")
	}
	h.releaseSSRC(video)
	if b := h.newBuffer(packetio.RTCPBufferPacket, video); b != (dropSink{}) {
		t.Errorf("released SSRC: buffer %T, want dropSink", b)
	}
}

// heldSSRCs counts the SSRCs h's sessions hold.
func heldSSRCs(h *Handler) int {
	n := 0
	h.ssrcs.Range(func(any, any) bool { n++; return true })
	return n
}

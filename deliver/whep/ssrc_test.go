package whep

import (
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
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

// countWriter is a TrackLocalWriter that counts the packets written.
type countWriter struct{ n int }

func (w *countWriter) WriteRTP(*rtp.Header, []byte) (int, error) { w.n++; return 0, nil }
func (w *countWriter) Write(b []byte) (int, error)               { w.n++; return len(b), nil }

// FuzzRTCPSink: whatever a peer sends as RTCP, the sink takes it whole
// without panicking, and resends only packets its history holds.
func FuzzRTCPSink(f *testing.F) {
	const ssrc = 0x1234
	nack, _ := (&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: []rtcp.NackPair{{PacketID: 10, LostPackets: 0xffff}}}).Marshal()
	pli, _ := (&rtcp.PictureLossIndication{MediaSSRC: ssrc}).Marshal()
	rr, _ := (&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: ssrc}}}).Marshal()
	for _, seed := range [][]byte{nack, pli, rr, append(append([]byte{}, rr...), nack...), {0x80}, nil} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		w := &countWriter{}
		s := &session{h: &Handler{}, keyframe: make(chan struct{}, 1)}
		s.video = &rtpTrack{hist: newHistory(128), b: &binding{ssrc: ssrc, w: w}}
		// Packets 10 to 13 were sent, as one frame.
		s.video.hist.put(sentFrame{pieces: [][]byte{nil, {1}, nil, {2}, nil, {3}, nil, {4}}, seq: 10, count: 4, marker: true})
		k := &rtcpSink{s: s}
		if n, err := k.Write(b); n != len(b) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(b))
		}
		if w.n > 4*len(b) || s.h.stats.resent.Load() > uint64(w.n) {
			t.Fatalf("%d packets written, %d counted resent", w.n, s.h.stats.resent.Load())
		}
	})
}

// TestRTCPSinkAnswers: a NACK of sent packets resends them, a PLI asks for
// a keyframe, a NACK for another SSRC does nothing.
func TestRTCPSinkAnswers(t *testing.T) {
	w := &countWriter{}
	s := &session{h: &Handler{}, keyframe: make(chan struct{}, 1)}
	s.video = &rtpTrack{hist: newHistory(128), b: &binding{ssrc: 7, w: w}}
	s.video.hist.put(sentFrame{pieces: [][]byte{nil, {1}, nil, {2}}, seq: 10, count: 2, marker: true})
	k := &rtcpSink{s: s}
	other, _ := (&rtcp.TransportLayerNack{MediaSSRC: 8, Nacks: []rtcp.NackPair{{PacketID: 10}}}).Marshal()
	k.Write(other)
	if w.n != 0 {
		t.Errorf("a NACK for another SSRC resent %d packets", w.n)
	}
	nack, _ := (&rtcp.TransportLayerNack{MediaSSRC: 7, Nacks: []rtcp.NackPair{{PacketID: 10, LostPackets: 0b11}}}).Marshal()
	k.Write(nack) // 10, 11 and 12: the history holds the first two
	if w.n != 2 || s.h.stats.resent.Load() != 2 {
		t.Errorf("NACK of 10-12: %d written, %d resent; want 2", w.n, s.h.stats.resent.Load())
	}
	pli, _ := (&rtcp.PictureLossIndication{MediaSSRC: 7}).Marshal()
	k.Write(pli)
	select {
	case <-s.keyframe:
	default:
		t.Error("a PLI asked for no keyframe")
	}
}

package whep

import (
	"io"
	"math/rand/v2"

	"github.com/pion/rtcp"
	"github.com/pion/transport/v4/packetio"
	"github.com/pion/webrtc/v4"
)

// A viewer's RTCP, answered where pion delivers it.
//
// pion's SRTCP session decrypts each RTCP packet a peer sends on a
// goroutine of its own, and writes it to the read stream of every SSRC
// the packet names, whose buffer the SettingEngine's BufferFactory makes.
// A sender's RTCP is usually read back from that buffer by a goroutine
// per track (RTPSender.Read). Here the buffer of each video sender's SSRC
// is that sender's rtcpSink instead: its Write answers NACKs from the
// history and turns PLI and FIR into keyframe requests as pion delivers
// them, so a viewer needs no RTCP goroutine, read buffer or queue. Every
// other RTCP (the audio's receiver reports, reports naming the browser's
// own SSRC) asks for nothing and is dropped as it arrives.
//
// For the buffer of an SSRC to find its session, the SSRCs are the
// handler's to give: each session claims one for each of its senders,
// unique among the handler's sessions, and gives it back when it ends.

// claimSSRC returns an SSRC no other session of the handler holds, held
// now for sink (nil: RTCP naming it is dropped).
func (h *Handler) claimSSRC(sink *rtcpSink) uint32 {
	for {
		ssrc := rand.Uint32()
		if ssrc == 0 {
			continue
		}
		if _, taken := h.ssrcs.LoadOrStore(ssrc, sink); !taken {
			return ssrc
		}
	}
}

// releaseSSRC gives back an SSRC claimSSRC returned.
func (h *Handler) releaseSSRC(ssrc uint32) { h.ssrcs.Delete(ssrc) }

// newBuffer is the SettingEngine's BufferFactory: for an RTCP stream, the
// sink of the video sender with that SSRC, or a sink that drops it; pion's
// buffer for RTP (a viewer sends none).
func (h *Handler) newBuffer(t packetio.BufferPacketType, ssrc uint32) io.ReadWriteCloser {
	if t == packetio.RTCPBufferPacket {
		if v, ok := h.ssrcs.Load(ssrc); ok && v.(*rtcpSink) != nil {
			return v.(*rtcpSink)
		}
		return dropSink{}
	}
	b := packetio.NewBuffer()
	b.SetLimitSize(1000 * 1000) // pion's default
	return b
}

// dropSink is the buffer of RTCP nobody reads.
type dropSink struct{}

func (dropSink) Write(b []byte) (int, error) { return len(b), nil }
func (dropSink) Read([]byte) (int, error)    { return 0, io.EOF }
func (dropSink) Close() error                { return nil }

// rtcpSink is the RTCP stream buffer of a session's video sender: Write
// acts on each packet; there is nothing to read. pion calls Write from
// the PeerConnection's one SRTCP goroutine, so out is used by it alone.
type rtcpSink struct {
	s   *session
	out packetWriter // retransmissions; the track's writer has its own
}

// Write handles one decrypted RTCP packet (compound or not). A receiver
// report covering both tracks reaches both senders' streams, so the sink
// acts only on what names its own track.
func (k *rtcpSink) Write(b []byte) (int, error) {
	s, t := k.s, k.s.video
	bd := t.bindingOrNil()
	if bd == nil {
		return len(b), nil
	}
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return len(b), nil // a bad packet is the peer's loss, not the stream's
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			s.h.stats.keyframeRequests.Add(1)
			select {
			case s.keyframe <- struct{}{}:
			default:
			}
		case *rtcp.TransportLayerNack:
			if p.MediaSSRC != bd.ssrc {
				continue
			}
			s.h.stats.nacks.Add(1)
			s.resend(&k.out, bd, t.hist, p)
		}
	}
	return len(b), nil
}

// Read reports the end: the sink keeps nothing to read.
func (k *rtcpSink) Read([]byte) (int, error) { return 0, io.EOF }

// Close implements io.Closer.
func (k *rtcpSink) Close() error { return nil }

// resend writes again each packet a NACK asks for that the history still
// holds.
func (s *session) resend(out *packetWriter, b *binding, hist *history, nack *rtcp.TransportLayerNack) {
	for _, pair := range nack.Nacks {
		pair.Range(func(seq uint16) bool {
			pk, ok := hist.get(seq)
			if !ok {
				return true
			}
			if err := out.write(b, &pk); err != nil {
				return false
			}
			s.h.stats.resent.Add(1)
			return true
		})
	}
}

// sendEncoding has pion send a track with SSRC ssrc.
func sendEncoding(ssrc uint32) []webrtc.RTPEncodingParameters {
	return []webrtc.RTPEncodingParameters{{RTPCodingParameters: webrtc.RTPCodingParameters{SSRC: webrtc.SSRC(ssrc)}}}
}

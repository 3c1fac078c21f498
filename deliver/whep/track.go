package whep

import (
	"strings"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// rtpTrack is a webrtc.TrackLocal that the session writes whole RTP
// packets to: the session packetizes, stamps and numbers them itself, so
// that it controls the RTP clock (catch-up after a GOP-cache start) and the
// header extensions.
type rtpTrack struct {
	id, streamID string
	kind         webrtc.RTPCodecType
	mime         string
	// pt, if set, is the payload type negotiation chose; Bind takes it
	// (the context lists every codec of the section).
	pt webrtc.PayloadType

	mu sync.Mutex
	b  *binding
}

// binding is what negotiation gave a track.
type binding struct {
	ssrc  uint32
	pt    uint8
	absID uint8 // abs-capture-time extension ID, 0 if not negotiated
	w     webrtc.TrackLocalWriter
}

func newRTPTrack(kind webrtc.RTPCodecType, mime, id, streamID string) *rtpTrack {
	return &rtpTrack{id: id, streamID: streamID, kind: kind, mime: mime}
}

// Bind implements webrtc.TrackLocal: it takes the chosen payload type, or
// else the first negotiated codec of the track's MIME type.
func (t *rtpTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, t.mime) || (t.pt != 0 && c.PayloadType != t.pt) {
			continue
		}
		b := &binding{ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), w: ctx.WriteStream()}
		for _, e := range ctx.HeaderExtensions() {
			if e.URI == AbsCaptureTimeURI && e.ID > 0 && e.ID < 15 {
				b.absID = uint8(e.ID)
			}
		}
		t.mu.Lock()
		t.b = b
		t.mu.Unlock()
		return c, nil
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// Unbind implements webrtc.TrackLocal.
func (t *rtpTrack) Unbind(webrtc.TrackLocalContext) error {
	t.mu.Lock()
	t.b = nil
	t.mu.Unlock()
	return nil
}

func (t *rtpTrack) binding() *binding {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b
}

// ID implements webrtc.TrackLocal.
func (t *rtpTrack) ID() string { return t.id }

// RID implements webrtc.TrackLocal.
func (t *rtpTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (t *rtpTrack) StreamID() string { return t.streamID }

// Kind implements webrtc.TrackLocal.
func (t *rtpTrack) Kind() webrtc.RTPCodecType { return t.kind }

// sender numbers and writes the RTP packets of one track. It is used by
// one goroutine.
type sender struct {
	h      *Handler
	b      *binding
	seq    uint16
	marker bool // video: the marker bit ends each access unit
	first  bool // audio: marker on the first packet of a talkspurt
}

// write sends one frame's payloads with RTP time ts. The first packet
// carries the abs-capture-time extension with the frame's ingest time
// (ntp, NTP format), if the extension was negotiated.
//
// The NACK responder keeps the packets it is given without copying them
// (nack.DisableCopy): each packet has a header of its own (one allocation
// per frame), and the payloads are the frame's shared, immutable bytes.
func (s *sender) write(payloads [][]byte, ts uint32, ntp uint64) error {
	hdrs := make([]rtp.Header, len(payloads))
	for i, p := range payloads {
		hdr := &hdrs[i]
		*hdr = rtp.Header{
			Version:        2,
			PayloadType:    s.b.pt,
			SequenceNumber: s.seq,
			Timestamp:      ts,
			SSRC:           s.b.ssrc,
		}
		if s.marker {
			hdr.Marker = i == len(payloads)-1
		} else if s.first {
			hdr.Marker = true
			s.first = false
		}
		if i == 0 && s.b.absID != 0 {
			ext := rtp.AbsCaptureTimeExtension{Timestamp: ntp}
			b, _ := ext.Marshal()
			if err := hdr.SetExtension(s.b.absID, b); err != nil {
				return err
			}
		}
		s.seq++
		if _, err := s.b.w.WriteRTP(hdr, p); err != nil {
			return err
		}
		s.h.stats.packets.Add(1)
		s.h.stats.bytes.Add(uint64(len(p)))
	}
	return nil
}

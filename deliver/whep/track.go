package whep

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
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

	// hist is the video track's retransmission history; nil for audio,
	// which browsers do not NACK (and the answer offers no nack for).
	hist *history

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

// absExtLen is the size of the header extension of a packet with
// abs-capture-time alone (RFC 8285 one-byte form, without the optional
// clock offset): the 4-byte extension header, the element's byte of ID
// and length, the 8-byte time, padding to a multiple of 4.
const absExtLen = 16

// srInterval is the time between two RTCP sender reports of a track
// (RFC 3550 6.4.1; pion's report interceptor used 1 s too).
const srInterval = time.Second

// sender numbers and writes the RTP packets of one track, keeps the video
// track's retransmission history, and sends the track's RTCP sender
// reports. It is used by one goroutine at a time.
//
// Nothing sits between a sender and pion's SRTP session: no interceptor.
// NACKs are answered from the history (rtcpSink, rtcp.go), and sender
// reports are sent from here, so no packet pays for an interceptor chain,
// and a viewer needs no goroutine, lock or allocation per packet for them.
type sender struct {
	h      *Handler
	b      *binding
	hist   *history // nil: no retransmissions (audio)
	seq    uint16
	marker bool // video: the marker bit ends each access unit
	first  bool // audio: marker on the first packet of a talkspurt
	out    packetWriter

	// Sender report state (RFC 3550 6.4.1).
	rtcp            func([]rtcp.Packet) error
	packets, octets uint32
	lastSR          time.Time
	srSent          bool
}

func newSender(s *session, t *rtpTrack, b *binding) *sender {
	return &sender{h: s.h, b: b, hist: t.hist, seq: uint16(rand.Uint32()), rtcp: s.PeerConnection().WriteRTCP}
}

// write sends one frame's payloads, pieces as appendH264Payloads makes
// them (head and body, two elements each), with RTP time ts, at now. The
// first packet carries the abs-capture-time extension with the frame's
// ingest time (ntp, NTP format), if the extension was negotiated. A sender
// report follows the frame when the last is srInterval old.
func (s *sender) write(pieces [][]byte, ts uint32, ntp uint64, now time.Time) error {
	n := len(pieces) / 2
	if s.hist != nil && n > 0 {
		// Every packet of the frame, kept as the frame: its pieces are
		// the hub's, shared and never modified.
		s.hist.put(sentFrame{pieces: pieces, ntp: ntp, ts: ts, seq: s.seq, count: uint16(n),
			marker: s.marker, abs: s.b.absID != 0})
	}
	var sent uint64
	for i := range n {
		pk := sentPacket{head: pieces[2*i], body: pieces[2*i+1], ntp: ntp, ts: ts, seq: s.seq, abs: i == 0 && s.b.absID != 0}
		if s.marker {
			pk.marker = i == n-1
		} else if s.first {
			pk.marker = true
			s.first = false
		}
		s.seq++
		if err := s.out.write(s.b, &pk); err != nil {
			return err
		}
		size := uint32(len(pk.head) + len(pk.body))
		s.packets++
		s.octets += size
		sent += uint64(size)
	}
	// Once a frame: every session on every CPU adds to these.
	s.h.stats.packets.Add(uint64(n))
	s.h.stats.bytes.Add(sent)
	if !s.srSent || now.Sub(s.lastSR) >= srInterval {
		s.srSent, s.lastSR = true, now
		// The frame just written went out at now: its RTP time is the
		// RTP clock's reading then.
		sr := &rtcp.SenderReport{SSRC: s.b.ssrc, NTPTime: ntpTime(now), RTPTime: ts,
			PacketCount: s.packets, OctetCount: s.octets}
		if err := s.rtcp([]rtcp.Packet{sr}); err != nil {
			return err
		}
	}
	return nil
}

// sentPacket is what it takes to write a packet (again): its header's
// variable fields, and its payload, head then body (see
// appendH264Payloads): the frame's shared bytes, which nothing modifies.
type sentPacket struct {
	head, body []byte
	ntp        uint64 // abs-capture-time, if abs
	ts         uint32
	seq        uint16
	marker     bool
	abs        bool
}

// packetWriter writes sentPackets through a binding, with a header it
// reuses (pion keeps neither header nor payload: the SRTP session
// marshals them at once). Used by one goroutine.
type packetWriter struct {
	hdr rtp.Header
	abs [8]byte
}

// payloadBufs holds the buffers packets' payloads are joined in (head and
// body, see appendH264Payloads), each needed only while WriteRTP runs: a
// buffer kept by each writer cost every viewer two, 2.5 KB.
var payloadBufs = sync.Pool{New: func() any { return new([]byte) }}

func (w *packetWriter) write(b *binding, pk *sentPacket) error {
	exts := w.hdr.Extensions[:0]
	w.hdr = rtp.Header{
		Version:        2,
		Marker:         pk.marker,
		PayloadType:    b.pt,
		SequenceNumber: pk.seq,
		Timestamp:      pk.ts,
		SSRC:           b.ssrc,
		Extensions:     exts,
	}
	if pk.abs {
		// abs-capture-time without the clock offset: the 64-bit NTP
		// capture time alone.
		binary.BigEndian.PutUint64(w.abs[:], pk.ntp)
		if err := w.hdr.SetExtension(b.absID, w.abs[:]); err != nil {
			return err
		}
	}
	if len(pk.head) == 0 || len(pk.body) == 0 {
		_, err := b.w.WriteRTP(&w.hdr, joinPayload(nil, pk.head, pk.body))
		return err
	}
	buf := payloadBufs.Get().(*[]byte)
	*buf = joinPayload(*buf, pk.head, pk.body)
	_, err := b.w.WriteRTP(&w.hdr, *buf)
	payloadBufs.Put(buf)
	return err
}

// history is a video track's retransmission history (RFC 4585 6.2.1
// generic NACK, answered by sending the packet again): the last n packets
// sent (n a power of two), kept as the frames they belong to, the last
// n/4 frames at most (historyFrames). The sender puts a frame at a time
// (one small write, where a slot per packet cost a cache miss each), the
// RTCP reader gets a packet at a time.
type history struct {
	mu     sync.Mutex
	frames []sentFrame // ring; next is the oldest
	next   int
	n      uint16
	newest uint16 // sequence number of the newest packet, if any
	any    bool
}

// sentFrame is the packets of a frame, as sender.write sent them.
type sentFrame struct {
	pieces [][]byte // the payloads, head and body each
	ntp    uint64
	ts     uint32
	seq    uint16 // the first packet's
	count  uint16 // packets
	marker bool   // the last packet has the marker bit
	abs    bool   // the first packet carries abs-capture-time
}

// historyFrames is the number of frames a history of n packets keeps: n/4
// (a power of two, at least 4). A video frame is several packets at any
// bitrate worth retransmitting (a 720p frame at 2.5 Mbit/s is 9); n/4
// frames of the default 128 packets are a second at 30 frames a second,
// longer than a NACK is worth answering. A slot for each packet would
// keep frames for n packets however small (48 bytes a slot, for every
// viewer).
func historyFrames(n uint16) int { return max(int(n)/4, 4) }

func newHistory(n uint16) *history {
	return &history{frames: make([]sentFrame, historyFrames(n)), n: n}
}

func (h *history) put(f sentFrame) {
	h.mu.Lock()
	h.frames[h.next] = f
	h.next = (h.next + 1) & (len(h.frames) - 1)
	h.newest, h.any = f.seq+f.count-1, true
	h.mu.Unlock()
}

// get returns the packet with sequence number seq, if it is one of the
// last n sent.
func (h *history) get(seq uint16) (sentPacket, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.any || h.newest-seq >= h.n {
		return sentPacket{}, false
	}
	for k := 1; k <= len(h.frames); k++ {
		f := &h.frames[(h.next-k)&(len(h.frames)-1)]
		if f.count == 0 {
			break
		}
		if d := seq - f.seq; d < f.count {
			return sentPacket{head: f.pieces[2*d], body: f.pieces[2*d+1], ntp: f.ntp, ts: f.ts, seq: seq,
				marker: f.marker && d == f.count-1, abs: f.abs && d == 0}, true
		}
	}
	return sentPacket{}, false
}

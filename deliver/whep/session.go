package whep

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/media/h264"
	"github.com/liveloop/liveloop/webrtcapi"
	"github.com/liveloop/liveloop/webrtcapi/resource"
)

// Timing of a viewer's start and catch-up.
const (
	// liveAge: a frame ingested longer ago than this is behind the live
	// edge, and is sent on the compressed clock while catching up.
	liveAge = 50 * time.Millisecond
	// catchUpStep is the RTP time between two frames sent while catching
	// up: 1 ms at 90 kHz.
	catchUpStep = 90
	// audioMaxAge: audio older than this when a viewer starts (or skips)
	// is not sent; the audio jitter buffer would only play it late.
	audioMaxAge = 250 * time.Millisecond
	// audioPoll is how often a session looks for a companion audio stream
	// that does not exist (yet, or any more).
	audioPoll = 500 * time.Millisecond
)

// session is one WHEP viewer: the protocol's side of a resource.Session
// (which owns the PeerConnection and the life cycle), the tracks it sends
// and the workers that feed them.
type session struct {
	*resource.Session // set by Negotiate
	h                 *Handler

	sendVideo bool
	chosen    h264Offer // the video payload type, if sendVideo
	sendAudio bool

	video, audio *rtpTrack
	// audioFromStream: the stream's own audio is Opus and goes out from
	// the main subscriber; otherwise a companion stream is looked for.
	audioFromStream bool
	keyframe        chan struct{} // PLI or FIR arrived
	ssrcs           []uint32      // claimed from the handler (see rtcp.go)

	// cues, if the offer has a data channel section: the cue channel,
	// and the Seq of the stream's newest packet when the offer came.
	cues     *cueChannel
	cueAfter uint64
}

// accept checks an offer against its stream and chooses what to send: the
// stream's H.264 on an offered payload type that decodes it, and Opus if
// both have it.
func (h *Handler) accept(o *resource.Offer) (resource.Peer, error) {
	if o.Video == nil && o.Audio == nil {
		return nil, fmt.Errorf("whep: %w: no audio or video media section", ErrBadSDP)
	}
	st := h.cfg.Hub.Stream(o.Stream)
	if st == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, o.Stream)
	}
	info := st.Info()
	if len(info.Tracks) == 0 || info.State == hub.StateEnded {
		return nil, fmt.Errorf("%w: %q is not live", ErrNotFound, o.Stream)
	}
	var vt, at *media.Track
	for _, t := range info.Tracks {
		if t.Kind == media.KindVideo && vt == nil {
			vt = t
		}
		if t.Kind == media.KindAudio && at == nil {
			at = t
		}
	}
	s := &session{h: h, keyframe: make(chan struct{}, 1), audioFromStream: at != nil && at.Codec == media.CodecOpus}
	if hasApplication(o.SDP) {
		s.cues, s.cueAfter = &cueChannel{h: h}, info.Packets
	}
	if vt != nil {
		if vt.Codec != media.CodecH264 {
			return nil, fmt.Errorf("whep: %w: the stream's video is %s; WHEP sends H.264", ErrNoCodec, vt.Codec)
		}
		if o.Video == nil {
			return nil, fmt.Errorf("whep: %w: the offer has no video section", ErrNoCodec)
		}
		if info.Reordered {
			// Browsers' WebRTC decodes frames in arrival order and shows
			// few of a stream with B-frames; the player takes another
			// transport on this answer.
			return nil, fmt.Errorf("whep: %w: the stream's video has B-frames, which browsers cannot play over WebRTC; publish without B-frames (x264: bframes=0 or tune zerolatency) or watch over WebSocket or LL-HLS", ErrNoCodec)
		}
		src, err := sourceOf(vt)
		if err != nil {
			return nil, fmt.Errorf("whep: %w: %v", ErrNoCodec, err)
		}
		if s.chosen, err = chooseH264(webrtcapi.OfferedCodecs(o.Video), src); err != nil {
			return nil, err
		}
		s.sendVideo = true
	}
	s.sendAudio = o.Audio != nil && at != nil && webrtcapi.HasCodec(webrtcapi.OfferedCodecs(o.Audio), "opus", 48000)
	if vt == nil && !s.sendAudio {
		return nil, fmt.Errorf("whep: %w: the stream has audio only, and the offer has no Opus", ErrNoCodec)
	}
	return s, nil
}

// sourceOf reads the profile and level of an H.264 track from its SPS.
func sourceOf(t *media.Track) (sourceH264, error) {
	cfg, err := h264.ParseDecoderConfig(t.Config)
	if err != nil {
		return sourceH264{}, err
	}
	if len(cfg.SPS) > 0 {
		if sps, err := h264.ParseSPS(cfg.SPS[0]); err == nil {
			return sourceH264{ProfileIDC: sps.ProfileIDC, Flags: sps.ConstraintFlags, Level: sps.LevelIDC}, nil
		}
	}
	return sourceH264{ProfileIDC: cfg.ProfileIndication, Flags: cfg.ProfileCompatibility, Level: cfg.LevelIndication}, nil
}

// Negotiate applies the offer: a send-only video transceiver restricted to
// the chosen H.264 payload type, a send-only Opus one, and the cue channel
// if the offer has a data channel section.
func (s *session) Negotiate(rs *resource.Session) error {
	s.Session = rs
	pc := rs.PeerConnection()
	if s.cues != nil {
		pc.OnDataChannel(s.cues.accept)
	}
	msid := "liveloop"
	// Each sender's SSRC is claimed from the handler, the video's for its
	// RTCP sink (see rtcp.go); Ended gives them back.
	if s.sendVideo {
		s.video = newRTPTrack(webrtc.RTPCodecTypeVideo, webrtc.MimeTypeH264, "video", msid)
		s.video.pt = webrtc.PayloadType(s.chosen.PayloadType)
		s.video.hist = newHistory(s.h.cfg.NACKBuffer)
		s.ssrcs = append(s.ssrcs, s.h.claimSSRC(&rtcpSink{s: s}))
		if _, err := pc.AddTransceiverFromTrack(s.video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly,
			SendEncodings: sendEncoding(s.ssrcs[len(s.ssrcs)-1])}); err != nil {
			return err
		}
	}
	if s.sendAudio {
		s.audio = newRTPTrack(webrtc.RTPCodecTypeAudio, webrtc.MimeTypeOpus, "audio", msid)
		s.ssrcs = append(s.ssrcs, s.h.claimSSRC(nil))
		if _, err := pc.AddTransceiverFromTrack(s.audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly,
			SendEncodings: sendEncoding(s.ssrcs[len(s.ssrcs)-1])}); err != nil {
			return err
		}
	}
	if err := rs.ApplyOffer(); err != nil {
		return err
	}
	for _, tr := range pc.GetTransceivers() {
		if snd := tr.Sender(); snd != nil && snd.Track() != nil && snd.Track() == s.video {
			if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{s.chosen.Parameters(webrtc.MimeTypeH264)}); err != nil {
				return fmt.Errorf("whep: %w: %v", ErrNoCodec, err)
			}
		}
	}
	return nil
}

// Start logs the session's start. Nothing is sent before the peer
// connects (Connected).
func (s *session) Start() error {
	s.Logger().Info("whep session started", "codec", s.chosen.Fmtp, "audio", s.sendAudio)
	return nil
}

// Ended gives back the senders' SSRCs; whatever served the session had
// let go of it (viewer.close) before.
func (s *session) Ended() {
	for _, ssrc := range s.ssrcs {
		s.h.releaseSSRC(ssrc)
	}
}

// Connected plays the stream's video (and its audio, if Opus) from the
// moment the peer connects, starting at the GOP cache's newest keyframe:
// the session becomes a viewer of its stream's live writer (see live.go)
// until its context ends. resource.Session calls it from pion's state
// callback.
func (s *session) Connected() {
	release, ok := s.Hold()
	if !ok {
		return
	}
	sub, err := s.h.cfg.Hub.Subscribe(s.Stream())
	if err != nil {
		s.End("stream ended")
		release()
		return
	}
	w := &mainWriter{s: s, clock: newVideoClock()}
	s.h.stats.catchUps.Add(1)
	if b := s.video.bindingOrNil(); b != nil {
		w.video = newSender(s, s.video, b)
		w.video.marker = true
	}
	if s.cues != nil {
		w.cues = &cueWriter{ch: s.cues, after: s.cueAfter, video: w.video != nil}
	}
	if s.audioFromStream && s.audio != nil {
		if b := s.audio.binding(); b != nil {
			w.audio = newSender(s, s.audio, b)
			w.audio.first = true
			w.aclock = newAudioClock()
		}
	}
	if s.audio != nil && !s.audioFromStream {
		if b := s.audio.binding(); b != nil {
			w.companion = newCompanion(s, b)
		}
	}
	v := &viewer{s: s, w: w, sub: sub, release: release}
	if w.video == nil && w.audio == nil && w.cues == nil && w.companion == nil {
		// Nothing to send: the subscriber is held until the end.
		context.AfterFunc(s.Context(), v.close)
		return
	}
	// The packets of each batch from the hub (a frame, or several while
	// catching up) go to the peer together (see webrtcapi.Batch).
	v.batch = s.batch()
	s.h.join(v)
}

// batch returns the batch of the peer's UDP address (the selected
// candidate pair's remote), or nil: over ICE-TCP, or if the address is
// not known or the transport cannot batch.
func (s *session) batch() *webrtcapi.Batch {
	pair, err := s.PeerConnection().SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Remote == nil || pair.Remote.Protocol != webrtc.ICEProtocolUDP {
		return nil
	}
	addr, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		return nil
	}
	return s.h.tr.Batch(netip.AddrPortFrom(addr, pair.Remote.Port))
}

func (t *rtpTrack) bindingOrNil() *binding {
	if t == nil {
		return nil
	}
	return t.binding()
}

// mainWriter turns the main subscriber's packets into RTP.
type mainWriter struct {
	s      *session
	video  *sender
	audio  *sender
	clock  *videoClock
	aclock *audioClock
	cues   *cueWriter // nil without a cue channel
	// companion, if the stream's audio is not Opus: the companion
	// stream's, written after each batch of the stream's.
	companion *companion
	track     *media.Track // the video track cfg belongs to
	cfg       *h264.DecoderConfig
	pays      [][]byte
	sentKey   bool
	lastKey   time.Time
}

func (w *mainWriter) catchUp() {
	w.s.h.stats.catchUps.Add(1)
	w.clock.catchUp = true
	if w.aclock != nil {
		w.aclock.skipping = true
	}
}

func (w *mainWriter) write(p *hub.Packet) error {
	if p.Frame == nil {
		if p.Cue != nil && w.cues != nil {
			w.cues.cue(p)
		}
		return nil
	}
	if w.cues != nil && len(w.cues.pending) > 0 {
		w.cues.flush() // the channel may have opened since
	}
	now := w.s.h.cfg.Now()
	if !p.Video {
		if w.audio == nil || p.Track().Codec != media.CodecOpus {
			return nil
		}
		ts, ok := w.aclock.stamp(p.Frame.PTS, p.Track().ClockRate, now.Sub(p.Frame.Wall))
		if !ok {
			return nil
		}
		w.pays = append(w.pays[:0], nil, p.Frame.Data)
		return w.audio.write(w.pays, ts, ntpTime(p.Frame.Wall), now)
	}
	if w.video == nil {
		return nil
	}
	t := p.Track()
	if t.Codec != media.CodecH264 {
		return nil
	}
	if t != w.track {
		w.track = t
		w.cfg, _ = h264.ParseDecoderConfig(t.Config)
	}
	f := p.Frame
	// The payloads are the same for every viewer: made once per frame, on
	// the hub packet, and shared (each viewer writes its own RTP headers).
	// They are pieces of the frame's own bytes and small heads, not a copy
	// of it, since the hub keeps a frame for as long as its ring does.
	cfg, mtu := w.cfg, w.s.h.cfg.MTU
	pays := p.CachedParts(hub.SlotRTP, func(p *hub.Packet) [][]byte {
		nalus, err := accessUnit(nil, p.Frame.Data, p.Frame.Key, cfg)
		if err != nil {
			return nil // a malformed frame is dropped, not fatal
		}
		pays, _ := appendH264Payloads(nil, nil, nalus, mtu, absExtLen)
		return pays
	})
	if pays == nil {
		return nil
	}
	pts := toTicks(f.PTS, t.ClockRate, 90000)
	ts := w.clock.stamp(pts, toTicks(f.Duration, t.ClockRate, 90000), now.Sub(f.Wall) > liveAge)
	if err := w.video.write(pays, uint32(ts), ntpTime(f.Wall), now); err != nil {
		return err
	}
	if w.cues != nil {
		w.cues.frame(pts, ts)
	}
	if f.Key {
		w.lastKey = now
		if !w.sentKey {
			w.sentKey = true
			w.s.h.recordFirstKeyframe(w.s.h.cfg.Now().Sub(w.s.ConnectedAt()))
		}
	}
	return nil
}

// toTicks converts a timestamp from one clock rate to another.
func toTicks(t int64, from, to uint32) int64 {
	if from == to || from == 0 {
		return t
	}
	return t/int64(from)*int64(to) + t%int64(from)*int64(to)/int64(from)
}

// videoClock maps a viewer's video frames to RTP time: PTS plus an offset,
// except while catching up from the GOP cache, when the frames behind the
// live edge go catchUpStep apart, so that the player decodes them at once
// and shows the live edge next.
type videoClock struct {
	offset  int64
	last    int64
	started bool
	catchUp bool
}

func newVideoClock() *videoClock {
	return &videoClock{last: int64(rand.Uint32()), catchUp: true}
}

// stamp returns the RTP time (unwrapped) of a frame at pts (90 kHz) that
// lasts dur, behind telling whether it is behind the live edge.
func (c *videoClock) stamp(pts, dur int64, behind bool) int64 {
	if c.catchUp && behind {
		c.last += catchUpStep
		return c.last
	}
	if c.catchUp || !c.started {
		if dur <= 0 {
			dur = 3000
		}
		off := c.last + dur - pts
		if !c.started || off > c.offset {
			c.offset = off
		}
		c.catchUp = false
		c.started = true
	}
	ts := pts + c.offset
	c.last = max(c.last, ts)
	return ts
}

// audioClock maps audio frames to RTP time (PTS plus a random offset) and
// drops stale audio when a viewer starts or skips.
type audioClock struct {
	offset   int64
	skipping bool
}

func newAudioClock() *audioClock {
	return &audioClock{offset: int64(rand.Uint32()), skipping: true}
}

// stamp returns the RTP time of an audio frame at pts on a clock of rate
// (converted to 48 kHz), or false if the frame should not be sent.
func (c *audioClock) stamp(pts int64, rate uint32, age time.Duration) (uint32, bool) {
	if c.skipping {
		if age > audioMaxAge {
			return 0, false
		}
		c.skipping = false
	}
	return uint32(toTicks(pts, rate, 48000) + c.offset), true
}

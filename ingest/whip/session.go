package whip

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/webrtcapi"
	"github.com/liveloop/liveloop/webrtcapi/resource"
)

// tickInterval is how often a session releases packets whose gaps have
// waited long enough and considers a keyframe request.
const tickInterval = 20 * time.Millisecond

// session is one WHIP publisher: the protocol's side of a
// resource.Session (which owns the PeerConnection and the life cycle), the
// goroutines that read its tracks, and the one goroutine (run) that owns
// the ingester and writes to the Sink, which Ended closes.
type session struct {
	*resource.Session // set by Negotiate
	h                 *Handler
	chosen            webrtcapi.OfferedCodec // the H.264 payload type to receive
	audio             bool                   // Opus was negotiated
	sink              media.Sink             // set by Start
	events            chan event

	mu                 sync.Mutex // guards the two flags below against concurrent onTrack
	gotVideo, gotAudio bool
	videoSSRC          atomic.Uint32
	videoSSRCKnown     atomic.Bool
}

// event is what the track readers send to the session's run goroutine.
type event struct {
	video bool
	pkt   *rtp.Packet // an RTP packet, or
	sr    *rtcp.SenderReport
	at    time.Time
}

// chooseH264 picks the offered H.264 payload type to receive: the first of
// packetization-mode 1 in the offer's order whose profile the media engine
// knows, else the first such of mode 0 (single NAL units).
func chooseH264(codecs []webrtcapi.OfferedCodec) (webrtcapi.OfferedCodec, bool) {
	for _, mode := range []string{"1", "0"} {
		for _, c := range codecs {
			if !strings.EqualFold(c.Name, "H264") || c.ClockRate != 90000 {
				continue
			}
			pm, _ := c.Param("packetization-mode")
			if pm == "" {
				pm = "0" // RFC 6184 8.1
			}
			plid, ok := c.Param("profile-level-id")
			if !ok {
				plid = "42000a"
			}
			if pm != mode || len(plid) != 6 || !knownProfile(plid) {
				continue
			}
			return c, true
		}
	}
	return webrtcapi.OfferedCodec{}, false
}

// knownProfile reports whether profile-level-id has the profile (first
// two bytes) of one that the media engine registers.
func knownProfile(plid string) bool {
	for _, p := range h264Profiles {
		if strings.EqualFold(p[:4], plid[:4]) {
			return true
		}
	}
	return false
}

// accept checks an offer: it must have H.264 video this handler takes;
// Opus audio is taken if offered.
func (h *Handler) accept(o *resource.Offer) (resource.Peer, error) {
	if o.Video == nil {
		return nil, fmt.Errorf("whip: %w: the offer has no video; Liveloop takes H.264 video with optional Opus audio", ErrNoCodec)
	}
	chosen, ok := chooseH264(webrtcapi.OfferedCodecs(o.Video))
	if !ok {
		return nil, fmt.Errorf("whip: %w: the offer's video has no H.264 payload type (packetization-mode 1 or 0, a Baseline, Main or High profile)", ErrNoCodec)
	}
	audio := o.Audio != nil && webrtcapi.HasCodec(webrtcapi.OfferedCodecs(o.Audio), "opus", 48000)
	return &session{h: h, chosen: chosen, audio: audio, events: make(chan event, 1024)}, nil
}

// Negotiate applies the offer: the video section restricted to the chosen
// H.264 payload type, audio to Opus.
func (s *session) Negotiate(rs *resource.Session) error {
	s.Session = rs
	pc := rs.PeerConnection()
	pc.OnTrack(s.onTrack)
	if err := rs.ApplyOffer(); err != nil {
		return err
	}
	video := false
	for _, tr := range pc.GetTransceivers() {
		if tr.Kind() != webrtc.RTPCodecTypeVideo || video {
			continue
		}
		video = true
		if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{s.chosen.Parameters(webrtc.MimeTypeH264)}); err != nil {
			return fmt.Errorf("whip: %w: %v", ErrNoCodec, err)
		}
	}
	if !video {
		return fmt.Errorf("whip: %w: no video transceiver", ErrNoCodec)
	}
	return nil
}

// Start opens the hub side, last, so that a bad offer takes no stream
// over, and starts the goroutine that writes to it.
func (s *session) Start() error {
	sink, err := s.h.cfg.Publish(s.Stream())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBusy, err)
	}
	s.sink = sink
	s.Go(s.run)
	s.Logger().Info("whip session started", "codec", s.chosen.Fmtp, "audio", s.audio)
	return nil
}

// Ended closes the Sink, so the hub keeps the stream's viewers for its
// grace period.
func (s *session) Ended() {
	if s.sink != nil {
		s.sink.Close()
	}
}

// onTrack starts the readers of the first H.264 and the first Opus track;
// other tracks are not read.
func (s *session) onTrack(t *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
	mime := t.Codec().MimeType
	video := strings.EqualFold(mime, webrtc.MimeTypeH264)
	if !video && !(s.audio && strings.EqualFold(mime, webrtc.MimeTypeOpus)) {
		return
	}
	s.mu.Lock()
	if (video && s.gotVideo) || (!video && s.gotAudio) {
		s.mu.Unlock()
		return
	}
	if video {
		s.gotVideo = true
	} else {
		s.gotAudio = true
	}
	s.mu.Unlock()
	if video {
		s.videoSSRC.Store(uint32(t.SSRC()))
		s.videoSSRCKnown.Store(true)
	}
	s.Go(func() { s.readRTP(t, video) })
	s.Go(func() { s.readRTCP(rcv, video) })
}

func (s *session) send(ev event) bool {
	select {
	case s.events <- ev:
		return true
	case <-s.Context().Done():
		return false
	}
}

// readRTP reads one track's RTP packets (after the interceptors: NACKs
// and reports are taken care of) and hands them to run.
func (s *session) readRTP(t *webrtc.TrackRemote, video bool) {
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		s.h.stats.packets.Add(1)
		s.h.stats.bytes.Add(uint64(len(pkt.Payload)))
		if !s.send(event{video: video, pkt: pkt, at: s.h.cfg.Now()}) {
			return
		}
	}
}

// readRTCP reads the RTCP of one receiver and passes on sender reports.
func (s *session) readRTCP(rcv *webrtc.RTPReceiver, video bool) {
	for {
		pkts, _, err := rcv.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				s.h.stats.senderReports.Add(1)
				if !s.send(event{video: video, sr: sr, at: s.h.cfg.Now()}) {
					return
				}
			}
		}
	}
}

// run owns the ingester: it takes the readers' events in arrival order,
// writes frames to the Sink and asks for keyframes.
func (s *session) run() {
	g := newIngester(s.sink, s.audio, s.h.cfg, &s.h.stats)
	tick := time.NewTicker(tickInterval)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-s.Context().Done():
			return
		case <-s.sink.Done():
			s.End("the hub ended the publisher (another took the stream over, or shutdown)")
			return
		case ev := <-s.events:
			switch {
			case ev.sr != nil:
				g.senderReport(ev.video, ev.sr.RTPTime, ev.sr.NTPTime)
			case ev.video:
				err = g.video(ev.pkt, ev.at)
			default:
				err = g.audio(ev.pkt, ev.at)
			}
		case now := <-tick.C:
			err = g.tick(now)
		}
		if err != nil {
			s.End("hub: " + err.Error())
			return
		}
		if s.videoSSRCKnown.Load() && g.wantKeyframe(s.h.cfg.Now()) {
			s.h.stats.keyframeRequests.Add(1)
			if err := s.PeerConnection().WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: s.videoSSRC.Load()}}); err != nil && s.Context().Err() == nil {
				s.Logger().Debug("whip: PLI not sent", "err", err)
			}
		}
	}
}

package whip

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/webrtcapi"
)

// tickInterval is how often a session releases packets whose gaps have
// waited long enough and considers a keyframe request.
const tickInterval = 20 * time.Millisecond

// session is one WHIP publisher: a PeerConnection, the goroutines that
// read its tracks, and the one goroutine (run) that owns the ingester and
// writes to the Sink. Its context ends it; the supervisor goroutine then
// closes the PeerConnection, waits for the others, closes the Sink and
// forgets the session.
type session struct {
	h      *Handler
	id     string
	stream string
	log    *slog.Logger
	pc     *webrtc.PeerConnection
	sink   media.Sink
	audio  bool // Opus was negotiated

	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when the session is over and cleaned up
	wg     sync.WaitGroup

	connectOnce sync.Once
	connected   chan struct{}
	events      chan event

	mu                 sync.Mutex // guards closing and the two flags below against onTrack
	closing            bool
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

func (s *session) end(reason string) { s.cancel(errors.New(reason)) }

func newSessionID() string {
	var b [16]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
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

func hasOpus(codecs []webrtcapi.OfferedCodec) bool {
	for _, c := range codecs {
		if strings.EqualFold(c.Name, "opus") && c.ClockRate == 48000 {
			return true
		}
	}
	return false
}

// newSession negotiates a session publishing to stream from an SDP offer
// and returns it with the SDP answer (holding all of the server's
// candidates).
func (h *Handler) newSession(ctx context.Context, stream, offer string) (*session, string, error) {
	if h.ctx.Err() != nil {
		return nil, "", ErrClosed
	}
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(offer); err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	var videoMD, audioMD *sdp.MediaDescription
	for _, md := range desc.MediaDescriptions {
		switch md.MediaName.Media {
		case "video":
			if videoMD == nil {
				videoMD = md
			}
		case "audio":
			if audioMD == nil {
				audioMD = md
			}
		}
	}
	if videoMD == nil {
		return nil, "", fmt.Errorf("%w: the offer has no video; Liveloop takes H.264 video with optional Opus audio", ErrNoCodec)
	}
	chosen, ok := chooseH264(webrtcapi.OfferedCodecs(videoMD))
	if !ok {
		return nil, "", fmt.Errorf("%w: the offer's video has no H.264 payload type (packetization-mode 1 or 0, a Baseline, Main or High profile)", ErrNoCodec)
	}
	audio := audioMD != nil && hasOpus(webrtcapi.OfferedCodecs(audioMD))

	pc, err := h.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", err
	}
	id := newSessionID()
	sctx, cancel := context.WithCancelCause(h.ctx)
	s := &session{
		h: h, id: id, stream: stream, pc: pc, audio: audio,
		log:       h.log.With("stream", stream, "session", id[:8]),
		ctx:       sctx,
		cancel:    cancel,
		done:      make(chan struct{}),
		connected: make(chan struct{}),
		events:    make(chan event, 1024),
	}
	answer, err := s.negotiate(ctx, offer, chosen)
	if err != nil {
		cancel(err)
		pc.Close()
		return nil, "", err
	}
	// Open the hub side last, so that a bad offer takes no stream over.
	sink, err := h.cfg.Publish(stream)
	if err != nil {
		cancel(err)
		pc.Close()
		return nil, "", fmt.Errorf("%w: %v", ErrBusy, err)
	}
	s.sink = sink

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		cancel(ErrClosed)
		pc.Close()
		sink.Close()
		return nil, "", ErrClosed
	}
	h.sessions[id] = s
	h.wg.Add(1)
	h.mu.Unlock()
	h.stats.total.Add(1)
	s.wg.Add(1)
	go s.run()
	go s.supervise()
	s.log.Info("whip session started", "codec", chosen.Fmtp, "audio", audio)
	return s, answer, nil
}

// negotiate applies the offer and makes the answer: the video section
// restricted to the chosen H.264 payload type, audio to Opus.
func (s *session) negotiate(ctx context.Context, offer string, chosen webrtcapi.OfferedCodec) (string, error) {
	pc := s.pc
	pc.OnTrack(s.onTrack)
	pc.OnConnectionStateChange(s.onState)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	fb := make([]webrtc.RTCPFeedback, 0, len(chosen.Feedback))
	for _, f := range chosen.Feedback {
		typ, param, _ := strings.Cut(f, " ")
		fb = append(fb, webrtc.RTCPFeedback{Type: typ, Parameter: param})
	}
	video := false
	for _, tr := range pc.GetTransceivers() {
		if tr.Kind() != webrtc.RTPCodecTypeVideo || video {
			continue
		}
		video = true
		if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: chosen.Fmtp, RTCPFeedback: fb,
			},
			PayloadType: webrtc.PayloadType(chosen.PayloadType),
		}}); err != nil {
			return "", fmt.Errorf("%w: %v", ErrNoCodec, err)
		}
	}
	if !video {
		return "", fmt.Errorf("%w: no video transceiver", ErrNoCodec)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-s.h.ctx.Done():
		return "", ErrClosed
	}
	return pc.LocalDescription().SDP, nil
}

func (s *session) onState(st webrtc.PeerConnectionState) {
	switch st {
	case webrtc.PeerConnectionStateConnected:
		s.connectOnce.Do(func() { close(s.connected) })
	case webrtc.PeerConnectionStateFailed:
		s.end("ICE or DTLS failed")
	case webrtc.PeerConnectionStateClosed:
		s.end("peer connection closed")
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
	if s.closing || (video && s.gotVideo) || (!video && s.gotAudio) {
		s.mu.Unlock()
		return
	}
	if video {
		s.gotVideo = true
	} else {
		s.gotAudio = true
	}
	s.wg.Add(2)
	s.mu.Unlock()
	if video {
		s.videoSSRC.Store(uint32(t.SSRC()))
		s.videoSSRCKnown.Store(true)
	}
	go s.readRTP(t, video)
	go s.readRTCP(rcv, video)
}

func (s *session) send(ev event) bool {
	select {
	case s.events <- ev:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// readRTP reads one track's RTP packets (after the interceptors: NACKs
// and reports are taken care of) and hands them to run.
func (s *session) readRTP(t *webrtc.TrackRemote, video bool) {
	defer s.wg.Done()
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
	defer s.wg.Done()
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
	defer s.wg.Done()
	g := newIngester(s.sink, s.audio, s.h.cfg, &s.h.stats)
	tick := time.NewTicker(tickInterval)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-s.ctx.Done():
			return
		case <-s.sink.Done():
			s.end("the hub ended the publisher (another took the stream over, or shutdown)")
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
			s.end("hub: " + err.Error())
			return
		}
		if s.videoSSRCKnown.Load() && g.wantKeyframe(s.h.cfg.Now()) {
			s.h.stats.keyframeRequests.Add(1)
			if err := s.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: s.videoSSRC.Load()}}); err != nil && s.ctx.Err() == nil {
				s.log.Debug("whip: PLI not sent", "err", err)
			}
		}
	}
}

func (s *session) supervise() {
	defer s.h.wg.Done()
	t := time.NewTimer(s.h.cfg.ConnectTimeout)
	select {
	case <-s.connected:
	case <-t.C:
		s.end("peer did not connect in time")
	case <-s.ctx.Done():
	}
	t.Stop()
	<-s.ctx.Done()
	s.pc.Close()
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.wg.Wait()
	s.sink.Close()
	s.h.mu.Lock()
	delete(s.h.sessions, s.id)
	s.h.mu.Unlock()
	s.log.Info("whip session ended", "reason", context.Cause(s.ctx).Error())
	close(s.done)
}

package whip

import (
	"bytes"
	"time"

	"github.com/pion/rtp"

	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/media/h264"
	"github.com/liveloop/liveloop/media/opus"
)

// ingester turns one session's RTP packets into tracks and frames on a
// media.Sink: the reorder buffers, the H.264 depacketizer, parameter set
// tracking, the timeline, and the keyframe request policy. It does no I/O
// of its own besides the Sink, and is owned by one goroutine (the
// session's), so it needs no lock.
type ingester struct {
	sink     media.Sink
	hasAudio bool
	now      func() time.Time
	stats    *counters
	// keyInterval: ask for a keyframe when none came for this long (a
	// browser sends one only when asked, and the hub's GOP cache needs
	// them). pliRetry: the shortest interval between two requests.
	keyInterval, pliRetry time.Duration

	vbuf, abuf *reorderBuffer
	dep        Depacketizer
	tl         *timeline
	avcc       []byte

	sps, pps  []byte // newest parameter sets seen
	announced []byte // SPS and PPS of the announced video track
	tracks    []*media.Track
	waitKey   bool
	lost      int // reorder buffer counts already added to stats
	late      int
	lastKey   time.Time
	lastPLI   time.Time
}

func newIngester(sink media.Sink, hasAudio bool, cfg Config, stats *counters) *ingester {
	return &ingester{
		sink: sink, hasAudio: hasAudio, now: cfg.Now, stats: stats,
		keyInterval: cfg.KeyframeInterval, pliRetry: cfg.KeyframeRetry,
		vbuf: newReorderBuffer(cfg.ReorderDelay), abuf: newReorderBuffer(cfg.ReorderDelay),
		tl: newTimeline(), waitKey: true,
	}
}

// video takes an H.264 RTP packet that arrived at at.
func (g *ingester) video(p *rtp.Packet, at time.Time) error {
	return g.videoOrdered(g.vbuf.push(p, at))
}

// audio takes an Opus RTP packet that arrived at at.
func (g *ingester) audio(p *rtp.Packet, at time.Time) error {
	for _, op := range g.abuf.push(p, at) {
		if err := g.audioFrame(op); err != nil {
			return err
		}
	}
	return nil
}

// tick releases packets whose gaps have waited long enough, and adds
// the reorder buffers' counts to the handler's.
func (g *ingester) tick(now time.Time) error {
	lost := g.vbuf.skipped + g.abuf.skipped
	late := g.vbuf.late + g.vbuf.duplicate + g.abuf.late + g.abuf.duplicate
	g.stats.lost.Add(uint64(lost - g.lost))
	g.stats.late.Add(uint64(late - g.late))
	g.lost, g.late = lost, late
	if err := g.videoOrdered(g.vbuf.expire(now)); err != nil {
		return err
	}
	for _, op := range g.abuf.expire(now) {
		if err := g.audioFrame(op); err != nil {
			return err
		}
	}
	return nil
}

func (g *ingester) videoOrdered(ops []orderedPacket) error {
	for _, op := range ops {
		broken := g.dep.Broken
		aus, err := g.dep.Push(op.pkt.Payload, op.pkt.Timestamp, op.pkt.Marker, op.lost)
		if err != nil {
			g.stats.badPayloads.Add(1)
		}
		if g.dep.Broken != broken {
			// A picture was lost: what follows refers to it, so wait for
			// the next keyframe (and ask for it).
			g.stats.brokenFrames.Add(uint64(g.dep.Broken - broken))
			g.waitKey = true
		}
		for _, au := range aus {
			if err := g.videoFrame(au, op.at); err != nil {
				return err
			}
		}
	}
	return nil
}

// videoFrame publishes one access unit: parameter sets go to the track's
// decoder configuration (announced again when they change), the rest is
// the frame, in AVCC.
func (g *ingester) videoFrame(au AccessUnit, at time.Time) error {
	dts := g.tl.stamp(&g.tl.video, au.Timestamp, at)
	key := false
	g.avcc = g.avcc[:0]
	for _, nal := range au.NALUs {
		switch h264.NALUType(nal) {
		case h264.NALUTypeSPS:
			g.sps = nal
			continue
		case h264.NALUTypePPS:
			g.pps = nal
			continue
		case h264.NALUTypeAUD, h264.NALUTypeFillerData:
			continue
		case h264.NALUTypeIDR:
			key = true
		}
		g.avcc = h264.AppendAVCC(g.avcc, nal)
	}
	if key && g.sps != nil && g.pps != nil {
		if err := g.announce(); err != nil {
			return err
		}
	}
	if g.announced == nil || (g.waitKey && !key) || len(g.avcc) == 0 {
		g.stats.framesDropped.Add(1)
		return nil
	}
	if key {
		g.waitKey = false
		g.lastKey = at
		g.stats.keyframes.Add(1)
	}
	f := &media.Frame{Track: 0, DTS: dts, PTS: dts, Key: key, Data: bytes.Clone(g.avcc), Wall: at}
	g.stats.framesIn.Add(1)
	return g.sink.WriteFrame(f)
}

// announce sets the tracks if the parameter sets differ from the
// announced ones.
func (g *ingester) announce() error {
	ps := append(append(append([]byte(nil), g.sps...), 0, 0, 0, 1), g.pps...)
	if bytes.Equal(ps, g.announced) {
		return nil
	}
	dc, err := h264.NewDecoderConfig([][]byte{g.sps}, [][]byte{g.pps})
	if err != nil {
		g.stats.badPayloads.Add(1)
		return nil // keep waiting for usable parameter sets
	}
	sps, err := h264.ParseSPS(g.sps)
	if err != nil {
		return nil
	}
	tracks := []*media.Track{{
		ID: 1, Kind: media.KindVideo, Codec: media.CodecH264, Config: dc.Marshal(),
		CodecString: sps.CodecString(), ClockRate: 90000, Width: sps.Width, Height: sps.Height,
	}}
	if g.hasAudio {
		// A WebRTC Opus stream is 48 kHz, signalled as stereo (RFC 7587
		// 7), and has no priming samples to discard: no pre-skip.
		head := opus.Head{Channels: 2, InputRate: opus.SampleRate}
		tracks = append(tracks, &media.Track{
			ID: 2, Kind: media.KindAudio, Codec: media.CodecOpus, Config: head.Marshal(), CodecString: "opus",
			ClockRate: 48000, SampleRate: 48000, Channels: 2,
		})
	}
	if err := g.sink.SetTracks(tracks); err != nil {
		return err
	}
	g.announced = ps
	g.tracks = tracks
	g.stats.announcements.Add(1)
	return nil
}

// audioFrame publishes one Opus packet (RFC 7587: one RTP packet carries
// one Opus packet) as a frame.
func (g *ingester) audioFrame(op orderedPacket) error {
	p := op.pkt
	dts := g.tl.stamp(&g.tl.audio, p.Timestamp, op.at)
	n, err := opus.PacketSamples(p.Payload)
	if g.announced == nil || !g.hasAudio || err != nil {
		g.stats.framesDropped.Add(1)
		return nil
	}
	f := &media.Frame{Track: 1, DTS: dts, PTS: dts, Duration: int64(n), Key: true, Data: bytes.Clone(p.Payload), Wall: op.at}
	g.stats.framesIn.Add(1)
	return g.sink.WriteFrame(f)
}

// senderReport takes an RTCP sender report of the video or audio stream.
func (g *ingester) senderReport(video bool, rtpTime uint32, ntp uint64) {
	c := &g.tl.audio
	if video {
		c = &g.tl.video
	}
	g.tl.senderReport(c, rtpTime, ntp)
}

// wantKeyframe reports whether to send a keyframe request now: while
// waiting for a keyframe (at the start, after a loss), and when none came
// for keyInterval; never twice within pliRetry.
func (g *ingester) wantKeyframe(now time.Time) bool {
	due := g.waitKey || (!g.lastKey.IsZero() && now.Sub(g.lastKey) >= g.keyInterval)
	if !due || (!g.lastPLI.IsZero() && now.Sub(g.lastPLI) < g.pliRetry) {
		return false
	}
	g.lastPLI = now
	return true
}

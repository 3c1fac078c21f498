package whep

import (
	"encoding/json"
	"strings"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/media"
)

// Cues over WebRTC. A session whose offer has an application (SCTP) media
// section takes the data channel labelled CueChannel that the player opens
// (ordered and reliable; a channel of that label that is neither is closed,
// others are ignored) and sends each cue on it as one text message, at the
// moment its writer reaches the cue in the hub's ring, so that the cue
// travels right behind the frame it was stamped on:
//
//	{"id": "...", "type": "...", "payload": {...},
//	 "mediaTime": 12.345,          // seconds on the stream's timeline
//	 "rtpTimestamp": 1234567890}   // the cue time on the video RTP clock
//
// rtpTimestamp maps the cue's time as the session maps its video frames'
// presentation times (the frame last written, plus the difference), so a
// cue stamped with a frame's time carries that frame's RTP timestamp, and
// the player fires it at the first frame presented whose RTP timestamp is
// not earlier (requestVideoFrameCallback's rtpTimestamp). A session without
// video sends no rtpTimestamp: the player fires such cues at once.
//
// Cues posted before the offer arrived are not sent (a late joiner's state
// comes from the viewer channel's snapshot), nor is any cue twice when a
// keyframe request restarts the session from the GOP cache. Cues that come
// before the channel opens wait for it, up to maxPendingCues.
//
// A player that opens the channel with the protocol CueChannelClock gets
// on it the session's video RTP clock as well, so that it can place every
// frame it shows on the stream's timeline (its Player.mediaTime(), which
// viewers' commands and spoiler-free chat go by), not only the frames cues
// fall on. The RTP time of a frame is its
// presentation time plus an offset of the session's own (random at first),
// except for the frames behind the live edge when the session starts or
// restarts from the GOP cache, which go catchUpStep apart; after such a
// catch-up the offset may grow. A clock point gives one frame's RTP
// timestamp and presentation time:
//
//	{"clock": {"rtpTimestamp": 1234567890, "mediaTime": 12.345}}
//
// and holds for the frames after it until the next point: the writer sends
// one for the first video frame and for every frame whose offset differs
// from the previous point's (each catch-up frame, then the first live
// frame after it). Points made before the channel opens wait for it, up to
// maxPendingClocks (the newest kept), and go before any cue waiting with
// them, so the player has the clock before the cues.

// CueChannel is the label of the data channel that carries cues.
const CueChannel = "liveloop-cues"

// CueChannelClock is the protocol (RFC 8832) of a cue channel on which the
// player wants clock points too. Players that do not ask get cues alone.
const CueChannelClock = "clock"

// maxPendingCues bounds the cues a session holds while its channel is not
// open; the oldest go first.
const maxPendingCues = 64

// maxPendingClocks bounds the clock points a session holds while its
// channel is not open; the oldest go first (they are for the catch-up
// frames shown first, briefly).
const maxPendingClocks = 128

// cueMessage is a cue as the data channel carries it.
type cueMessage struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Payload      json.RawMessage `json:"payload"`
	MediaTime    float64         `json:"mediaTime"`
	RTPTimestamp *uint32         `json:"rtpTimestamp,omitempty"`
}

// clockMessage is a clock point as the data channel carries it.
type clockMessage struct {
	Clock clockPoint `json:"clock"`
}

// clockPoint maps a video frame's RTP timestamp to its presentation time
// on the stream's timeline, in seconds.
type clockPoint struct {
	RTPTimestamp uint32  `json:"rtpTimestamp"`
	MediaTime    float64 `json:"mediaTime"`
}

// hasApplication reports whether an SDP offer has an application (data
// channel) media section.
func hasApplication(offer string) bool {
	for line := range strings.Lines(offer) {
		if strings.HasPrefix(line, "m=application ") {
			return true
		}
	}
	return false
}

// cueChannel is a session's cue channel once the peer has opened it. The
// PeerConnection's callbacks set it; the session's writer reads it.
type cueChannel struct {
	h     *Handler
	dc    atomic.Pointer[webrtc.DataChannel]
	clock atomic.Bool // the channel's protocol is CueChannelClock
}

// accept is the PeerConnection's OnDataChannel handler.
func (c *cueChannel) accept(dc *webrtc.DataChannel) {
	if dc.Label() != CueChannel {
		return
	}
	if !dc.Ordered() || dc.MaxRetransmits() != nil || dc.MaxPacketLifeTime() != nil {
		c.h.stats.cueChannelsRefused.Add(1)
		dc.Close()
		return
	}
	c.clock.Store(dc.Protocol() == CueChannelClock)
	dc.OnOpen(func() { c.dc.Store(dc) })
	dc.OnClose(func() { c.dc.CompareAndSwap(dc, nil) })
}

// pendingCue is a cue the writer has reached and not sent yet.
type pendingCue struct {
	msg cueMessage
	// needRTP: the cue waits for the first video frame, which fixes the
	// session's RTP clock, to be stamped.
	needRTP bool
	time    int64 // the cue's time, 90 kHz
}

// cueWriter is the main writer's side of the cue channel. It is used by
// the live writer goroutine serving the viewer, one at a time.
type cueWriter struct {
	ch *cueChannel
	// after is the Seq of the newest cue already handled (or, at first,
	// of the newest packet when the offer came): older cues are not sent.
	after   uint64
	video   bool // the session sends video: cues carry rtpTimestamp
	pending []pendingCue
	// The video frame last written: its PTS (90 kHz) and RTP time
	// (unwrapped), once one has been.
	lastPTS, lastTS int64
	stamped         bool
	// The RTP offset (RTP time minus PTS) of the newest clock point, and
	// the points not sent yet.
	clockOffset int64
	clocks      []clockPoint
}

// cue handles a cue packet the writer reached.
func (w *cueWriter) cue(p *hub.Packet) {
	if p.Seq <= w.after {
		return
	}
	w.after = p.Seq
	c := p.Cue
	pc := pendingCue{msg: cueMessage{ID: c.ID, Type: c.Type, Payload: c.Data, MediaTime: c.Time.Seconds()}}
	if len(pc.msg.Payload) == 0 {
		pc.msg.Payload = json.RawMessage("null")
	}
	if w.video {
		pc.time = media.DurationToTicks(c.Time, 90000)
		pc.needRTP = true
		w.stamp(&pc)
	}
	if len(w.pending) == maxPendingCues {
		w.pending = w.pending[1:]
		w.ch.h.stats.cuesDropped.Add(1)
	}
	w.pending = append(w.pending, pc)
	w.flush()
}

// stamp sets a cue's RTP time, once the session's video clock has started.
func (w *cueWriter) stamp(pc *pendingCue) {
	if !pc.needRTP || !w.stamped {
		return
	}
	ts := uint32(w.lastTS + pc.time - w.lastPTS)
	pc.msg.RTPTimestamp = &ts
	pc.needRTP = false
}

// frame records the times of a video frame just written (pts and ts on
// 90 kHz clocks, ts unwrapped), with a clock point if its RTP offset is
// not the previous point's.
func (w *cueWriter) frame(pts, ts int64) {
	first := !w.stamped
	w.lastPTS, w.lastTS, w.stamped = pts, ts, true
	if first || ts-pts != w.clockOffset {
		w.clockOffset = ts - pts
		if len(w.clocks) == maxPendingClocks {
			w.clocks = append(w.clocks[:0], w.clocks[1:]...)
		}
		w.clocks = append(w.clocks, clockPoint{RTPTimestamp: uint32(ts), MediaTime: float64(pts) / 90000})
	}
	for i := range w.pending {
		w.stamp(&w.pending[i])
	}
	if len(w.pending) > 0 || len(w.clocks) > 0 {
		w.flush()
	}
}

// flush sends the pending clock points, then the pending cues that can go,
// in order, if the channel is open. A cue that cannot be sent is dropped
// and counted; a clock point, dropped.
func (w *cueWriter) flush() {
	dc := w.ch.dc.Load()
	if dc == nil {
		return
	}
	if w.ch.clock.Load() {
		for _, c := range w.clocks {
			if b, err := json.Marshal(clockMessage{Clock: c}); err == nil {
				_ = dc.SendText(string(b)) // fails only as the channel closes
			}
		}
	}
	w.clocks = w.clocks[:0]
	n := 0
	for _, pc := range w.pending {
		if pc.needRTP {
			break
		}
		n++
		b, err := json.Marshal(pc.msg)
		if err == nil {
			err = dc.SendText(string(b))
		}
		if err != nil {
			w.ch.h.stats.cuesDropped.Add(1)
			continue
		}
		w.ch.h.stats.cuesSent.Add(1)
	}
	clear(w.pending[:n])
	w.pending = append(w.pending[:0], w.pending[n:]...)
}

package whip

import (
	"time"

	"github.com/liveloop/liveloop/media"
)

// timeline puts a session's tracks on one clock. Each track's RTP
// timestamps are unwrapped to int64 and offset so that the track starts
// at the arrival time of its first packet, measured from the session's
// first packet. Once both tracks have an RTCP sender report (RFC 3550
// 6.4.1: the sender's NTP wall clock for an RTP timestamp), audio is
// re-anchored on video through the two reports, so that lip sync is the
// sender's, not the network's. Video is never moved.
//
// It is pure (the caller passes arrival times) and owned by one goroutine.
type timeline struct {
	origin       time.Time
	started      bool
	video, audio trackClock
	// realigned counts the times audio was moved by the sender reports.
	realigned int
}

// trackClock is one track's mapping from RTP time to the timeline.
type trackClock struct {
	rate    uint32
	started bool
	last    uint32 // newest RTP timestamp
	ext     int64  // last, unwrapped (0 at the first packet)
	offset  int64  // timeline ticks = ext + offset

	sr     bool
	srExt  int64     // unwrapped RTP timestamp of the newest report
	srWall time.Time // its NTP time
}

func newTimeline() *timeline {
	return &timeline{video: trackClock{rate: 90000}, audio: trackClock{rate: 48000}}
}

// stamp returns the timeline time, in c's ticks, of a packet with RTP
// timestamp ts that arrived at at.
func (t *timeline) stamp(c *trackClock, ts uint32, at time.Time) int64 {
	if !t.started {
		t.started = true
		t.origin = at
	}
	if !c.started {
		c.started = true
		c.last = ts
		c.ext = 0
		c.offset = media.DurationToTicks(max(at.Sub(t.origin), 0), c.rate)
		t.align()
		return c.offset
	}
	c.ext += int64(int32(ts - c.last))
	c.last = ts
	return c.ext + c.offset
}

// senderReport records a sender report of c's stream: NTP time ntp for
// RTP timestamp ts.
func (t *timeline) senderReport(c *trackClock, ts uint32, ntp uint64) {
	if !c.started {
		return
	}
	c.sr = true
	c.srExt = c.ext + int64(int32(ts-c.last))
	c.srWall = ntpTime(ntp)
	t.align()
}

// maxSkew is how far audio may be from where the sender reports put it
// before it is moved.
const maxSkew = 20 * time.Millisecond

func (t *timeline) align() {
	v, a := &t.video, &t.audio
	if !v.sr || !a.sr || !v.started || !a.started {
		return
	}
	// The timeline time of the audio report's instant is the video
	// report's timeline time plus the sender's wall-clock difference.
	vTime := ticksToDuration(v.srExt+v.offset, v.rate)
	aTime := vTime + a.srWall.Sub(v.srWall)
	off := durationToTicks(aTime, a.rate) - a.srExt
	d := off - a.offset
	if d < 0 {
		d = -d
	}
	if d > media.DurationToTicks(maxSkew, a.rate) {
		a.offset = off
		t.realigned++
	}
}

// ntpTime converts a 64-bit NTP timestamp (RFC 5905 6: seconds since
// 1900 and a binary fraction) to a time.
func ntpTime(ntp uint64) time.Time {
	const epoch = 2208988800 // 1970 - 1900 in seconds
	sec := int64(ntp>>32) - epoch
	frac := (ntp & 0xffffffff) * 1e9 >> 32
	return time.Unix(sec, int64(frac))
}

func ticksToDuration(ticks int64, rate uint32) time.Duration {
	if ticks < 0 {
		return -media.TicksToDuration(-ticks, rate)
	}
	return media.TicksToDuration(ticks, rate)
}

func durationToTicks(d time.Duration, rate uint32) int64 {
	if d < 0 {
		return -media.DurationToTicks(-d, rate)
	}
	return media.DurationToTicks(d, rate)
}

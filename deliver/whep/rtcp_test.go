package whep_test

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/liveloop/liveloop/internal/webrtctest"
)

// TestSenderReports: the video track's RTCP sender reports (RFC 3550
// 6.4.1) come about every second, carry the wall clock, counts that grow,
// and an RTP time that advances with the wall clock and matches the
// frames' timestamps, which is what a player syncs audio and video with.
func TestSenderReports(t *testing.T) {
	webrtctest.CheckLeaks(t)
	p := newPipeline(t, false)
	p.publishDemo(t, "demo")
	p.waitTracks(t, "demo", 2)
	c := newClient(t, clientOpts{noAudio: true})

	type report struct {
		sr *rtcp.SenderReport
		at time.Time
	}
	var (
		mu      sync.Mutex
		reports []report
		wg      sync.WaitGroup
	)
	for _, tr := range c.pc.GetTransceivers() {
		r := tr.Receiver()
		if r == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				pkts, _, err := r.ReadRTCP()
				if err != nil {
					return
				}
				for _, pk := range pkts {
					if sr, ok := pk.(*rtcp.SenderReport); ok {
						mu.Lock()
						reports = append(reports, report{sr, time.Now()})
						mu.Unlock()
					}
				}
			}
		}()
	}
	// Registered after the client's own clean-up (which closes its peer),
	// so it runs first: the readers end with the peer.
	t.Cleanup(func() { c.pc.Close(); wg.Wait() })
	c.play(p.url, "demo")
	webrtctest.WaitFor(t, 10*time.Second, "three sender reports", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(reports) >= 3
	})
	mu.Lock()
	rs := append([]report(nil), reports...)
	mu.Unlock()
	c.mu.Lock()
	frames := append([]frameInfo(nil), c.frames...)
	c.mu.Unlock()

	var ssrc uint32
	for _, tr := range c.pc.GetTransceivers() {
		if tr.Kind() == webrtc.RTPCodecTypeVideo && tr.Receiver() != nil && tr.Receiver().Track() != nil {
			ssrc = uint32(tr.Receiver().Track().SSRC())
		}
	}
	for i, r := range rs {
		if r.sr.SSRC != ssrc {
			t.Errorf("report %d: SSRC %d, want the video track's %d", i, r.sr.SSRC, ssrc)
		}
		if d := r.at.Sub(ntpToTime(r.sr.NTPTime)); d < -50*time.Millisecond || d > time.Second {
			t.Errorf("report %d: NTP time %v from its arrival", i, d)
		}
		if i == 0 {
			continue
		}
		prev := rs[i-1].sr
		if r.sr.PacketCount <= prev.PacketCount || r.sr.OctetCount <= prev.OctetCount {
			t.Errorf("report %d: counts %d/%d after %d/%d", i, r.sr.PacketCount, r.sr.OctetCount, prev.PacketCount, prev.OctetCount)
		}
		wall := ntpToTime(r.sr.NTPTime).Sub(ntpToTime(prev.NTPTime))
		if wall < 900*time.Millisecond || wall > 2*time.Second {
			t.Errorf("report %d: %v after the previous one, want about 1 s", i, wall)
		}
		// After the first (which may fall in the catch-up from the GOP
		// cache), the RTP clock advances with the wall clock.
		if i >= 2 {
			rtpTime := time.Duration(int32(r.sr.RTPTime-prev.RTPTime)) * time.Second / 90000
			if d := rtpTime - wall; d < -100*time.Millisecond || d > 100*time.Millisecond {
				t.Errorf("report %d: RTP clock advanced %v in %v of wall clock", i, rtpTime, wall)
			}
		}
	}
	// The last report's RTP time is that of a frame sent then.
	last := rs[len(rs)-1].sr
	near := false
	for _, f := range frames {
		if d := int32(last.RTPTime - f.ts); d >= -3000 && d <= 3000 {
			near = true
		}
	}
	if !near {
		t.Errorf("report RTP time %d is not within a frame of any frame received", last.RTPTime)
	}
}

// ntpToTime converts a 64-bit NTP timestamp to a time.
func ntpToTime(ntp uint64) time.Time {
	const ntpEpochOffset = 2208988800
	sec := int64(ntp>>32) - ntpEpochOffset
	frac := int64(ntp&0xffffffff) * int64(time.Second) >> 32
	return time.Unix(sec, frac)
}

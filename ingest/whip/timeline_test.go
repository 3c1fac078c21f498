package whip

import (
	"testing"
	"time"
)

// ntpOf returns the NTP timestamp of t.
func ntpOf(t time.Time) uint64 {
	sec := uint64(t.Unix() + 2208988800)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return sec<<32 | frac
}

func TestTimeline(t *testing.T) {
	t0 := time.Unix(5000, 0)
	tl := newTimeline()
	// Video first; its RTP clock wraps.
	if got := tl.stamp(&tl.video, 0xffffff00, t0); got != 0 {
		t.Fatalf("first video %d", got)
	}
	if got := tl.stamp(&tl.video, 0x00000100, t0.Add(10*time.Millisecond)); got != 0x200 {
		t.Fatalf("wrapped video %d", got)
	}
	// Audio arrives 100 ms later (network), but was captured at the same
	// instant as the first video frame, as the sender reports say.
	if got := tl.stamp(&tl.audio, 1000, t0.Add(100*time.Millisecond)); got != 4800 {
		t.Fatalf("first audio %d, want 4800 (arrival)", got)
	}
	capture := time.Unix(1_700_000_000, 0)
	tl.senderReport(&tl.video, 0xffffff00, ntpOf(capture))
	tl.senderReport(&tl.audio, 1000, ntpOf(capture))
	if got := tl.stamp(&tl.audio, 1960, t0.Add(120*time.Millisecond)); got != 960 {
		t.Errorf("aligned audio %d, want 960", got)
	}
	if tl.realigned != 1 {
		t.Errorf("realigned %d", tl.realigned)
	}
	// A report within maxSkew moves nothing.
	tl.senderReport(&tl.audio, 1000+480, ntpOf(capture.Add(10*time.Millisecond+time.Millisecond)))
	if tl.realigned != 1 {
		t.Errorf("realigned %d after a small skew", tl.realigned)
	}
}

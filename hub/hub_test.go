package hub

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/liveloop/liveloop/internal/fakeclock"
	"github.com/liveloop/liveloop/media"
)

type fakeClock = fakeclock.Clock

func newFakeClock() *fakeClock { return fakeclock.New(time.Unix(1_700_000_000, 0)) }

var (
	testVideo = &media.Track{ID: 1, Kind: media.KindVideo, Codec: media.CodecH264, CodecString: "avc1.42c01e", ClockRate: 90000, Width: 320, Height: 240}
	testAudio = &media.Track{ID: 2, Kind: media.KindAudio, Codec: media.CodecAAC, CodecString: "mp4a.40.2", ClockRate: 48000, SampleRate: 48000, Channels: 2}
)

// source publishes a synthetic 30 fps stream with a keyframe every gop
// frames and one audio frame per video frame.
type source struct {
	t     *testing.T
	clock *fakeClock
	p     *Publisher
	n     int // video frames written
	gop   int
}

func newSource(t *testing.T, h *Hub, clock *fakeClock, name string, gop int) *source {
	t.Helper()
	p, err := h.Publish(name)
	if err != nil {
		t.Fatal(err)
	}
	v, a := *testVideo, *testAudio
	if err := p.SetTracks([]*media.Track{&v, &a}); err != nil {
		t.Fatal(err)
	}
	return &source{t: t, clock: clock, p: p, gop: gop}
}

// frame writes one video frame and the audio frame before it.
func (s *source) frame() {
	s.t.Helper()
	i := int64(s.n)
	must(s.t, s.p.WriteFrame(&media.Frame{Track: 1, DTS: i * 1600, PTS: i * 1600, Key: true, Data: []byte{1}, Wall: s.clock.Now()}))
	must(s.t, s.p.WriteFrame(&media.Frame{Track: 0, DTS: i * 3000, PTS: i * 3000, Key: s.n%s.gop == 0, Data: []byte{byte(s.n)}, Wall: s.clock.Now()}))
	s.n++
	s.clock.Advance(33 * time.Millisecond)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func next(t *testing.T, sub *Subscriber) Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return b
}

// videoFrames returns the payload bytes (frame numbers) of the video packets.
func videoFrames(b Batch) []int {
	var out []int
	for _, p := range b.Packets {
		if p.Video {
			out = append(out, int(p.Frame.Data[0]))
		}
	}
	return out
}

func TestFastStartAtNewestKeyframe(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{}, nil, clock)
	src := newSource(t, h, clock, "s", 10)
	for range 25 {
		src.frame()
	}
	sub, err := h.Subscribe("s")
	must(t, err)
	defer sub.Close()
	b := next(t, sub)
	if len(b.Packets) == 0 || !b.Packets[0].Video || !b.Packets[0].Frame.Key {
		t.Fatalf("first packet is not a video keyframe: %+v", b.Packets)
	}
	got := videoFrames(b)
	want := []int{20, 21, 22, 23, 24}
	if len(got) != len(want) {
		t.Fatalf("video frames = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("video frames = %v, want %v", got, want)
		}
	}
}

func TestDropsUntilFirstKeyframeAndTimelineStartsAtZero(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{}, nil, clock)
	src := newSource(t, h, clock, "s", 10)
	src.n = 5 // start mid-GOP: frames 5..9 are not keyframes
	for range 10 {
		src.frame()
	}
	sub, err := h.Subscribe("s")
	must(t, err)
	b := next(t, sub)
	first := b.Packets[0]
	if !first.Video || first.Frame.Data[0] != 10 || first.Frame.DTS != 0 {
		t.Fatalf("first packet: video=%v frame=%d dts=%d; want video frame 10 at dts 0", first.Video, first.Frame.Data[0], first.Frame.DTS)
	}
	if st := h.Stats(); st.FramesDropped != 11 {
		t.Fatalf("dropped = %d, want 11 (5 video, 6 audio: the keyframe's audio comes before it)", st.FramesDropped)
	}
}

func TestSlowSubscriberSkipsToKeyframeWithoutAffectingOthers(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{MaxLag: 500 * time.Millisecond}, nil, clock)
	src := newSource(t, h, clock, "s", 30)
	src.frame()
	fast, _ := h.Subscribe("s")
	slow, _ := h.Subscribe("s")
	next(t, slow) // state + frame 0
	seen := []int{}
	for range 40 {
		src.frame()
		seen = append(seen, videoFrames(next(t, fast))...)
	}
	// The fast subscriber saw every frame, in order.
	for i, f := range seen {
		if i > 0 && f != seen[i-1]+1 {
			t.Fatalf("fast subscriber frames not contiguous: %v", seen)
		}
	}
	// The slow one is 40 frames (1.3 s) behind: it skips to frame 30.
	b := next(t, slow)
	if b.Skipped == 0 || slow.Skips() != 1 {
		t.Fatalf("slow subscriber did not skip: skipped=%d skips=%d", b.Skipped, slow.Skips())
	}
	if v := videoFrames(b); len(v) == 0 || v[0] != 30 || !b.Packets[0].Frame.Key {
		t.Fatalf("after skip got frames %v, want to start at keyframe 30", v)
	}
	if st := h.Stats(); st.Skips != 1 {
		t.Fatalf("hub skips = %d", st.Skips)
	}
}

func TestRingOverrunSkipsToKeyframe(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{RingSize: 16, MaxLag: time.Hour}, nil, clock)
	src := newSource(t, h, clock, "s", 5)
	src.frame()
	sub, _ := h.Subscribe("s")
	next(t, sub)
	for range 20 {
		src.frame()
	}
	b := next(t, sub)
	if b.Skipped == 0 || !b.Packets[0].Video || !b.Packets[0].Frame.Key {
		t.Fatalf("overrun subscriber: skipped=%d first=%+v", b.Skipped, b.Packets[0].Frame)
	}
}

func TestTakeoverEndsOldPublisher(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{}, nil, clock)
	old := newSource(t, h, clock, "s", 10)
	old.frame()
	sub, _ := h.Subscribe("s")
	next(t, sub)
	nu := newSource(t, h, clock, "s", 10)
	select {
	case <-old.p.Done():
	default:
		t.Fatal("old publisher's Done is not closed")
	}
	if err := old.p.WriteFrame(&media.Frame{Track: 0, Key: true, Data: []byte{0}}); !errors.Is(err, ErrReplaced) {
		t.Fatalf("old publisher write: %v, want ErrReplaced", err)
	}
	nu.frame()
	b := next(t, sub)
	if v := videoFrames(b); len(v) != 1 || b.Packets[len(b.Packets)-1].Tracks.Version != 2 {
		t.Fatalf("subscriber after takeover: frames %v", v)
	}
	if h.Stats().Takeovers != 1 {
		t.Fatal("takeover not counted")
	}
}

func TestRefuseTakeover(t *testing.T) {
	h := New(Config{RefuseTakeover: true}, nil, newFakeClock())
	if _, err := h.Publish("s"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish("s"); !errors.Is(err, ErrStreamBusy) {
		t.Fatalf("second publish: %v, want ErrStreamBusy", err)
	}
}

func TestPublisherReturnsWithinGracePeriod(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{GracePeriod: 10 * time.Second}, nil, clock)
	first := newSource(t, h, clock, "s", 10)
	for range 15 {
		first.frame()
	}
	sub, _ := h.Subscribe("s")
	b := next(t, sub)
	lastDTS := b.Packets[len(b.Packets)-1].Frame.DTS
	first.p.Close()
	if b := next(t, sub); b.State != StateWaiting {
		t.Fatalf("state after publisher left = %v, want waiting", b.State)
	}
	clock.Advance(5 * time.Second)

	// The encoder comes back with its timestamps restarting at zero and
	// mid-GOP: the subscriber continues from the next keyframe on a
	// continuous timeline.
	second := newSource(t, h, clock, "s", 10)
	second.n = 7
	for range 5 {
		second.frame()
	}
	b = next(t, sub)
	if b.State != StateLive {
		t.Fatalf("state = %v, want live", b.State)
	}
	if len(b.Packets) == 0 {
		b = next(t, sub)
	}
	p := b.Packets[0]
	if !p.Video || !p.Frame.Key || p.Frame.Data[0] != 10 {
		t.Fatalf("first packet after return: video=%v key=%v frame=%d", p.Video, p.Frame.Key, p.Frame.Data[0])
	}
	if p.Frame.DTS <= lastDTS || p.Frame.DTS > lastDTS+2*3000 {
		t.Fatalf("timeline not continuous: dts %d after %d", p.Frame.DTS, lastDTS)
	}
	clock.Advance(20 * time.Second) // the stopped grace timer must not end the stream
	if h.Stream("s") == nil {
		t.Fatal("stream ended although its publisher returned")
	}
}

func TestStreamEndsAfterGracePeriod(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{GracePeriod: 10 * time.Second}, nil, clock)
	src := newSource(t, h, clock, "s", 10)
	src.frame()
	sub, _ := h.Subscribe("s")
	next(t, sub)
	src.p.Close()
	next(t, sub) // waiting
	clock.Advance(10 * time.Second)
	if _, err := sub.Next(context.Background()); !errors.Is(err, ErrEnded) {
		t.Fatalf("Next after grace: %v, want ErrEnded", err)
	}
	if _, err := h.Subscribe("s"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Subscribe after end: %v, want ErrNotFound", err)
	}
}

func TestAudioWaitsForVideoFrame(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{AudioHold: 100 * time.Millisecond}, nil, clock)
	src := newSource(t, h, clock, "s", 10)
	src.frame()
	sub, _ := h.Subscribe("s")
	next(t, sub)
	must(t, src.p.WriteFrame(&media.Frame{Track: 1, DTS: 1600, PTS: 1600, Key: true, Data: []byte{1}, Wall: clock.Now()}))

	got := make(chan Batch, 1)
	go func() {
		b, _ := sub.Next(context.Background())
		got <- b
	}()
	// The audio frame alone is held back for the next video frame...
	select {
	case b := <-got:
		t.Fatalf("audio returned without its video frame: %d packets", len(b.Packets))
	default:
	}
	must(t, src.p.WriteFrame(&media.Frame{Track: 0, DTS: 3000, PTS: 3000, Data: []byte{1}, Wall: clock.Now()}))
	b := <-got
	if len(b.Packets) != 2 || b.Packets[0].Video || !b.Packets[1].Video {
		t.Fatalf("want audio+video in one batch, got %d packets", len(b.Packets))
	}

	// ...but not for longer than AudioHold.
	must(t, src.p.WriteFrame(&media.Frame{Track: 1, DTS: 3200, PTS: 3200, Key: true, Data: []byte{2}, Wall: clock.Now()}))
	go func() {
		b, _ := sub.Next(context.Background())
		got <- b
	}()
	waitTimers(t, clock)
	clock.Advance(100 * time.Millisecond)
	if b := <-got; len(b.Packets) != 1 || b.Packets[0].Video {
		t.Fatalf("held audio not released after AudioHold: %d packets", len(b.Packets))
	}
}

// waitTimers waits until some goroutine has armed a timer on the clock.
func waitTimers(t *testing.T, c *fakeClock) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.Pending() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no timer armed")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPacketCachedOnce(t *testing.T) {
	p := &Packet{}
	calls := 0
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Cached(SlotFMP4, func(*Packet) []byte {
				mu.Lock()
				calls++
				mu.Unlock()
				return []byte("x")
			})
		}()
	}
	wg.Wait()
	if calls != 1 {
		t.Fatalf("make called %d times, want 1", calls)
	}
}

func TestInvalidNamesAndTracks(t *testing.T) {
	h := New(Config{}, nil, newFakeClock())
	for _, name := range []string{"", "/x", "../x", "a b", "é"} {
		if _, err := h.Publish(name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Publish(%q) = %v, want ErrInvalidName", name, err)
		}
	}
	p, _ := h.Publish("ok")
	if err := p.SetTracks(nil); !errors.Is(err, ErrBadTracks) {
		t.Errorf("SetTracks(nil) = %v", err)
	}
	bad := *testVideo
	bad.ID = 3
	if err := p.SetTracks([]*media.Track{&bad}); !errors.Is(err, ErrBadTracks) {
		t.Errorf("SetTracks(bad id) = %v", err)
	}
	if err := p.WriteFrame(&media.Frame{}); !errors.Is(err, ErrNoTracks) {
		t.Errorf("WriteFrame before tracks = %v", err)
	}
}

func TestInternalSubscribersAreNotViewers(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{}, nil, clock)
	src := newSource(t, h, clock, "s", 10)
	src.frame()
	internal, err := h.SubscribeInternal("s")
	must(t, err)
	viewer, err := h.Subscribe("s")
	must(t, err)
	if n := h.Stream("s").Info().Subscribers; n != 1 || h.Stats().Subscribers != 1 {
		t.Fatalf("subscribers %d (hub %d), want 1: internal ones are not viewers", n, h.Stats().Subscribers)
	}
	if b := next(t, internal); len(b.Packets) == 0 {
		t.Fatal("internal subscriber got no packets")
	}
	internal.Close()
	viewer.Close()
	if h.Stats().Subscribers != 0 {
		t.Fatalf("subscribers %d after both closed", h.Stats().Subscribers)
	}
}

// TestReorderedVideo: a stream reports B-frames once a video frame is
// presented before one decoded earlier, not for a constant composition
// offset, and forgets it when its tracks are announced again.
func TestReorderedVideo(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{}, nil, clock)
	p, err := h.Publish("s")
	must(t, err)
	v := *testVideo
	must(t, p.SetTracks([]*media.Track{&v}))
	write := func(i, ptsFrames int64, key bool) {
		t.Helper()
		must(t, p.WriteFrame(&media.Frame{Track: 0, DTS: i * 3000, PTS: ptsFrames * 3000, Key: key, Data: []byte{1}, Wall: clock.Now()}))
	}
	// No B-frames, but a constant offset of two frames (some encoders).
	for i := range int64(4) {
		write(i, i+2, i == 0)
	}
	if h.Stream("s").Info().Reordered {
		t.Fatal("a constant composition offset reported as B-frames")
	}
	// Decode order I P B B: presentation 4+2, 7+2, 5+2, 6+2.
	for i, pts := range []int64{6, 9, 7, 8} {
		write(int64(4+i), pts, i == 0)
	}
	if !h.Stream("s").Info().Reordered {
		t.Fatal("B-frames not reported")
	}
	must(t, p.SetTracks([]*media.Track{&v}))
	if h.Stream("s").Info().Reordered {
		t.Fatal("B-frames still reported after new tracks")
	}
}

// TestPoll: Poll returns what Next would without waiting, and otherwise
// when to poll again: the stream's change channel (Stream.Changed), and
// how long trailing audio is held back.
func TestPoll(t *testing.T) {
	clock := newFakeClock()
	h := New(Config{AudioHold: 100 * time.Millisecond}, nil, clock)
	src := newSource(t, h, clock, "s", 10)
	src.frame()
	sub, _ := h.Subscribe("s")
	if sub.Stream() != h.Stream("s") {
		t.Fatal("Subscriber.Stream is not the stream")
	}
	changed := sub.Stream().Changed()
	b, ok, _, err := sub.Poll()
	if err != nil || !ok || len(b.Packets) != 1 || !b.Packets[0].Video {
		t.Fatalf("first Poll: %d packets, ok %v, err %v; want the GOP cache's keyframe", len(b.Packets), ok, err)
	}
	b, ok, wake, err := sub.Poll()
	if err != nil || ok || len(b.Packets) != 0 || wake.Hold != 0 {
		t.Fatalf("Poll with nothing new: %d packets, ok %v, hold %v, err %v", len(b.Packets), ok, wake.Hold, err)
	}
	if wake.Notify != changed {
		t.Fatal("Poll's Notify is not the stream's change channel")
	}
	select {
	case <-wake.Notify:
		t.Fatal("Notify closed without a change")
	default:
	}

	// Trailing audio: held back, with the time it may still wait, and no
	// wake-up yet.
	clock.Advance(30 * time.Millisecond)
	must(t, src.p.WriteFrame(&media.Frame{Track: 1, DTS: 1600, PTS: 1600, Key: true, Data: []byte{1}, Wall: clock.Now()}))
	clock.Advance(40 * time.Millisecond)
	b, ok, wake, err = sub.Poll()
	if err != nil || ok || len(b.Packets) != 0 {
		t.Fatalf("Poll with audio held: %d packets, ok %v, err %v", len(b.Packets), ok, err)
	}
	if wake.Hold != 60*time.Millisecond {
		t.Fatalf("Hold = %v, want 60ms", wake.Hold)
	}
	select {
	case <-wake.Notify:
		t.Fatal("audio alone woke the subscribers")
	default:
	}
	// A video frame wakes them, and goes with the audio.
	must(t, src.p.WriteFrame(&media.Frame{Track: 0, DTS: 3000, PTS: 3000, Data: []byte{1}, Wall: clock.Now()}))
	select {
	case <-wake.Notify:
	default:
		t.Fatal("a video frame did not close Notify")
	}
	b, ok, _, err = sub.Poll()
	if err != nil || !ok || len(b.Packets) != 2 || b.Packets[0].Video || !b.Packets[1].Video {
		t.Fatalf("Poll after the video frame: %d packets, ok %v, err %v; want audio and video", len(b.Packets), ok, err)
	}

	// The end: Notify closes, and Poll says so.
	_, _, wake, _ = sub.Poll()
	h.Close()
	select {
	case <-wake.Notify:
	default:
		t.Fatal("the end did not close Notify")
	}
	if _, ok, _, err := sub.Poll(); ok || !errors.Is(err, ErrEnded) {
		t.Fatalf("Poll after the end: ok %v, err %v; want ErrEnded", ok, err)
	}
}

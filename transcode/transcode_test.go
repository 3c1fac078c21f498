package transcode_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/media/aac"
	"github.com/liveloop/liveloop/media/opus"
	"github.com/liveloop/liveloop/transcode"
)

func requireFFmpeg(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is not installed: make deps (or make test) installs it")
	}
}

func logger() *slog.Logger {
	if os.Getenv("TRANSCODE_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// fakeClock fires After channels only when the test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1e9, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	return ch
}

// pending returns the durations the sleepers wait for, from now.
func (c *fakeClock) pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for _, w := range c.waiters {
		out = append(out, w.at.Sub(c.now))
	}
	return out
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	keep := c.waiters[:0]
	var fire []waiter
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			fire = append(fire, w)
		} else {
			keep = append(keep, w)
		}
	}
	c.waiters = keep
	now := c.now
	c.mu.Unlock()
	for _, w := range fire {
		w.ch <- now
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// makeADTS encodes seconds of a 1 kHz beep of 50 ms at the start of every
// second (48 kHz mono) as ADTS with ffmpeg's AAC encoder.
func makeADTS(t *testing.T, seconds int) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "aevalsrc=if(lt(mod(t\\,1)\\,0.05)\\,0.8*sin(2*PI*1000*t)\\,0):s=48000:d="+itoa(seconds),
		"-c:a", "aac", "-b:a", "96k", "-f", "adts", "pipe:1").Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	return out
}

func itoa(n int) string { return string(rune('0'+n/10)) + string(rune('0'+n%10)) }

// decode decodes a file of format with ffmpeg to 48 kHz mono s16 samples.
func decode(t *testing.T, format string, b []byte) []int16 {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", format, "-i", "pipe:0",
		"-ac", "1", "-ar", "48000", "-f", "s16le", "pipe:1")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg decode %s: %v", format, err)
	}
	s := make([]int16, len(out)/2)
	binary.Read(bytes.NewReader(out), binary.LittleEndian, s)
	return s
}

// onsets returns the sample indexes where the beeps start: the first
// loud sample after at least 100 ms of quiet.
func onsets(s []int16) []int {
	var out []int
	quiet := 0
	for i, v := range s {
		if math.Abs(float64(v)) > 3000 {
			if quiet >= 4800 {
				out = append(out, i)
			}
			quiet = 0
		} else {
			quiet++
		}
	}
	return out
}

// TestOpusInSync: the Opus stream's frames carry the source's timeline:
// a beep decoded from the Opus output falls where the same beep decoded
// from the source's AAC does, within one Opus frame (20 ms).
func TestOpusInSync(t *testing.T) {
	requireFFmpeg(t)
	adts := makeADTS(t, 4)
	h := hub.New(hub.Config{}, logger(), nil)
	defer h.Close()
	m, err := transcode.New(transcode.Config{Hub: h, Logger: logger(), PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(ctx) }()
	defer func() { cancel(); <-runDone }()

	// Publish the AAC frames with PTS counted in samples from 0 and a wall
	// clock that follows the PTS exactly.
	pub, err := h.Publish("sync")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	var frames [][]byte
	var cfg *aac.Config
	for rest := adts; len(rest) > 0; {
		hdr, payload, r, err := aac.ParseADTS(rest)
		if err != nil {
			t.Fatal(err)
		}
		cfg = hdr.Config()
		frames = append(frames, payload)
		rest = r
	}
	if err := pub.SetTracks([]*media.Track{{ID: 1, Kind: media.KindAudio, Codec: media.CodecAAC, Config: cfg.Marshal(),
		CodecString: cfg.CodecString(), ClockRate: 48000, SampleRate: 48000, Channels: 1}}); err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1.7e9, 0)
	write := func(i int) {
		pts := int64(i) * 1024
		if err := pub.WriteFrame(&media.Frame{Track: 0, DTS: pts, PTS: pts, Duration: 1024, Key: true, Data: frames[i],
			Wall: base.Add(media.TicksToDuration(pts, 48000))}); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	if err := m.Start("sync"); err != nil {
		t.Fatal(err)
	}
	// Feed the rest at four times real time, as the Opus stream is read.
	wctx, wcancel := context.WithCancel(context.Background())
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		for i := 1; i < len(frames) && wctx.Err() == nil; i++ {
			write(i)
			time.Sleep(5 * time.Millisecond) // pacing the source, not synchronisation
		}
	}()
	defer func() { wcancel(); <-wdone }()
	var out *hub.Subscriber
	waitFor(t, 10*time.Second, "the Opus stream", func() bool {
		out, err = h.Subscribe("sync/opus")
		return err == nil
	})
	defer out.Close()

	// Collect the Opus frames covering the source.
	var pkts [][]byte
	var firstWall time.Time
	var head []byte
	wantEnd := base.Add(time.Duration(len(frames)-4) * 1024 * time.Second / 48000)
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	for len(pkts) == 0 || !firstWall.Add(time.Duration(len(pkts))*20*time.Millisecond).After(wantEnd) {
		b, err := out.Next(rctx)
		if err != nil {
			t.Fatalf("after %d Opus frames: %v", len(pkts), err)
		}
		for _, p := range b.Packets {
			if len(pkts) == 0 {
				firstWall = p.Frame.Wall
				head = p.Track().Config
			}
			pkts = append(pkts, p.Frame.Data)
		}
	}
	oh, err := opus.ParseHead(head)
	if err != nil {
		t.Fatal(err)
	}
	// The first Opus frame's source time: its wall clock less the base.
	first := firstWall.Sub(base)

	// Decode both and compare the beeps. The Ogg we write keeps the
	// pre-skip, so decoded sample i is raw sample i + pre-skip.
	want := onsets(decode(t, "aac", adts))
	got := onsets(decode(t, "ogg", oggOpus(oh, pkts)))
	if len(want) < 3 || len(got) < 2 {
		t.Fatalf("beeps: source %v, opus %v", want, got)
	}
	for i := range got {
		gotT := first + time.Duration(got[i]+int(oh.PreSkip))*time.Second/48000
		// The nearest beep of the source.
		var wantT time.Duration
		for j, w := range want {
			wt := time.Duration(w) * time.Second / 48000
			if j == 0 || (gotT-wt).Abs() < (gotT-wantT).Abs() {
				wantT = wt
			}
		}
		d := gotT - wantT
		t.Logf("beep %d: source %v, opus %v (%+v); pre-skip %d", i, wantT, gotT, d, oh.PreSkip)
		if d < -20*time.Millisecond || d > 20*time.Millisecond {
			t.Errorf("beep %d is %v off", i, d)
		}
	}
	st, _ := m.StreamStatus("sync")
	if st.State != "running" || st.FramesOut == 0 {
		t.Errorf("status %+v", st)
	}
}

// oggOpus writes Opus packets as an Ogg Opus file.
func oggOpus(h opus.Head, pkts [][]byte) []byte {
	var b []byte
	head := h.Marshal()
	b = transcode.AppendPage(b, &transcode.Page{HeaderType: 2, Serial: 1, Sequence: 0, Segments: transcode.Lacing(len(head)), Data: head})
	tags := []byte("OpusTags\x04\x00\x00\x00test\x00\x00\x00\x00")
	b = transcode.AppendPage(b, &transcode.Page{Serial: 1, Sequence: 1, Segments: transcode.Lacing(len(tags)), Data: tags})
	var g int64
	for i, p := range pkts {
		n, _ := opus.PacketSamples(p)
		g += int64(n)
		ht := byte(0)
		if i == len(pkts)-1 {
			ht = 4
		}
		b = transcode.AppendPage(b, &transcode.Page{HeaderType: ht, Granule: g, Serial: 1, Sequence: uint32(i + 2), Segments: transcode.Lacing(len(p)), Data: p})
	}
	return b
}

// liveAAC publishes AAC frames of silence-free audio in real time until
// the test ends.
func liveAAC(t *testing.T, h *hub.Hub, name string) {
	t.Helper()
	adts := makeADTS(t, 10)
	var frames [][]byte
	var cfg *aac.Config
	for rest := adts; len(rest) > 0; {
		hdr, payload, r, err := aac.ParseADTS(rest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, rest = hdr.Config(), r
		frames = append(frames, payload)
	}
	pub, err := h.Publish(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.SetTracks([]*media.Track{{ID: 1, Kind: media.KindAudio, Codec: media.CodecAAC, Config: cfg.Marshal(),
		CodecString: cfg.CodecString(), ClockRate: 48000, SampleRate: 48000, Channels: 1}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(1024 * time.Second / 48000)
		defer tick.Stop()
		for i := 0; ; i++ {
			pts := int64(i) * 1024
			pub.WriteFrame(&media.Frame{Track: 0, DTS: pts, PTS: pts, Duration: 1024, Key: true, Data: frames[i%len(frames)]})
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done; pub.Close() })
}

// TestRestartAfterKill: ffmpeg killed is restarted after the backoff (on
// a fake clock), and Opus flows again; the failure is in the status.
func TestRestartAfterKill(t *testing.T) {
	requireFFmpeg(t)
	h := hub.New(hub.Config{}, logger(), nil)
	defer h.Close()
	clock := newFakeClock()
	m, _ := transcode.New(transcode.Config{Hub: h, Logger: logger(), PollInterval: -1, Clock: clock, MinBackoff: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(ctx) }()
	defer func() { cancel(); <-runDone }()
	liveAAC(t, h, "k")
	m.Start("k")
	var st transcode.Status
	waitFor(t, 10*time.Second, "Opus out", func() bool {
		st, _ = m.StreamStatus("k")
		return st.State == "running" && st.FramesOut > 10
	})
	pid := st.PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "backoff", func() bool {
		st, _ = m.StreamStatus("k")
		return st.State == "backoff" && len(clock.pending()) == 1
	})
	if st.LastError == "" || st.PID != 0 {
		t.Errorf("after kill: %+v", st)
	}
	if d := clock.pending()[0]; d != time.Second {
		t.Errorf("backoff %v, want the minimum, 1 s", d)
	}
	out := st.FramesOut
	clock.Advance(time.Second)
	waitFor(t, 10*time.Second, "Opus out of a new process", func() bool {
		st, _ = m.StreamStatus("k")
		return st.State == "running" && st.FramesOut > out+10
	})
	if st.Restarts != 1 || st.PID == pid {
		t.Errorf("after restart: %+v", st)
	}
	t.Logf("after restart: %+v", st)
}

// TestMissingFFmpeg: without ffmpeg the job backs off, doubling, and says
// why; the source is untouched.
func TestMissingFFmpeg(t *testing.T) {
	h := hub.New(hub.Config{}, logger(), nil)
	defer h.Close()
	clock := newFakeClock()
	m, _ := transcode.New(transcode.Config{Hub: h, Logger: logger(), FFmpeg: "/nonexistent/ffmpeg", PollInterval: 10 * time.Millisecond,
		Clock: clock, MinBackoff: time.Second, MaxBackoff: 3 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(ctx) }()
	defer func() { cancel(); <-runDone }()
	liveAAC(t, h, "nf") // found by polling
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}
	for i, d := range want {
		var st transcode.Status
		waitFor(t, 10*time.Second, "backoff", func() bool {
			st, _ = m.StreamStatus("nf")
			return st.State == "backoff" && len(clock.pending()) == 1
		})
		if got := clock.pending()[0]; got != d {
			t.Errorf("failure %d: backoff %v, want %v", i+1, got, d)
		}
		if st.Restarts != i || !bytes.Contains([]byte(st.LastError), []byte("nonexistent")) {
			t.Errorf("failure %d: status %+v", i+1, st)
		}
		clock.Advance(d)
	}
	if s := h.Stream("nf"); s == nil || s.Info().State != hub.StateLive {
		t.Errorf("source stream not live")
	}
	if h.Stream("nf/opus") != nil {
		t.Errorf("an Opus stream without ffmpeg")
	}
}

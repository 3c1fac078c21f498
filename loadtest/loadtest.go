// Package loadtest measures a Liveloop server under a live audience: one
// RTMP publisher that loops a clip in real time and stamps every video frame
// with its send time (an H.264 SEI that passes through the server untouched),
// and N clients of one mode:
//
//   - ws: WebSocket viewers that read the fMP4 stream and time each frame's
//     delivery (viewer.go);
//   - hls: LL-HLS viewers that follow the preload hints with blocking
//     playlist reloads, as hls.js does in low-latency mode, and time each
//     frame's delivery the same way (hlsviewer.go);
//   - whep: WebRTC viewers (pion) of /whep/{stream} that receive H.264
//     and Opus over SRTP, find each frame's stamp in its RTP payloads and
//     time the arrival of its last packet (whepviewer.go);
//   - room: viewer-channel clients of the stream's room that vote, chat and
//     react at given rates while a host runs a poll and stamps chat
//     messages with their send time (room.go); no video is published.
//
// Around a measured window it reads the server's CPU time and memory from
// /proc, so the figures are the server's, with the tool's own CPU reported
// beside them. cmd/liveloop-load is its command line.
//
// Life cycle: Run publishes, then for each audience size in turn ramps the
// clients up, warms up, measures, and disconnects them; it returns when every
// point is done or its context ends, after stopping every goroutine it
// started.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/liveloop/liveloop/demo"
)

// Config describes one load test.
type Config struct {
	// HTTPAddr and RTMPAddr are the server's host:port addresses.
	HTTPAddr, RTMPAddr string
	// ServerPID is the server's process ID for CPU and memory figures;
	// 0 leaves them out.
	ServerPID int
	// Stream is the stream name published and watched. Default "load".
	Stream string
	// Clip is looped by the publisher. Default demo.Builtin().
	Clip *demo.Clip
	// Bitrate is the clip's nominal bitrate, only reported.
	Bitrate string
	// Viewers lists the audience sizes to measure in turn.
	Viewers []int
	// Ramp is how many viewers connect per second. Default 100.
	Ramp float64
	// Settle is how long the publisher streams before the first memory
	// baseline (so the hub's ring and GOP cache are full). Default 0.
	Settle time.Duration
	// Warmup runs after every viewer has connected, before measuring.
	// Default 5 s.
	Warmup time.Duration
	// Duration is the measured window. Default 20 s.
	Duration time.Duration
	// ConnectTimeout bounds each viewer's dial and the wait for every
	// viewer's first keyframe after the ramp. Default 10 s.
	ConnectTimeout time.Duration
	// Mode is the kind of client: ModeWS (the default), ModeHLS,
	// ModeWHEP or ModeRoom.
	Mode string
	// The room mode's command rates, per second across all clients: votes
	// on the host's poll (changeable, so a viewer may vote again), chat
	// messages and reactions. Each connection may send 20 commands a
	// second and 1 chat message a second (the server's defaults), so the
	// rates should leave room for that per client.
	VoteRate, ChatRate, ReactRate float64
	// MarkInterval spaces the host's marker chat messages, whose fan-out
	// to every client is timed (room mode). Default 500 ms.
	MarkInterval time.Duration
	// AdminKey is the server's --admin-key, which issues the host's token
	// (room mode; required there).
	AdminKey string
	// Logger reports progress; default: discard.
	Logger *slog.Logger
	// Now is the clock of stamps and receive times. Default time.Now.
	Now func() time.Time

	// idleSubscribers is the hub's subscriber count with no viewer
	// connected (the transcoder's), which Run reads before the first
	// point of the WHEP mode.
	idleSubscribers float64
}

// Modes of Config.Mode.
const (
	ModeWS   = "ws"
	ModeHLS  = "hls"
	ModeWHEP = "whep"
	ModeRoom = "room"
)

// Limits that keep a run bounded.
const (
	MaxViewers  = 20000
	MaxDuration = time.Hour
)

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("loadtest: invalid config")

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	if cfg.Stream == "" {
		cfg.Stream = "load"
	}
	if cfg.Ramp == 0 {
		cfg.Ramp = 100
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = 5 * time.Second
	}
	if cfg.Duration == 0 {
		cfg.Duration = 20 * time.Second
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeWS
	}
	if cfg.MarkInterval == 0 {
		cfg.MarkInterval = 500 * time.Millisecond
	}
	var errs []error
	switch cfg.Mode {
	case ModeWS, ModeHLS, ModeWHEP:
		if cfg.HTTPAddr == "" || cfg.RTMPAddr == "" {
			errs = append(errs, errors.New("server HTTP and RTMP addresses are required"))
		}
	case ModeRoom:
		if cfg.HTTPAddr == "" {
			errs = append(errs, errors.New("the server's HTTP address is required"))
		}
		if cfg.AdminKey == "" {
			errs = append(errs, errors.New("room mode needs the server's admin key (for the host)"))
		}
		for _, r := range []struct {
			name string
			v    float64
		}{{"vote rate", cfg.VoteRate}, {"chat rate", cfg.ChatRate}, {"react rate", cfg.ReactRate}} {
			if r.v < 0 || r.v > 1e6 || math.IsNaN(r.v) {
				errs = append(errs, fmt.Errorf("%s %v: want 0 to 1e6 per second", r.name, r.v))
			}
		}
		if cfg.MarkInterval < 10*time.Millisecond || cfg.MarkInterval > time.Minute {
			errs = append(errs, fmt.Errorf("mark interval %v: want 10ms to 1m", cfg.MarkInterval))
		}
	default:
		errs = append(errs, fmt.Errorf("mode %q: want %s, %s, %s or %s", cfg.Mode, ModeWS, ModeHLS, ModeWHEP, ModeRoom))
	}
	if len(cfg.Viewers) == 0 {
		errs = append(errs, errors.New("no viewer counts"))
	}
	for _, n := range cfg.Viewers {
		if n < 1 || n > MaxViewers {
			errs = append(errs, fmt.Errorf("viewers %d: want 1 to %d", n, MaxViewers))
		}
	}
	if cfg.Ramp < 0 || math.IsNaN(cfg.Ramp) || math.IsInf(cfg.Ramp, 0) {
		errs = append(errs, fmt.Errorf("ramp %v: want a positive rate", cfg.Ramp))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"warmup", cfg.Warmup}, {"duration", cfg.Duration}, {"settle", cfg.Settle}, {"connect timeout", cfg.ConnectTimeout}} {
		if d.d < 0 || d.d > MaxDuration {
			errs = append(errs, fmt.Errorf("%s %v: want 0 to %v", d.name, d.d, MaxDuration))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if cfg.Clip == nil && cfg.Mode != ModeRoom {
		clip, err := demo.Builtin()
		if err != nil {
			return cfg, err
		}
		cfg.Clip = clip
	}
	return cfg, nil
}

// Quantiles are a distribution's summary in milliseconds.
type Quantiles struct {
	N    uint64  `json:"n"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func histQuantiles(h *Histogram) Quantiles {
	return Quantiles{
		N: h.Count(), P50: ms(h.Quantile(.5)), P90: ms(h.Quantile(.9)),
		P99: ms(h.Quantile(.99)), Max: ms(h.Max()), Mean: ms(h.Mean()),
	}
}

// exactQuantiles summarises a small set of durations exactly (nearest rank).
func exactQuantiles(ds []time.Duration) Quantiles {
	if len(ds) == 0 {
		return Quantiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return ms(s[min(max(i, 0), len(s)-1)])
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Quantiles{N: uint64(len(s)), P50: at(.5), P90: at(.9), P99: at(.99), Max: ms(s[len(s)-1]), Mean: ms(sum / time.Duration(len(s)))}
}

// Point is the result of one audience size.
type Point struct {
	Viewers   int `json:"viewers"`
	Connected int `json:"connected"` // viewers that received a keyframe
	Failed    int `json:"failed"`    // viewers that did not, or dropped before the end
	// Errors holds a few of the viewers' errors.
	Errors      []string `json:"errors,omitempty"`
	WallSeconds float64  `json:"wallSeconds"` // the measured window

	// Server CPU over the window (absent without a server PID).
	ServerCPUSeconds float64 `json:"serverCpuSeconds"`
	// ServerSysSeconds is the kernel (system) part of ServerCPUSeconds:
	// on loopback it includes much of the TCP work of both ends.
	ServerSysSeconds float64 `json:"serverSysSeconds"`
	// ServerCPUPerViewerMS is server CPU milliseconds per viewer-second:
	// cpu / (viewers * wall).
	ServerCPUPerViewerMS float64 `json:"serverCpuPerViewerSecondMs"`
	ServerCPUPercent     float64 `json:"serverCpuPercent"` // of one core
	// ServerCPUPer1000 is ServerCPUPercent per 1,000 clients.
	ServerCPUPer1000 float64 `json:"serverCpuPercentPer1000"`
	// The tool's own CPU over the window (publisher and viewers).
	ClientCPUSeconds float64 `json:"clientCpuSeconds"`
	ClientCPUPercent float64 `json:"clientCpuPercent"`
	// OtherCPUPercent is the rest of the machine's busy time (of one
	// core) over the window: other processes that may have disturbed the
	// figures. Without a server PID it includes the server.
	OtherCPUPercent float64 `json:"otherCpuPercent"`

	// Server memory: VmRSS before the viewers connected and the median
	// of samples during the window, and the difference per viewer.
	RSSBaselineBytes int64   `json:"rssBaselineBytes"`
	RSSDuringBytes   int64   `json:"rssDuringBytes"`
	RSSPeakBytes     int64   `json:"rssPeakBytes"`
	MemPerViewerKB   float64 `json:"memPerViewerKB"`
	// The Go heap and stacks in use (from /metrics), before and at the
	// end of the window, and the difference per viewer: less noisy than
	// RSS, which keeps freed memory.
	HeapBaselineBytes float64 `json:"heapStackBaselineBytes"`
	HeapDuringBytes   float64 `json:"heapStackDuringBytes"`
	HeapPerViewerKB   float64 `json:"heapStackPerViewerKB"`
	// LivePerViewerKB is the same from the heap the server's last garbage
	// collection found live, plus stacks: what viewers hold, without the
	// garbage in use between collections (which the heap figure samples).
	LiveBaselineBytes float64 `json:"liveStackBaselineBytes"`
	LivePerViewerKB   float64 `json:"liveStackPerViewerKB"`
	// StackPerViewerKB is the goroutine-stack part of HeapPerViewerKB.
	StackPerViewerKB float64 `json:"stackPerViewerKB"`
	ServerGoroutines float64 `json:"serverGoroutines"`

	// Latency: receive time - send time of every stamped video frame of
	// every viewer in the window.
	Latency Quantiles `json:"latencyMs"`
	// Startup: dial start to the first media message with a keyframe.
	Startup Quantiles `json:"startupMs"`

	FramesSent     uint64  `json:"framesSent"`     // video frames the publisher sent in the window
	FramesExpected uint64  `json:"framesExpected"` // received + missing, all viewers
	FramesReceived uint64  `json:"framesReceived"`
	FramesMissing  uint64  `json:"framesMissing"` // in Seq gaps
	Loss           float64 `json:"loss"`          // missing / expected
	Gaps           uint64  `json:"gaps"`          // Seq gaps seen by viewers
	ServerSkips    float64 `json:"serverSkips"`   // liveloop_subscriber_skips_total delta
	Reorders       uint64  `json:"reorders"`
	Unstamped      uint64  `json:"unstamped"`
	Messages       uint64  `json:"messages"`
	// Delivered bitrate: WebSocket payload bytes received per viewer and
	// in all.
	DeliveredMbpsPerViewer float64 `json:"deliveredMbpsPerViewer"`
	DeliveredMbpsTotal     float64 `json:"deliveredMbpsTotal"`
	PublishMbps            float64 `json:"publishMbps"`

	// HLS, WHEP and Room hold the figures of those modes.
	HLS  *HLSFigures  `json:"hls,omitempty"`
	WHEP *WHEPFigures `json:"whep,omitempty"`
	Room *RoomFigures `json:"room,omitempty"`
}

// Report is the result of Run.
type Report struct {
	Stream    string  `json:"stream"`
	HTTPAddr  string  `json:"http"`
	RTMPAddr  string  `json:"rtmp"`
	ServerPID int     `json:"serverPid"`
	ClipMs    uint32  `json:"clipPeriodMs"`
	Bitrate   string  `json:"clipBitrate,omitempty"`
	Mode      string  `json:"mode"`
	Points    []Point `json:"points"`
}

// Run performs the load test. It returns the points measured so far with
// an error if ctx ends or something fails.
func Run(ctx context.Context, c Config) (*Report, error) {
	cfg, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	rep := &Report{Stream: cfg.Stream, HTTPAddr: cfg.HTTPAddr, RTMPAddr: cfg.RTMPAddr, ServerPID: cfg.ServerPID, Bitrate: cfg.Bitrate, Mode: cfg.Mode}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	pubErr := make(chan error, 1)
	var pub *Publisher
	if cfg.Mode != ModeRoom {
		rep.ClipMs = cfg.Clip.Period
		if pub, err = NewPublisher("rtmp://"+cfg.RTMPAddr+"/live/"+cfg.Stream, cfg.Clip, cfg.Now); err != nil {
			return nil, err
		}
		wg.Go(func() {
			err := pub.Run(ctx)
			if err == nil && ctx.Err() == nil {
				err = errors.New("loadtest: publisher stopped")
			}
			pubErr <- err
			cancel() // without the publisher there is nothing to measure
		})
		select {
		case <-pub.Started():
		case err := <-pubErr:
			return rep, fmt.Errorf("loadtest: publish: %w", err)
		case <-ctx.Done():
			return rep, ctx.Err()
		}
		log.Info("publishing", "url", "rtmp://"+cfg.RTMPAddr+"/live/"+cfg.Stream)
		// Let the stream fill the GOP cache (and the ring, with Settle)
		// before the first memory baseline.
		if err := sleep(ctx, max(cfg.Settle, time.Duration(cfg.Clip.Period)*time.Millisecond/4, time.Second)); err != nil {
			return rep, publisherErr(pubErr, err)
		}
	}
	if cfg.Mode == ModeWHEP {
		if err := prepareWHEP(ctx, &cfg); err != nil {
			return rep, publisherErr(pubErr, err)
		}
	}
	for _, n := range cfg.Viewers {
		p, err := runPoint(ctx, &cfg, pub, n)
		if err != nil {
			return rep, publisherErr(pubErr, err)
		}
		rep.Points = append(rep.Points, *p)
	}
	return rep, nil
}

// publisherErr prefers the publisher's error, which is the cause when it
// cancelled the run.
func publisherErr(pubErr chan error, err error) error {
	select {
	case perr := <-pubErr:
		pubErr <- perr
		if perr != nil {
			return fmt.Errorf("loadtest: publish: %w", perr)
		}
	default:
	}
	return err
}

// sleep waits for d or ctx: the measurement protocol's fixed phases.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// procSample is the server's and the tool's state at one instant.
type procSample struct {
	wall      time.Time
	serverCPU time.Duration
	serverSys time.Duration
	selfCPU   time.Duration
	sysBusy   time.Duration
	pubSent   uint32
	pubBytes  uint64
}

func takeSample(cfg *Config, pub *Publisher) (procSample, error) {
	s := procSample{wall: cfg.Now()}
	if pub != nil {
		s.pubSent, s.pubBytes = pub.Sent(), pub.Bytes()
	}
	if cfg.ServerPID != 0 {
		st, err := Proc{PID: cfg.ServerPID}.Stat()
		if err != nil {
			return s, fmt.Errorf("loadtest: server CPU: %w", err)
		}
		s.serverCPU = st.CPU()
		s.serverSys = time.Duration(st.STime) * time.Second / ClockTick
	}
	s.sysBusy, _ = SystemBusy()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.selfCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s, nil
}

func (cfg *Config) rss() int64 {
	if cfg.ServerPID == 0 {
		return 0
	}
	r, err := Proc{PID: cfg.ServerPID}.RSS()
	if err != nil {
		return 0
	}
	return r
}

func median(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// runPoint measures one audience size: baseline, ramp, warm-up, window,
// disconnect.
func runPoint(ctx context.Context, cfg *Config, pub *Publisher, n int) (*Point, error) {
	log := cfg.Logger.With("viewers", n, "mode", cfg.Mode)
	p := &Point{Viewers: n}
	aud, err := newAudience(cfg, n)
	if err != nil {
		return nil, err
	}
	defer aud.close()

	// Memory baseline: the publisher is streaming, no client is connected.
	if err := aud.gone(ctx, 15*time.Second); err != nil {
		log.Warn("clients of the previous point still connected", "err", err)
	}
	var base []int64
	for i := range 3 {
		if i > 0 {
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return nil, err
			}
		}
		base = append(base, cfg.rss())
	}
	p.RSSBaselineBytes = median(base)
	m0, merr := ScrapeMetrics(ctx, cfg.HTTPAddr)
	p.HeapBaselineBytes = m0.HeapInuse + m0.StackInuse
	p.LiveBaselineBytes = m0.HeapLive + m0.StackInuse

	// Ramp up. Each client's goroutine is owned by this function: vctx
	// ends them and vwg waits for them.
	vctx, vcancel := context.WithCancel(ctx)
	var vwg sync.WaitGroup
	defer vwg.Wait()
	defer vcancel()
	members := make([]*member, 0, n)
	log.Info("ramping up", "rate", cfg.Ramp)
	t0 := time.Now()
	for i := range n {
		if i > 0 && cfg.Ramp > 0 {
			at := t0.Add(time.Duration(float64(i) / cfg.Ramp * float64(time.Second)))
			if err := sleep(ctx, time.Until(at)); err != nil {
				return nil, err
			}
		}
		m, run := aud.add(i)
		members = append(members, m)
		vwg.Go(func() { run(vctx) })
	}
	// Wait for every client's start (or its failure), then take whatever
	// has arrived when the deadline passes.
	started, err := awaitStarts(ctx, members, cfg.ConnectTimeout)
	if err != nil {
		return nil, err
	}
	startups := make([]time.Duration, 0, len(started))
	for _, m := range started {
		startups = append(startups, m.startup)
	}
	p.Connected = len(startups)
	p.Startup = exactQuantiles(startups)
	log.Info("clients started", "connected", p.Connected, "of", n, "startup_p50_ms", p.Startup.P50)
	if p.Connected == 0 {
		vcancel()
		vwg.Wait()
		return nil, fmt.Errorf("loadtest: no client started: %v", firstErrs(members, 1))
	}
	if err := aud.begin(vctx, &vwg); err != nil {
		return nil, err
	}

	if err := sleep(ctx, cfg.Warmup); err != nil {
		return nil, err
	}

	// The measured window.
	aud.reset()
	s0, err := takeSample(cfg, pub)
	if err != nil {
		return nil, err
	}
	var during []int64
	tick := time.NewTicker(time.Second)
	end := time.NewTimer(cfg.Duration)
	defer end.Stop()
	for measuring := true; measuring; {
		select {
		case <-tick.C:
			if r := cfg.rss(); r > 0 {
				during = append(during, r)
			}
		case <-end.C:
			measuring = false
		case <-ctx.Done():
			tick.Stop()
			return nil, ctx.Err()
		}
	}
	tick.Stop()
	s1, err := takeSample(cfg, pub)
	if err != nil {
		return nil, err
	}
	wall := s1.wall.Sub(s0.wall).Seconds()
	p.WallSeconds = wall
	aud.collect(p, wall)
	if r := cfg.rss(); r > 0 {
		during = append(during, r)
	}
	m1, merr1 := ScrapeMetrics(ctx, cfg.HTTPAddr)

	// Disconnect and account for clients that failed along the way.
	vcancel()
	vwg.Wait()
	p.Errors = firstErrs(members, 5)
	for _, m := range members {
		if m.err != nil {
			p.Failed++
		}
	}
	p.Failed = max(p.Failed, n-p.Connected)

	if cfg.ServerPID != 0 {
		cpu := (s1.serverCPU - s0.serverCPU).Seconds()
		p.ServerCPUSeconds = cpu
		p.ServerSysSeconds = (s1.serverSys - s0.serverSys).Seconds()
		p.ServerCPUPerViewerMS = cpu * 1000 / (float64(n) * wall)
		p.ServerCPUPercent = cpu / wall * 100
		p.ServerCPUPer1000 = p.ServerCPUPercent * 1000 / float64(n)
		p.RSSDuringBytes = median(during)
		p.RSSPeakBytes = slices.Max(append(during, p.RSSBaselineBytes))
		p.MemPerViewerKB = float64(p.RSSDuringBytes-p.RSSBaselineBytes) / float64(n) / 1024
	}
	self := (s1.selfCPU - s0.selfCPU).Seconds()
	p.ClientCPUSeconds = self
	p.ClientCPUPercent = self / wall * 100
	if busy := (s1.sysBusy - s0.sysBusy).Seconds(); busy > 0 {
		p.OtherCPUPercent = max(0, busy-self-p.ServerCPUSeconds) / wall * 100
	}
	if merr == nil && merr1 == nil {
		p.HeapDuringBytes = m1.HeapInuse + m1.StackInuse
		p.HeapPerViewerKB = (p.HeapDuringBytes - p.HeapBaselineBytes) / float64(n) / 1024
		p.StackPerViewerKB = (m1.StackInuse - m0.StackInuse) / float64(n) / 1024
		p.LivePerViewerKB = (m1.HeapLive + m1.StackInuse - p.LiveBaselineBytes) / float64(n) / 1024
		p.ServerSkips = m1.Skips - m0.Skips
		p.ServerGoroutines = m1.Goroutines
	}
	p.FramesSent = uint64(s1.pubSent - s0.pubSent)
	p.PublishMbps = float64(s1.pubBytes-s0.pubBytes) * 8 / wall / 1e6
	log.Info("measured", "latency_p99_ms", p.Latency.P99, "cpu_per_viewer_s_ms", p.ServerCPUPerViewerMS, "loss", p.Loss)
	return p, nil
}

// newAudience makes the clients of cfg.Mode for one point of n.
func newAudience(cfg *Config, n int) (audience, error) {
	switch cfg.Mode {
	case ModeHLS:
		return newHLSAudience(cfg, n), nil
	case ModeWHEP:
		return newWHEPAudience(cfg, n)
	case ModeRoom:
		return newRoomAudience(cfg, n), nil
	}
	return &wsAudience{cfg: cfg, viewers: make([]*viewer, 0, n)}, nil
}

// waitMetric waits until the server's /metrics reads zero for the gauge
// that get picks (the previous point's clients have left), or timeout.
func waitMetric(ctx context.Context, cfg *Config, timeout time.Duration, what string, get func(Metrics) float64) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		m, err := ScrapeMetrics(ctx, cfg.HTTPAddr)
		if err != nil {
			return err
		}
		v := get(m)
		if v == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%v %s: %w", v, what, ctx.Err())
		case <-tick.C:
		}
	}
}

var addrRE = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+|\[[0-9a-f:]+\]:\d+`)

// firstErrs returns up to k distinct client errors, most frequent first.
func firstErrs(ms []*member, k int) []string {
	count := map[string]int{}
	for _, m := range ms {
		if m.err != nil {
			// Socket addresses differ from client to client.
			count[addrRE.ReplaceAllString(m.err.Error(), "ADDR")]++
		}
	}
	out := make([]string, 0, len(count))
	for e := range count {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		return count[out[i]] > count[out[j]] || count[out[i]] == count[out[j]] && out[i] < out[j]
	})
	if len(out) > k {
		out = out[:k]
	}
	for i, e := range out {
		out[i] = fmt.Sprintf("%d× %s", count[e], e)
	}
	return out
}

// awaitStarts waits for each member's start or failure, for up to timeout
// in all, and returns the members that started.
func awaitStarts(ctx context.Context, members []*member, timeout time.Duration) ([]*member, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	started := make([]*member, 0, len(members))
	expired := false
	for _, m := range members {
		if !expired {
			select {
			case <-m.started:
			case <-m.exited:
			case <-deadline.C:
				expired = true
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		select {
		case <-m.started:
			started = append(started, m)
		default:
		}
	}
	return started, nil
}

// Package transcode supervises ffmpeg processes that re-encode live
// streams for delivery paths that need another codec. Today it makes Opus
// for WebRTC from a stream's AAC: the Opus is published as the audio-only
// hub stream {stream}/opus (Config.Suffix), which deliver/whep plays with
// the source's video.
//
// Each ffmpeg reads ADTS on stdin and writes Ogg Opus on stdout (48 kHz,
// 20 ms frames, -application lowdelay, one page per packet): about 30 ms
// from an AAC frame in to its Opus out on these machines. Every Opus
// packet is stamped on the source's timeline: the AAC frames fed are
// recorded with the input samples they occupy, and a packet's first
// sample, less the encoder's pre-skip, is looked up among them (see
// timeMap). Its Wall is the source frame's ingest time, so both streams
// share one wall clock, which is how a player or a muxer lines them up.
//
// Life cycle: New, then Run(ctx), which until ctx ends starts a job for
// every hub stream with AAC audio that it finds (Config.PollInterval), and
// on return has stopped every job and waited for it. Start and Stop
// start and stop a stream's job at once (the server calls Start when a
// publisher announces AAC, so no poll is needed). A job subscribes to its
// stream, runs ffmpeg, publishes {stream}/opus, and restarts ffmpeg with
// exponential backoff if it cannot start or dies (the source stream never
// waits for it: video goes on without audio meanwhile); it ends when its
// stream ends. Status reports each job: running or not, restarts, the last
// error, frames in and out, and the delay.
package transcode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/media"
)

// Errors of the package.
var (
	ErrClosed = errors.New("transcode: manager closed")
	// ErrFFmpeg wraps a failure of the ffmpeg process: it could not
	// start, exited, or wrote what could not be parsed.
	ErrFFmpeg = errors.New("transcode: ffmpeg failed")
)

// Clock is the time source of restart backoff; tests substitute a fake.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// DefaultSuffix names a stream's Opus companion: {stream}/opus.
const DefaultSuffix = "/opus"

// Config configures a Manager. Zero values select the documented defaults.
type Config struct {
	// Hub is where source streams are read and Opus streams published.
	// Required.
	Hub *hub.Hub
	// Logger receives process starts, failures and restarts. Default:
	// discard.
	Logger *slog.Logger
	// FFmpeg is the ffmpeg executable, a path or a name looked up in PATH.
	// Default "ffmpeg".
	FFmpeg string
	// Suffix names the Opus stream of a stream: {stream}{Suffix}.
	// Default "/opus".
	Suffix string
	// Bitrate of the Opus output, bits per second. Default 96000.
	Bitrate int
	// MinBackoff and MaxBackoff bound the wait before restarting a failed
	// ffmpeg; it doubles with each failure in a row. Defaults 500 ms, 30 s.
	MinBackoff, MaxBackoff time.Duration
	// StableAfter: a process that has run this long resets the backoff.
	// Default 10 s.
	StableAfter time.Duration
	// PollInterval is how often Run looks for streams with AAC audio;
	// negative disables polling (the server then calls Start). Default 1 s.
	PollInterval time.Duration
	// Clock is the time source for backoff. Default: the real clock.
	Clock Clock
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.FFmpeg == "" {
		c.FFmpeg = "ffmpeg"
	}
	if c.Suffix == "" {
		c.Suffix = DefaultSuffix
	}
	if c.Bitrate <= 0 {
		c.Bitrate = 96000
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.StableAfter <= 0 {
		c.StableAfter = 10 * time.Second
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	return c
}

// Manager runs one transcoding job per stream.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	jobs   map[string]*job
	closed bool
	wg     sync.WaitGroup
}

// New returns a manager; call Run.
func New(cfg Config) (*Manager, error) {
	if cfg.Hub == nil {
		return nil, errors.New("transcode: Config.Hub is required")
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, jobs: make(map[string]*job)}, nil
}

// Run polls the hub for streams with AAC audio (unless polling is
// disabled) until ctx ends, then stops every job and waits for them. Jobs
// started with Start before or during Run are stopped too.
func (m *Manager) Run(ctx context.Context) error {
	defer m.shutdown()
	var tick <-chan time.Time
	if m.cfg.PollInterval > 0 {
		t := time.NewTicker(m.cfg.PollInterval)
		defer t.Stop()
		tick = t.C
		m.scan()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			m.scan()
		}
	}
}

func (m *Manager) shutdown() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

// scan starts a job for every stream with AAC audio that has none.
func (m *Manager) scan() {
	for _, s := range m.cfg.Hub.Streams() {
		if strings.HasSuffix(s.Name(), m.cfg.Suffix) {
			continue
		}
		for _, t := range s.Info().Tracks {
			if t.Codec == media.CodecAAC {
				m.Start(s.Name())
				break
			}
		}
	}
}

// Start starts the job of stream if it has none. The job ends when the
// stream does, or on Stop.
func (m *Manager) Start(stream string) error {
	if strings.HasSuffix(stream, m.cfg.Suffix) {
		return fmt.Errorf("transcode: %q is an output stream", stream)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.jobs[stream] != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(m.ctx)
	j := &job{m: m, stream: stream, out: stream + m.cfg.Suffix, ctx: ctx, cancel: cancel,
		log: m.log.With("stream", stream)}
	j.status.State = "starting"
	m.jobs[stream] = j
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		j.run()
		m.mu.Lock()
		if m.jobs[stream] == j {
			delete(m.jobs, stream)
		}
		m.mu.Unlock()
	}()
	return nil
}

// Stop stops the job of stream, if any, and waits for it to end.
func (m *Manager) Stop(stream string) {
	m.mu.Lock()
	j := m.jobs[stream]
	m.mu.Unlock()
	if j == nil {
		return
	}
	j.cancel()
	<-j.doneCh()
}

// Status is a job's state, for the API and metrics.
type Status struct {
	Stream string // source stream
	Output string // the Opus stream it publishes
	// State: "starting", "running" (ffmpeg runs), "backoff" (waiting to
	// restart it), "ended".
	State string
	// PID of the running ffmpeg, 0 if none.
	PID int
	// Restarts counts processes started after the first.
	Restarts int
	// LastError is why the previous process ended ("" if none did).
	LastError string
	// FramesIn counts AAC frames fed, FramesOut Opus frames published.
	FramesIn, FramesOut uint64
	// Delay is the newest published frame's age: from the source frame's
	// ingest to the Opus frame's publication.
	Delay time.Duration
}

// Status returns the state of every job, sorted by stream.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	jobs := make([]*job, 0, len(m.jobs))
	for _, j := range m.jobs {
		jobs = append(jobs, j)
	}
	m.mu.Unlock()
	out := make([]Status, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, j.snapshot())
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Stream < out[b].Stream })
	return out
}

// StreamStatus returns the state of stream's job.
func (m *Manager) StreamStatus(stream string) (Status, bool) {
	m.mu.Lock()
	j := m.jobs[stream]
	m.mu.Unlock()
	if j == nil {
		return Status{}, false
	}
	return j.snapshot(), true
}

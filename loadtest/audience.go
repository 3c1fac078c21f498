package loadtest

import (
	"context"
	"sync"
	"time"
)

// member is one client's life cycle as runPoint sees it: started closes
// when the client is up (a keyframe, a part, a snapshot), exited when its
// goroutine returns.
type member struct {
	// Set before started is closed or the client's goroutine returns;
	// read after.
	startup time.Duration
	err     error
	started chan struct{}
	exited  chan struct{}
}

func newMember() member {
	return member{started: make(chan struct{}), exited: make(chan struct{})}
}

// audience is one mode's clients at one point. runPoint calls add for
// each client and runs what it returns on a goroutine of its own, then
// begin once the clients have started, reset when the measured window
// starts, collect when it ends (before the clients stop), and close last.
type audience interface {
	// gone waits until the server has let go of the previous point's
	// clients.
	gone(ctx context.Context, timeout time.Duration) error
	add(i int) (*member, func(ctx context.Context))
	// begin may start goroutines on wg that end with ctx.
	begin(ctx context.Context, wg *sync.WaitGroup) error
	reset()
	collect(p *Point, wall float64)
	close()
}

// wsAudience is the WebSocket viewers of /ws/{stream}.
type wsAudience struct {
	cfg     *Config
	viewers []*viewer
}

func (a *wsAudience) gone(ctx context.Context, timeout time.Duration) error {
	return waitMetric(ctx, a.cfg, timeout, "WebSocket viewers", func(m Metrics) float64 { return m.WSViewers })
}

func (a *wsAudience) add(int) (*member, func(context.Context)) {
	v := newViewer("ws://"+a.cfg.HTTPAddr+"/ws/"+a.cfg.Stream, a.cfg.Now)
	a.viewers = append(a.viewers, v)
	return &v.member, func(ctx context.Context) { v.run(ctx, a.cfg.ConnectTimeout) }
}

func (a *wsAudience) begin(context.Context, *sync.WaitGroup) error { return nil }

func (a *wsAudience) reset() {
	for _, v := range a.viewers {
		v.reset()
	}
}

func (a *wsAudience) collect(p *Point, wall float64) {
	var total viewerStats
	var lat Histogram
	for _, v := range a.viewers {
		v.snapshot(&total, &lat)
	}
	total.fill(p, &lat, wall)
}

func (a *wsAudience) close() {}

// fill sets p's frame figures from the viewers' summed counters.
func (t *viewerStats) fill(p *Point, lat *Histogram, wall float64) {
	p.Latency = histQuantiles(lat)
	p.FramesReceived = t.frames
	p.FramesMissing = t.missing
	p.FramesExpected = t.frames + t.missing
	if p.FramesExpected > 0 {
		p.Loss = float64(t.missing) / float64(p.FramesExpected)
	}
	p.Gaps = t.gaps
	p.Reorders = t.reorders
	p.Unstamped = t.unstamp
	p.Messages = t.messages
	p.DeliveredMbpsTotal = float64(t.bytes) * 8 / wall / 1e6
	if p.Connected > 0 {
		p.DeliveredMbpsPerViewer = p.DeliveredMbpsTotal / float64(p.Connected)
	}
}

// Package g2g measures Liveloop's glass-to-glass latency: the time from a
// frame's capture to its display in a browser, on one machine and one clock.
//
// A Publisher is the camera: Go makes raw frames in real time, each carrying
// its capture instant (Unix ms) as a barcode of large black and white blocks
// drawn just before the frame goes to ffmpeg, which encodes it with x264
// (zerolatency) and publishes it over RTMP. The viewer is headless Chromium
// on the watch page (/watch/{stream}?proto=ws): for every frame the <video>
// presents (requestVideoFrameCallback) a script reads the barcode back from
// a canvas, and the display instant minus the capture instant is the
// glass-to-glass delay. Each run is a fresh page, so the first frame after
// navigation is measured too.
//
// Life cycle: Run starts the server (or uses a running one), the publisher
// and the browser, does the runs one after another, stops everything it
// started, removes its temporary directories and returns a Report.
package g2g

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/liveloop/liveloop/internal/chromium"
	"github.com/liveloop/liveloop/internal/serverproc"
)

// Config configures Run.
type Config struct {
	// HTTPAddr and RTMPAddr are a running server's host:port; both or
	// neither. Without them Run starts ServerBin on free loopback ports.
	HTTPAddr, RTMPAddr string
	// ServerBin is the liveloop binary to start. Default: liveloop next to
	// the running executable, or in PATH.
	ServerBin string
	// Stream is the stream name. Default "g2g".
	Stream string
	// Proto is the watch page's transport (?proto=). Default "ws".
	Proto string
	// Target, when positive, is passed to the watch page as ?target= (the
	// player's target buffer ahead, seconds).
	Target float64
	// Runs is the number of fresh pages, one after another. Default 5.
	Runs int
	// Duration is how long each page is measured, from its first stamped
	// frame. Default 10 s.
	Duration time.Duration
	// Skip is the start of each page excluded from the steady-state figures
	// (counted from the first stamped frame). Default 1 s.
	Skip time.Duration
	// Publisher is the camera's configuration; its URL is set by Run.
	Publisher PublisherConfig
	// KeepSamples keeps every sample in the report (RunReport.Samples).
	KeepSamples bool
	// Chromium configures the browser.
	Chromium chromium.Options
	// Log receives progress. Default: discard.
	Log *slog.Logger
}

func (c *Config) defaults() error {
	if (c.HTTPAddr == "") != (c.RTMPAddr == "") {
		return errors.New("g2g: HTTPAddr and RTMPAddr go together")
	}
	if c.Stream == "" {
		c.Stream = "g2g"
	}
	if c.Proto == "" {
		c.Proto = "ws"
	}
	if c.Runs <= 0 {
		c.Runs = 5
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Skip < 0 {
		return errors.New("g2g: Skip must not be negative")
	}
	if c.Skip == 0 {
		c.Skip = time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// Summary sums up a set of values (ms).
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Summarize returns the summary of xs (zero when empty). Percentiles are
// nearest-rank.
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(0, min(len(s)-1, i))]
	}
	return Summary{N: len(s), Median: rank(0.5), P90: rank(0.9), Min: s[0], Max: s[len(s)-1]}
}

// RunReport is one page's figures. Times are ms.
type RunReport struct {
	Run int `json:"run"`
	// G2G is the glass-to-glass delay of the frames shown after Skip.
	G2G Summary `json:"g2g"`
	// Early is the glass-to-glass delay of the frames shown before Skip.
	Early Summary `json:"early"`
	// FirstFrame is when the first frame was shown, ms after navigation
	// start (the page's time origin).
	FirstFrame float64 `json:"firstFrameMs"`
	// FirstStamped is when the first frame with a readable barcode was shown.
	FirstStamped float64 `json:"firstStampedMs"`
	// Frames presented, and those whose barcode did not read.
	Frames    int `json:"frames"`
	Undecoded int `json:"undecoded"`
	// ClockSkew is the largest gap seen between the page's clock
	// (performance.timeOrigin + now, which the samples use) and the system
	// clock (Date.now(), which the publisher's stamps use), ms; a check on
	// the figures, which it would shift.
	ClockSkew float64 `json:"clockSkewMs"`
	// Player is the watch page's player.stats() at the end, if it has one.
	Player map[string]any `json:"player,omitempty"`
	// Marks are the first instants of the steps to the first frame, ms after
	// navigation start: nav.requestStart, nav.responseEnd, nav.domInteractive,
	// script.responseEnd (the page's script), domContentLoaded, wsCreate, wsOpen, wsFirstText,
	// wsFirstBinary, addSourceBuffer, appendEnd1..3, play, loadedmetadata,
	// loadeddata, seeking, seeked, playing, firstFrameCallback.
	Marks map[string]float64 `json:"marks,omitempty"`
	// StallsAt are the instants the page's player reported a stall, ms
	// after navigation start.
	StallsAt []float64 `json:"stallsAt,omitempty"`
	// Samples are [shown (ms after navigation start), g2g (ms)] of every
	// stamped frame, with Config.KeepSamples.
	Samples [][2]float64 `json:"samples,omitempty"`
}

// Report is the result of Run.
type Report struct {
	Stream   string  `json:"stream"`
	Proto    string  `json:"proto"`
	Width    int     `json:"width"`
	Height   int     `json:"height"`
	FPS      int     `json:"fps"`
	GOP      int     `json:"gop"`
	BFrames  int     `json:"bframes"`
	Audio    bool    `json:"audio"`
	Duration float64 `json:"durationS"`
	SkipMs   float64 `json:"skipMs"`
	Server   string  `json:"server"` // the server's HTTP address
	URL      string  `json:"url"`    // the watch page
	// Runs are the pages, in order.
	Runs []RunReport `json:"runs"`
	// G2G pools the steady-state samples of every run.
	G2G Summary `json:"g2g"`
	// RunMedians sums up the runs' median glass-to-glass delays.
	RunMedians Summary `json:"runMedians"`
	// FirstFrame sums up the runs' first frames after navigation start.
	FirstFrame Summary `json:"firstFrame"`
}

// Run measures; see the package comment.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Log
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	httpAddr, rtmpAddr := cfg.HTTPAddr, cfg.RTMPAddr
	if httpAddr == "" {
		bin := cfg.ServerBin
		if bin == "" {
			var err error
			if bin, err = serverproc.DefaultBin(); err != nil {
				return nil, err
			}
		}
		srv, err := serverproc.Start(ctx, bin, 15*time.Second)
		if err != nil {
			return nil, err
		}
		defer srv.Stop()
		httpAddr, rtmpAddr = srv.HTTPAddr, srv.RTMPAddr
		log.Info("server started", "bin", bin, "http", httpAddr, "rtmp", rtmpAddr, "pid", srv.PID)
	}

	pcfg := cfg.Publisher
	pcfg.URL = "rtmp://" + rtmpAddr + "/live/" + url.PathEscape(cfg.Stream)
	pub, err := NewPublisher(pcfg)
	if err != nil {
		return nil, err
	}
	pcfg = pub.cfg
	pubCtx, stopPub := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var pubErr error
	pubDone := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(pubDone)
		pubErr = pub.Run(pubCtx)
	}()
	stop := func() { stopPub(); wg.Wait() }
	defer stop()
	log.Info("publishing", "url", pcfg.URL, "size", fmt.Sprintf("%dx%d", pcfg.Width, pcfg.Height), "audio", pcfg.Audio)

	if err := waitLive(ctx, httpAddr, cfg.Stream, pubDone, 20*time.Second); err != nil {
		stop()
		return nil, errors.Join(err, pubErr)
	}

	browser, closeBrowser, err := chromium.New(ctx, cfg.Chromium)
	if err != nil {
		return nil, err
	}
	defer closeBrowser()

	rep := &Report{
		Stream: cfg.Stream, Proto: cfg.Proto, Width: pcfg.Width, Height: pcfg.Height,
		FPS: pcfg.FPS, GOP: pcfg.GOP, BFrames: pcfg.BFrames, Audio: pcfg.Audio,
		Duration: cfg.Duration.Seconds(), SkipMs: float64(cfg.Skip.Milliseconds()), Server: httpAddr,
	}
	watchURL := "http://" + httpAddr + "/watch/" + url.PathEscape(cfg.Stream) + "?proto=" + url.QueryEscape(cfg.Proto)
	if cfg.Target > 0 {
		watchURL += "&target=" + strconv.FormatFloat(cfg.Target, 'f', -1, 64)
	}
	script := viewerScript(pcfg.Width, pcfg.Height, pcfg.Layout)
	rep.URL = watchURL
	var all, medians, firsts []float64
	for i := range cfg.Runs {
		select {
		case <-pubDone:
			return nil, fmt.Errorf("g2g: publisher stopped: %w", pubErr)
		default:
		}
		res, err := watch(browser, watchURL, script, cfg.Duration, cfg.Duration+15*time.Second)
		if err != nil {
			return nil, err
		}
		rr := runReport(i+1, res, cfg.Skip)
		if cfg.KeepSamples {
			for _, s := range res.Samples {
				rr.Samples = append(rr.Samples, [2]float64{math.Round(s[0]*10) / 10, math.Round(s[1]*10) / 10})
			}
		}
		if res.TimedOut || rr.G2G.N == 0 {
			return nil, fmt.Errorf("g2g: run %d: %d stamped frames of %d presented (%d unreadable, %d of another size; last unread %v) within %v; player %v",
				i+1, len(res.Samples), res.Frames, res.Undecoded, res.WrongSize, res.LastUnread, cfg.Duration+15*time.Second, res.Player)
		}
		log.Info("run", "run", i+1, "g2g_median_ms", rr.G2G.Median, "first_frame_ms", rr.FirstFrame)
		rep.Runs = append(rep.Runs, rr)
		for _, s := range res.Samples {
			if res.FirstDecoded != nil && s[0]-*res.FirstDecoded >= float64(cfg.Skip.Milliseconds()) {
				all = append(all, s[1])
			}
		}
		medians = append(medians, rr.G2G.Median)
		firsts = append(firsts, rr.FirstFrame)
	}
	rep.G2G = Summarize(all)
	rep.RunMedians = Summarize(medians)
	rep.FirstFrame = Summarize(firsts)
	stop()
	if pubErr != nil {
		return rep, pubErr
	}
	return rep, nil
}

// runReport sums up one page.
func runReport(n int, res *pageResult, skip time.Duration) RunReport {
	rr := RunReport{Run: n, Frames: res.Frames, Undecoded: res.Undecoded, Player: res.Player, Marks: res.Marks, StallsAt: res.StallsAt}
	for _, k := range res.Skew {
		if math.Abs(k) > math.Abs(rr.ClockSkew) {
			rr.ClockSkew = k
		}
	}
	if res.FirstFrame != nil {
		rr.FirstFrame = *res.FirstFrame
	}
	if res.FirstDecoded == nil {
		return rr
	}
	rr.FirstStamped = *res.FirstDecoded
	var early, steady []float64
	for _, s := range res.Samples {
		if s[0]-*res.FirstDecoded < float64(skip.Milliseconds()) {
			early = append(early, s[1])
		} else {
			steady = append(steady, s[1])
		}
	}
	rr.G2G = Summarize(steady)
	rr.Early = Summarize(early)
	return rr
}

// waitLive waits until the server's API shows the stream live with a video
// track, polling every 50 ms, for at most timeout.
func waitLive(ctx context.Context, httpAddr, stream string, pubDone <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	u := "http://" + httpAddr + "/api/v1/streams/" + url.PathEscape(stream)
	for {
		if live(ctx, u) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("g2g: stream %q not live at %s: %w", stream, u, ctx.Err())
		case <-pubDone:
			return fmt.Errorf("g2g: publisher stopped before stream %q was live", stream)
		case <-tick.C:
		}
	}
}

func live(ctx context.Context, u string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var st struct {
		State  string `json:"state"`
		Tracks []struct {
			Kind string `json:"kind"`
		} `json:"tracks"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st) != nil {
		return false
	}
	return st.State == "live" && slices.ContainsFunc(st.Tracks, func(t struct {
		Kind string `json:"kind"`
	}) bool {
		return t.Kind == "video"
	})
}

// WriteText writes the report as a table.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "glass-to-glass: %dx%d@%d GOP %d B-frames %d audio %v, %s, %d runs of %.0f s (first %.0f ms of each excluded)\n",
		r.Width, r.Height, r.FPS, r.GOP, r.BFrames, r.Audio, r.URL, len(r.Runs), r.Duration, r.SkipMs)
	fmt.Fprintf(w, "%-4s %8s %8s %8s %8s %6s %10s %12s %14s %8s %6s %s\n",
		"run", "median", "p90", "min", "max", "n", "early-med", "first-frame", "first-stamped", "unread", "skew", "player")
	for _, rr := range r.Runs {
		fmt.Fprintf(w, "%-4d %8.0f %8.0f %8.0f %8.0f %6d %10.0f %12.0f %14.0f %8d %6.1f %s\n",
			rr.Run, rr.G2G.Median, rr.G2G.P90, rr.G2G.Min, rr.G2G.Max, rr.G2G.N, rr.Early.Median,
			rr.FirstFrame, rr.FirstStamped, rr.Undecoded, rr.ClockSkew, playerLine(rr.Player))
	}
	fmt.Fprintf(w, "all  %8.0f %8.0f %8.0f %8.0f %6d\n", r.G2G.Median, r.G2G.P90, r.G2G.Min, r.G2G.Max, r.G2G.N)
	fmt.Fprintf(w, "median of run medians: %.0f ms; first frame after navigation: median %.0f ms (min %.0f, max %.0f)\n",
		r.RunMedians.Median, r.FirstFrame.Median, r.FirstFrame.Min, r.FirstFrame.Max)
}

func playerLine(p map[string]any) string {
	if p == nil {
		return "-"
	}
	f := func(k string, scale float64) string {
		v, ok := p[k].(float64)
		if !ok {
			return "-"
		}
		return fmt.Sprintf("%.0f", v*scale)
	}
	return fmt.Sprintf("latency %s ms, startup %s ms, firstFrameAt %s ms, ahead %s ms, stalls %s",
		f("latency", 1000), f("startupTime", 1000), f("firstFrameAt", 1), f("bufferedAhead", 1000), f("stalls", 1))
}

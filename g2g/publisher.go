package g2g

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/liveloop/liveloop/internal/serverproc"
	"time"
)

// audioRate is the sample rate of the silent audio track, Hz.
const audioRate = 48000

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// URL is where ffmpeg publishes, rtmp://host:port/live/{stream}.
	URL string
	// Width and Height of the picture, pixels (even). Default 640x360.
	Width, Height int
	// FPS is the frame rate. Default 30.
	FPS int
	// GOP is the keyframe interval, frames. Default 30.
	GOP int
	// BFrames, when above 0, encodes like OBS's x264 defaults rather than
	// zerolatency: up to this many B-frames between references (frames
	// then arrive in decode order, presented in another) and lookahead.
	BFrames int
	// Audio adds a silent AAC track, so the stream is A/V like a real
	// encoder's. The silence (48 kHz stereo s16le) goes to ffmpeg through a
	// second pipe, written on the same ticks as the frames, so audio and
	// video share the capture clock as in a real encoder and ffmpeg's
	// interleaving of the two adds only the AAC encoder's delay.
	Audio bool
	// Layout is the barcode's place. Default DefaultLayout().
	Layout Layout
	// FFmpeg is the ffmpeg executable. Default "ffmpeg".
	FFmpeg string
	// Now is the clock of the capture stamps. Default time.Now.
	Now func() time.Time
}

func (c *PublisherConfig) defaults() {
	if c.Width == 0 || c.Height == 0 {
		c.Width, c.Height = 640, 360
	}
	if c.FPS == 0 {
		c.FPS = 30
	}
	if c.GOP == 0 {
		c.GOP = 30
	}
	if c.Layout == (Layout{}) {
		c.Layout = DefaultLayout()
	}
	if c.FFmpeg == "" {
		c.FFmpeg = "ffmpeg"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Publisher is the camera: it makes raw yuv420p frames in real time, each
// stamped with its capture instant as a barcode at the moment it is handed
// to the encoder, and pipes them into ffmpeg (x264 ultrafast, zerolatency),
// which publishes over RTMP.
//
// Life cycle: NewPublisher checks the configuration; Run starts ffmpeg and
// feeds it one frame per tick until its context ends or ffmpeg fails, then
// closes ffmpeg's input, waits for it to exit (killing it after a few
// seconds) and returns. Frames may be read from any goroutine.
type Publisher struct {
	cfg    PublisherConfig
	frames atomic.Int64
}

// NewPublisher checks cfg and fills in its defaults.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	cfg.defaults()
	if cfg.Width%2 != 0 || cfg.Height%2 != 0 || cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("g2g: picture %dx%d: want even, positive sizes", cfg.Width, cfg.Height)
	}
	if err := cfg.Layout.Check(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		return nil, errors.New("g2g: publisher needs a URL")
	}
	return &Publisher{cfg: cfg}, nil
}

// Frames returns the number of frames handed to ffmpeg so far.
func (p *Publisher) Frames() int64 { return p.frames.Load() }

// Args returns ffmpeg's command line (without the executable).
func (p *Publisher) Args() []string {
	c := p.cfg
	// Inputs are opened one after the other, each probed first: probing
	// must not need more than the first frame (and the first audio), or
	// ffmpeg would wait for one pipe while the publisher waits on the other.
	noProbe := []string{"-probesize", "32", "-analyzeduration", "0"}
	args := []string{"-hide_banner", "-loglevel", "error"}
	args = append(args, noProbe...)
	args = append(args, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", fmt.Sprintf("%dx%d", c.Width, c.Height),
		"-r", strconv.Itoa(c.FPS), "-i", "-")
	if c.Audio {
		args = append(args, noProbe...)
		// An encoder with lookahead (BFrames) holds video frames back;
		// the audio input's queue must hold that much audio, or the
		// publisher blocks on the audio pipe while ffmpeg waits for video.
		args = append(args, "-thread_queue_size", "4096")
		args = append(args, "-f", "s16le", "-ar", strconv.Itoa(audioRate), "-ac", "2", "-i", "pipe:3",
			"-map", "0:v", "-map", "1:a", "-c:a", "aac", "-b:a", "64k")
	}
	args = append(args, "-c:v", "libx264")
	if c.BFrames > 0 {
		args = append(args, "-preset", "veryfast", "-bf", strconv.Itoa(c.BFrames))
	} else {
		args = append(args, "-preset", "ultrafast", "-tune", "zerolatency")
	}
	return append(args, "-g", strconv.Itoa(c.GOP), "-pix_fmt", "yuv420p", "-f", "flv", c.URL)
}

// Run publishes until ctx ends (then it returns nil) or ffmpeg fails.
func (p *Publisher) Run(ctx context.Context) error {
	c := p.cfg
	cmd := exec.Command(c.FFmpeg, p.Args()...)
	cmd.SysProcAttr = serverproc.DieWithParent()
	stderr := &tailBuffer{max: 4096}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var audio *os.File
	if c.Audio {
		r, w, err := os.Pipe()
		if err != nil {
			stdin.Close()
			return err
		}
		cmd.ExtraFiles = []*os.File{r} // fd 3
		audio = w
		defer r.Close()
		defer w.Close()
	}
	if err := cmd.Start(); err != nil {
		stdin.Close()
		return fmt.Errorf("g2g: start ffmpeg: %w", err)
	}
	if audio != nil {
		cmd.ExtraFiles[0].Close() // ffmpeg has its copy
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Closing ffmpeg's inputs ends it (EOF) and unblocks a write in
	// progress; the watcher does it when ctx ends, feed when it stops.
	var closeOnce sync.Once
	closeInputs := func() {
		closeOnce.Do(func() {
			stdin.Close()
			if audio != nil {
				audio.Close()
			}
		})
	}
	feedDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			closeInputs()
		case <-feedDone:
		}
	}()
	var audioW io.Writer // nil without audio (not a nil *os.File)
	if audio != nil {
		audioW = audio
	}
	frameErr := p.feed(ctx, stdin, audioW, exited)
	close(feedDone)
	wg.Wait()
	closeInputs()
	var waitErr error
	select {
	case waitErr = <-exited:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		waitErr = <-exited
	}
	if ctx.Err() != nil {
		return nil
	}
	if frameErr == nil {
		frameErr = errors.New("ffmpeg exited")
	}
	return fmt.Errorf("g2g: publisher: %w (ffmpeg: %v) %s", frameErr, waitErr, bytes.TrimSpace(stderr.Bytes()))
}

// feed writes one frame per tick until ctx ends, a write fails or ffmpeg
// exits (then it puts ffmpeg's result back for Run).
func (p *Publisher) feed(ctx context.Context, w io.Writer, audio io.Writer, exited chan error) error {
	c := p.cfg
	var silence []byte
	samples := 0 // audio samples written so far
	ysize := c.Width * c.Height
	frame := make([]byte, ysize*3/2)
	yp, up, vp := frame[:ysize], frame[ysize:ysize+ysize/4], frame[ysize+ysize/4:]
	tick := time.NewTicker(time.Second / time.Duration(c.FPS))
	defer tick.Stop()
	for seq := 0; ; seq++ {
		drawBackground(yp, up, vp, c.Width, c.Height, seq)
		// The capture instant: the frame leaves the "camera" now.
		at := c.Now()
		c.Layout.Draw(yp, up, vp, c.Width, Stamp{CaptureMs: at.UnixMilli(), Seq: uint16(seq)})
		if audio != nil {
			// The audio up to the end of this frame (whole samples, no drift).
			n := (seq+1)*audioRate/c.FPS - samples
			if cap(silence) < n*4 {
				silence = make([]byte, n*4)
			}
			if _, err := audio.Write(silence[:n*4]); err != nil {
				return fmt.Errorf("writing audio: %w", err)
			}
			samples += n
		}
		if _, err := w.Write(frame); err != nil {
			return fmt.Errorf("writing frame %d: %w", seq, err)
		}
		p.frames.Add(1)
		select {
		case <-ctx.Done():
			return nil
		case err := <-exited:
			exited <- err
			return nil
		case <-tick.C:
		}
	}
}

// drawBackground fills the picture with moving content (diagonal bands
// that drift, and a bouncing box), so the encoder has work like a camera's.
func drawBackground(y, u, v []byte, w, h, n int) {
	shift := n * 3
	for r := range h {
		row := y[r*w : (r+1)*w]
		for c := range row {
			row[c] = byte(64 + ((c+r+shift)/8%16)*8)
		}
	}
	cw, ch := w/2, h/2
	for r := range ch {
		for c := range cw {
			u[r*cw+c] = byte(96 + (c+n)%64)
			v[r*cw+c] = byte(96 + (r+n)%64)
		}
	}
	// A 64x64 box bouncing along the bottom.
	bx := (n * 8) % (2 * (w - 64))
	if bx > w-64 {
		bx = 2*(w-64) - bx
	}
	by := h - 80
	if by < 0 {
		return
	}
	for r := by; r < by+64 && r < h; r++ {
		for c := bx; c < bx+64; c++ {
			y[r*w+c] = 200
		}
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.b...)
}

package transcode

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/media/aac"
	"github.com/liveloop/liveloop/media/opus"
)

// job transcodes one stream. Its goroutine owns the subscriber, the
// publisher and the process; status is shared under mu.
type job struct {
	m      *Manager
	stream string
	out    string
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	sub *hub.Subscriber
	pub *hub.Publisher
	// pending holds packets read from the subscriber but not yet fed (a
	// process ended while they were in hand).
	pending []*hub.Packet
	head    *opus.Head // of the published track set
	lastPTS int64      // newest published PTS, for monotonic output
	hasLast bool

	mu     sync.Mutex
	status Status
	done   chan struct{}
}

func (j *job) doneCh() chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.done == nil {
		j.done = make(chan struct{})
	}
	return j.done
}

func (j *job) snapshot() Status {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := j.status
	st.Stream, st.Output = j.stream, j.out
	return st
}

func (j *job) setState(f func(*Status)) {
	j.mu.Lock()
	f(&j.status)
	j.mu.Unlock()
}

// errRestart ends a process that must be restarted at once, without
// backoff: the source's audio configuration changed.
var errRestart = errors.New("transcode: audio configuration changed")

// errSourceEnded ends the job: its stream is over.
var errSourceEnded = errors.New("transcode: source stream ended")

func (j *job) run() {
	defer func() {
		if j.sub != nil {
			j.sub.Close()
		}
		if j.pub != nil {
			j.pub.Close()
		}
		j.setState(func(s *Status) { s.State, s.PID = "ended", 0 })
		ch := j.doneCh()
		j.mu.Lock()
		close(ch)
		j.mu.Unlock()
		j.log.Info("transcode job ended")
	}()
	sub, err := j.m.cfg.Hub.SubscribeInternal(j.stream)
	if err != nil {
		j.setState(func(s *Status) { s.LastError = err.Error() })
		return
	}
	j.sub = sub
	clock := j.m.cfg.Clock
	failures := 0
	for n := 0; ; n++ {
		// Wait for AAC before starting a process.
		t, err := j.waitAAC()
		if err != nil {
			return
		}
		if n > 0 {
			j.setState(func(s *Status) { s.Restarts++ })
		}
		started := clock.Now()
		err = j.process(t)
		if j.ctx.Err() != nil || errors.Is(err, errSourceEnded) {
			return
		}
		if errors.Is(err, errRestart) {
			continue
		}
		if clock.Now().Sub(started) >= j.m.cfg.StableAfter {
			failures = 0
		}
		backoff := min(j.m.cfg.MaxBackoff, j.m.cfg.MinBackoff<<min(failures, 16))
		failures++
		j.log.Warn("ffmpeg failed; restarting", "err", err, "backoff", backoff)
		j.setState(func(s *Status) { s.State, s.PID, s.LastError = "backoff", 0, err.Error() })
		select {
		case <-clock.After(backoff):
		case <-j.ctx.Done():
			return
		}
	}
}

// next returns the next packet of the source, waiting for it.
func (j *job) next(ctx context.Context) (*hub.Packet, error) {
	for len(j.pending) == 0 {
		b, err := j.sub.Next(ctx)
		if errors.Is(err, hub.ErrEnded) {
			return nil, errSourceEnded
		}
		if err != nil {
			return nil, err
		}
		j.pending = append(j.pending, b.Packets...)
	}
	p := j.pending[0]
	j.pending[0] = nil
	j.pending = j.pending[1:]
	return p, nil
}

// unread puts p back to be read first.
func (j *job) unread(p *hub.Packet) {
	j.pending = append([]*hub.Packet{p}, j.pending...)
}

// waitAAC reads the source until an AAC frame, which it leaves unread, and
// returns its track.
func (j *job) waitAAC() (*media.Track, error) {
	for {
		p, err := j.next(j.ctx)
		if err != nil {
			return nil, err
		}
		if p.Frame != nil && !p.Video && p.Track().Codec == media.CodecAAC {
			j.unread(p)
			return p.Track(), nil
		}
	}
}

// ffmpegArgs returns the arguments of a process that reads ADTS on stdin
// and writes Ogg Opus, one 20 ms packet per page, on stdout, with as
// little buffering as ffmpeg allows.
func (j *job) ffmpegArgs() []string {
	return []string{
		"-hide_banner", "-loglevel", "error",
		// A small probe starts output at once; -fflags +nobuffer would
		// lose input frames (and so the timestamp mapping).
		"-probesize", "32", "-analyzeduration", "0",
		"-f", "aac", "-i", "pipe:0",
		"-vn", "-c:a", "libopus", "-application", "lowdelay", "-frame_duration", "20",
		"-b:a", strconv.Itoa(j.m.cfg.Bitrate), "-ar", "48000",
		"-f", "ogg", "-page_duration", "1", "-flush_packets", "1", "pipe:1",
	}
}

// process runs one ffmpeg for track t until it fails, the source's audio
// configuration changes (errRestart), the source ends (errSourceEnded) or
// the job is stopped.
func (j *job) process(t *media.Track) error {
	cfg, err := aac.ParseConfig(t.Config)
	if err != nil {
		return fmt.Errorf("%w: AAC config: %v", ErrFFmpeg, err)
	}
	ctx, cancel := context.WithCancel(j.ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, j.m.cfg.FFmpeg, j.ffmpegArgs()...)
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFFmpeg, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFFmpeg, err)
	}
	var stderr tailBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: %v", ErrFFmpeg, err)
	}
	j.log.Info("ffmpeg started", "pid", cmd.Process.Pid)
	j.setState(func(s *Status) { s.State, s.PID = "running", cmd.Process.Pid })

	tm := &lockedMap{m: newTimeMap(int(t.ClockRate))}
	feedErr := make(chan error, 1)
	go func() {
		err := j.feed(ctx, stdin, t, cfg, tm)
		stdin.Close()
		if err != nil {
			cancel()
		}
		feedErr <- err
	}()
	readErr := j.read(stdout, tm)
	cancel()
	werr := cmd.Wait()
	ferr := <-feedErr
	switch {
	case errors.Is(ferr, errRestart), errors.Is(ferr, errSourceEnded):
		return ferr
	case j.ctx.Err() != nil:
		return j.ctx.Err()
	case readErr != nil && !errors.Is(readErr, io.EOF):
		return fmt.Errorf("%w: output: %v", ErrFFmpeg, readErr)
	case werr != nil:
		return fmt.Errorf("%w: %v%s", ErrFFmpeg, werr, stderr.suffix())
	}
	return fmt.Errorf("%w: exited%s", ErrFFmpeg, stderr.suffix())
}

// feed writes the source's AAC frames of track t to w as ADTS, recording
// each in tm. A frame of another AAC configuration ends it with errRestart
// (the frame stays unread for the next process).
func (j *job) feed(ctx context.Context, w io.Writer, t *media.Track, cfg *aac.Config, tm *lockedMap) error {
	buf := make([]byte, 0, 2048)
	for {
		p, err := j.next(ctx)
		if err != nil {
			return err
		}
		if p.Frame == nil || p.Video {
			continue
		}
		pt := p.Track()
		if pt.Codec != media.CodecAAC {
			continue
		}
		if pt != t && !bytes.Equal(pt.Config, t.Config) || pt.ClockRate != t.ClockRate {
			j.unread(p)
			return errRestart
		}
		f := p.Frame
		buf, err = aac.AppendADTS(buf[:0], cfg, f.Data)
		if err != nil {
			continue // a frame ADTS cannot carry: skip it
		}
		n := f.Duration
		if n <= 0 {
			n = int64(cfg.FrameSamples())
		}
		tm.add(f.PTS, int(n), f.Wall)
		if _, err := w.Write(buf); err != nil {
			j.unread(p)
			return err
		}
		j.setState(func(s *Status) { s.FramesIn++ })
	}
}

// read parses ffmpeg's Ogg Opus output and publishes its packets.
func (j *job) read(r io.Reader, tm *lockedMap) error {
	pr := newPageReader(r)
	var asm packetAssembler
	var head *opus.Head
	var pos int64 // samples at 48 kHz decoded so far, pre-skip included
	var perr error
	for perr == nil {
		page, err := pr.next()
		if err != nil {
			return err
		}
		err = asm.push(&page, func(pkt []byte, granule int64) {
			if perr != nil {
				return
			}
			switch {
			case head == nil:
				h, err := opus.ParseHead(pkt)
				if err != nil {
					perr = err
					return
				}
				head = &h
			case bytes.HasPrefix(pkt, []byte("OpusTags")):
			default:
				n, err := opus.PacketSamples(pkt)
				if err != nil {
					perr = err
					return
				}
				start := pos - int64(head.PreSkip)
				pos += int64(n)
				pts, wall, ok := tm.at(start)
				if !ok {
					return
				}
				perr = j.publish(head, pts, int64(n), append([]byte(nil), pkt...), wall)
			}
		})
		if err != nil {
			return err
		}
	}
	return perr
}

// publish writes one Opus frame to the output stream, opening it (or
// announcing new parameters) first if needed.
func (j *job) publish(head *opus.Head, pts, dur int64, pkt []byte, wall time.Time) error {
	if j.hasLast && pts <= j.lastPTS {
		return nil // overlaps what a previous process published
	}
	if j.pub == nil {
		pub, err := j.m.cfg.Hub.Publish(j.out)
		if err != nil {
			return err
		}
		j.pub = pub
	}
	if j.head == nil || !j.head.Equal(*head) {
		h := *head
		if err := j.pub.SetTracks([]*media.Track{{
			ID: 1, Kind: media.KindAudio, Codec: media.CodecOpus, Config: h.Marshal(), CodecString: "opus",
			ClockRate: 48000, SampleRate: 48000, Channels: int(h.Channels),
		}}); err != nil {
			return err
		}
		j.head = &h
	}
	j.lastPTS, j.hasLast = pts, true
	if err := j.pub.WriteFrame(&media.Frame{Track: 0, DTS: pts, PTS: pts, Duration: dur, Key: true, Data: pkt, Wall: wall}); err != nil {
		return err
	}
	delay := time.Since(wall) // Wall is the real ingest clock, whatever Config.Clock is
	j.setState(func(s *Status) { s.FramesOut++; s.Delay = delay })
	return nil
}

// lockedMap shares a timeMap between the feeding and reading goroutines.
type lockedMap struct {
	mu sync.Mutex
	m  *timeMap
}

func (l *lockedMap) add(pts int64, n int, wall time.Time) {
	l.mu.Lock()
	l.m.add(pts, n, wall)
	l.mu.Unlock()
}

func (l *lockedMap) at(pos int64) (int64, time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.at(pos)
}

// pageReader reads Ogg pages from a stream.
type pageReader struct {
	r   *bufio.Reader
	buf []byte
}

func newPageReader(r io.Reader) *pageReader {
	return &pageReader{r: bufio.NewReaderSize(r, 16<<10)}
}

// next reads one page. Its slices are valid until the next call.
func (pr *pageReader) next() (Page, error) {
	pr.buf = pr.buf[:0]
	need := oggHeaderSize
	for {
		if len(pr.buf) < need {
			if cap(pr.buf) < need {
				nb := make([]byte, len(pr.buf), need+4096)
				copy(nb, pr.buf)
				pr.buf = nb
			}
			k := len(pr.buf)
			pr.buf = pr.buf[:need]
			if _, err := io.ReadFull(pr.r, pr.buf[k:]); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) && k == 0 {
					err = io.EOF
				}
				return Page{}, err
			}
		}
		p, _, err := ParsePage(pr.buf)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, ErrShort) {
			return Page{}, err
		}
		// Work out how much of the page is known to be missing.
		need = oggHeaderSize
		if len(pr.buf) >= oggHeaderSize {
			n := int(pr.buf[26])
			need += n
			if len(pr.buf) >= oggHeaderSize+n {
				for _, s := range pr.buf[oggHeaderSize : oggHeaderSize+n] {
					need += int(s)
				}
			}
		}
	}
}

// tailBuffer keeps the end of a process's stderr, for error messages.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

const tailSize = 512

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.b = append(t.b, p...)
	if len(t.b) > tailSize {
		t.b = append(t.b[:0], t.b[len(t.b)-tailSize:]...)
	}
	t.mu.Unlock()
	return len(p), nil
}

func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(bytes.TrimSpace(t.b))
	if s == "" {
		return ""
	}
	return ": " + s
}

package loadtest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liveloop/liveloop/demo"
	"github.com/liveloop/liveloop/flv"
)

// The floor is what the WebSocket figures are measured against: the CPU a
// process spends doing nothing but the writes the server's design
// requires, one vectored write per viewer per video frame (the frame and
// the audio since the previous one), on the same machine and loopback. No
// server can deliver the stream for less, so it tells how much of the
// server's figure is Liveloop and how much is the kernel's TCP path, which
// on loopback also runs the receiver's half of every segment in the
// sender's time.
//
// FloorWriter is the writing process: it accepts TCP connections and sends
// the clip's frames, in real time, to every connection (writeAll), each as
// a 12-byte header (send time in Unix
// nanoseconds, payload length) and the payload. RunFloor starts it as a
// child process, connects the readers, and measures it like a server.

// floorHeaderSize is the header before every floor frame.
const floorHeaderSize = 12

// FloorWriterArg is the first argument that makes liveloop-load run
// FloorWriter instead of a load test.
const FloorWriterArg = "floor-writer"

// floorFrames gives the payload size of each video frame of clip with its
// audio, and the interval before it (the first frame's: from the last one
// of the previous loop).
func floorFrames(clip *demo.Clip) (sizes []int, gaps []time.Duration) {
	audio := 0
	var firstTS, last uint32
	for _, t := range clip.Tags {
		switch t.Type {
		case flv.TagAudio:
			audio += len(t.Body)
		case flv.TagVideo:
			if len(sizes) == 0 {
				firstTS = t.Timestamp
			}
			sizes = append(sizes, len(t.Body)+audio)
			gaps = append(gaps, time.Duration(t.Timestamp-min(last, t.Timestamp))*time.Millisecond)
			last, audio = t.Timestamp, 0
		}
	}
	if len(gaps) > 0 {
		gaps[0] = time.Duration(clip.Period-min(clip.Period, last-firstTS)) * time.Millisecond
	}
	return sizes, gaps
}

// FloorWriter listens on a loopback port, prints "listening HOST:PORT" on
// out, and sends clip's frames to every accepted connection until ctx ends.
// A connection that fails a write is dropped.
func FloorWriter(ctx context.Context, clip *demo.Clip, out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	defer wg.Wait()
	defer ln.Close()
	if _, err := fmt.Fprintf(out, "listening %s\n", ln.Addr()); err != nil {
		return err
	}

	sizes, gaps := floorFrames(clip)
	payload := make([]byte, slices.Max(sizes))
	hdr := make([]byte, floorHeaderSize)
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i = (i + 1) % len(sizes) {
		next = next.Add(gaps[i])
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		binary.BigEndian.PutUint64(hdr, uint64(time.Now().UnixNano()))
		binary.BigEndian.PutUint32(hdr[8:], uint32(sizes[i]))
		mu.Lock()
		conns = writeAll(conns, hdr, payload[:sizes[i]])
		mu.Unlock()
	}
}

// writeAll writes hdr and payload to every connection, one vectored write
// each, from one goroutine per CPU over a share of the connections (so the
// floor's latency is what the machine allows, as a server's would be). It
// returns the connections that took the write; the others are closed.
func writeAll(conns []net.Conn, hdr, payload []byte) []net.Conn {
	failed := make([]bool, len(conns))
	shards := min(runtime.GOMAXPROCS(0), max(1, len(conns)/16))
	var wg sync.WaitGroup
	for k := range shards {
		lo, hi := k*len(conns)/shards, (k+1)*len(conns)/shards
		wg.Go(func() {
			for j := lo; j < hi; j++ {
				bufs := net.Buffers{hdr, payload}
				if _, err := bufs.WriteTo(conns[j]); err != nil {
					conns[j].Close()
					failed[j] = true
				}
			}
		})
	}
	wg.Wait()
	live := conns[:0]
	for j, c := range conns {
		if !failed[j] {
			live = append(live, c)
		}
	}
	clear(conns[len(live):])
	return live
}

// FloorPoint is the floor at one audience size.
type FloorPoint struct {
	Viewers     int     `json:"viewers"`
	WallSeconds float64 `json:"wallSeconds"`
	// WriterCPUPerViewerMS is the writer's CPU milliseconds per
	// viewer-second, the figure to hold the server's against.
	WriterCPUPerViewerMS float64 `json:"writerCpuPerViewerSecondMs"`
	WriterCPUPercent     float64 `json:"writerCpuPercent"`
	// WriteMicros is the writer's CPU per write (frame and viewer).
	WriteMicros      float64   `json:"writeMicros"`
	Writes           uint64    `json:"writes"`
	ClientCPUPercent float64   `json:"clientCpuPercent"`
	OtherCPUPercent  float64   `json:"otherCpuPercent"`
	Latency          Quantiles `json:"latencyMs"`
}

// FloorConfig configures RunFloor.
type FloorConfig struct {
	// Command starts the writer process: it must run FloorWriter (for
	// liveloop-load: its own executable with FloorWriterArg).
	Command  []string
	Viewers  []int
	Warmup   time.Duration
	Duration time.Duration
}

// RunFloor starts the writer, and for each audience size connects that many
// readers, warms up, and measures the writer's CPU and the frames'
// delivery latency over the window.
func RunFloor(ctx context.Context, cfg FloorConfig) ([]FloorPoint, error) {
	return runFloorProcess(ctx, "floor writer", cfg.Command, cfg.Viewers, func(pid int, addr string, n int) (FloorPoint, error) {
		return floorPoint(ctx, cfg, pid, addr, n)
	})
}

func floorPoint(ctx context.Context, cfg FloorConfig, pid int, addr string, n int) (FloorPoint, error) {
	p := FloorPoint{Viewers: n}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// Each reader keeps its own figures (a shared lock would be the
	// tool's bottleneck); measuring gates them all.
	type figures struct {
		mu     sync.Mutex
		lat    Histogram
		writes uint64
	}
	var measuring atomic.Bool
	readers := make([]*figures, n)
	var d net.Dialer
	for i := range n {
		fig := &figures{}
		readers[i] = fig
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return p, fmt.Errorf("loadtest: floor reader: %w", err)
		}
		context.AfterFunc(rctx, func() { c.Close() })
		wg.Go(func() {
			defer c.Close()
			r := bufio.NewReaderSize(c, 64<<10)
			hdr := make([]byte, floorHeaderSize)
			for {
				if _, err := io.ReadFull(r, hdr); err != nil {
					return
				}
				size := binary.BigEndian.Uint32(hdr[8:])
				if _, err := r.Discard(int(size)); err != nil {
					return
				}
				sent := time.Unix(0, int64(binary.BigEndian.Uint64(hdr)))
				d := time.Since(sent)
				if measuring.Load() {
					fig.mu.Lock()
					fig.lat.Record(d)
					fig.writes++
					fig.mu.Unlock()
				}
			}
		})
	}
	if err := sleep(ctx, cfg.Warmup); err != nil {
		return p, err
	}
	s0, err := floorSample(pid)
	if err != nil {
		return p, err
	}
	measuring.Store(true)
	if err := sleep(ctx, cfg.Duration); err != nil {
		return p, err
	}
	measuring.Store(false)
	var lat Histogram
	for _, fig := range readers {
		fig.mu.Lock()
		lat.Merge(&fig.lat)
		p.Writes += fig.writes
		fig.mu.Unlock()
	}
	p.Latency = histQuantiles(&lat)
	s1, err := floorSample(pid)
	if err != nil {
		return p, err
	}
	wall := s1.wall.Sub(s0.wall).Seconds()
	cpu := (s1.serverCPU - s0.serverCPU).Seconds()
	self := (s1.selfCPU - s0.selfCPU).Seconds()
	p.WallSeconds = wall
	p.WriterCPUPercent = 100 * cpu / wall
	p.WriterCPUPerViewerMS = 1000 * cpu / wall / float64(n)
	p.ClientCPUPercent = 100 * self / wall
	p.OtherCPUPercent = max(0, 100*(s1.sysBusy-s0.sysBusy).Seconds()/wall-p.WriterCPUPercent-p.ClientCPUPercent)
	if p.Writes > 0 {
		p.WriteMicros = 1e6 * cpu / float64(p.Writes)
	}
	if p.Writes == 0 {
		return p, errors.New("loadtest: floor readers received nothing")
	}
	return p, nil
}

func floorSample(pid int) (procSample, error) {
	cfg := Config{ServerPID: pid, Now: time.Now}
	return takeSample(&cfg, nil)
}

// WriteFloorTable writes the floor points as a table.
func WriteFloorTable(w io.Writer, points []FloorPoint) error {
	if _, err := fmt.Fprintf(w, "%8s  %14s  %9s  %9s  %10s  %7s  %7s  %6s  %6s  %6s\n",
		"viewers", "cpu ms/v·s", "writer %", "µs/write", "tool cpu %", "other %", "lat p50", "p90", "p99", "max ms"); err != nil {
		return err
	}
	for _, p := range points {
		if _, err := fmt.Fprintf(w, "%8d  %14.4f  %9.1f  %9.2f  %10.1f  %7.1f  %7.2f  %6.2f  %6.2f  %6.1f\n",
			p.Viewers, p.WriterCPUPerViewerMS, p.WriterCPUPercent, p.WriteMicros, p.ClientCPUPercent, p.OtherCPUPercent,
			p.Latency.P50, p.Latency.P90, p.Latency.P99, p.Latency.Max); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, "floor: a bare process making one vectored write per viewer per video frame (frame + its audio) of the same clip; cpu ms/v·s is its CPU per viewer-second.")
	return err
}

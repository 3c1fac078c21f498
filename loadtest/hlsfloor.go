package loadtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liveloop/liveloop/demo"
	"github.com/liveloop/liveloop/flv"
	"github.com/liveloop/liveloop/fmp4"
	"github.com/liveloop/liveloop/media"
)

// The LL-HLS floor is what the LL-HLS figures are measured against: a bare
// process that answers the requests LL-HLS viewers make, and nothing
// more. Per viewer and part that is two small HTTP/1.1 requests on
// keep-alive loopback connections, the preload-hinted part and the
// blocking playlist reload for it, both held until the part is complete
// and then answered at once, each with one vectored write (header and
// body): a playlist of the usual size and the part, built from the same
// clip's frames (one moof+mdat per frame, video stamped with its send
// time, as the load tool's publisher stamps it) on the clip's timing. The
// clients are the load tool's own LL-HLS viewers, so the client side is
// the same as against the server.
//
// HLSFloorServer is the serving process. Its HTTP is hand-rolled (a
// request is read whole from a reused buffer; the answer is prebuilt
// bytes), so its CPU is the kernel's loopback TCP and the Go runtime's
// goroutine wake-ups, which no server on this machine can avoid; the
// difference from a server's figure is the server's own work (net/http,
// routing, the muxer). It never streams a part chunked: hinted parts are
// held until complete, as RFC 8216bis 6.2.6 prefers and
// liveloop serve --hls-chunked-parts=false does.

// HLSFloorServerArg is the first argument that makes liveloop-load run
// HLSFloorServer instead of a load test.
const HLSFloorServerArg = "hls-floor-server"

// The floor's shape: parts of 200 ms, segments of 2 s cut at keyframes,
// ten segments in the playlist with the parts of the last three listed
// (as the server lists them), six more in memory.
const (
	hlsFloorPart     = 200 * time.Millisecond
	hlsFloorSegment  = 2 * time.Second
	hlsFloorWindow   = 10
	hlsFloorPartSegs = 3
	hlsFloorKeep     = hlsFloorWindow + 6
	// hlsFloorPartPrefix begins a part's name, as long as the server's.
	hlsFloorPartPrefix = "part-floor0000-"
	// hlsFloorHold bounds a held request (the server's block timeout).
	hlsFloorHold = 6 * time.Second
)

// hlsFloorSource demuxes one loop of clip into its tracks and frames.
func hlsFloorSource(clip *demo.Clip) ([]*media.Track, []*media.Frame, error) {
	var s frameSink
	d := flv.NewDemuxer(&s, func() time.Time { return time.Time{} })
	for _, t := range clip.Tags {
		if t.Type != flv.TagScript && t.Timestamp >= clip.Period {
			continue // past the loop point, as the publisher skips it
		}
		if err := d.WriteTag(t.Type, t.Timestamp, t.Body); err != nil {
			return nil, nil, err
		}
	}
	video := -1
	for i, t := range s.tracks {
		if t.Kind == media.KindVideo && t.Codec == media.CodecH264 {
			video = i
		}
	}
	if video < 0 || len(s.frames) == 0 {
		return nil, nil, errors.New("loadtest: hls floor: the clip has no H.264 video")
	}
	return s.tracks, s.frames, nil
}

// frameSink collects what a demuxer writes.
type frameSink struct {
	tracks []*media.Track
	frames []*media.Frame
}

func (s *frameSink) SetTracks(t []*media.Track) error {
	if s.tracks != nil {
		return errors.New("loadtest: hls floor: the clip changes tracks")
	}
	s.tracks = t
	return nil
}
func (s *frameSink) WriteFrame(f *media.Frame) error { s.frames = append(s.frames, f); return nil }
func (s *frameSink) Done() <-chan struct{}           { return nil }
func (s *frameSink) Close()                          {}

// hlsFloorState is what the floor offers as of one part: immutable once
// published, except that ready is closed when the next state replaces it.
type hlsFloorState struct {
	ready chan struct{}
	// segs are the segments in memory, oldest first, the last one open.
	segs []*hlsFloorSeg
	// playlist is the whole answer to a playlist request, header and
	// body; the newest complete part is lastMSN, lastIdx.
	playlist         [][]byte
	lastMSN, lastIdx uint64
	stopped          bool
}

type hlsFloorSeg struct {
	msn   uint64
	parts [][2][]byte // header and body of each complete part's answer
	durs  []time.Duration
	indep []bool
	dur   time.Duration // of the complete parts
}

// has reports whether part idx of segment msn is complete.
func (s *hlsFloorState) has(msn, idx uint64) bool {
	return s.lastMSN > msn || (s.lastMSN == msn && s.lastIdx >= idx)
}

func (s *hlsFloorState) part(msn, idx uint64) ([2][]byte, bool) {
	for _, sg := range s.segs {
		if sg.msn == msn && idx < uint64(len(sg.parts)) {
			return sg.parts[idx], true
		}
	}
	return [2][]byte{}, false
}

// hlsFloorHeader is an answer's header, about the size of the server's.
func hlsFloorHeader(ctype, cache string, n int) []byte {
	return []byte("HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nAccess-Control-Expose-Headers: Age, Content-Length, Date, ETag\r\n" +
		"Accept-Ranges: bytes\r\nCache-Control: " + cache + "\r\nContent-Type: " + ctype + "\r\nContent-Length: " + strconv.Itoa(n) +
		"\r\nEtag: \"" + strconv.FormatInt(time.Now().UnixNano(), 36) + "\"\r\n\r\n")
}

// render makes the state's playlist.
func (s *hlsFloorState) render() {
	var b bytes.Buffer
	first := s.segs[0].msn
	if n := len(s.segs) - 1 - hlsFloorWindow; n > 0 {
		first = s.segs[n].msn
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:%d\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600,CAN-SKIP-UNTIL=12.000\n"+
		"#EXT-X-PART-INF:PART-TARGET=0.200\n#EXT-X-MEDIA-SEQUENCE:%d\n#EXT-X-MAP:URI=\"init.mp4\"\n", int(hlsFloorSegment/time.Second), first)
	for i, sg := range s.segs {
		if sg.msn < first {
			continue
		}
		if len(s.segs)-i <= hlsFloorPartSegs+1 {
			for j := range sg.parts {
				fmt.Fprintf(&b, "#EXT-X-PART:DURATION=%.3f,URI=\""+hlsFloorPartPrefix+"%d-%d.m4s\"", sg.durs[j].Seconds(), sg.msn, j)
				if sg.indep[j] {
					b.WriteString(",INDEPENDENT=YES")
				}
				b.WriteByte('\n')
			}
		}
		if i < len(s.segs)-1 {
			fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n#EXTINF:%.5f,\nseg-floor0000-%d.m4s\n", sg.dur.Seconds(), sg.msn)
		}
	}
	open := s.segs[len(s.segs)-1]
	fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""+hlsFloorPartPrefix+"%d-%d.m4s\"\n", open.msn, len(open.parts))
	s.playlist = [][]byte{hlsFloorHeader("application/vnd.apple.mpegurl", "public, max-age=12", b.Len()), b.Bytes()}
}

// hlsFloor is the serving process's state.
type hlsFloor struct {
	state atomic.Pointer[hlsFloorState]
	multi [][]byte
	init  [][]byte
}

// HLSFloorServer listens on a loopback port, prints "listening HOST:PORT"
// on out, and serves clip as LL-HLS, as described above, at
// /hls/{any}/index.m3u8, until ctx ends.
func HLSFloorServer(ctx context.Context, clip *demo.Clip, out io.Writer) error {
	tracks, frames, err := hlsFloorSource(clip)
	if err != nil {
		return err
	}
	init, err := fmp4.InitSegment(tracks)
	if err != nil {
		return err
	}
	f := &hlsFloor{init: [][]byte{hlsFloorHeader("video/mp4", "public, max-age=31536000, immutable", len(init)), init}}
	codecs := make([]string, len(tracks))
	for i, t := range tracks {
		codecs[i] = t.CodecString
	}
	multi := []byte("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=2800000,CODECS=\"" +
		strings.Join(codecs, ",") + "\"\nmedia.m3u8\n")
	f.multi = [][]byte{hlsFloorHeader("application/vnd.apple.mpegurl", "public, max-age=2", len(multi)), multi}

	// The first state (no part yet) is there before the first request
	// can be: a request holds on it until mux publishes a part.
	f.state.Store(&hlsFloorState{ready: make(chan struct{}), segs: []*hlsFloorSeg{{msn: 0}}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	context.AfterFunc(ctx, func() { ln.Close() })
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			context.AfterFunc(ctx, func() { c.Close() })
			wg.Go(func() { f.serve(c) })
		}
	})
	if _, err := fmt.Fprintf(out, "listening %s\n", ln.Addr()); err != nil {
		return err
	}
	f.mux(ctx, tracks, frames, clip.Period)
	return nil
}

// mux plays the frames in real time, loop after loop, cuts them into
// parts and segments and publishes a state per part.
func (f *hlsFloor) mux(ctx context.Context, tracks []*media.Track, frames []*media.Frame, period uint32) {
	// The state starts as HLSFloorServer stored it.
	defer func() {
		cur := f.state.Load()
		next := *cur
		next.ready, next.stopped = make(chan struct{}), true
		f.state.Store(&next)
		close(cur.ready)
	}()
	var (
		part      []byte
		partStart time.Duration // media time of the open part's first frame
		segStart  time.Duration
		partIndep bool
		seq       uint32
		stamps    uint32
		started   bool
	)
	publish := func(end time.Duration, newSeg bool) {
		cur := f.state.Load()
		segs := append([]*hlsFloorSeg(nil), cur.segs...)
		open := *segs[len(segs)-1]
		d := end - partStart
		open.parts = append(open.parts[:len(open.parts):len(open.parts)],
			[2][]byte{hlsFloorHeader("video/iso.segment", "public, max-age=31536000, immutable", len(part)), part})
		open.durs = append(open.durs[:len(open.durs):len(open.durs)], d)
		open.indep = append(open.indep[:len(open.indep):len(open.indep)], partIndep)
		open.dur += d
		segs[len(segs)-1] = &open
		next := &hlsFloorState{ready: make(chan struct{}), lastMSN: open.msn, lastIdx: uint64(len(open.parts) - 1)}
		if newSeg {
			segs = append(segs, &hlsFloorSeg{msn: open.msn + 1})
			segStart = end
		}
		if len(segs) > hlsFloorKeep {
			segs = segs[len(segs)-hlsFloorKeep:]
		}
		next.segs = segs
		next.render()
		f.state.Store(next)
		close(cur.ready)
		part, partStart, partIndep = nil, end, false
	}
	t0 := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for loop := int64(0); ; loop++ {
		off := time.Duration(loop) * time.Duration(period) * time.Millisecond
		for _, fr := range frames {
			tr := tracks[fr.Track]
			at := off + media.TicksToDuration(fr.DTS, tr.ClockRate)
			if !started {
				started, partStart, segStart, t0 = true, at, at, time.Now().Add(-at)
			}
			timer.Reset(time.Until(t0.Add(at)))
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			if tr.Kind == media.KindVideo {
				// A part ends at the video frame that starts the next;
				// a segment at a keyframe (give or take the clip's loop
				// point, which may come a few milliseconds early).
				newSeg := fr.Key && at-segStart >= hlsFloorSegment-hlsFloorPart/2
				if len(part) > 0 && (newSeg || at-partStart >= hlsFloorPart) {
					publish(at, newSeg)
				}
				if len(part) == 0 && fr.Key {
					partIndep = true
				}
			}
			g := *fr
			shift := int64(off) * int64(tr.ClockRate) / int64(time.Second)
			g.DTS += shift
			g.PTS += shift
			if tr.Kind == media.KindVideo {
				sei := MarshalStampSEI(Stamp{SendTime: time.Now().UnixNano(), Seq: stamps})
				stamps++
				data := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(sei)+len(fr.Data)), uint32(len(sei)))
				g.Data = append(append(data, sei...), fr.Data...)
			}
			seq++
			part = fmp4.AppendFragment(part, seq, tr, &g)
		}
	}
}

// serve answers one connection's requests, in order, until it fails.
func (f *hlsFloor) serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	n := 0
	var out [2][]byte
	for {
		end := bytes.Index(buf[:n], []byte("\r\n\r\n"))
		if end < 0 {
			if n == len(buf) {
				return // a request too long for the floor
			}
			m, err := c.Read(buf[n:])
			if err != nil {
				return
			}
			n += m
			continue
		}
		line, _, _ := bytes.Cut(buf[:end], []byte("\r\n"))
		// WriteTo consumes the slices it is given: a copy of the shared
		// answer's.
		bufs := net.Buffers(out[:copy(out[:], f.answer(line))])
		if _, err := bufs.WriteTo(c); err != nil {
			return
		}
		n = copy(buf, buf[end+4:n])
	}
}

var (
	hlsFloor404 = [][]byte{[]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")}
	hlsFloor503 = [][]byte{[]byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")}
)

// answer returns the answer to a request line, "GET /hls/{s}/{name} HTTP/1.1",
// holding it until the part it names is complete.
func (f *hlsFloor) answer(line []byte) [][]byte {
	_, target, _ := bytes.Cut(line, []byte(" "))
	target, _, _ = bytes.Cut(target, []byte(" "))
	path, query, _ := bytes.Cut(target, []byte("?"))
	name := path[bytes.LastIndexByte(path, '/')+1:]
	switch {
	case string(name) == "index.m3u8":
		return f.multi
	case string(name) == "init.mp4":
		return f.init
	case string(name) == "media.m3u8":
		msn, part, ok := hlsFloorDirectives(query)
		st, ok := f.hold(ok, msn, part)
		if !ok {
			return hlsFloor503
		}
		return st.playlist
	case bytes.HasPrefix(name, []byte(hlsFloorPartPrefix)) && bytes.HasSuffix(name, []byte(".m4s")):
		m, p, _ := bytes.Cut(name[len(hlsFloorPartPrefix):len(name)-4], []byte("-"))
		msn, err1 := strconv.ParseUint(string(m), 10, 64)
		idx, err2 := strconv.ParseUint(string(p), 10, 64)
		if err1 != nil || err2 != nil {
			return hlsFloor404
		}
		st, ok := f.hold(true, msn, idx)
		if !ok {
			return hlsFloor503
		}
		if b, ok := st.part(msn, idx); ok {
			return b[:]
		}
	}
	return hlsFloor404
}

// hold waits until part idx of segment msn is complete (with block; else
// until there is a part at all) and returns the state then.
func (f *hlsFloor) hold(block bool, msn, idx uint64) (*hlsFloorState, bool) {
	st := f.state.Load()
	var deadline <-chan time.Time
	for {
		if st.playlist != nil && (!block || st.has(msn, idx)) {
			return st, true
		}
		if st.stopped || (block && msn > st.lastMSN+2) {
			return nil, false
		}
		if deadline == nil {
			t := time.NewTimer(hlsFloorHold)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-st.ready:
		case <-deadline:
			return nil, false
		}
		st = f.state.Load()
	}
}

// hlsFloorDirectives reads _HLS_msn and _HLS_part of a query.
func hlsFloorDirectives(q []byte) (msn, part uint64, ok bool) {
	for len(q) > 0 {
		var kv []byte
		kv, q, _ = bytes.Cut(q, []byte("&"))
		k, v, _ := bytes.Cut(kv, []byte("="))
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			continue
		}
		switch string(k) {
		case "_HLS_msn":
			msn, ok = n, true
		case "_HLS_part":
			part = n
		}
	}
	return msn, part, ok
}

// HLSFloorPoint is the LL-HLS floor at one audience size.
type HLSFloorPoint struct {
	Viewers     int     `json:"viewers"`
	Connected   int     `json:"connected"`
	WallSeconds float64 `json:"wallSeconds"`
	// FloorCPUPercent is the floor process's CPU (% of a core);
	// FloorCPUPer1000 the same per 1,000 viewers, the figure to hold the
	// server's %/1000 v against.
	FloorCPUPercent  float64 `json:"floorCpuPercent"`
	FloorCPUPer1000  float64 `json:"floorCpuPercentPer1000"`
	RequestMicros    float64 `json:"requestMicros"` // floor CPU per request
	ClientCPUPercent float64 `json:"clientCpuPercent"`
	OtherCPUPercent  float64 `json:"otherCpuPercent"`
	// HLS holds the viewers' figures, as against the server.
	HLS     HLSFigures `json:"hls"`
	Latency Quantiles  `json:"latencyMs"`
	Loss    float64    `json:"loss"`
	Mbps    float64    `json:"mbitPerViewer"`
	Errors  []string   `json:"errors,omitempty"`
}

// HLSFloorConfig configures RunHLSFloor.
type HLSFloorConfig struct {
	// Command starts the serving process: it must run HLSFloorServer (for
	// liveloop-load: its own executable with HLSFloorServerArg).
	Command  []string
	Viewers  []int
	Ramp     float64 // viewers starting per second; 0: all at once
	Warmup   time.Duration
	Duration time.Duration
	// ConnectTimeout bounds the wait for every viewer's first frame;
	// default 10 s.
	ConnectTimeout time.Duration
}

// RunHLSFloor starts the floor process, and for each audience size starts
// that many of the load tool's LL-HLS viewers against it, warms up, and
// measures the process's CPU and the viewers' figures over the window.
func RunHLSFloor(ctx context.Context, cfg HLSFloorConfig) ([]HLSFloorPoint, error) {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	return runFloorProcess(ctx, "LL-HLS floor server", cfg.Command, cfg.Viewers, func(pid int, addr string, n int) (HLSFloorPoint, error) {
		return hlsFloorPoint(ctx, cfg, pid, addr, n)
	})
}

func hlsFloorPoint(ctx context.Context, fc HLSFloorConfig, pid int, addr string, n int) (HLSFloorPoint, error) {
	p := HLSFloorPoint{Viewers: n}
	cfg := &Config{HTTPAddr: addr, Stream: "floor", ConnectTimeout: fc.ConnectTimeout, Now: time.Now, ServerPID: pid}
	a := newHLSAudience(cfg, n)
	defer a.close()
	vctx, vcancel := context.WithCancel(ctx)
	var vwg sync.WaitGroup
	defer vwg.Wait()
	defer vcancel()
	members := make([]*member, 0, n)
	t0 := time.Now()
	for i := range n {
		if i > 0 && fc.Ramp > 0 {
			if err := sleep(ctx, time.Until(t0.Add(time.Duration(float64(i)/fc.Ramp*float64(time.Second))))); err != nil {
				return p, err
			}
		}
		m, run := a.add(i)
		members = append(members, m)
		vwg.Go(func() { run(vctx) })
	}
	started, err := awaitStarts(ctx, members, fc.ConnectTimeout)
	if err != nil {
		return p, err
	}
	p.Connected = len(started)
	if p.Connected == 0 {
		vcancel()
		vwg.Wait()
		return p, fmt.Errorf("loadtest: no LL-HLS floor viewer started: %v", firstErrs(members, 1))
	}
	w, err := measureFloorWindow(ctx, cfg, fc.Warmup, fc.Duration, a.reset)
	if err != nil {
		return p, err
	}
	wall, cpu := w.wall, w.cpu
	var pt Point
	pt.Viewers, pt.Connected = n, p.Connected
	a.collect(&pt, wall)
	p.WallSeconds = wall
	p.FloorCPUPercent, p.ClientCPUPercent, p.OtherCPUPercent = w.floorPct, w.clientPct, w.otherPct
	p.FloorCPUPer1000 = p.FloorCPUPercent * 1000 / float64(n)
	p.HLS = *pt.HLS
	p.HLS.ServerCPUPer1000Pct = p.FloorCPUPer1000
	if p.HLS.Requests > 0 {
		p.RequestMicros = 1e6 * cpu / float64(p.HLS.Requests)
	}
	p.Latency, p.Loss, p.Mbps = pt.Latency, pt.Loss, pt.DeliveredMbpsPerViewer
	p.Errors = firstErrs(members, 3)
	if pt.FramesReceived == 0 {
		return p, errors.New("loadtest: LL-HLS floor viewers received no frame")
	}
	return p, nil
}

// WriteHLSFloorTable writes the LL-HLS floor points as a table.
func WriteHLSFloorTable(w io.Writer, points []HLSFloorPoint) error {
	if _, err := fmt.Fprintf(w, "%8s  %5s  %9s  %9s  %8s  %10s  %7s  %6s  %9s  %7s  %6s  %6s  %6s  %8s  %8s\n",
		"viewers", "ok", "floor %", "%/1000 v", "µs/req", "tool cpu %", "other %", "req/s", "parts/v·s", "lat p50", "p90", "p99", "max ms", "loss", "Mbit/s/v"); err != nil {
		return err
	}
	for _, p := range points {
		if _, err := fmt.Fprintf(w, "%8d  %5d  %9.1f  %9.1f  %8.2f  %10.1f  %7.1f  %6.0f  %9.2f  %7.1f  %6.1f  %6.1f  %6.1f  %7.4f%%  %8.2f\n",
			p.Viewers, p.Connected, p.FloorCPUPercent, p.FloorCPUPer1000, p.RequestMicros, p.ClientCPUPercent, p.OtherCPUPercent,
			p.HLS.RequestsPerSecond, p.HLS.PartsPerViewerSec, p.Latency.P50, p.Latency.P90, p.Latency.P99, p.Latency.Max, 100*p.Loss, p.Mbps); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, "hls floor: a bare process answering the LL-HLS viewers' requests (per viewer and part: a blocking playlist reload and the hinted part, each held until the part is complete, then one write) with the same clip's parts; %/1000 v is its CPU (% of a core) per 1,000 viewers.")
	return err
}

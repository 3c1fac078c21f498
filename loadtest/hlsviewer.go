package loadtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/liveloop/liveloop/fmp4"
)

// The LL-HLS viewer, as hls.js plays in low-latency mode: it opens the
// multivariant playlist, the media playlist and the init segment, then for
// every part requests the preload-hinted part (which the server holds, and
// streams chunked as it is written) and, in parallel, a blocking playlist
// reload for that part (_HLS_msn, _HLS_part, RFC 8216bis 6.2.5.2), whose
// answer hints the next part. Each viewer runs two goroutines, the playlist
// loop and the part reader; all viewers share one HTTP/1.1 transport with
// keep-alive connections.

// hlsAudience is the LL-HLS viewers of one point.
type hlsAudience struct {
	cfg     *Config
	tr      *http.Transport
	client  *http.Client
	base    string // http://host/hls/{stream}/
	viewers []*hlsViewer
}

func newHLSAudience(cfg *Config, n int) *hlsAudience {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2*n + 16,
		MaxIdleConnsPerHost: 2*n + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &hlsAudience{
		cfg: cfg, tr: tr, client: &http.Client{Transport: tr},
		base:    "http://" + cfg.HTTPAddr + "/hls/" + cfg.Stream + "/",
		viewers: make([]*hlsViewer, 0, n),
	}
}

func (a *hlsAudience) gone(ctx context.Context, timeout time.Duration) error {
	return waitMetric(ctx, a.cfg, timeout, "LL-HLS requests blocked", func(m Metrics) float64 { return m.HLSBlocked })
}

func (a *hlsAudience) add(int) (*member, func(context.Context)) {
	v := &hlsViewer{a: a, member: newMember()}
	a.viewers = append(a.viewers, v)
	return &v.member, v.run
}

func (a *hlsAudience) begin(context.Context, *sync.WaitGroup) error { return nil }

func (a *hlsAudience) reset() {
	for _, v := range a.viewers {
		v.mu.Lock()
		v.st = viewerStats{}
		v.hs = hlsStats{}
		v.mu.Unlock()
	}
}

func (a *hlsAudience) collect(p *Point, wall float64) {
	var total viewerStats
	var lat Histogram
	var hs hlsStats
	for _, v := range a.viewers {
		v.mu.Lock()
		total.add(&v.st)
		lat.Merge(&v.st.lat)
		hs.add(&v.hs)
		v.mu.Unlock()
	}
	total.fill(p, &lat, wall)
	reqs := hs.parts + hs.playlists + hs.others
	p.HLS = &HLSFigures{
		Requests: reqs, PartRequests: hs.parts, PlaylistRequests: hs.playlists,
		RequestsPerSecond:   float64(reqs) / wall,
		PartsPerViewerSec:   float64(hs.parts) / wall / float64(max(p.Connected, 1)),
		OK:                  hs.ok,
		Status400:           hs.s400,
		Status404:           hs.s404,
		Status503:           hs.s503,
		StatusOther:         hs.sOther,
		TransportErrors:     hs.netErr,
		Resyncs:             hs.resyncs,
		ReloadWait:          histQuantiles(&hs.reload),
		ServerCPUPer1000Pct: p.ServerCPUPer1000,
	}
}

func (a *hlsAudience) close() { a.tr.CloseIdleConnections() }

// HLSFigures are the LL-HLS mode's figures over the measured window, all
// viewers together.
type HLSFigures struct {
	Requests          uint64  `json:"requests"` // every request answered (or failed)
	PartRequests      uint64  `json:"partRequests"`
	PlaylistRequests  uint64  `json:"playlistRequests"`
	RequestsPerSecond float64 `json:"requestsPerSecond"`
	PartsPerViewerSec float64 `json:"partsPerViewerSecond"`
	OK                uint64  `json:"ok"` // 2xx answers
	Status400         uint64  `json:"status400"`
	Status404         uint64  `json:"status404"`
	Status503         uint64  `json:"status503"`
	StatusOther       uint64  `json:"statusOther"`
	TransportErrors   uint64  `json:"transportErrors"`
	// Resyncs counts restarts from a plain playlist after a failed
	// request.
	Resyncs uint64 `json:"resyncs"`
	// ReloadWait is how long blocking playlist reloads were held.
	ReloadWait Quantiles `json:"reloadWaitMs"`
	// ServerCPUPer1000Pct repeats Point.ServerCPUPer1000 (a core's % per
	// 1,000 viewers), the figure.
	ServerCPUPer1000Pct float64 `json:"serverCpuPercentPer1000"`
}

// hlsStats are one viewer's request counters over the window.
type hlsStats struct {
	parts, playlists, others uint64 // requests by resource
	ok, s400, s404, s503     uint64
	sOther, netErr, resyncs  uint64
	reload                   Histogram
}

func (h *hlsStats) add(o *hlsStats) {
	h.parts += o.parts
	h.playlists += o.playlists
	h.others += o.others
	h.ok += o.ok
	h.s400 += o.s400
	h.s404 += o.s404
	h.s503 += o.s503
	h.sOther += o.sOther
	h.netErr += o.netErr
	h.resyncs += o.resyncs
	h.reload.Merge(&o.reload)
}

func (t *viewerStats) add(o *viewerStats) {
	t.frames += o.frames
	t.missing += o.missing
	t.gaps += o.gaps
	t.reorders += o.reorders
	t.unstamp += o.unstamp
	t.bytes += o.bytes
	t.messages += o.messages
}

// Kinds of request, for the counters.
const (
	reqPart = iota
	reqPlaylist
	reqOther
)

// hlsViewer is one LL-HLS viewer. The playlist loop (run) and the part
// reader each own their buffers; the counters are guarded by mu so the
// controller can reset and read them.
type hlsViewer struct {
	a *hlsAudience
	member

	mu sync.Mutex
	st viewerStats
	hs hlsStats

	// Owned by the part reader.
	video    uint32 // video track ID, from the init segment (run sets it first)
	keyed    bool   // started is closed
	t0       time.Time
	seq      seqTracker
	partBuf  []byte
	plBuf    []byte // owned by run
	urlBuf   []byte // owned by run
	failures int    // consecutive failed rounds (run)
}

// errHTTPStatus is a request answered with an unexpected status.
type errHTTPStatus struct {
	code int
	what string
}

func (e *errHTTPStatus) Error() string { return fmt.Sprintf("loadtest: %s: HTTP %d", e.what, e.code) }

// maxFailures ends a viewer after this many failed rounds in a row.
const maxFailures = 20

func (v *hlsViewer) run(ctx context.Context) {
	defer close(v.exited)
	v.err = v.play(ctx)
	if ctx.Err() != nil {
		v.err = nil
	}
}

func (v *hlsViewer) play(ctx context.Context) error {
	now := v.a.cfg.Now
	v.t0 = now()
	base := v.a.base
	body, err := v.get(ctx, base+"index.m3u8", reqPlaylist, v.plBuf)
	if err != nil {
		return err
	}
	vuri := firstVariant(body)
	if vuri == "" {
		return errors.New("loadtest: multivariant playlist without a variant")
	}
	mediaURL := resolve(base, vuri)
	body, err = v.get(ctx, mediaURL, reqPlaylist, body)
	if err != nil {
		return err
	}
	pl := parseMediaPlaylist(body)
	v.plBuf = body
	if pl.mapURI == "" {
		return errors.New("loadtest: media playlist without EXT-X-MAP")
	}
	initSeg, err := v.get(ctx, resolve(mediaURL, pl.mapURI), reqOther, nil)
	if err != nil {
		return err
	}
	if v.video, err = videoTrackID(initSeg); err != nil {
		return err
	}

	// The part reader: takes a part URL, answers with its error.
	parts := make(chan string)
	done := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() {
		for {
			select {
			case u := <-parts:
				done <- v.part(ctx, u)
			case <-ctx.Done():
				return
			}
		}
	})

	for {
		if pl.hintURI == "" {
			if pl.ended {
				return errStreamEnded
			}
			// A playlist without a hint: ask again, blocking for the next
			// part.
			body, err := v.reload(ctx, mediaURL, pl.hintMSN, pl.hintPart)
			if err != nil {
				if err := v.failed(ctx, err); err != nil {
					return err
				}
				body, _ = v.get(ctx, mediaURL, reqPlaylist, v.plBuf)
			}
			v.plBuf = body
			pl = parseMediaPlaylist(body)
			continue
		}
		select {
		case parts <- resolve(mediaURL, pl.hintURI):
		case <-ctx.Done():
			return nil
		}
		body, rerr := v.reload(ctx, mediaURL, pl.hintMSN, pl.hintPart)
		var perr error
		select {
		case perr = <-done:
		case <-ctx.Done():
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if rerr == nil && perr == nil {
			v.failures = 0
			v.plBuf = body
			pl = parseMediaPlaylist(body)
			continue
		}
		// Start again from the live edge of a plain playlist.
		if err := v.failed(ctx, errors.Join(rerr, perr)); err != nil {
			return err
		}
		v.mu.Lock()
		v.hs.resyncs++
		v.mu.Unlock()
		body, err := v.get(ctx, mediaURL, reqPlaylist, body)
		if err != nil {
			pl = mediaPlaylist{hintMSN: pl.hintMSN, hintPart: pl.hintPart}
			continue
		}
		v.plBuf = body
		pl = parseMediaPlaylist(body)
	}
}

// failed counts a failed round; after maxFailures in a row it returns the
// error. It waits a little so that a failing server is not hammered.
func (v *hlsViewer) failed(ctx context.Context, err error) error {
	v.failures++
	if v.failures >= maxFailures {
		return fmt.Errorf("loadtest: %d failed rounds in a row: %w", v.failures, err)
	}
	return sleep(ctx, 50*time.Millisecond)
}

// reload asks for the playlist that holds part (msn, part): a blocking
// reload.
func (v *hlsViewer) reload(ctx context.Context, mediaURL string, msn, part uint64) ([]byte, error) {
	u := append(v.urlBuf[:0], mediaURL...)
	u = append(u, "?_HLS_msn="...)
	u = strconv.AppendUint(u, msn, 10)
	u = append(u, "&_HLS_part="...)
	u = strconv.AppendUint(u, part, 10)
	v.urlBuf = u
	t0 := time.Now()
	body, err := v.get(ctx, string(u), reqPlaylist, v.plBuf)
	if err == nil {
		v.mu.Lock()
		v.hs.reload.Record(time.Since(t0))
		v.mu.Unlock()
	}
	return body, err
}

// count records one request's outcome (code 0: a transport error).
func (v *hlsViewer) count(kind, code int) {
	v.mu.Lock()
	switch kind {
	case reqPart:
		v.hs.parts++
	case reqPlaylist:
		v.hs.playlists++
	default:
		v.hs.others++
	}
	switch {
	case code == 0:
		v.hs.netErr++
	case code >= 200 && code < 300:
		v.hs.ok++
	case code == 400:
		v.hs.s400++
	case code == 404:
		v.hs.s404++
	case code == 503:
		v.hs.s503++
	default:
		v.hs.sOther++
	}
	v.mu.Unlock()
}

// get fetches url whole into buf (reused) and returns it.
func (v *hlsViewer) get(ctx context.Context, url string, kind int, buf []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return buf, err
	}
	resp, err := v.a.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			v.count(kind, 0)
		}
		return buf, err
	}
	defer resp.Body.Close()
	buf, err = readAllInto(buf[:0], resp.Body)
	if ctx.Err() == nil {
		v.count(kind, resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		return buf, &errHTTPStatus{resp.StatusCode, "GET " + url}
	}
	if err == nil {
		v.mu.Lock()
		v.st.bytes += uint64(len(buf))
		v.mu.Unlock()
	}
	return buf, err
}

// readAllInto appends everything r yields to dst.
func readAllInto(dst []byte, r io.Reader) ([]byte, error) {
	if cap(dst)-len(dst) < 512 {
		dst = append(dst, make([]byte, 4096)...)[:len(dst)]
	}
	for {
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
	}
}

// maxBox bounds one box of a part.
const maxBox = 64 << 20

// part reads one part as it arrives, box by box; every mdat ends a
// fragment, whose video samples are timed then.
func (v *hlsViewer) part(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := v.a.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			v.count(reqPart, 0)
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		v.count(reqPart, resp.StatusCode)
		return &errHTTPStatus{resp.StatusCode, "GET " + url}
	}
	buf := v.partBuf[:0]
	defer func() { v.partBuf = buf[:0] }()
	var hdr [16]byte
	for {
		if _, err := io.ReadFull(resp.Body, hdr[:8]); err != nil {
			if err == io.EOF && len(buf) == 0 {
				v.count(reqPart, resp.StatusCode)
				return nil
			}
			if ctx.Err() == nil {
				v.count(reqPart, 0)
			}
			return fmt.Errorf("loadtest: part %s: %w", url, err)
		}
		size, hlen := uint64(binary.BigEndian.Uint32(hdr[:4])), 8
		if size == 1 {
			if _, err := io.ReadFull(resp.Body, hdr[8:16]); err != nil {
				return fmt.Errorf("loadtest: part %s: %w", url, err)
			}
			size, hlen = binary.BigEndian.Uint64(hdr[8:16]), 16
		}
		if size < uint64(hlen) || size > maxBox {
			v.count(reqPart, 0)
			return fmt.Errorf("loadtest: part %s: box size %d", url, size)
		}
		start := len(buf)
		buf = append(buf, hdr[:hlen]...)
		buf = append(buf, make([]byte, int(size)-hlen)...)
		if _, err := io.ReadFull(resp.Body, buf[start+hlen:]); err != nil {
			if ctx.Err() == nil {
				v.count(reqPart, 0)
			}
			return fmt.Errorf("loadtest: part %s: %w", url, err)
		}
		if string(hdr[4:8]) == "mdat" {
			if err := v.fragments(buf, v.a.cfg.Now()); err != nil {
				v.count(reqPart, 0)
				return fmt.Errorf("loadtest: part %s: %w", url, err)
			}
			buf = buf[:0]
		}
	}
}

// fragments times the video samples of whole fragments received at recv.
func (v *hlsViewer) fragments(b []byte, recv time.Time) error {
	frags, err := fmp4.ParseFragments(b)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.st.bytes += uint64(len(b))
	v.st.messages++
	for _, f := range frags {
		for i := range f.Tracks {
			tf := &f.Tracks[i]
			if tf.TrackID != v.video {
				continue
			}
			for j := range tf.Samples {
				if !v.keyed {
					v.keyed = true
					v.startup = recv.Sub(v.t0)
					close(v.started)
				}
				v.seq.sample(&v.st, tf.Samples[j].Data, recv)
			}
		}
	}
	return nil
}

// seqTracker follows the stamps' sequence numbers of one viewer's frames.
type seqTracker struct {
	last     uint32
	haveLast bool
}

// sample records one video sample received at recv.
func (t *seqTracker) sample(st *viewerStats, data []byte, recv time.Time) {
	s, err := ExtractStamp(data)
	if err != nil {
		st.unstamp++
		return
	}
	t.record(st, s, recv)
}

// record counts one stamped video frame received at recv.
func (t *seqTracker) record(st *viewerStats, s Stamp, recv time.Time) {
	st.frames++
	st.lat.Record(recv.Sub(time.Unix(0, s.SendTime)))
	switch {
	case !t.haveLast:
		t.haveLast = true
	case s.Seq == t.last+1:
	case s.Seq > t.last+1:
		st.missing += uint64(s.Seq - t.last - 1)
		st.gaps++
	default:
		st.reorders++
		return
	}
	t.last = s.Seq
}

// mediaPlaylist is what the viewer needs of a media playlist.
type mediaPlaylist struct {
	mapURI  string // the newest EXT-X-MAP
	hintURI string // EXT-X-PRELOAD-HINT TYPE=PART
	// hintMSN and hintPart name the part after the last one listed: the
	// hinted part, and the one a blocking reload asks for.
	hintMSN, hintPart uint64
	ended             bool
}

// parseMediaPlaylist reads a media playlist (RFC 8216bis 4.4): the part
// after the last listed one is in segment MEDIA-SEQUENCE + skipped +
// complete segments, at the index of the parts listed after the last
// EXTINF.
func parseMediaPlaylist(b []byte) mediaPlaylist {
	var pl mediaPlaylist
	var seq, segs, parts, skipped uint64
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case bytes.HasPrefix(line, []byte("#EXT-X-MEDIA-SEQUENCE:")):
			seq, _ = strconv.ParseUint(string(line[len("#EXT-X-MEDIA-SEQUENCE:"):]), 10, 64)
		case bytes.HasPrefix(line, []byte("#EXT-X-SKIP:")):
			skipped, _ = strconv.ParseUint(attr(line, "SKIPPED-SEGMENTS"), 10, 64)
		case bytes.HasPrefix(line, []byte("#EXTINF:")):
			segs++
			parts = 0
		case bytes.HasPrefix(line, []byte("#EXT-X-PART:")):
			parts++
		case bytes.HasPrefix(line, []byte("#EXT-X-MAP:")):
			pl.mapURI = attr(line, "URI")
		case bytes.HasPrefix(line, []byte("#EXT-X-PRELOAD-HINT:")):
			if attr(line, "TYPE") == "PART" {
				pl.hintURI = attr(line, "URI")
			}
		case bytes.HasPrefix(line, []byte("#EXT-X-ENDLIST")):
			pl.ended = true
		}
	}
	pl.hintMSN, pl.hintPart = seq+skipped+segs, parts
	return pl
}

// attr returns the value of attribute name in a tag line's attribute list
// (4.2), unquoted.
func attr(line []byte, name string) string {
	_, list, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return ""
	}
	for len(list) > 0 {
		k, rest, _ := bytes.Cut(list, []byte("="))
		var val []byte
		if len(rest) > 0 && rest[0] == '"' {
			end := bytes.IndexByte(rest[1:], '"')
			if end < 0 {
				return ""
			}
			val, list = rest[1:1+end], rest[2+end:]
			list = bytes.TrimPrefix(list, []byte(","))
		} else {
			val, list, _ = bytes.Cut(rest, []byte(","))
		}
		if string(k) == name {
			return string(val)
		}
	}
	return ""
}

// firstVariant returns the URI of the first variant of a multivariant
// playlist.
func firstVariant(b []byte) string {
	inf := false
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		line = bytes.TrimSpace(line)
		switch {
		case bytes.HasPrefix(line, []byte("#EXT-X-STREAM-INF:")):
			inf = true
		case len(line) == 0 || line[0] == '#':
		case inf:
			return string(line)
		}
	}
	return ""
}

// resolve resolves a playlist URI against the URL of the playlist that
// names it (absolute URLs and absolute paths as they are).
func resolve(base, uri string) string {
	switch {
	case strings.Contains(uri, "://"):
		return uri
	case strings.HasPrefix(uri, "/"):
		i := strings.Index(base, "://")
		if j := strings.IndexByte(base[i+3:], '/'); j >= 0 {
			return base[:i+3+j] + uri
		}
		return base + uri
	}
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		return base[:i+1] + uri
	}
	return uri
}

// videoTrackID returns the track_ID of the first video track ('vide'
// handler) of an init segment (ISO/IEC 14496-12 8.3.2, 8.4.3).
func videoTrackID(init []byte) (uint32, error) {
	child := func(b []byte, typ string) []byte {
		for box, err := range fmp4.Boxes(b) {
			if err != nil {
				return nil
			}
			if string(box.Type[:]) == typ {
				return box.Payload
			}
		}
		return nil
	}
	moov := child(init, "moov")
	for box, err := range fmp4.Boxes(moov) {
		if err != nil {
			break
		}
		if string(box.Type[:]) != "trak" {
			continue
		}
		hdlr := child(child(box.Payload, "mdia"), "hdlr")
		tkhd := child(box.Payload, "tkhd")
		if len(hdlr) < 12 || string(hdlr[8:12]) != "vide" || len(tkhd) < 24 {
			continue
		}
		if tkhd[0] == 1 {
			return binary.BigEndian.Uint32(tkhd[20:]), nil
		}
		return binary.BigEndian.Uint32(tkhd[12:]), nil
	}
	return 0, errors.New("loadtest: init segment without a video track")
}

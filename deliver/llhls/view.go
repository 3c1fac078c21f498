package llhls

import (
	"bytes"
	"net/http"
	"strconv"
	"time"
)

// The hot path. A player in low-latency mode makes two requests per part:
// the preload-hinted part and a blocking reload for it, both parked until
// the part is complete and then answered at once, thousands together. So
// requests do not take the muxer's lock: the muxer publishes an immutable
// view of what it has made whenever that changes (once per part, not per
// frame), requests read the newest view from an atomic pointer, and parked
// requests wait on the view's changed channel. The view holds every answer
// ready to write: playlists rendered once per view, and for every
// playlist, part and segment its body with its header values made once.

// view is what a muxer offers, as of one version. Immutable once
// published, except that changed is closed when a newer view replaces it
// or the muxer stops.
type view struct {
	version uint64
	changed chan struct{}
	// ended: the playlist has EXT-X-ENDLIST. stopped: no newer view will
	// come.
	ended, stopped bool

	// The newest complete part, and the newest complete segment.
	lastMSN        uint64
	lastIdx        int
	hasLast        bool
	lastSeg        uint64
	hasLastSeg     bool
	targetDuration int
	partTarget     time.Duration
	blockTimeout   time.Duration

	// segs are the segments in memory, oldest first.
	segs []*segView
	// playlist and delta are the media playlist and its delta update,
	// nil while there is no complete part.
	playlist, delta *resource
	// cacheBlocking is the Cache-Control of a blocking reload's answer.
	cacheBlocking []string
}

// tail is the open part as of one batch of packets, for streaming it as it
// is written (Config.ChunkedParts). Immutable once published, except that
// grew is closed when the next tail is published, after the view of the
// same batch.
type tail struct {
	grew chan struct{}
	// open: part idx of segment msn is being written; buf is its bytes so
	// far, etag its entity tag.
	open         bool
	msn          uint64
	idx          int
	buf          []byte
	etag         []string
	stopped      bool
	blockTimeout time.Duration
}

// publishTailLocked publishes the open part's bytes and wakes the requests
// streaming it. Called by the muxer's goroutine with m.mu held, after
// publishLocked if that was called.
func (m *muxer) publishTailLocked() {
	prev := m.tail.Load()
	s := m.seg
	t := &tail{grew: make(chan struct{}), stopped: m.stopped, blockTimeout: m.view.Load().blockTimeout}
	if seg, p := s.open(), s.openPart(); p != nil {
		t.open, t.msn, t.idx = true, seg.msn, len(seg.parts)-1
		t.buf = seg.buf[p.off:len(seg.buf):len(seg.buf)]
		if prev != nil && prev.open && prev.msn == t.msn && prev.idx == t.idx {
			t.etag = prev.etag
		} else {
			t.etag = []string{`"` + partName(m.runID, t.msn, t.idx) + `"`}
		}
	}
	if prev != nil && prev.open == t.open && prev.msn == t.msn && prev.idx == t.idx &&
		len(prev.buf) == len(t.buf) && prev.stopped == t.stopped && prev.blockTimeout == t.blockTimeout {
		return // nothing new to send (audio waiting for the next video frame)
	}
	m.tail.Store(t)
	if prev != nil {
		close(prev.grew)
	}
}

// segView is one segment as of a view.
type segView struct {
	msn uint64
	// whole is the segment once complete.
	whole *resource
	// parts are the complete parts; open is whether part len(parts) is
	// being written.
	parts []*resource
	open  bool
	ctype []string
}

// resource is one answer: its body and its header values, made once and
// shared by every request (header maps get these slices; net/http never
// writes into them).
type resource struct {
	body []byte
	etag []string
	clen []string
}

func newResource(body []byte, etag string) *resource {
	return &resource{body: body, etag: []string{etag}, clen: []string{strconv.Itoa(len(body))}}
}

// Shared header values.
var (
	hvPlaylist     = []string{typePlaylist}
	hvSegment      = []string{typeSegment}
	hvAudioSegment = []string{typeAudioSegment}
	hvInit         = []string{typeInit}
	hvAudioInit    = []string{typeAudioInit}
	hvImmutable    = []string{cacheImmutable}
	hvCachePL      = []string{cachePlaylist}
	hvAnyOrigin    = []string{"*"}
	// hls.js reads Age to tell how old a (CDN-cached) playlist is.
	hvExpose = []string{"Age, Content-Length, Date, ETag"}
	hvBytes  = []string{"bytes"}
)

// segment returns the segment msn, or nil.
func (v *view) segment(msn uint64) *segView {
	if len(v.segs) == 0 || msn < v.segs[0].msn {
		return nil
	}
	if i := msn - v.segs[0].msn; i < uint64(len(v.segs)) {
		return v.segs[i]
	}
	return nil
}

// has is segmenter.has on the view.
func (v *view) has(msn, idx uint64, wantPart bool) bool {
	if !v.hasLast {
		return false
	}
	if !wantPart {
		return v.hasLastSeg && v.lastSeg >= msn
	}
	if v.lastMSN != msn {
		return v.lastMSN > msn
	}
	return idx <= uint64(v.lastIdx)
}

// publishLocked makes a view of the muxer's state, stores it and wakes the
// requests waiting on the previous one. Called by the muxer's goroutine
// with m.mu held (closing a channel never blocks).
func (m *muxer) publishLocked() {
	prev := m.view.Load()
	s := m.seg
	v := &view{
		version:        m.version,
		changed:        make(chan struct{}),
		ended:          m.ended,
		stopped:        m.stopped,
		targetDuration: s.targetDuration(),
		partTarget:     s.partTarget(),
		segs:           make([]*segView, 0, len(s.segs)),
	}
	v.lastMSN, v.lastIdx, v.hasLast = s.last()
	for i := len(s.segs) - 1; i >= 0; i-- {
		if s.segs[i].complete {
			v.lastSeg, v.hasLastSeg = s.segs[i].msn, true
			break
		}
	}
	v.blockTimeout = m.h.cfg.BlockTimeout
	if v.blockTimeout <= 0 {
		v.blockTimeout = 3 * time.Duration(v.targetDuration) * time.Second
	}
	if prev != nil && prev.targetDuration == v.targetDuration {
		v.cacheBlocking = prev.cacheBlocking
	} else {
		v.cacheBlocking = []string{"public, max-age=" + strconv.Itoa(6*v.targetDuration)}
	}
	for _, sg := range s.segs {
		v.segs = append(v.segs, m.segView(sg, prev))
	}
	if v.hasLast {
		in := s.playlist(m.runID, m.ended)
		body := renderMedia(in, false)
		v.playlist = newResource(body, etag(body))
		if delta := renderMedia(in, true); bytes.Equal(delta, body) {
			v.delta = v.playlist
		} else {
			v.delta = newResource(delta, etag(delta))
		}
	}
	m.view.Store(v)
	if prev != nil {
		close(prev.changed)
	}
}

// segView returns the view of sg, reusing what the previous view made.
func (m *muxer) segView(sg *segment, prev *view) *segView {
	var old *segView
	if prev != nil {
		old = prev.segment(sg.msn)
	}
	n := 0
	for n < len(sg.parts) && sg.parts[n].complete {
		n++
	}
	open := n < len(sg.parts)
	if old != nil && len(old.parts) == n && old.open == open && (old.whole != nil) == sg.complete {
		return old
	}
	sv := &segView{msn: sg.msn, open: open, ctype: hvSegment}
	if sg.tracks.Video < 0 {
		sv.ctype = hvAudioSegment
	}
	if old != nil {
		sv.parts = append(make([]*resource, 0, max(n, 16)), old.parts...)
	}
	for i := len(sv.parts); i < n; i++ {
		p := sg.parts[i]
		sv.parts = append(sv.parts, newResource(sg.buf[p.off:p.end:p.end], `"`+partName(m.runID, sg.msn, i)+`"`))
	}
	if sg.complete {
		sv.whole = newResource(sg.buf[:len(sg.buf):len(sg.buf)], `"`+segmentName(m.runID, sg.msn)+`"`)
	}
	return sv
}

// conditional reports whether r needs http.ServeContent: a range or a
// precondition. (Without Last-Modified, ServeContent ignores
// If-Modified-Since, and If-Range without Range.)
func conditional(r *http.Request) bool {
	h := r.Header
	return len(h["Range"]) > 0 || len(h["If-None-Match"]) > 0 || len(h["If-Match"]) > 0 || len(h["If-Unmodified-Since"]) > 0
}

// serveResource answers with res. A plain GET or HEAD is written at once
// with prebuilt headers; ranges and conditional requests go through
// http.ServeContent.
func (h *Handler) serveResource(w http.ResponseWriter, r *http.Request, res *resource, ctype, cache []string) {
	hd := w.Header()
	hd["Content-Type"] = ctype
	hd["Cache-Control"] = cache
	hd["Etag"] = res.etag
	if conditional(r) {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(res.body))
		if r.Method == http.MethodGet {
			h.stats.bytesSent.Add(uint64(len(res.body)))
		}
		return
	}
	hd["Accept-Ranges"] = hvBytes
	hd["Content-Length"] = res.clen
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Write(res.body)
	h.stats.bytesSent.Add(uint64(len(res.body)))
}

package llhls

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/media"
)

// Content types. Playlists: RFC 8216bis 4. Media segments and parts are
// ISOBMFF segments (video/iso.segment, IANA); init segments are MP4 files.
const (
	typePlaylist     = "application/vnd.apple.mpegurl"
	typeSegment      = "video/iso.segment"
	typeAudioSegment = "audio/mp4"
	typeInit         = "video/mp4"
	typeAudioInit    = "audio/mp4"
)

// Cache-Control values. Segments, parts and init segments never change
// under their URL (the run in their name makes URLs unique), so CDNs and
// players may keep them; a playlist changes every part, so it may be kept
// for about a part (a second, the least max-age can say). The answer to a
// blocking reload is cacheable for longer: its URL names the part it waited
// for, and any playlist holding that part is a right answer.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cachePlaylist  = "public, max-age=1"
	cacheError     = "no-store"
)

// ServeHTTP serves GET and HEAD of the resources described in request.go,
// below Config.Prefix, and answers CORS preflight requests.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.stats.requests.Add(1)
	hd := w.Header()
	hd["Access-Control-Allow-Origin"] = hvAnyOrigin
	hd["Access-Control-Expose-Headers"] = hvExpose
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		hd.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
			hd.Set("Access-Control-Allow-Headers", rh)
		}
		hd.Set("Access-Control-Max-Age", "86400")
		hd.Set("Cache-Control", cacheImmutable)
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		hd.Set("Allow", "GET, HEAD, OPTIONS")
		h.fail(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, h.cfg.Prefix)
	if !ok {
		h.fail(w, http.StatusNotFound, "not found")
		return
	}
	req, err := parseRequest(path, r.URL.RawQuery)
	switch {
	case errors.Is(err, errBadRequest):
		h.fail(w, http.StatusBadRequest, "bad delivery directive")
		return
	case err != nil:
		h.fail(w, http.StatusNotFound, "not found")
		return
	}
	m, err := h.muxerFor(req.stream)
	switch {
	case errors.Is(err, errClosed) || errors.Is(err, hub.ErrClosed):
		h.fail(w, http.StatusServiceUnavailable, "shutting down")
		return
	case err != nil:
		h.fail(w, http.StatusNotFound, "stream "+strconv.Quote(req.stream)+" is not live")
		return
	}
	m.touch()
	switch req.kind {
	case kindMultivariant:
		h.serveMultivariant(w, r, m)
	case kindMedia:
		h.serveMedia(w, r, m, &req)
	case kindInit:
		h.serveInit(w, r, m, &req)
	case kindSegment:
		h.serveSegment(w, r, m, &req)
	case kindPart:
		h.servePart(w, r, m, &req)
	}
}

// fail answers with an error status, never to be cached.
func (h *Handler) fail(w http.ResponseWriter, code int, msg string) {
	switch code {
	case http.StatusNotFound:
		h.stats.notFound.Add(1)
	case http.StatusBadRequest:
		h.stats.badRequests.Add(1)
	case http.StatusServiceUnavailable:
		h.stats.timeouts.Add(1)
	}
	w.Header().Set("Cache-Control", cacheError)
	http.Error(w, msg, code)
}

// serveBytes answers with a whole body made for this request.
func (h *Handler) serveBytes(w http.ResponseWriter, r *http.Request, body []byte, ctype, cache, tag string) {
	h.serveResource(w, r, newResource(body, tag), []string{ctype}, []string{cache})
}

// wait returns the newest view once done reports true of it. Otherwise
// it blocks until then, for at most the block timeout, and returns a
// status instead: 503 after the timeout, or when the muxer stopped without
// done (shutdown, idle); -1 when the client went away.
func (h *Handler) wait(ctx context.Context, m *muxer, done func(*view) bool) (*view, int) {
	v := m.view.Load()
	if done(v) {
		return v, 0
	}
	if v.stopped {
		return nil, http.StatusServiceUnavailable
	}
	h.stats.waiting.Add(1)
	defer h.stats.waiting.Add(-1)
	bt := h.startTimer(v.blockTimeout)
	defer bt.stop()
	for {
		select {
		case <-v.changed:
		case <-bt.fake:
			return nil, http.StatusServiceUnavailable
		case <-bt.real:
			return nil, http.StatusServiceUnavailable
		case <-ctx.Done():
			return nil, -1
		case <-h.ctx.Done():
			return nil, http.StatusServiceUnavailable
		}
		v = m.view.Load()
		switch {
		case done(v):
			return v, 0
		case v.stopped:
			return nil, http.StatusServiceUnavailable
		}
	}
}

// blockTimer bounds a blocked request: one of its channels yields when the
// time is up. With the real clock its timer comes from a pool, so that
// blocking allocates no timer (Go 1.23 timers: after Stop or Reset, no
// stale time is received).
type blockTimer struct {
	real     <-chan time.Time
	t        *time.Timer
	fake     <-chan struct{}
	stopFake func() bool
}

var timers sync.Pool

func (h *Handler) startTimer(d time.Duration) blockTimer {
	if _, ok := h.clock.(realClock); ok {
		t, ok := timers.Get().(*time.Timer)
		if ok {
			t.Reset(d)
		} else {
			t = time.NewTimer(d)
		}
		return blockTimer{real: t.C, t: t}
	}
	c := make(chan struct{})
	return blockTimer{fake: c, stopFake: h.clock.AfterFunc(d, func() { close(c) })}
}

func (b blockTimer) stop() {
	if b.t != nil {
		b.t.Stop()
		timers.Put(b.t)
		return
	}
	b.stopFake()
}

// advancePartLimit is how many parts past the newest a blocking request may
// ask for (RFC 8216bis 6.2.5.2): 3 / part target, or 3 for parts of a
// second or more.
func advancePartLimit(pt time.Duration) uint64 {
	if pt >= time.Second || pt <= 0 {
		return 3
	}
	return uint64((3*time.Second + pt - 1) / pt)
}

// serveMedia answers a media playlist request, blocking (RFC 8216bis
// 6.2.5.2) when it carries _HLS_msn, and as a delta update (6.2.5.1) with
// _HLS_skip. A fresh muxer's first playlist waits for its first part.
func (h *Handler) serveMedia(w http.ResponseWriter, r *http.Request, m *muxer, req *request) {
	v := m.view.Load()
	// Directives are ignored once the playlist has EXT-X-ENDLIST.
	blocking := req.hasMSN && !v.ended
	if blocking {
		lm, li := v.lastMSN, v.lastIdx
		limit := advancePartLimit(v.partTarget)
		tooFar := req.msn > lm+2
		if req.hasPart && v.hasLast {
			tooFar = tooFar || (req.msn == lm && req.msnPart > uint64(li)+limit) ||
				(req.msn > lm && req.msnPart > limit)
		}
		if tooFar {
			h.fail(w, http.StatusBadRequest, "_HLS_msn/_HLS_part too far ahead of the playlist")
			return
		}
		h.stats.blocking.Add(1)
	}
	v, code := h.wait(r.Context(), m, func(v *view) bool {
		if v.ended {
			return true
		}
		if blocking {
			return v.has(req.msn, req.msnPart, req.hasPart)
		}
		return v.hasLast
	})
	if code != 0 {
		if code > 0 {
			h.fail(w, code, "the playlist was not updated in time")
		}
		return
	}
	if !v.hasLast {
		h.fail(w, http.StatusNotFound, "the stream ended")
		return
	}
	pl, cache := v.playlist, hvCachePL
	if req.skip {
		pl = v.delta
	}
	if blocking {
		cache = v.cacheBlocking
	}
	h.stats.playlists.Add(1)
	h.serveResource(w, r, pl, hvPlaylist, cache)
}

// serveMultivariant answers the multivariant playlist: today the one media
// playlist of the stream, muxed audio and video.
func (h *Handler) serveMultivariant(w http.ResponseWriter, r *http.Request, m *muxer) {
	_, code := h.wait(r.Context(), m, func(v *view) bool { return v.hasLast || v.ended })
	if code != 0 {
		if code > 0 {
			h.fail(w, code, "the stream has no media yet")
		}
		return
	}
	m.mu.Lock()
	s := m.seg
	if s.tracks == nil {
		m.mu.Unlock()
		h.fail(w, http.StatusNotFound, "the stream ended")
		return
	}
	v := variant{URI: mediaName, Bandwidth: s.bandwidth()}
	if v.Bandwidth == 0 {
		v.Bandwidth = 1_000_000
	}
	for _, t := range s.tracks.Tracks {
		v.Codecs = append(v.Codecs, t.CodecString)
		if t.Kind == media.KindVideo && v.Width == 0 {
			v.Width, v.Height = t.Width, t.Height
		}
	}
	cache := "public, max-age=" + strconv.Itoa(s.targetDuration())
	m.mu.Unlock()
	body := renderMultivariant([]variant{v})
	h.stats.playlists.Add(1)
	h.serveBytes(w, r, body, typePlaylist, cache, etag(body))
}

func (h *Handler) serveInit(w http.ResponseWriter, r *http.Request, m *muxer, req *request) {
	m.mu.Lock()
	b, ok := m.seg.inits[int(req.n)]
	audioOnly := false
	for _, sg := range m.seg.segs {
		if sg.tracks.Version == int(req.n) {
			audioOnly = sg.tracks.Video < 0
			break
		}
	}
	m.mu.Unlock()
	if !ok || req.run != m.runID || req.n > 1<<31 {
		h.fail(w, http.StatusNotFound, "no such init segment")
		return
	}
	typ := hvInit
	if audioOnly {
		typ = hvAudioInit
	}
	h.stats.inits.Add(1)
	h.serveResource(w, r, newResource(b, `"`+initName(m.runID, int(req.n))+`"`), typ, hvImmutable)
}

func (h *Handler) serveSegment(w http.ResponseWriter, r *http.Request, m *muxer, req *request) {
	sv := m.view.Load().segment(req.n)
	if sv == nil || sv.whole == nil || req.run != m.runID {
		h.fail(w, http.StatusNotFound, "no such segment")
		return
	}
	h.stats.segments.Add(1)
	h.serveResource(w, r, sv.whole, sv.ctype, hvImmutable)
}

// servePart answers a part: at once if it is complete; if it is the open
// part, the one the playlist hints, when it is complete (or, chunked, as it
// is written); otherwise 404 (RFC 8216bis 6.2.6).
func (h *Handler) servePart(w http.ResponseWriter, r *http.Request, m *muxer, req *request) {
	sv := m.view.Load().segment(req.n)
	if sv == nil || req.run != m.runID || req.part > uint64(len(sv.parts)) ||
		(req.part == uint64(len(sv.parts)) && !sv.open) {
		h.fail(w, http.StatusNotFound, "no such part")
		return
	}
	idx := int(req.part)
	if idx == len(sv.parts) {
		h.stats.hintWaits.Add(1)
		if h.cfg.ChunkedParts {
			h.streamPart(w, r, m, req.n, idx, sv.ctype)
			return
		}
		v, code := h.wait(r.Context(), m, func(v *view) bool {
			sv := v.segment(req.n)
			return sv == nil || idx < len(sv.parts)
		})
		if code != 0 {
			if code > 0 {
				h.fail(w, code, "the part was not written in time")
			}
			return
		}
		if sv = v.segment(req.n); sv == nil {
			h.fail(w, http.StatusNotFound, "no such part")
			return
		}
	}
	h.stats.parts.Add(1)
	h.serveResource(w, r, sv.parts[idx], sv.ctype, hvImmutable)
}

// streamPart sends the open part idx of segment msn as it is written, with
// chunked transfer coding: every batch of frames the muxer writes is sent
// and flushed, except the last, which goes out with the end of the
// response. A part already complete when its first bytes would go is sent
// whole, with its length. A part that cannot be finished (timeout,
// shutdown) aborts the response, so that no cache keeps a truncated part.
func (h *Handler) streamPart(w http.ResponseWriter, r *http.Request, m *muxer, msn uint64, idx int, ctype []string) {
	t := m.tail.Load()
	h.stats.waiting.Add(1)
	defer h.stats.waiting.Add(-1)
	bt := h.startTimer(t.blockTimeout)
	defer bt.stop()
	started := false
	sent := 0
	// direct: the connection to write chunks to, past net/http (see
	// chunkConn).
	var direct net.Conn
	var chunk chunkWriter
	abort := func() {
		if !started {
			h.fail(w, http.StatusServiceUnavailable, "the part was not written in time")
			return
		}
		panic(http.ErrAbortHandler)
	}
	head := r.Method == http.MethodHead
	for {
		// The tail is published after the view of the same batch: a
		// tail past this part means the view has it complete.
		var data []byte
		var whole *resource
		if t.msn == msn && t.idx == idx && t.open {
			data = t.buf
		} else if sv := m.view.Load().segment(msn); sv != nil && idx < len(sv.parts) {
			whole = sv.parts[idx]
			data = whole.body
		}
		switch {
		case whole != nil && !started:
			h.stats.parts.Add(1)
			h.serveResource(w, r, whole, ctype, hvImmutable)
			return
		case len(data) > sent || whole != nil:
			hd := w.Header()
			if !started {
				started = true
				hd["Content-Type"] = ctype
				hd["Cache-Control"] = hvImmutable
				hd["Etag"] = t.etag
				w.WriteHeader(http.StatusOK)
				if !head {
					if direct = chunkConn(r); direct != nil {
						// The header goes now, so that nothing of net/http's
						// is left buffered when chunks go past it.
						if err := http.NewResponseController(w).Flush(); err != nil {
							return
						}
					}
				}
			}
			if !head && len(data) > sent {
				if direct != nil {
					if err := chunk.write(direct, data[sent:]); err != nil {
						// A response cut short: net/http must not end it
						// as if whole.
						panic(http.ErrAbortHandler)
					}
				} else if _, err := w.Write(data[sent:]); err != nil {
					return
				}
				h.stats.bytesSent.Add(uint64(len(data) - sent))
			}
			sent = len(data)
			if whole != nil {
				// The response's end flushes the rest (with net/http's
				// last chunk).
				h.stats.parts.Add(1)
				return
			}
			if direct == nil {
				if err := http.NewResponseController(w).Flush(); err != nil {
					return
				}
			}
		}
		if t.stopped {
			abort()
			return
		}
		select {
		case <-t.grew:
		case <-bt.fake:
			abort()
			return
		case <-bt.real:
			abort()
			return
		case <-r.Context().Done():
			return
		case <-h.ctx.Done():
			abort()
			return
		}
		t = m.tail.Load()
	}
}

// Chunks past net/http. A part streamed through http.ResponseWriter costs
// two or three writes per frame: net/http writes a chunk through a 4 KB
// buffer (the chunk's size line and the first 4 KB of a 10 kB frame, then
// the rest) and the flush sends the chunk's closing CRLF alone, a segment
// of two bytes that wakes the client for nothing. With thousands of
// viewers per part this was half of the server's CPU. So on plain
// HTTP/1.1 the handler writes each chunk to the connection itself, size
// line, data and CRLF in one writev, after flushing the response's header
// through net/http; net/http still writes the last chunk when the handler
// returns. This is sound because net/http buffers nothing of the response
// between the flush and the handler's return (the handler does not write
// to w meanwhile), and chunks are self-delimiting: net/http's final
// "0\r\n\r\n" follows the handler's chunks as it would its own.

// connKey is the context key of the connection (ConnContext).
type connKey struct{}

// ConnContext, set as http.Server.ConnContext, gives the handler the
// connection of each request, for streaming parts (Config.ChunkedParts)
// with one write per chunk. Without it the handler streams through
// http.ResponseWriter.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// chunkConn returns the connection to write r's response chunks to, or
// nil: only plain HTTP/1.1 (net/http chunks the response; TLS and HTTP/2
// frame it themselves).
func chunkConn(r *http.Request) net.Conn {
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.TLS != nil {
		return nil
	}
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	return c
}

// chunkWriter writes chunks (RFC 9112 7.1) with one vectored write each.
type chunkWriter struct {
	size [18]byte // hex size and CRLF
	bufs [3][]byte
}

var crlf = []byte("\r\n")

func (c *chunkWriter) write(conn net.Conn, data []byte) error {
	line := append(strconv.AppendUint(c.size[:0], uint64(len(data)), 16), '\r', '\n')
	c.bufs = [3][]byte{line, data, crlf}
	bufs := net.Buffers(c.bufs[:])
	_, err := bufs.WriteTo(conn)
	return err
}

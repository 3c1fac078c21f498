package llhls

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
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
	hd.Set("Access-Control-Allow-Origin", "*")
	// hls.js reads Age to tell how old a (CDN-cached) playlist is.
	hd.Set("Access-Control-Expose-Headers", "Age, Content-Length, Date, ETag")
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
		h.serveMedia(w, r, m, req)
	case kindInit:
		h.serveInit(w, r, m, req)
	case kindSegment:
		h.serveSegment(w, r, m, req)
	case kindPart:
		h.servePart(w, r, m, req)
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

// serveBytes answers with a whole body (ranges, conditional requests and
// HEAD included).
func (h *Handler) serveBytes(w http.ResponseWriter, r *http.Request, body []byte, ctype, cache, tag string) {
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Cache-Control", cache)
	if tag != "" {
		hd.Set("ETag", tag)
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	if r.Method == http.MethodGet {
		h.stats.bytesSent.Add(uint64(len(body)))
	}
}

// blockTimeoutLocked is how long a request may block.
func (h *Handler) blockTimeoutLocked(m *muxer) time.Duration {
	if h.cfg.BlockTimeout > 0 {
		return h.cfg.BlockTimeout
	}
	return 3 * time.Duration(m.seg.targetDuration()) * time.Second
}

// waitLocked waits until done, called with m.mu held, reports true; m.mu is
// held on entry and on return. It returns 0 when done, -1 when the client
// went away, or the status to answer with: 503 after the block timeout or
// when the muxer stopped without ending (shutdown, idle).
func (h *Handler) waitLocked(ctx context.Context, m *muxer, done func() bool) int {
	if done() {
		return 0
	}
	d := h.blockTimeoutLocked(m)
	m.mu.Unlock()
	expired := make(chan struct{})
	stop := h.clock.AfterFunc(d, func() { close(expired) })
	h.stats.waiting.Add(1)
	defer func() {
		h.stats.waiting.Add(-1)
		stop()
		m.mu.Lock()
	}()
	for {
		m.mu.Lock()
		ok, stopped, ch := done(), m.stopped, m.notify
		m.mu.Unlock()
		switch {
		case ok:
			return 0
		case stopped:
			return http.StatusServiceUnavailable
		}
		select {
		case <-ch:
		case <-expired:
			return http.StatusServiceUnavailable
		case <-ctx.Done():
			return -1
		case <-h.ctx.Done():
			return http.StatusServiceUnavailable
		}
	}
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
func (h *Handler) serveMedia(w http.ResponseWriter, r *http.Request, m *muxer, req request) {
	m.mu.Lock()
	s := m.seg
	// Directives are ignored once the playlist has EXT-X-ENDLIST.
	blocking := req.hasMSN && !m.ended
	if blocking {
		lm, li, ok := s.last()
		limit := advancePartLimit(s.partTarget())
		tooFar := req.msn > lm+2
		if req.hasPart && ok {
			tooFar = tooFar || (req.msn == lm && req.msnPart > uint64(li)+limit) ||
				(req.msn > lm && req.msnPart > limit)
		}
		if tooFar {
			m.mu.Unlock()
			h.fail(w, http.StatusBadRequest, "_HLS_msn/_HLS_part too far ahead of the playlist")
			return
		}
		h.stats.blocking.Add(1)
	}
	code := h.waitLocked(r.Context(), m, func() bool {
		if m.ended {
			return true
		}
		if blocking {
			return s.has(req.msn, req.msnPart, req.hasPart)
		}
		_, _, ok := s.last()
		return ok
	})
	if code != 0 {
		m.mu.Unlock()
		if code > 0 {
			h.fail(w, code, "the playlist was not updated in time")
		}
		return
	}
	if _, _, ok := s.last(); !ok {
		m.mu.Unlock()
		h.fail(w, http.StatusNotFound, "the stream ended")
		return
	}
	pl := m.playlistLocked(req.skip)
	td := s.targetDuration()
	m.mu.Unlock()
	cache := cachePlaylist
	if blocking {
		cache = "public, max-age=" + strconv.Itoa(6*td)
	}
	h.stats.playlists.Add(1)
	h.serveBytes(w, r, pl.body, typePlaylist, cache, pl.etag)
}

// serveMultivariant answers the multivariant playlist: today the one media
// playlist of the stream, muxed audio and video.
func (h *Handler) serveMultivariant(w http.ResponseWriter, r *http.Request, m *muxer) {
	m.mu.Lock()
	s := m.seg
	code := h.waitLocked(r.Context(), m, func() bool {
		_, _, ok := s.last()
		return ok || m.ended
	})
	if code != 0 {
		m.mu.Unlock()
		if code > 0 {
			h.fail(w, code, "the stream has no media yet")
		}
		return
	}
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

func (h *Handler) serveInit(w http.ResponseWriter, r *http.Request, m *muxer, req request) {
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
	typ := typeInit
	if audioOnly {
		typ = typeAudioInit
	}
	h.stats.inits.Add(1)
	h.serveBytes(w, r, b, typ, cacheImmutable, `"`+initName(m.runID, int(req.n))+`"`)
}

func segmentType(sg *segment) string {
	if sg.tracks.Video < 0 {
		return typeAudioSegment
	}
	return typeSegment
}

func (h *Handler) serveSegment(w http.ResponseWriter, r *http.Request, m *muxer, req request) {
	m.mu.Lock()
	sg := m.seg.segment(req.n)
	if sg == nil || !sg.complete || req.run != m.runID {
		m.mu.Unlock()
		h.fail(w, http.StatusNotFound, "no such segment")
		return
	}
	b, typ := sg.buf, segmentType(sg)
	m.mu.Unlock()
	h.stats.segments.Add(1)
	h.serveBytes(w, r, b, typ, cacheImmutable, `"`+segmentName(m.runID, req.n)+`"`)
}

// servePart answers a part: at once if it is complete; if it is the open
// part, the one the playlist hints, when it is complete (or, chunked, as it
// is written); otherwise 404 (RFC 8216bis 6.2.6).
func (h *Handler) servePart(w http.ResponseWriter, r *http.Request, m *muxer, req request) {
	m.mu.Lock()
	sg := m.seg.segment(req.n)
	if sg == nil || req.part >= uint64(len(sg.parts)) || req.run != m.runID {
		m.mu.Unlock()
		h.fail(w, http.StatusNotFound, "no such part")
		return
	}
	idx := int(req.part)
	tag := `"` + partName(m.runID, req.n, idx) + `"`
	typ := segmentType(sg)
	if !sg.parts[idx].complete {
		h.stats.hintWaits.Add(1)
		if h.cfg.ChunkedParts {
			h.streamPartLocked(w, r, m, sg, idx, typ, tag)
			return
		}
		code := h.waitLocked(r.Context(), m, func() bool { return sg.parts[idx].complete })
		if code != 0 {
			m.mu.Unlock()
			if code > 0 {
				h.fail(w, code, "the part was not written in time")
			}
			return
		}
	}
	p := sg.parts[idx]
	b := sg.buf[p.off:p.end]
	m.mu.Unlock()
	h.stats.parts.Add(1)
	h.serveBytes(w, r, b, typ, cacheImmutable, tag)
}

// streamPartLocked sends the open part sg.parts[idx] as it is written, with
// chunked transfer coding: every change flushes the new bytes. m.mu is held
// on entry and released on return. A part that cannot be finished (timeout,
// shutdown) aborts the response, so that no cache keeps a truncated part.
func (h *Handler) streamPartLocked(w http.ResponseWriter, r *http.Request, m *muxer, sg *segment, idx int, typ, tag string) {
	d := h.blockTimeoutLocked(m)
	m.mu.Unlock()
	expired := make(chan struct{})
	stop := h.clock.AfterFunc(d, func() { close(expired) })
	defer stop()
	h.stats.waiting.Add(1)
	defer h.stats.waiting.Add(-1)
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", typ)
	hd.Set("Cache-Control", cacheImmutable)
	hd.Set("ETag", tag)
	started := false
	sent := 0
	abort := func() {
		if !started {
			h.fail(w, http.StatusServiceUnavailable, "the part was not written in time")
			return
		}
		panic(http.ErrAbortHandler)
	}
	for {
		m.mu.Lock()
		p := sg.parts[idx]
		end := len(sg.buf)
		if p.complete {
			end = p.end
		}
		chunk := sg.buf[p.off+sent : end]
		stopped, ch := m.stopped, m.notify
		m.mu.Unlock()
		if len(chunk) > 0 || p.complete {
			if !started {
				started = true
				w.WriteHeader(http.StatusOK)
			}
			if r.Method != http.MethodHead && len(chunk) > 0 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				h.stats.bytesSent.Add(uint64(len(chunk)))
			}
			sent += len(chunk)
			if err := rc.Flush(); err != nil {
				return
			}
		}
		if p.complete {
			h.stats.parts.Add(1)
			return
		}
		if stopped {
			abort()
			return
		}
		select {
		case <-ch:
		case <-expired:
			abort()
			return
		case <-r.Context().Done():
			return
		case <-h.ctx.Done():
			abort()
			return
		}
	}
}

package llhls

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/fmp4"
	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/internal/fakeclock"
	"github.com/liveloop/liveloop/media"
)

// live is a synthetic stream published into a real hub and served by a
// Handler on an httptest server.
type live struct {
	t    testing.TB
	name string
	hub  *hub.Hub
	pub  *hub.Publisher
	src  *synth
	h    *Handler
	srv  *httptest.Server
}

func newLive(t testing.TB, cfg Config, name string) *live {
	t.Helper()
	return newLiveConn(t, cfg, name, true)
}

// newLiveConn is newLive with the HTTP server's ConnContext set to
// ConnContext, as the server does, or not.
func newLiveConn(t testing.TB, cfg Config, name string, connContext bool) *live {
	t.Helper()
	l := &live{t: t, name: name, hub: hub.New(hub.Config{GracePeriod: time.Millisecond}, nil, nil)}
	l.src = newSynth(1, true, true, 3000, 30)
	l.publish()
	cfg.Hub = l.hub
	l.h = New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/hls/", l.h)
	l.srv = httptest.NewUnstartedServer(mux)
	if connContext {
		l.srv.Config.ConnContext = ConnContext
	}
	l.srv.Start()
	t.Cleanup(func() {
		l.srv.CloseClientConnections()
		l.srv.Close()
		l.h.Close()
		l.hub.Close()
	})
	return l
}

func (l *live) publish() {
	var err error
	for {
		// ErrEnded: the previous stream of the name is still being
		// forgotten; the hub asks callers to retry.
		if l.pub, err = l.hub.Publish(l.name); !errors.Is(err, hub.ErrEnded) {
			break
		}
	}
	if err != nil {
		l.t.Fatal(err)
	}
	if err := l.pub.SetTracks(l.src.ts.Tracks); err != nil {
		l.t.Fatal(err)
	}
}

// write publishes the source's packets before t.
func (l *live) write(t time.Duration) {
	l.t.Helper()
	l.writePackets(l.src.until(t))
}

func (l *live) writePackets(ps []*hub.Packet) {
	l.t.Helper()
	for _, p := range ps {
		f := *p.Frame
		f.Wall = time.Time{}
		if err := l.pub.WriteFrame(&f); err != nil {
			l.t.Fatal(err)
		}
	}
}

// startAt0 publishes the first part and starts the muxer, so that its
// first segment starts at the stream's first keyframe (a muxer starts at
// the newest keyframe the hub holds).
func (l *live) startAt0() {
	l.t.Helper()
	l.write(300 * time.Millisecond)
	if resp, _ := get(l.t, l.url("media.m3u8")); resp.StatusCode != http.StatusOK {
		l.t.Fatalf("media.m3u8: %s", resp.Status)
	}
}

// playlistAt returns the media playlist once part msn.part exists.
func (l *live) playlistAt(msn, part int) string {
	l.t.Helper()
	resp, b := get(l.t, l.url(fmt.Sprintf("media.m3u8?_HLS_msn=%d&_HLS_part=%d", msn, part)))
	if resp.StatusCode != http.StatusOK {
		l.t.Fatalf("media.m3u8: %s", resp.Status)
	}
	return string(b)
}

func (l *live) url(res string) string { return l.srv.URL + "/hls/" + l.name + "/" + res }

// waitFor waits for cond with a deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// hint returns the URI of the playlist's preload hint.
func hint(t testing.TB, playlist string) string {
	t.Helper()
	for _, line := range strings.Split(playlist, "\n") {
		if rest, ok := strings.CutPrefix(line, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""); ok {
			return strings.TrimSuffix(rest, `"`)
		}
	}
	t.Fatalf("no preload hint in\n%s", playlist)
	return ""
}

// partOf parses "part-{run}-{msn}-{p}.m4s".
func partOf(t testing.TB, uri string) (msn, p int) {
	t.Helper()
	var run string
	f := strings.Split(strings.TrimSuffix(uri, ".m4s"), "-")
	if len(f) != 4 || f[0] != "part" {
		t.Fatalf("not a part URI: %s", uri)
	}
	run = f[1]
	_ = run
	fmt.Sscan(f[2], &msn)
	fmt.Sscan(f[3], &p)
	return msn, p
}

// splitAtClosingFrame returns the packets before t and the video packet
// at t, which closes the part that ends there.
func splitAtClosingFrame(src *synth, t time.Duration) (before []*hub.Packet, closing *hub.Packet) {
	ps := src.until(t + time.Millisecond)
	for i, p := range ps {
		if p.Video && p.Time >= t {
			return slices.Concat(ps[:i], ps[i+1:]), p
		}
	}
	panic("no video frame at the part boundary")
}

// TestBlockingReloadLatency: a blocking playlist reload for the open part
// is answered within one part duration of the frame that completes the
// part; the measured latency is logged.
func TestBlockingReloadLatency(t *testing.T) {
	l := newLive(t, Config{}, "room/cam")
	l.write(time.Second) // frames 0-29: parts 0.0-0.3 complete, 0.4 open
	body := []byte(l.playlistAt(0, 3))
	boundary := time.Second // where the open part ends
	var lat []time.Duration
	for i := 0; i < 25; i++ {
		msn, part := partOf(t, hint(t, string(body)))
		before, closing := splitAtClosingFrame(l.src, boundary)
		l.writePackets(before)
		type result struct {
			at   time.Time
			code int
			body []byte
		}
		done := make(chan result, 1)
		go func() {
			resp, err := http.Get(l.url(fmt.Sprintf("media.m3u8?_HLS_msn=%d&_HLS_part=%d", msn, part)))
			if err != nil {
				done <- result{}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			done <- result{time.Now(), resp.StatusCode, b}
		}()
		waitFor(t, "the blocking request to park", func() bool { return l.h.Stats().Waiting == 1 })
		t0 := time.Now()
		l.writePackets([]*hub.Packet{closing})
		select {
		case r := <-done:
			if r.code != http.StatusOK {
				t.Fatalf("blocking reload: status %d", r.code)
			}
			lat = append(lat, r.at.Sub(t0))
			if !strings.Contains(string(r.body), fmt.Sprintf("-%d-%d.m4s\"", msn, part)) {
				t.Fatalf("answer lacks part %d.%d:\n%s", msn, part, r.body)
			}
			body = r.body
		case <-time.After(200 * time.Millisecond):
			t.Fatalf("no answer within one part duration (200 ms) of the part's production")
		}
		boundary += 200 * time.Millisecond
	}
	slices.Sort(lat)
	t.Logf("blocking reload latency over %d parts: median %v, max %v", len(lat), lat[len(lat)/2], lat[len(lat)-1])
	if lat[len(lat)-1] >= 200*time.Millisecond {
		t.Errorf("max latency %v >= one part duration", lat[len(lat)-1])
	}
}

// TestHintedPartChunked: with ChunkedParts, a request for the
// preload-hinted part gets the bytes of the frames already written at once,
// the rest as they arrive, and the whole equals the complete part; with
// ConnContext (chunks written to the connection past net/http) and
// without, and a second request on the same connection is answered.
func TestHintedPartChunked(t *testing.T) {
	for _, direct := range []bool{true, false} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) { testHintedPartChunked(t, direct) })
	}
}

func testHintedPartChunked(t *testing.T, direct bool) {
	l := newLiveConn(t, Config{ChunkedParts: true}, "cam", direct)
	l.write(time.Second)
	h := hint(t, l.playlistAt(0, 3)) // part 0.4 is open until the frame at 1 s
	resp, err := http.Get(l.url(h))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != -1 || resp.Header.Get("Cache-Control") != cacheImmutable {
		t.Errorf("chunked part: Content-Length %d, headers %v", resp.ContentLength, resp.Header)
	}
	// The frames already in the open part arrive before it is complete.
	br := bufio.NewReader(resp.Body)
	if _, err := br.Peek(1); err != nil {
		t.Fatal(err)
	}
	before, closing := splitAtClosingFrame(l.src, 1200*time.Millisecond)
	l.writePackets(before)
	l.writePackets([]*hub.Packet{closing})
	got, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	// The next request goes on the same connection (the chunked
	// response ended where it should).
	reused := false
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url(h), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if err != nil || !reused {
		t.Fatalf("complete part after the streamed one: %v, connection reused %v", err, reused)
	}
	if resp2.StatusCode != http.StatusOK || !bytes.Equal(got, whole) || len(whole) == 0 {
		t.Fatalf("streamed part (%d bytes) differs from the complete part (%d bytes, %s)", len(got), len(whole), resp2.Status)
	}
	if resp2.ContentLength != int64(len(whole)) {
		t.Errorf("complete part: Content-Length %d", resp2.ContentLength)
	}
	frags, err := fmp4.ParseFragments(whole)
	if err != nil {
		t.Fatal(err)
	}
	if len(frags) < 6 {
		t.Errorf("%d fragments in a chunked part of 6 video frames, want one per video frame at least", len(frags))
	}
}

// TestHintedPartHeld is the non-chunked hint with the part completed while
// the request waits.
func TestHintedPartHeld(t *testing.T) {
	l := newLive(t, Config{}, "cam")
	l.write(time.Second)
	h := hint(t, l.playlistAt(0, 3))
	type result struct {
		resp *http.Response
		body []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(l.url(h))
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp, b, err}
	}()
	waitFor(t, "the part request to park", func() bool { return l.h.Stats().Waiting == 1 })
	select {
	case <-done:
		t.Fatal("answered before the part was written")
	default:
	}
	before, closing := splitAtClosingFrame(l.src, 1200*time.Millisecond)
	l.writePackets(before)
	l.writePackets([]*hub.Packet{closing})
	r := <-done
	if r.err != nil || r.resp.StatusCode != http.StatusOK {
		t.Fatalf("held part: %v %v", r.err, r.resp)
	}
	if r.resp.ContentLength != int64(len(r.body)) {
		t.Errorf("Content-Length %d for %d bytes", r.resp.ContentLength, len(r.body))
	}
	frags, err := fmp4.ParseFragments(r.body)
	if err != nil {
		t.Fatal(err)
	}
	video := 0
	for _, f := range frags {
		for _, tf := range f.Tracks {
			if tf.TrackID == 1 {
				video += len(tf.Samples)
			}
		}
	}
	if video != 6 {
		t.Errorf("%d video frames in a 200 ms part at 30 fps, want 6", video)
	}
}

// TestErrorsAndHeaders: status codes for bad and far-ahead requests, and
// the CDN and CORS headers of each kind of answer.
func TestErrorsAndHeaders(t *testing.T) {
	l := newLive(t, Config{}, "cam")
	l.startAt0()
	l.write(2500 * time.Millisecond) // segment 0 complete; segment 1 parts 0-1, part 2 open
	_, body := get(t, l.url("media.m3u8?_HLS_msn=1&_HLS_part=1"))
	run := strings.Split(hint(t, string(body)), "-")[1]
	for _, c := range []struct {
		method, path string
		code         int
		ctype, cache string
	}{
		{"GET", "index.m3u8", 200, typePlaylist, "public, max-age=2"},
		{"GET", "media.m3u8", 200, typePlaylist, cachePlaylist},
		{"GET", "media.m3u8?_HLS_msn=1&_HLS_part=1", 200, typePlaylist, "public, max-age=12"},
		{"GET", "media.m3u8?_HLS_msn=0", 200, typePlaylist, "public, max-age=12"},
		{"GET", "media.m3u8?_HLS_skip=YES", 200, typePlaylist, cachePlaylist},
		{"GET", "media.m3u8?_HLS_part=1", 400, "", cacheError},
		{"GET", "media.m3u8?_HLS_msn=4", 400, "", cacheError},
		{"GET", "media.m3u8?_HLS_msn=1&_HLS_part=17", 400, "", cacheError},
		{"GET", "media.m3u8?_HLS_msn=x", 400, "", cacheError},
		{"GET", "init-" + run + "-1.mp4", 200, typeInit, cacheImmutable},
		{"GET", "init-" + run + "-2.mp4", 404, "", cacheError},
		{"GET", "seg-" + run + "-0.m4s", 200, typeSegment, cacheImmutable},
		{"HEAD", "seg-" + run + "-0.m4s", 200, typeSegment, cacheImmutable},
		{"GET", "seg-" + run + "-1.m4s", 404, "", cacheError}, // not complete
		{"GET", "part-" + run + "-1-1.m4s", 200, typeSegment, cacheImmutable},
		{"GET", "part-" + run + "-1-3.m4s", 404, "", cacheError}, // after the hint
		{"GET", "part-zz-1-1.m4s", 404, "", cacheError},          // another run
		{"GET", "other.mp4", 404, "", cacheError},
		{"POST", "media.m3u8", 405, "", cacheError},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, l.url(c.path), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.code, b)
			}
			hd := resp.Header
			if hd.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(hd.Get("Access-Control-Expose-Headers"), "Age") {
				t.Errorf("CORS headers %v", hd)
			}
			if c.ctype != "" && hd.Get("Content-Type") != c.ctype {
				t.Errorf("Content-Type %q, want %q", hd.Get("Content-Type"), c.ctype)
			}
			if hd.Get("Cache-Control") != c.cache {
				t.Errorf("Cache-Control %q, want %q", hd.Get("Cache-Control"), c.cache)
			}
			if c.code == 200 {
				if resp.ContentLength <= 0 || hd.Get("ETag") == "" {
					t.Errorf("Content-Length %d, ETag %q", resp.ContentLength, hd.Get("ETag"))
				}
				// A conditional request with the ETag is answered 304.
				req, _ := http.NewRequest("GET", l.url(c.path), nil)
				req.Header.Set("If-None-Match", hd.Get("ETag"))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotModified {
					t.Errorf("If-None-Match: %s", resp.Status)
				}
			}
		})
	}
	// Preflight.
	req, _ := http.NewRequest("OPTIONS", l.url("media.m3u8"), nil)
	req.Header.Set("Origin", "https://player.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "range")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Headers") != "range" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "GET") {
		t.Errorf("preflight: %s %v", resp.Status, resp.Header)
	}
	// Unknown stream.
	if resp, _ := get(t, l.srv.URL+"/hls/nope/index.m3u8"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown stream: %s", resp.Status)
	}
}

// TestTimeoutAndIdle: with a fake clock, a blocking reload that is not
// satisfied within three target durations gets 503, and a muxer nobody asks
// for stops after IdleTimeout.
func TestTimeoutAndIdle(t *testing.T) {
	clock := fakeclock.New(epoch)
	l := newLive(t, Config{Clock: clock, IdleTimeout: 30 * time.Second}, "cam")
	l.write(time.Second)
	body := l.playlistAt(0, 3)
	msn, part := partOf(t, hint(t, body))
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(l.url(fmt.Sprintf("media.m3u8?_HLS_msn=%d&_HLS_part=%d", msn, part)))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	waitFor(t, "the blocking request to park", func() bool { return l.h.Stats().Waiting == 1 })
	clock.Advance(5 * time.Second)
	select {
	case code := <-done:
		t.Fatalf("answered %d before three target durations", code)
	default:
	}
	clock.Advance(time.Second)
	if code := <-done; code != http.StatusServiceUnavailable {
		t.Fatalf("after 3 x target duration: %d, want 503", code)
	}
	if l.h.Stats().Streams != 1 {
		t.Fatal("no muxer")
	}
	clock.Advance(30 * time.Second)
	waitFor(t, "the idle muxer to stop", func() bool { return l.h.Stats().Streams == 0 })
	// The next request starts a new run with new URLs.
	_, body2 := get(t, l.url("media.m3u8"))
	if strings.Split(hint(t, string(body2)), "-")[1] == strings.Split(hint(t, body), "-")[1] {
		t.Error("a new muxer run reuses the old run's URLs")
	}
	if st := l.h.Stats(); st.MuxerRuns != 2 {
		t.Errorf("%d muxer runs, want 2", st.MuxerRuns)
	}
}

// TestEnded: when the stream ends, the playlist gets EXT-X-ENDLIST, no
// hint, and blocking requests are answered at once; a new stream of the
// same name gets a new muxer.
func TestEnded(t *testing.T) {
	l := newLive(t, Config{}, "cam")
	l.startAt0()
	l.write(2500 * time.Millisecond)
	_, body := get(t, l.url("media.m3u8?_HLS_msn=1&_HLS_part=1"))
	msn, part := partOf(t, hint(t, string(body)))
	done := make(chan string, 1)
	go func() {
		// Waits for a part that will never come: the stream ends first.
		_, b := get(t, l.url(fmt.Sprintf("media.m3u8?_HLS_msn=%d&_HLS_part=%d", msn, part+1)))
		done <- string(b)
	}()
	waitFor(t, "the blocking request to park", func() bool { return l.h.Stats().Waiting == 1 })
	l.pub.Close() // the hub's grace period is 1 ms
	pl := <-done
	if !strings.HasSuffix(pl, "#EXT-X-ENDLIST\n") || strings.Contains(pl, "PRELOAD-HINT") {
		t.Fatalf("ended playlist:\n%s", pl)
	}
	if !strings.Contains(pl, fmt.Sprintf("seg-%s-1.m4s", strings.Split(hint(t, string(body)), "-")[1])) {
		t.Errorf("the last segment was not completed:\n%s", pl)
	}
	// A new publisher: a new stream, a new run.
	l.src = newSynth(1, true, true, 3000, 30)
	l.publish()
	l.write(time.Second)
	_, body = get(t, l.url("media.m3u8"))
	if strings.Contains(string(body), "ENDLIST") {
		t.Errorf("new stream's playlist ended:\n%s", body)
	}
	if st := l.h.Stats(); st.MuxerRuns != 2 {
		t.Errorf("%d muxer runs, want 2", st.MuxerRuns)
	}
}

// TestPartsTileSegments: over HTTP, a segment's parts concatenate to the
// segment, and a cue posted on the stream arrives as an emsg at the start
// of the next part and as an EXT-X-DATERANGE.
func TestPartsTileSegments(t *testing.T) {
	l := newLive(t, Config{}, "cam")
	l.write(500 * time.Millisecond)
	st := l.hub.Stream("cam")
	_, _ = get(t, l.url("media.m3u8")) // start the muxer
	cue, err := st.PostCue(hub.Cue{Type: "poll.opened", Data: []byte(`{"q":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	l.write(2500 * time.Millisecond)
	resp, body := get(t, l.url("media.m3u8?_HLS_msn=0"))
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	pl := string(body)
	if !strings.Contains(pl, `#EXT-X-DATERANGE:ID="`+cue.ID+`",CLASS="urn:liveloop:cue"`) {
		t.Errorf("no date range for the cue:\n%s", pl)
	}
	run := strings.Split(hint(t, pl), "-")[1]
	var parts []byte
	events := 0
	for p := 0; p < 10; p++ {
		resp, b := get(t, l.url(fmt.Sprintf("part-%s-0-%d.m4s", run, p)))
		if resp.StatusCode != 200 {
			t.Fatalf("part 0.%d: %s", p, resp.Status)
		}
		frags, err := fmp4.ParseFragments(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frags {
			for _, e := range f.Events {
				events++
				if e.SchemeIDURI != CueScheme || e.Timescale != 90000 ||
					e.PresentationTime != uint64(media.DurationToTicks(cue.Time, 90000)) || !strings.Contains(string(e.Data), cue.ID) {
					t.Errorf("emsg %+v", e)
				}
			}
		}
		parts = append(parts, b...)
	}
	_, seg := get(t, l.url(fmt.Sprintf("seg-%s-0.m4s", run)))
	if !bytes.Equal(parts, seg) {
		t.Errorf("parts (%d bytes) do not tile segment 0 (%d bytes)", len(parts), len(seg))
	}
	if events != 1 {
		t.Errorf("%d emsg boxes, want 1", events)
	}
}

package llhls

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The benchmarks call ServeHTTP directly with a reusable ResponseWriter, so
// that they measure the handler and not net/http or the loopback. Besides
// ns/op and allocs/op they report cpu-ns/op: the process's CPU time (every
// goroutine, the garbage collector and the muxer included) per request,
// the figure the load tool's "µs of server CPU per request" estimates.
//
//	go test -run '^$' -bench . -benchmem -count 6 ./deliver/llhls

// benchRW is a ResponseWriter (and http.Flusher) that keeps the status and
// headers and counts the body.
type benchRW struct {
	h    http.Header
	code int
	n    int
}

func newBenchRW() *benchRW { return &benchRW{h: make(http.Header)} }

func (w *benchRW) Header() http.Header { return w.h }

func (w *benchRW) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *benchRW) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += len(b)
	return len(b), nil
}

// Flush is for chunked parts.
func (w *benchRW) Flush() {}

func (w *benchRW) reset() {
	clear(w.h)
	w.code, w.n = 0, 0
}

// benchLive is a live stream of about 2.5 Mbit/s (video frames of 10 kB,
// keyframes of 40 kB, at 30 fps), so that parts have a realistic size
// (about 60 kB), with three complete segments.
type benchLive struct {
	*live
	until time.Duration // the source has been written up to here
}

func newBenchLive(b *testing.B, cfg Config) *benchLive {
	l := &benchLive{live: newLive(b, cfg, "bench")}
	l.startAt0()
	l.until = 300 * time.Millisecond
	l.advance(6100*time.Millisecond, 0)
	l.playlistAt(2, 9) // the muxer has caught up
	return l
}

// advance publishes the source up to t, with pause after every video
// frame (a muxer batch per frame, as at 30 fps).
func (l *benchLive) advance(t, pause time.Duration) {
	for _, p := range l.src.until(t) {
		f := *p.Frame
		f.Wall = time.Time{}
		if p.Video {
			n := 10_000
			if f.Key {
				n = 40_000
			}
			f.Data = make([]byte, n)
		}
		if err := l.pub.WriteFrame(&f); err != nil {
			l.t.Fatal(err)
		}
		if p.Video && pause > 0 {
			time.Sleep(pause)
		}
	}
	l.until = t
}

// hintNow returns the current playlist's preload hint and the blocking
// reload that waits for it.
func (l *benchLive) hintNow() (part, reload string) {
	resp, body := get(l.t, l.url("media.m3u8"))
	if resp.StatusCode != http.StatusOK {
		l.t.Fatalf("media.m3u8: %s", resp.Status)
	}
	h := hint(l.t, string(body))
	msn, p := partOf(l.t, h)
	return h, fmt.Sprintf("media.m3u8?_HLS_msn=%d&_HLS_part=%d", msn, p)
}

func (l *benchLive) request(res string, hdr ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/hls/"+l.name+"/"+res, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}

// serveLoop serves r b.N times and checks the answer.
func serveLoop(b *testing.B, h http.Handler, r *http.Request, code int) {
	w := newBenchRW()
	h.ServeHTTP(w, r)
	if w.code != code {
		b.Fatalf("%s: status %d, want %d", r.URL, w.code, code)
	}
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w.reset()
		h.ServeHTTP(w, r)
	}
	b.StopTimer()
	reportCPU(b, cpu0)
	if w.code != code {
		b.Fatalf("%s: status %d, want %d", r.URL, w.code, code)
	}
}

func reportCPU(b *testing.B, cpu0 time.Duration) {
	if cpu0 >= 0 {
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkPlaylist: a plain media playlist request (no directives).
func BenchmarkPlaylist(b *testing.B) {
	l := newBenchLive(b, Config{})
	b.Run("plain", func(b *testing.B) {
		serveLoop(b, l.h, l.request("media.m3u8"), http.StatusOK)
	})
	b.Run("skip", func(b *testing.B) {
		serveLoop(b, l.h, l.request("media.m3u8?_HLS_skip=YES"), http.StatusOK)
	})
	b.Run("if-none-match", func(b *testing.B) {
		resp, _ := get(b, l.url("media.m3u8"))
		serveLoop(b, l.h, l.request("media.m3u8", "If-None-Match", resp.Header.Get("ETag")), http.StatusNotModified)
	})
}

// BenchmarkBlockingReload: a blocking playlist reload. ready: for a part
// that exists, answered at once. parked: reloads waiting for the open part
// (500 at a time) and answered when the frame that completes it arrives,
// while the part's frames arrive 2 ms apart (each a muxer batch); each op is
// one reload, with its share of the publishing.
func BenchmarkBlockingReload(b *testing.B) {
	l := newBenchLive(b, Config{})
	b.Run("ready", func(b *testing.B) {
		serveLoop(b, l.h, l.request("media.m3u8?_HLS_msn=2&_HLS_part=3"), http.StatusOK)
	})
	b.Run("parked", func(b *testing.B) {
		benchParked(b, l, func(_, reload string) string { return reload })
	})
}

// BenchmarkPart: a part request. complete: a complete part of about 60 kB.
// range: the same with a Range header. segment: a complete segment.
// parked: requests for the preload-hinted part, held until it is complete,
// as BenchmarkBlockingReload parked; parked-chunked: the same streamed as
// the part's frames arrive (Config.ChunkedParts, the server's default).
func BenchmarkPart(b *testing.B) {
	l := newBenchLive(b, Config{})
	uri := func(msn, p int) string {
		h, _ := l.hintNow()
		run := strings.Split(h, "-")[1]
		return fmt.Sprintf("part-%s-%d-%d.m4s", run, msn, p)
	}
	b.Run("complete", func(b *testing.B) {
		serveLoop(b, l.h, l.request(uri(2, 3)), http.StatusOK)
	})
	b.Run("range", func(b *testing.B) {
		serveLoop(b, l.h, l.request(uri(2, 3), "Range", "bytes=100-20099"), http.StatusPartialContent)
	})
	b.Run("segment", func(b *testing.B) {
		h, _ := l.hintNow()
		run := strings.Split(h, "-")[1]
		serveLoop(b, l.h, l.request(fmt.Sprintf("seg-%s-1.m4s", run)), http.StatusOK)
	})
	b.Run("parked", func(b *testing.B) {
		benchParked(b, l, func(part, _ string) string { return part })
	})
	b.Run("parked-chunked", func(b *testing.B) {
		l := newBenchLive(b, Config{ChunkedParts: true})
		benchParked(b, l, func(part, _ string) string { return part })
	})
}

// benchParked parks up to 500 requests at a time (the resource res picks
// from the hinted part and its blocking reload), then publishes the open
// part's frames and the one that completes it, and waits for every answer.
func benchParked(b *testing.B, l *benchLive, res func(part, reload string) string) {
	const batch = 500
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for left := b.N; left > 0; {
		k := min(left, batch)
		left -= k
		part, reload := l.hintNow()
		r := l.request(res(part, reload))
		var wg sync.WaitGroup
		errs := make(chan int, k)
		for range k {
			wg.Go(func() {
				w := newBenchRW()
				l.h.ServeHTTP(w, r)
				if w.code != http.StatusOK {
					errs <- w.code
				}
			})
		}
		waitFor(b, "the requests to park", func() bool { return l.h.Stats().Waiting == int64(k) })
		// The open part ends at the next multiple of 200 ms after the
		// frames written so far; publish up to just past it.
		end := (l.until/(200*time.Millisecond) + 1) * 200 * time.Millisecond
		l.advance(end+time.Millisecond, 2*time.Millisecond)
		wg.Wait()
		close(errs)
		for code := range errs {
			b.Fatalf("%s: status %d", r.URL, code)
		}
	}
	b.StopTimer()
	reportCPU(b, cpu0)
}

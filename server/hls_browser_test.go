package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestChromiumPlaysLLHLS: ffmpeg publishes over RTMP; Chromium plays the
// watch page over LL-HLS with hls.js in low-latency mode: frames are shown,
// and the latency the player measures from EXT-X-PROGRAM-DATE-TIME has a
// median under 2.5 s; a cue posted during playback fires with the picture
// (from the playlist's EXT-X-DATERANGE).
func TestChromiumPlaysLLHLS(t *testing.T) {
	requireTools(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startServer(t, nil)
	ffmpegPublish(t, ctx, "rtmp://"+srv.RTMPAddr().String()+"/live/ll", 40, "-tune", "zerolatency")
	waitLive(t, ctx, srv, "ll")
	tab := newBrowser(t, ctx)
	got := playOver(t, tab, "http://"+srv.HTTPAddr().String()+"/watch/ll?proto=hls", "hls", 60, 30)
	stats, _ := evalAwait[map[string]any](tab, "window.liveloop.stats()")
	t.Logf("player stats: %v", stats)
	if got.Transport != "hls" {
		t.Fatalf("transport %q, want hls", got.Transport)
	}
	if got.Width != 640 {
		t.Errorf("width %v, want 640", got.Width)
	}
	if len(got.Latencies) < 10 {
		t.Fatalf("only %d latency samples (no PROGRAM-DATE-TIME?)", len(got.Latencies))
	}
	lat := median(got.Latencies)
	t.Logf("chromium hls playback: median latency %.0f ms (%d samples), startup %v s, stalls %v, frames %v, bitrate %.0f kbit/s",
		lat*1000, len(got.Latencies), deref(got.Startup), got.Stalls, got.Frames, got.Bitrate/1000)
	if lat <= 0 || lat >= 2.5 {
		t.Fatalf("median latency %.3f s, want under 2.5 s", lat)
	}

	// A cue posted now reaches the player as an EXT-X-DATERANGE and fires
	// when the picture gets to it: about one latency later.
	if _, err := evalAwait[bool](tab, `(window.__hlsCues = [], window.liveloop.player.on('cue', c => window.__hlsCues.push({cue: c, at: performance.now()})), true)`); err != nil {
		t.Fatal(err)
	}
	postedAt, err := evalAwait[float64](tab, "performance.now()")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+srv.HTTPAddr().String()+"/api/v1/streams/ll/cues", "application/json",
		strings.NewReader(`{"type":"test.mark","data":{"n":7}}`))
	if err != nil {
		t.Fatal(err)
	}
	var posted struct {
		ID string `json:"id"`
	}
	json.NewDecoder(resp.Body).Decode(&posted)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST cue: %s", resp.Status)
	}
	cctx, ccancel := context.WithTimeout(tab, 10*time.Second)
	defer ccancel()
	fired, err := evalAwait[struct {
		Cue struct {
			ID      string          `json:"id"`
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		} `json:"cue"`
		At float64 `json:"at"`
	}](cctx, fmt.Sprintf(`(async (id) => {
  for (;;) {
    const c = window.__hlsCues.find(c => c.cue.id === id);
    if (c) return c;
    await new Promise(r => setTimeout(r, 10));
  }
})(%q)`, posted.ID))
	if err != nil {
		t.Fatalf("cue %s never fired: %v", posted.ID, err)
	}
	after := (fired.At - postedAt) / 1000
	t.Logf("cue %s fired %.0f ms after it was posted (latency %.0f ms)", posted.ID, after*1000, lat*1000)
	if fired.Cue.Type != "test.mark" || string(fired.Cue.Payload) != `{"n":7}` {
		t.Errorf("fired cue %+v", fired.Cue)
	}
	if after < lat/2 || after > lat+1.5 {
		t.Errorf("cue fired %.2f s after posting, want about the latency %.2f s", after, lat)
	}
}

// recordSourceBuffers keeps every SourceBuffer the page makes in
// window.__sourceBuffers ({type, sb}), so a test can read the
// timestampOffset hls.js gives them.
const recordSourceBuffers = `(() => {
  window.__sourceBuffers = [];
  const add = MediaSource.prototype.addSourceBuffer;
  MediaSource.prototype.addSourceBuffer = function (type) {
    const sb = add.call(this, type);
    window.__sourceBuffers.push({type, sb});
    return sb;
  };
})();`

// videoTimestampOffset is the timestampOffset of the page's video
// SourceBuffer.
const videoTimestampOffset = `(() => {
  const b = window.__sourceBuffers.filter(b => b.type.includes('avc1'));
  return b.length ? b[b.length - 1].sb.timestampOffset : null;
})()`

// TestCueFiresWithItsFrameLLHLS: a cue posted during playback over LL-HLS
// (an EXT-X-DATERANGE whose START-DATE is the cue's time through the
// segment's PROGRAM-DATE-TIME) fires in Chromium, with hls.js, on the frame
// it was stamped on, within one frame.
//
// The player's timeline is not the stream's: hls.js plays the fMP4 parts'
// decode times (the stream's timeline) shifted by the SourceBuffer's
// timestampOffset (minus its initPTS). So the frame a cue belongs to is at
// the cue's stream media time plus that offset, read from the page's
// SourceBuffer: that is the truth the presented frame (rVFC mediaTime) is
// measured against, independently of the player's own placement of the
// cue through the playlist's dates (which is logged beside it).
//
// As on WebRTC (see TestCueFiresWithItsFrameWebRTC), the error asserted is
// counted in frames presented, from the first presented at or after the
// cue's frame, since a frame the browser skips cannot show a cue.
func TestCueFiresWithItsFrameLLHLS(t *testing.T) {
	requireTools(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startServer(t, nil)
	ffmpegPublish(t, ctx, "rtmp://"+srv.RTMPAddr().String()+"/live/hlscues", 60, "-tune", "zerolatency")
	waitLive(t, ctx, srv, "hlscues")
	tab := newBrowser(t, ctx)
	if err := chromedp.Do(tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recordSourceBuffers})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.HTTPAddr().String()
	got := playOver(t, tab, base+"/watch/hlscues?proto=hls", "hls", 30, 1)
	if got.Transport != "hls" {
		t.Fatalf("transport %q, want hls", got.Transport)
	}
	if _, err := evalAwait[bool](tab, cueInPage); err != nil {
		t.Fatal(err)
	}
	if _, err := evalAwait[bool](tab, fmt.Sprintf(framesInPage, "mediaTime")); err != nil {
		t.Fatal(err)
	}
	const fps = 30.0
	const eps = 0.0005 // media times are in microseconds, frame times rounded to them
	worst, worstTime := 0, 0.0
	for i := range 6 {
		id, mediaTime := postTestCue(t, base, "hlscues", i)
		fired := waitFired[firedCue](t, tab, id)
		if fired.Cue.Type != "test.mark" || string(fired.Cue.Payload) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("fired cue %+v", fired.Cue)
		}
		offset, err := evalAwait[*float64](tab, videoTimestampOffset)
		if err != nil || offset == nil {
			t.Fatalf("no video SourceBuffer: %v", err)
		}
		truth := mediaTime + *offset
		errTime := math.Abs(fired.FrameTime-truth) * fps
		worstTime = max(worstTime, errTime)
		frames, err := evalAwait[[]float64](tab, "window.__frames")
		if err != nil {
			t.Fatal(err)
		}
		at := -1
		for j := len(frames) - 1; j >= 0; j-- {
			if math.Abs(frames[j]-fired.FrameTime) < eps {
				at = j
				break
			}
		}
		if at < 0 {
			t.Fatalf("cue %s fired with frame %.6f, which was not presented", id, fired.FrameTime)
		}
		first := at
		for first > 0 && frames[first-1] >= truth-eps {
			first--
		}
		late := at - first
		if fired.FrameTime < truth-eps {
			late = -int(math.Ceil((truth - fired.FrameTime) * fps)) // fired early
		}
		worst = max(worst, max(late, -late))
		t.Logf("cue %s at stream time %.3f = player time %.3f (placed at %.3f: %+.1f ms) fired with frame %.3f (%.2f frames); first frame presented at or after it %.3f, %d frames presented later",
			id, mediaTime, truth, fired.Cue.MediaTime, (fired.Cue.MediaTime-truth)*1000, fired.FrameTime, errTime, frames[first], late)
		if late > 1 || late < 0 {
			t.Errorf("cue fired %d presented frames from its frame, want at most 1 after it", late)
		}
		time.Sleep(time.Duration(150+37*i) * time.Millisecond)
	}
	t.Logf("ll-hls cues: worst error %d presented frames (%.2f frames of media time)", worst, worstTime)
}

package whip_test

import (
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/liveloop/liveloop/deliver/whep"
	"github.com/liveloop/liveloop/deliver/ws"
	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/ingest/whip"
	"github.com/liveloop/liveloop/internal/chromium"
	"github.com/liveloop/liveloop/internal/webrtctest"
	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/web"
)

// pipeline is an in-process Liveloop: the hub, the WHIP handler, and the
// WebSocket and WHEP delivery handlers with the watch page, on one
// httptest server.
type pipeline struct {
	hub  *hub.Hub
	whip *whip.Handler
	whep *whep.Handler
	url  string

	mu    sync.Mutex
	sinks []*recordingSink
}

func newPipeline(t *testing.T, cfg whip.Config) *pipeline {
	t.Helper()
	log := webrtctest.Logger("WHIP_LOG")
	p := &pipeline{hub: hub.New(hub.Config{}, log, nil)}
	if cfg.Publish == nil {
		cfg.Publish = func(s string) (media.Sink, error) {
			pub, err := p.hub.Publish(s)
			if err != nil {
				return nil, err
			}
			rs := &recordingSink{Sink: pub}
			p.mu.Lock()
			p.sinks = append(p.sinks, rs)
			p.mu.Unlock()
			return rs, nil
		}
	}
	cfg.Logger = log
	cfg.UDPAddr = "127.0.0.1:0"
	wh, err := whip.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.whip = wh
	if p.whep, err = whep.New(whep.Config{Hub: p.hub, Logger: log, UDPAddr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	wsh := ws.New(ws.Config{Hub: p.hub, Logger: log})
	assets, err := fs.Sub(web.Dist, "dist")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/whip/", wh)
	mux.Handle("/whep/", p.whep)
	mux.Handle("GET /ws/{stream...}", wsh)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /watch/{stream...}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "watch.html")
	})
	mux.HandleFunc("GET /publisher", servePage(publisherPage))
	mux.HandleFunc("GET /whep-player", servePage(whepPlayerPage))
	srv := httptest.NewServer(mux)
	p.url = srv.URL
	t.Cleanup(func() {
		srv.Close()
		wh.Close()
		p.whep.Close()
		wsh.Close()
		p.hub.Close()
	})
	return p
}

func (p *pipeline) sink(i int) *recordingSink {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i < len(p.sinks) {
		return p.sinks[i]
	}
	return nil
}

func servePage(page string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(page))
	}
}

// publisherPage publishes the fake camera and microphone over WHIP.
const publisherPage = `<!doctype html>
<html><body><script>
window.publish = async (stream, key) => {
  const ms = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 360, frameRate: 30}, audio: true});
  const pc = new RTCPeerConnection();
  window.pc = pc;
  for (const t of ms.getTracks()) pc.addTransceiver(t, {direction: 'sendonly'});
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(res => {
    if (pc.iceGatheringState === 'complete') return res();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && res();
    setTimeout(res, 2000);
  });
  const resp = await fetch('/whip/' + stream, {method: 'POST',
    headers: {'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + key}, body: pc.localDescription.sdp});
  const body = await resp.text();
  if (resp.status !== 201) return {status: resp.status, body};
  window.resource = resp.headers.get('Location');
  await pc.setRemoteDescription({type: 'answer', sdp: body});
  return {status: resp.status, location: window.resource};
};
window.unpublish = async () => {
  const r = await fetch(window.resource, {method: 'DELETE'});
  window.pc.close();
  return r.status;
};
</script></body></html>`

// whepPlayerPage plays a stream over WHEP.
const whepPlayerPage = `<!doctype html>
<html><body><video autoplay muted playsinline></video><script>
window.play = async (stream) => {
  const pc = new RTCPeerConnection();
  window.pc = pc;
  const video = document.querySelector('video');
  const ms = new MediaStream();
  pc.addTransceiver('video', {direction: 'recvonly'});
  pc.addTransceiver('audio', {direction: 'recvonly'});
  pc.ontrack = e => { ms.addTrack(e.track); video.srcObject = ms; };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(res => {
    if (pc.iceGatheringState === 'complete') return res();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && res();
    setTimeout(res, 2000);
  });
  const resp = await fetch('/whep/' + stream, {method: 'POST', headers: {'Content-Type': 'application/sdp'}, body: pc.localDescription.sdp});
  await pc.setRemoteDescription({type: 'answer', sdp: await resp.text()});
  return resp.status;
};
window.audioPackets = async () => {
  let n = 0;
  (await window.pc.getStats()).forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'audio') n = s.packetsReceived; });
  return n;
};
</script></body></html>`

type publishResult struct {
	Status   int    `json:"status"`
	Body     string `json:"body"`
	Location string `json:"location"`
}

// TestChromiumPublishesWHIP: Chromium publishes its fake camera and
// microphone over WHIP; the hub gets H.264 and Opus tracks and frames;
// a second tab plays the stream over the WebSocket path (the real watch
// page: fMP4 with Opus in MSE) and a third over WHEP; DELETE ends the
// session and closes the Sink.
func TestChromiumPublishesWHIP(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Fatal("chromium is not installed: make deps (or make test) installs it")
	}
	webrtctest.CheckLeaks(t)
	p := newPipeline(t, whip.Config{})

	browser, cancel, err := chromium.New(context.Background(), chromium.Options{Logf: t.Logf, ExtraFlags: chromium.FakeMedia()})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	ctx, cancelCtx := context.WithTimeout(browser, 90*time.Second)
	defer cancelCtx()

	if err := chromedp.Do(ctx, chromedp.Navigate(p.url+"/publisher")); err != nil {
		t.Fatal(err)
	}
	res, err := chromium.Eval[publishResult](ctx, `window.publish("test", "test")`)
	if err != nil || res.Status != http.StatusCreated {
		t.Fatalf("publish: %+v, %v", res, err)
	}
	t.Logf("session resource %s", res.Location)
	webrtctest.WaitFor(t, 20*time.Second, "60 frames from the browser", func() bool {
		s := p.sink(0)
		if s == nil {
			return false
		}
		_, frames, _ := s.snapshot()
		return len(frames) >= 60
	})
	checkFrames(t, p.sink(0), true)

	// Second tab: the watch page over the WebSocket path.
	wsTab, cancelWS, err := chromium.NewTab(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer cancelWS()
	if err := chromedp.Do(wsTab, chromedp.Navigate(p.url+"/watch/test?proto=ws")); err != nil {
		t.Fatal(err)
	}
	checkPlays(t, wsTab, "WebSocket")
	opus, err := chromium.Eval[bool](wsTab, `MediaSource.isTypeSupported('audio/mp4; codecs="opus"')`)
	if err != nil || !opus {
		t.Errorf("Chromium MSE does not take Opus in MP4: %v", err)
	}
	webrtctest.WaitFor(t, 10*time.Second, "decoded Opus audio on the WebSocket path", func() bool {
		n, err := chromium.Eval[float64](wsTab, `document.querySelector('video').webkitAudioDecodedByteCount`)
		return err == nil && n > 0
	})

	// Third tab: WHEP.
	whepTab, cancelWHEP, err := chromium.NewTab(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer cancelWHEP()
	if err := chromedp.Do(whepTab, chromedp.Navigate(p.url+"/whep-player")); err != nil {
		t.Fatal(err)
	}
	if st, err := chromium.Eval[int](whepTab, `window.play("test")`); err != nil || st != http.StatusCreated {
		t.Fatalf("WHEP play: %d, %v", st, err)
	}
	checkPlays(t, whepTab, "WHEP")
	webrtctest.WaitFor(t, 10*time.Second, "Opus packets over WHEP", func() bool {
		n, err := chromium.Eval[float64](whepTab, `window.audioPackets()`)
		return err == nil && n > 0
	})

	st := p.whip.Stats()
	t.Logf("whip stats: %+v", st)
	if st.Sessions != 1 || st.Keyframes == 0 || st.FramesIn == 0 {
		t.Errorf("stats %+v", st)
	}

	// DELETE ends the session and closes the Sink; the hub keeps the
	// stream for its grace period.
	if code, err := chromium.Eval[int](ctx, `window.unpublish()`); err != nil || code != http.StatusOK {
		t.Fatalf("DELETE: %d, %v", code, err)
	}
	webrtctest.WaitFor(t, 5*time.Second, "the session to end", func() bool { return p.whip.Stats().Sessions == 0 })
	if _, _, closed := p.sink(0).snapshot(); !closed {
		t.Error("the Sink was not closed")
	}
	if s := p.hub.Stream("test"); s == nil || s.Info().State != hub.StateWaiting {
		t.Errorf("stream after DELETE: %+v", s)
	}
}

// checkPlays waits until the tab's video has shown frames, then checks
// that more keep coming.
func checkPlays(t *testing.T, tab context.Context, what string) {
	t.Helper()
	if err := chromium.Plays(tab, 15, 20*time.Second); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

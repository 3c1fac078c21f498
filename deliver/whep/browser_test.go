package whep_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/liveloop/liveloop/internal/chromium"
	"github.com/liveloop/liveloop/internal/webrtctest"
)

// playerPage is a minimal WHEP player: it offers recvonly video and audio
// (with abs-capture-time where Chromium lets a page ask for it), POSTs the
// offer and plays what arrives in a <video>.
const playerPage = `<!doctype html>
<html><body><video autoplay muted playsinline></video>
<script>
window.result = {};
window.play = async (stream) => {
  const r = window.result;
  const pc = new RTCPeerConnection();
  window.pc = pc;
  const video = document.querySelector('video');
  const ms = new MediaStream();
  for (const kind of ['video', 'audio']) {
    const t = pc.addTransceiver(kind, {direction: 'recvonly'});
    if (t.getHeaderExtensionsToNegotiate) {
      const exts = t.getHeaderExtensionsToNegotiate();
      for (const e of exts) if (e.uri.includes('abs-capture-time')) e.direction = 'recvonly';
      try { t.setHeaderExtensionsToNegotiate(exts); } catch (e) { r.extError = String(e); }
    }
  }
  pc.ontrack = e => { ms.addTrack(e.track); video.srcObject = ms; };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === 'connected') r.connected = performance.now();
  };
  video.requestVideoFrameCallback(() => { r.firstFrame = performance.now(); });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(res => {
    if (pc.iceGatheringState === 'complete') return res();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && res();
    setTimeout(res, 2000);
  });
  const resp = await fetch('/whep/' + stream, {method: 'POST', headers: {'Content-Type': 'application/sdp'}, body: pc.localDescription.sdp});
  r.status = resp.status;
  r.location = resp.headers.get('Location');
  await pc.setRemoteDescription({type: 'answer', sdp: await resp.text()});
  return r.status;
};
window.sample = async (minFrames) => {
  const v = document.querySelector('video');
  const frames = () => v.getVideoPlaybackQuality().totalVideoFrames;
  const deadline = performance.now() + 15000;
  while (frames() < minFrames && performance.now() < deadline) await new Promise(r => setTimeout(r, 50));
  const lat = [];
  for (let i = 0; i < 20; i++) {
    for (const rc of window.pc.getReceivers()) {
      if (rc.track.kind !== 'video') continue;
      for (const s of rc.getSynchronizationSources()) {
        // captureTimestamp is on the NTP epoch (1900), timestamp on the
        // Unix one; both in ms.
        if (s.captureTimestamp) lat.push(s.timestamp - (s.captureTimestamp - 2208988800000));
      }
    }
    await new Promise(r => setTimeout(r, 50));
  }
  const r = window.result;
  let audioPackets = 0;
  (await window.pc.getStats()).forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'audio') audioPackets = s.packetsReceived; });
  return {frames: frames(), width: v.videoWidth, latencies: lat, audioPackets,
          startup: r.firstFrame && r.connected ? r.firstFrame - r.connected : null};
};
</script></body></html>`

type browserSample struct {
	Frames       float64   `json:"frames"`
	Width        float64   `json:"width"`
	Latencies    []float64 `json:"latencies"`
	AudioPackets float64   `json:"audioPackets"`
	Startup      *float64  `json:"startup"`
}

// TestChromiumPlaysWHEP: Chromium plays an ffmpeg RTMP source over WHEP
// from a page served by the test; its video shows frames.
func TestChromiumPlaysWHEP(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Fatal("chromium is not installed: make deps (or make test) installs it")
	}
	webrtctest.CheckLeaks(t)
	p := newPipeline(t, true)
	mux := http.NewServeMux()
	mux.Handle("/whep/", p.whep)
	mux.HandleFunc("/player", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(playerPage))
	})
	srv := newHTTPServer(t, mux)

	p.publishFFmpeg(t, "cam", 30)
	p.waitTracks(t, "cam", 2)
	if err := p.tc.Start("cam"); err != nil {
		t.Fatal(err)
	}
	p.waitTracks(t, "cam/opus", 1)

	tab, cancel, err := chromium.New(context.Background(), chromium.Options{Logf: t.Logf,
		ExtraFlags: map[string]any{"allow-loopback-in-peer-connection": true}})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	ctx, cancelTab := context.WithTimeout(tab, 40*time.Second)
	defer cancelTab()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv+"/player")); err != nil {
		t.Fatal(err)
	}
	status, err := chromium.Eval[int](ctx, `window.play("cam")`)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("play: status %d, %v", status, err)
	}
	s, err := chromium.Eval[browserSample](ctx, `window.sample(60)`)
	if err != nil {
		t.Fatal(err)
	}
	var lat float64
	if n := len(s.Latencies); n > 0 {
		lat = s.Latencies[n/2]
	}
	startup := -1.0
	if s.Startup != nil {
		startup = *s.Startup
	}
	st := p.whep.Stats()
	t.Logf("chromium whep: %v frames shown, width %v, %v audio packets, first frame %.0f ms after connected, abs-capture-time latency (ms) %v (median %.1f); server first keyframe %v after DTLS",
		s.Frames, s.Width, s.AudioPackets, startup, s.Latencies, lat, st.FirstKeyframe)
	if s.Frames < 60 {
		t.Errorf("only %v frames shown", s.Frames)
	}
	if len(s.Latencies) == 0 {
		t.Errorf("no abs-capture-time in getSynchronizationSources")
	} else if lat > 500 {
		t.Errorf("median latency %.0f ms, want under 500", lat)
	}
	if s.AudioPackets == 0 {
		t.Errorf("no audio received")
	}
	if st.Sessions != 1 {
		t.Errorf("%d sessions", st.Sessions)
	}
	// Closing the page's peer connection ends the session.
	if _, err := chromium.Eval[bool](ctx, `(window.pc.close(), true)`); err != nil {
		t.Fatal(err)
	}
	webrtctest.WaitFor(t, 15*time.Second, "the session to end after the browser closed", func() bool { return p.whep.Stats().Sessions == 0 })
}

func newHTTPServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

package server_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// tcpOnly makes every RTCPeerConnection of the page drop the UDP
// candidates of the answers it gets, so that the only pairs Chromium can
// check are its active TCP candidates with the server's passive one: the
// connection a network that blocks UDP leaves. The peer connections are
// kept in window.__pcs.
const tcpOnly = `(() => {
  const PC = window.RTCPeerConnection;
  window.__pcs = [];
  const TCPOnly = function (cfg) {
    const pc = new PC(cfg);
    window.__pcs.push(pc);
    const set = pc.setRemoteDescription.bind(pc);
    pc.setRemoteDescription = (d) => set(d && d.sdp ? {type: d.type,
      sdp: d.sdp.split('\r\n').filter(l => !/^a=candidate:\S+ \d+ udp /i.test(l)).join('\r\n')} : d);
    return pc;
  };
  TCPOnly.prototype = PC.prototype;
  window.RTCPeerConnection = TCPOnly;
})();`

// selectedPair reports the protocols and the remote port of the selected
// candidate pair of the page's newest peer connection.
const selectedPair = `(async () => {
  const pc = window.__pcs[window.__pcs.length - 1];
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach(s => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
  if (!pair) return null;
  const local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
  return {local: local.protocol, tcpType: local.tcpType || '', remote: remote.protocol, port: remote.port};
})()`

type candidatePair struct {
	Local, TCPType, Remote string
	Port                   int
}

// TestChromiumPlaysWebRTCOverTCP: Chromium left with TCP alone plays over
// WebRTC through ICE-TCP on the server's HTTP port (the default
// --webrtc-tcp http), the same port that served it the page.
func TestChromiumPlaysWebRTCOverTCP(t *testing.T) {
	requireTools(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := startServer(t, nil)
	ffmpegPublish(t, ctx, "rtmp://"+srv.RTMPAddr().String()+"/live/tcp", 30, "-tune", "zerolatency")
	waitLive(t, ctx, srv, "tcp")
	tab := newBrowserWith(t, ctx, map[string]any{"allow-loopback-in-peer-connection": true})
	if err := chromedp.Do(tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: tcpOnly})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	got := playOver(t, tab, "http://"+srv.HTTPAddr().String()+"/watch/tcp?proto=webrtc", "webrtc", 60, 10)
	if got.Transport != "webrtc" {
		t.Fatalf("transport %q (fallback %v), want webrtc", got.Transport, deref2(got.FallbackReason))
	}
	pair, err := evalAwait[*candidatePair](tab, selectedPair)
	if err != nil || pair == nil {
		t.Fatalf("selected candidate pair: %v, %v", pair, err)
	}
	httpPort := srv.HTTPAddr().(*net.TCPAddr).Port
	t.Logf("chromium over ICE-TCP: pair %+v, frames %v, median latency %.0f ms, startup %v s",
		*pair, got.Frames, median(got.Latencies)*1000, deref(got.Startup))
	if pair.Local != "tcp" || pair.Remote != "tcp" || pair.Port != httpPort {
		t.Errorf("selected pair %+v, want TCP to the HTTP port %d", *pair, httpPort)
	}
	if lat := median(got.Latencies); lat <= 0 || lat >= 0.5 {
		t.Errorf("median latency %s", fmt.Sprint(lat))
	}
}

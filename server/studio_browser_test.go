package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/internal/chromium"
	"github.com/liveloop/liveloop/internal/webrtctest"
	"github.com/liveloop/liveloop/media"
)

// TestStudioGoesLive: the host opens /studio/test in Chromium (its fake
// camera and microphone), presses Go live, and the studio publishes over
// WHIP with its default key; the hub gets H.264 and Opus; a watch page
// plays the stream over WebRTC and another over the WebSocket path; Stop
// ends the WHIP session.
func TestStudioGoesLive(t *testing.T) {
	requireTools(t, "chromium")
	srv := startServer(t, nil)
	base := "http://" + srv.HTTPAddr().String()

	browser, cancel, err := chromium.New(context.Background(), chromium.Options{Logf: t.Logf, ExtraFlags: chromium.FakeMedia()})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	ctx, cancelCtx := context.WithTimeout(browser, 2*time.Minute)
	defer cancelCtx()

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/studio/test")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromium.Eval[bool](ctx, clickLive); err != nil {
		t.Fatal(err)
	}
	if st, err := chromium.Eval[string](ctx, waitPCState); err != nil || st != "connected" {
		status, _ := chromium.Eval[string](ctx, `document.getElementById('bc-status').textContent`)
		t.Fatalf("studio's connection: %q, %v (status %q)", st, err, status)
	}
	webrtctest.WaitFor(t, 20*time.Second, "the studio's H.264 and Opus in the hub", func() bool {
		s := srv.Hub().Stream("test")
		if s == nil {
			return false
		}
		info := s.Info()
		var video, opus bool
		for _, tr := range info.Tracks {
			video = video || tr.Codec == media.CodecH264
			opus = opus || tr.Codec == media.CodecOpus
		}
		return info.State == hub.StateLive && video && opus
	})

	for _, proto := range []string{"webrtc", "ws"} {
		tab, cancelTab, err := chromium.NewTab(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(tab, chromedp.Navigate(base+"/watch/test?proto="+proto)); err != nil {
			t.Fatal(err)
		}
		if err := chromium.Plays(tab, 15, 20*time.Second); err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		if tr, err := chromium.Eval[string](tab, `window.liveloop.stats().transport`); err != nil || tr != proto {
			t.Errorf("watch page asked for %s plays over %q, %v", proto, tr, err)
		}
		cancelTab()
	}

	// Stop: the studio ends its WHIP session, and the stream waits for its
	// publisher again.
	if _, err := chromium.Eval[bool](ctx, clickLive); err != nil {
		t.Fatal(err)
	}
	webrtctest.WaitFor(t, 10*time.Second, "the stream to lose its publisher", func() bool {
		s := srv.Hub().Stream("test")
		return s == nil || s.Info().State != hub.StateLive
	})
}

// clickLive presses the studio's Go live / Stop button.
const clickLive = `(document.getElementById('live-btn').click(), true)`

// waitPCState waits up to 20 s for the studio's connection state chip to
// leave new and connecting, and returns it.
const waitPCState = `(async () => {
  const el = document.getElementById('pc-state');
  const deadline = performance.now() + 20000;
  while (['new', 'connecting', 'closed'].includes(el.dataset.state) && performance.now() < deadline) await new Promise(r => setTimeout(r, 50));
  return el.dataset.state;
})()`

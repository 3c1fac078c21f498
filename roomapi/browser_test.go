package roomapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/liveloop/liveloop/config"
	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/internal/chromium"
	"github.com/liveloop/liveloop/internal/testserver"
)

// post makes one API request with a JSON body and decodes the answer.
func post(t *testing.T, method, url, token string, body, out any, hdr ...string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s", method, url, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// watchChat, in the watch page, waits for playback and spoiler-free chat,
// then records for each chat message the picture's media time when its
// event arrived and when the page showed it.
const watchChat = `(async () => {
  const sleep = (ms) => new Promise(r => setTimeout(r, ms));
  const v = document.querySelector('video');
  while (!window.liveloop || !window.liveloopRoom || window.liveloop.player.mediaTime() === null ||
         v.getVideoPlaybackQuality().totalVideoFrames < 30 || !window.liveloopRoom.client.state.chatSync) await sleep(50);
  const room = window.liveloopRoom, picture = () => window.liveloop.player.mediaTime();
  window.__arrived = {}; window.__shown = {};
  room.client.channel.on('events', ({events}) => {
    for (const e of events) if (e.type === 'chat.message') window.__arrived[e.data.id] ??= picture();
  });
  const apply = room.client.apply.bind(room.client);
  room.client.apply = (ev) => {
    if (ev.type === 'chat.message') window.__shown[ev.data.id] ??= picture();
    apply(ev);
  };
  return true;
})()`

// TestChromiumSpoilerFreeChat: with spoiler-free chat on, a message
// stamped ahead of a viewer's picture (a REST post takes the stream's
// newest frame; the viewer has paused) reaches the watch page and is held;
// it is shown when the picture, playing again, reaches its media time.
func TestChromiumSpoilerFreeChat(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "chromium"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (CI installs it: see .ci/run): %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := testserver.Start(t, func(c *config.Config) { c.AdminKey = "k" })
	base := "http://" + srv.HTTPAddr().String()

	ff := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "60", "-c:v", "libx264", "-preset", "ultrafast",
		"-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p", "-f", "flv", "rtmp://"+srv.RTMPAddr().String()+"/live/s")
	ff.Stderr = os.Stderr
	if err := ff.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ff.Process.Kill(); ff.Wait() })
	for {
		if s := srv.Hub().Stream("s"); s != nil && s.Info().State == hub.StateLive && s.Info().Packets > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("stream never went live")
		case <-time.After(20 * time.Millisecond):
		}
	}

	var host, viewer struct{ Token string }
	post(t, "POST", base+"/api/v1/session", "", map[string]string{"role": "host", "name": "Host"}, &host, "X-Admin-Key", "k")
	post(t, "POST", base+"/api/v1/session", "", map[string]string{"name": "Poster"}, &viewer)
	post(t, "PUT", base+"/api/v1/streams/s/chat-sync", host.Token, map[string]bool{"enabled": true}, nil)

	tab, stop, err := chromium.New(ctx, chromium.Options{UserDataDir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(stop)
	if err := chromedp.Do(tab, chromedp.Navigate(base+"/watch/s?proto=ws")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromium.Eval[bool](tab, watchChat); err != nil {
		t.Fatal(err)
	}
	// The viewer pauses (the player's own resume and seeks held off): their
	// picture stands still while the stream's media clock, which a REST
	// post is stamped with, moves on.
	for i := range 3 {
		paused, err := chromium.Eval[float64](tab, `(async () => {
  const v = document.querySelector('video');
  // The player's own resume and jumps to the live edge wait for the test.
  const time = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, 'currentTime');
  Object.defineProperty(v, 'currentTime', { configurable: true, get() { return time.get.call(this); }, set() {} });
  v.play = () => Promise.resolve();
  v.pause();
  await new Promise(r => setTimeout(r, 0));
  return window.liveloop.player.mediaTime();
})()`)
		if err != nil {
			t.Fatal(err)
		}
		for srv.Hub().Stream("s").MediaTime().Seconds() < paused+1 {
			select {
			case <-ctx.Done():
				t.Fatal("the stream's clock stopped")
			case <-time.After(20 * time.Millisecond):
			}
		}
		var res struct{ ID string }
		post(t, "POST", base+"/api/v1/streams/s/chat", viewer.Token, map[string]string{"text": fmt.Sprintf("goal %d", i)}, &res)
		// Arrived and held while the picture stands still.
		held, err := chromium.Eval[int](tab, fmt.Sprintf(`(async (id) => {
  while (window.__arrived[id] === undefined) await new Promise(r => setTimeout(r, 10));
  if (window.__shown[id] !== undefined) return -1;
  const held = window.liveloopRoom.heldChat();
  const v = document.querySelector('video');
  delete v.play;
  delete v.currentTime;
  v.play();
  return held;
})(%q)`, res.ID))
		if err != nil {
			t.Fatal(err)
		}
		if held != 1 {
			t.Fatalf("message %d: %d held when it arrived behind the picture (-1: shown)", i, held)
		}
		got, err := chromium.Eval[struct {
			Arrived, Shown, MediaTime *float64
			InList                    bool
		}](tab, fmt.Sprintf(`(async (id) => {
  while (window.__shown[id] === undefined) await new Promise(r => setTimeout(r, 10));
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  const m = window.liveloopRoom.client.state.chat.find(m => m.id === id);
  const inList = [...document.querySelectorAll('.chat-list .text')].some(e => e.textContent === m.text);
  return {arrived: window.__arrived[id], shown: window.__shown[id], mediaTime: m.mediaTime, inList};
})(%q)`, res.ID))
		if err != nil {
			t.Fatal(err)
		}
		if got.Arrived == nil || got.Shown == nil || got.MediaTime == nil {
			t.Fatalf("message %s: %+v", res.ID, got)
		}
		t.Logf("message at media time %.3f: arrived with the picture at %.3f, shown at %.3f", *got.MediaTime, *got.Arrived, *got.Shown)
		if *got.Arrived > *got.MediaTime-0.9 || *got.Shown < *got.MediaTime || !got.InList {
			t.Fatalf("message at %.3f: arrived at picture %.3f, shown at %.3f (in the list: %v)", *got.MediaTime, *got.Arrived, *got.Shown, got.InList)
		}
	}
}

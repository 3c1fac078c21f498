package whep_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/deliver/whep"
	"github.com/liveloop/liveloop/internal/webrtctest"
	"github.com/liveloop/liveloop/media"
)

// TestErrors: bad requests get a 4xx with a stable code, and leave no
// session behind.
func TestErrors(t *testing.T) {
	webrtctest.CheckLeaks(t)
	p := newPipeline(t, false)
	p.publishDemo(t, "show/main") // a name with '/'
	p.waitTracks(t, "show/main", 2)

	vp8Only := newClient(t, clientOpts{h264Fmtp: []string{"vp8"}}).offer()
	mode0 := newClient(t, clientOpts{h264Fmtp: []string{"packetization-mode=0;profile-level-id=42e01f"}}).offer()
	cbOnly := newClient(t, clientOpts{h264Fmtp: []string{"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}}).offer()
	lowLevel := newClient(t, clientOpts{h264Fmtp: []string{"packetization-mode=1;profile-level-id=4d000a"}}).offer()
	audioOnly := newClient(t, clientOpts{noVideo: true}).offer()
	good := newClient(t, clientOpts{}).offer()

	cases := []struct {
		name, path, ctype, body string
		status                  int
		code                    string
	}{
		{"not sdp", "/whep/show/main", "application/sdp", "hello", http.StatusBadRequest, "bad_sdp"},
		{"empty", "/whep/show/main", "application/sdp", "", http.StatusBadRequest, "bad_sdp"},
		{"malformed line", "/whep/show/main", "application/sdp", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nfoo\r\n", http.StatusBadRequest, "bad_sdp"},
		{"no media", "/whep/show/main", "application/sdp", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", http.StatusBadRequest, "bad_sdp"},
		{"wrong content type", "/whep/show/main", "application/json", good, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"unknown stream", "/whep/nobody", "application/sdp", good, http.StatusNotFound, "not_found"},
		{"no stream", "/whep/", "application/sdp", good, http.StatusNotFound, "not_found"},
		{"vp8 only", "/whep/show/main", "application/sdp", vp8Only, http.StatusNotAcceptable, "no_compatible_codec"},
		{"packetization mode 0", "/whep/show/main", "application/sdp", mode0, http.StatusNotAcceptable, "no_compatible_codec"},
		// The demo clip is Main profile, level 3.1: a Constrained Baseline
		// decoder cannot play it, nor a level 1 decoder without
		// level-asymmetry-allowed.
		{"constrained baseline only", "/whep/show/main", "application/sdp", cbOnly, http.StatusNotAcceptable, "no_compatible_codec"},
		{"level too low", "/whep/show/main", "application/sdp", lowLevel, http.StatusNotAcceptable, "no_compatible_codec"},
		{"no video section", "/whep/show/main", "application/sdp", audioOnly, http.StatusNotAcceptable, "no_compatible_codec"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := p.post(t, tc.path, tc.ctype, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.status, body)
			}
			var e struct{ Error, Message string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != tc.code || e.Message == "" {
				t.Errorf("body %q: want error %q and a message", body, tc.code)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("no CORS header on an error")
			}
		})
	}
	// A stream with B-frames (the demo's video, frames presented out of
	// decode order) is refused with the reason, so players use another
	// transport.
	var video media.Track
	for _, tr := range p.hub.Stream("show/main").Info().Tracks {
		if tr.Kind == media.KindVideo {
			video = *tr
		}
	}
	video.ID = 1
	pub, err := p.hub.Publish("show/bframes")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.SetTracks([]*media.Track{&video}); err != nil {
		t.Fatal(err)
	}
	for i, pts := range []int64{0, 3, 1, 2} { // I P B B
		if err := pub.WriteFrame(&media.Frame{Track: 0, DTS: int64(i) * 3000, PTS: pts * 3000, Key: i == 0, Data: []byte{0, 0, 0, 1, 0x65}}); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := p.post(t, "/whep/show/bframes", "application/sdp", good)
	if resp.StatusCode != http.StatusNotAcceptable || !strings.Contains(body, "no_compatible_codec") || !strings.Contains(body, "B-frames") {
		t.Errorf("B-frame stream: %d %s; want 406 no_compatible_codec saying why", resp.StatusCode, body)
	}
	if n := p.whep.Stats().Sessions; n != 0 {
		t.Errorf("%d sessions after refused offers", n)
	}
	if n := whep.HeldSSRCs(p.whep); n != 0 {
		t.Errorf("%d SSRCs held after refused offers", n)
	}

	// Unknown session resources.
	for _, m := range []string{http.MethodDelete, http.MethodPatch} {
		req, _ := http.NewRequest(m, p.url+"/whep/session/0123", strings.NewReader(""))
		req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s unknown session: %d", m, resp.StatusCode)
		}
	}
	// CORS preflight.
	req, _ := http.NewRequest(http.MethodOptions, p.url+"/whep/show/main", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestSessionEnds: a session ends and is cleaned up when its peer closes,
// when its peer never connects, and when the handler closes.
func TestSessionEnds(t *testing.T) {
	webrtctest.CheckLeaks(t)
	p := newPipeline(t, false)
	p.publishDemo(t, "demo")
	p.waitTracks(t, "demo", 2)

	// Peer closes: DTLS close_notify ends the session.
	c := newClient(t, clientOpts{})
	c.play(p.url, "demo")
	if err := wait(c.connected, 10*time.Second); err != nil {
		t.Fatal("never connected")
	}
	webrtctest.WaitFor(t, 10*time.Second, "video", func() bool { return c.videoFrames.Load() > 5 })
	c.pc.Close()
	webrtctest.WaitFor(t, 10*time.Second, "the session to end after the peer closed", func() bool { return p.whep.Stats().Sessions == 0 })

	// Handler closes with a session open.
	c2 := newClient(t, clientOpts{})
	c2.play(p.url, "demo")
	if err := wait(c2.connected, 10*time.Second); err != nil {
		t.Fatal("never connected")
	}
	if n := p.whep.Stats().Sessions; n != 1 {
		t.Fatalf("%d sessions", n)
	}
	p.whep.Close()
	if n := p.whep.Stats().Sessions; n != 0 {
		t.Errorf("after Close: %d sessions", n)
	}
	resp, _ := p.post(t, "/whep/demo", "application/sdp", newClient(t, clientOpts{}).offer())
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST after Close: %d", resp.StatusCode)
	}
}

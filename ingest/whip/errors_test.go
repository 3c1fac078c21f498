package whip_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/liveloop/liveloop/ingest/whip"
	"github.com/liveloop/liveloop/internal/webrtctest"
	"github.com/liveloop/liveloop/media"
)

// pionOffer returns an SDP offer of a pion peer that sends video (and
// audio) in the given codecs.
func pionOffer(t *testing.T, video webrtc.RTPCodecCapability) string {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: video, PayloadType: 96}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	pc := webrtctest.NewPeerConnection(t, me)
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

var h264Cap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
	SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}

// TestErrors: every refused offer gets a clear 4xx with a stable code,
// and leaves no session and no stream behind.
func TestErrors(t *testing.T) {
	webrtctest.CheckLeaks(t)
	p := newPipeline(t, whip.Config{})
	good := pionOffer(t, h264Cap)
	vp8 := pionOffer(t, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000})
	sdpType := map[string]string{"Content-Type": "application/sdp", "Authorization": "Bearer s1"}
	cases := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		body   string
		status int
		code   string
	}{
		{"bad SDP", "POST", "/whip/s1", sdpType, "hello", 400, "bad_sdp"},
		{"SDP pion refuses", "POST", "/whip/s1", sdpType, "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\n", 400, "bad_sdp"},
		{"no bearer", "POST", "/whip/s1", map[string]string{"Content-Type": "application/sdp"}, good, 401, "unauthorized"},
		{"wrong key", "POST", "/whip/s1", map[string]string{"Content-Type": "application/sdp", "Authorization": "Bearer nope"}, good, 403, "forbidden"},
		{"not SDP", "POST", "/whip/s1", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer s1"}, good, 415, "unsupported_media_type"},
		{"no H.264", "POST", "/whip/s1", sdpType, vp8, 406, "no_compatible_codec"},
		{"unknown session", "DELETE", "/whip/session/abc", nil, "", 404, "session_not_found"},
		{"GET", "GET", "/whip/s1", nil, "", 405, "method_not_allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := webrtctest.Do(t, c.method, p.url+c.path, c.hdr, c.body)
			var e struct{ Error, Message string }
			json.Unmarshal([]byte(body), &e)
			if resp.StatusCode != c.status || e.Error != c.code {
				t.Errorf("%d %q, want %d %q (%s)", resp.StatusCode, e.Error, c.status, c.code, body)
			}
		})
	}
	if st := p.whip.Stats(); st.Sessions != 0 || st.SessionsTotal != 0 || int(st.Rejected) != len(cases) {
		t.Errorf("stats %+v", st)
	}
	if p.hub.Stream("s1") != nil {
		t.Error("a refused offer opened the stream")
	}

	// CORS preflight.
	resp, _ := webrtctest.Do(t, "OPTIONS", p.url+"/whip/s1", map[string]string{"Origin": "http://elsewhere", "Access-Control-Request-Method": "POST"}, "")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		resp.Header.Get("Access-Control-Allow-Headers") == "" {
		t.Errorf("OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestBusy: a stream the hub refuses is 409 busy, with nothing left
// behind; a good offer makes a session that DELETE ends, closing its Sink.
func TestBusy(t *testing.T) {
	webrtctest.CheckLeaks(t)
	var busy atomic.Bool
	busy.Store(true)
	var p *pipeline
	p = newPipeline(t, whip.Config{Authorize: whip.OpenAuthorize, Publish: func(s string) (media.Sink, error) {
		if busy.Load() {
			return nil, errors.New("stream already has a publisher")
		}
		pub, err := p.hub.Publish(s)
		if err != nil {
			return nil, err
		}
		rs := &recordingSink{Sink: pub}
		p.mu.Lock()
		p.sinks = append(p.sinks, rs)
		p.mu.Unlock()
		return rs, nil
	}})
	hdr := map[string]string{"Content-Type": "application/sdp", "Authorization": "Bearer anything"}
	resp, body := webrtctest.Do(t, "POST", p.url+"/whip/s2", hdr, pionOffer(t, h264Cap))
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if st := p.whip.Stats(); st.Sessions != 0 {
		t.Errorf("stats %+v", st)
	}
	busy.Store(false)
	resp, body = webrtctest.Do(t, "POST", p.url+"/whip/s2", hdr, pionOffer(t, h264Cap))
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Content-Type") != "application/sdp" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if p.whip.Stats().Sessions != 1 {
		t.Fatal("no session")
	}
	// Another publisher takes the stream over: the hub closes the
	// session's Done, and the session ends.
	other, err := p.hub.Publish("s2")
	if err != nil {
		t.Fatal(err)
	}
	webrtctest.WaitFor(t, 5*time.Second, "the session to end after a takeover", func() bool { return p.whip.Stats().Sessions == 0 })
	if _, _, closed := p.sink(0).snapshot(); !closed {
		t.Error("Sink not closed after takeover")
	}
	other.Close()

	resp, body = webrtctest.Do(t, "POST", p.url+"/whip/s2", hdr, pionOffer(t, h264Cap))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if resp, _ := webrtctest.Do(t, "DELETE", p.url+loc, nil, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	if st := p.whip.Stats(); st.Sessions != 0 {
		t.Errorf("after DELETE: %+v", st)
	}
	if _, _, closed := p.sink(1).snapshot(); !closed {
		t.Error("Sink not closed")
	}
}

package resource_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/liveloop/liveloop/internal/fakeclock"
	"github.com/liveloop/liveloop/internal/webrtctest"
	"github.com/liveloop/liveloop/webrtcapi/resource"
)

var (
	errGone   = errors.New("test: stream gone")
	errKey    = errors.New("test: bad key")
	errBroken = errors.New("test: broken")
)

// peer is a protocol that takes any offer with audio, answers it as it
// is, and counts its calls.
type peer struct {
	t                       *testing.T
	s                       *resource.Session
	startErr                error
	started, ended, workers atomic.Int32
}

func (p *peer) Negotiate(s *resource.Session) error {
	p.s = s
	return s.ApplyOffer()
}

func (p *peer) Start() error {
	if p.startErr != nil {
		return p.startErr
	}
	p.started.Add(1)
	p.s.Go(func() {
		<-p.s.Context().Done()
		p.workers.Add(1)
	})
	return nil
}

func (p *peer) Ended() { p.ended.Add(1) }

// server is a resource.Server on an httptest server, with the peers it
// accepted.
type server struct {
	srv   *resource.Server
	url   string
	peers chan *peer
	clock *fakeclock.Clock // the server's Config.Now
}

func newServer(t *testing.T, timeout time.Duration, startErr error) *server {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s := &server{peers: make(chan *peer, 10), clock: fakeclock.New(time.Now())}
	var err error
	s.srv, err = resource.New(resource.Config{
		Name:   "test",
		Prefix: "/test/",
		API:    webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)),
		Accept: func(o *resource.Offer) (resource.Peer, error) {
			switch {
			case o.Stream == "gone":
				return nil, fmt.Errorf("%w: %q", errGone, o.Stream)
			case o.Stream == "broken":
				return nil, errBroken
			case o.Audio == nil:
				return nil, fmt.Errorf("test: %w: no audio", resource.ErrNoCodec)
			}
			p := &peer{t: t, startErr: startErr}
			s.peers <- p
			return p, nil
		},
		Authorize: func(r *http.Request, stream string) (string, error) {
			if r.Header.Get("Authorization") == "no" {
				return "", errKey
			}
			return strings.TrimPrefix(stream, "alias/"), nil
		},
		Codes: []resource.Code{
			{Err: errGone, Status: http.StatusNotFound, Code: "not_found"},
			{Err: errKey, Status: http.StatusForbidden, Code: "forbidden", Message: "no", Header: http.Header{"Www-Authenticate": {"Bearer"}}},
		},
		ConnectTimeout: timeout,
		Now:            s.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.srv)
	s.url = hs.URL
	t.Cleanup(func() {
		hs.Close()
		s.srv.Close()
	})
	return s
}

// audioOffer returns the offer of a pion peer that receives audio.
func audioOffer(t *testing.T) string {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc := webrtctest.NewPeerConnection(t, me)
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	return webrtctest.GatheredOffer(t, pc)
}

const noAudio = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"

// TestErrors: every refused request gets its status, a stable code and a
// message in JSON, the CORS header, and counts as rejected; none leaves a
// session behind.
func TestErrors(t *testing.T) {
	webrtctest.CheckLeaks(t)
	s := newServer(t, time.Minute, nil)
	sdpType := map[string]string{"Content-Type": "application/sdp"}
	cases := []struct {
		name, method, path string
		hdr                map[string]string
		body               string
		status             int
		code, message      string
		allow              string
	}{
		{"no stream", "POST", "/test/", sdpType, "", 404, "not_found", "no stream in the path", ""},
		{"other prefix", "POST", "/other/x", sdpType, "", 404, "not_found", "no stream in the path", ""},
		{"not SDP", "POST", "/test/s", map[string]string{"Content-Type": "text/plain"}, "v=0", 415, "unsupported_media_type", "", ""},
		{"bad SDP", "POST", "/test/s", sdpType, "hello", 400, "bad_sdp", "test: bad SDP offer: ", ""},
		{"refused by Authorize", "POST", "/test/s", map[string]string{"Content-Type": "application/sdp", "Authorization": "no"}, "hello", 403, "forbidden", "no", ""},
		{"Accept: protocol code", "POST", "/test/alias/gone", sdpType, noAudio, 404, "not_found", `test: stream gone: "gone"`, ""},
		{"Accept: ErrNoCodec", "POST", "/test/s", sdpType, noAudio, 406, "no_compatible_codec", "test: no compatible codec: no audio", ""},
		{"Accept: other error", "POST", "/test/broken", sdpType, noAudio, 500, "internal", "session setup failed", ""},
		{"POST to a session", "POST", "/test/session/abc", sdpType, noAudio, 405, "method_not_allowed", "", "PATCH, DELETE, OPTIONS"},
		{"GET", "GET", "/test/s", nil, "", 405, "method_not_allowed", "", "POST, OPTIONS"},
		{"DELETE a stream", "DELETE", "/test/s", nil, "", 405, "method_not_allowed", "", "POST, OPTIONS"},
		{"DELETE unknown", "DELETE", "/test/session/abc", nil, "", 404, "session_not_found", "no such session", ""},
		{"PATCH unknown", "PATCH", "/test/session/abc", map[string]string{"Content-Type": "application/trickle-ice-sdpfrag"}, "", 404, "session_not_found", "", ""},
	}
	rejected := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := webrtctest.Do(t, tc.method, s.url+tc.path, tc.hdr, tc.body)
			var e struct{ Error, Message string }
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if resp.StatusCode != tc.status || e.Error != tc.code || e.Message == "" || !strings.HasPrefix(e.Message, tc.message) {
				t.Errorf("%d %+v; want %d %q %q...", resp.StatusCode, e, tc.status, tc.code, tc.message)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Error("no CORS header")
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			if tc.code == "forbidden" && resp.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Error("the code's header is missing")
			}
		})
		if tc.status < 500 {
			rejected++
		}
	}
	if st := s.srv.Stats(); st.Sessions != 0 || st.Total != 0 || st.Rejected != uint64(rejected) {
		t.Errorf("stats %+v, want %d rejected", st, rejected)
	}

	resp, _ := webrtctest.Do(t, "OPTIONS", s.url+"/test/s", map[string]string{"Access-Control-Request-Method": "POST"}, "")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") || resp.Header.Get("Accept-Post") != "application/sdp" {
		t.Errorf("OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestLifeCycle: an accepted offer gets 201 with the answer and its
// resource; PATCH takes candidates; DELETE ends the session, waits for its
// worker and calls Ended once; a session whose peer never connects ends
// at the connect timeout; a refused Start and Close leave nothing behind.
func TestLifeCycle(t *testing.T) {
	webrtctest.CheckLeaks(t)
	s := newServer(t, 300*time.Millisecond, nil)
	hdr := map[string]string{"Content-Type": "application/sdp"}

	resp, body := webrtctest.Do(t, "POST", s.url+"/test/alias/a%2Fb", hdr, audioOffer(t))
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Content-Type") != "application/sdp" || !strings.HasPrefix(body, "v=0") {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}
	p := <-s.peers
	loc := resp.Header.Get("Location")
	if loc != "/test/session/"+p.s.ID() || resp.Header.Get("ETag") != `"`+p.s.ID()+`"` ||
		resp.Header.Get("Accept-Patch") != "application/trickle-ice-sdpfrag" {
		t.Errorf("headers %v", resp.Header)
	}
	if p.s.Stream() != "a/b" {
		t.Errorf("stream %q, want the one Authorize chose", p.s.Stream())
	}
	if !strings.Contains(body, "a=candidate:") {
		t.Error("the answer has no candidates")
	}
	if st := s.srv.Stats(); st.Sessions != 1 || st.Total != 1 || p.started.Load() != 1 {
		t.Errorf("stats %+v, started %d", st, p.started.Load())
	}

	frag := "a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"
	if resp, body := webrtctest.Do(t, "PATCH", s.url+loc, map[string]string{"Content-Type": "application/sdp"}, frag); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("PATCH as SDP: %d %s", resp.StatusCode, body)
	}
	if resp, body := webrtctest.Do(t, "PATCH", s.url+loc, map[string]string{"Content-Type": "application/trickle-ice-sdpfrag"}, frag); resp.StatusCode != http.StatusNoContent {
		t.Errorf("PATCH: %d %s", resp.StatusCode, body)
	}
	if resp, body := webrtctest.Do(t, "PATCH", s.url+loc, map[string]string{"Content-Type": "application/trickle-ice-sdpfrag"}, "a=candidate:nonsense\r\n"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("PATCH of a bad candidate: %d %s", resp.StatusCode, body)
	}

	if resp, _ := webrtctest.Do(t, "DELETE", s.url+loc, nil, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	// DELETE returns once the session is cleaned up.
	if st := s.srv.Stats(); st.Sessions != 0 || p.ended.Load() != 1 || p.workers.Load() != 1 {
		t.Errorf("after DELETE: %+v, ended %d, workers %d", st, p.ended.Load(), p.workers.Load())
	}
	if cause := p.s.Context().Err(); cause == nil {
		t.Error("the session's context is not done")
	}
	if resp, _ := webrtctest.Do(t, "DELETE", s.url+loc, nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("second DELETE: %d", resp.StatusCode)
	}

	// A peer that never connects.
	if resp, body := webrtctest.Do(t, "POST", s.url+"/test/late", hdr, audioOffer(t)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	p = <-s.peers
	webrtctest.WaitFor(t, 5*time.Second, "the connect timeout", func() bool { return s.srv.Stats().Sessions == 0 })
	if st := s.srv.Stats(); st.Timeouts != 1 || p.ended.Load() != 1 || p.workers.Load() != 1 {
		t.Errorf("after the timeout: %+v, ended %d, workers %d", st, p.ended.Load(), p.workers.Load())
	}

	// Close ends an open session, and refuses offers afterwards.
	if resp, _ := webrtctest.Do(t, "POST", s.url+"/test/open", hdr, audioOffer(t)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	p = <-s.peers
	s.srv.Close()
	if st := s.srv.Stats(); st.Sessions != 0 || p.ended.Load() != 1 || p.workers.Load() != 1 {
		t.Errorf("after Close: %+v, ended %d, workers %d", st, p.ended.Load(), p.workers.Load())
	}
	resp, body = webrtctest.Do(t, "POST", s.url+"/test/more", hdr, audioOffer(t))
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "shutting_down") {
		t.Errorf("POST after Close: %d %s", resp.StatusCode, body)
	}
}

// TestStartRefused: an error of Peer.Start refuses the offer, and Ended
// still runs.
func TestStartRefused(t *testing.T) {
	webrtctest.CheckLeaks(t)
	s := newServer(t, time.Minute, fmt.Errorf("test: %w: busy", resource.ErrNoCodec))
	resp, body := webrtctest.Do(t, "POST", s.url+"/test/s", map[string]string{"Content-Type": "application/sdp"}, audioOffer(t))
	if resp.StatusCode != http.StatusNotAcceptable {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	p := <-s.peers
	if st := s.srv.Stats(); st.Sessions != 0 || st.Total != 0 || p.ended.Load() != 1 || p.started.Load() != 0 {
		t.Errorf("stats %+v, ended %d", st, p.ended.Load())
	}
}

func TestNewRequires(t *testing.T) {
	_, err := resource.New(resource.Config{Prefix: "/x"})
	if !errors.Is(err, resource.ErrConfig) || !strings.Contains(err.Error(), "Name, API, Accept") {
		t.Errorf("%v", err)
	}
}

// TestSharedCertificate: every session answers with the server's one DTLS
// certificate (its fingerprint), not one made for it, until the
// certificate has served a day; the next session gets a new one, which
// the sessions after it share.
func TestSharedCertificate(t *testing.T) {
	webrtctest.CheckLeaks(t)
	s := newServer(t, time.Minute, nil)
	hdr := map[string]string{"Content-Type": "application/sdp"}
	fingerprint := func() string {
		t.Helper()
		resp, body := webrtctest.Do(t, "POST", s.url+"/test/x", hdr, audioOffer(t))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		<-s.peers
		for line := range strings.Lines(body) {
			if v, ok := strings.CutPrefix(line, "a=fingerprint:"); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("no fingerprint in the answer:\n%s", body)
		return ""
	}
	first := fingerprint()
	s.clock.Advance(24*time.Hour - time.Second)
	if f := fingerprint(); f != first {
		t.Errorf("fingerprint %q within the day, want the first, %q", f, first)
	}
	s.clock.Advance(time.Second)
	renewed := fingerprint()
	if renewed == first {
		t.Errorf("fingerprint %q after a day: not renewed", renewed)
	}
	s.clock.Advance(time.Hour)
	if f := fingerprint(); f != renewed {
		t.Errorf("fingerprint %q, want the renewed one, %q", f, renewed)
	}
}

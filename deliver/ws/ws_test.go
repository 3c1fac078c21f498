package ws

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/fmp4"
	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/websocket"
)

// avcC of a 320x240 baseline stream (an SPS and a PPS from x264).
var testAVCC = []byte{0x01, 0x42, 0xc0, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0x99, 0x20, 0x01, 0x00, 0x04, 0x68, 0xcb, 0x83, 0xcb, 0x20}

type testStream struct {
	t   *testing.T
	hub *hub.Hub
	pub *hub.Publisher
	url string
	n   int
}

func newTestStream(t *testing.T) *testStream {
	t.Helper()
	h := hub.New(hub.Config{GracePeriod: time.Hour}, nil, nil)
	handler := New(Config{Hub: h})
	mux := http.NewServeMux()
	mux.Handle("GET /ws/{stream...}", handler)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		h.Close()
		handler.Close()
		srv.Close()
	})
	p, err := h.Publish("s")
	if err != nil {
		t.Fatal(err)
	}
	video := &media.Track{ID: 1, Kind: media.KindVideo, Codec: media.CodecH264, Config: testAVCC, CodecString: "avc1.42c00d", ClockRate: 90000, Width: 320, Height: 240}
	if err := p.SetTracks([]*media.Track{video}); err != nil {
		t.Fatal(err)
	}
	return &testStream{t: t, hub: h, pub: p, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/s"}
}

// frame publishes one video frame; every fifth is a keyframe.
func (s *testStream) frame() {
	s.t.Helper()
	i := int64(s.n)
	nal := []byte{0x41, 0x9a, byte(s.n)}
	if s.n%5 == 0 {
		nal[0] = 0x65
	}
	data := append([]byte{0, 0, 0, byte(len(nal))}, nal...)
	if err := s.pub.WriteFrame(&media.Frame{DTS: i * 3000, PTS: i * 3000, Key: s.n%5 == 0, Data: data, Wall: time.Now()}); err != nil {
		s.t.Fatal(err)
	}
	s.n++
}

type msg struct {
	Type, State, Code, Mime string
	bin                     []byte
}

func read(t *testing.T, c *websocket.Conn) msg {
	t.Helper()
	op, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if op == websocket.OpBinary {
		return msg{Type: "binary", bin: b}
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := websocket.Dial(ctx, url, websocket.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(websocket.CloseNormal, "") })
	return c
}

// TestViewerSession walks a viewer through the protocol of
// docs/ws-protocol.md: hello, status, init and its segment, media from the
// newest keyframe, a cue as an emsg, waiting when the publisher leaves, and
// ended with a normal close.
func TestViewerSession(t *testing.T) {
	s := newTestStream(t)
	for range 7 { // keyframe at 5: the viewer starts there
		s.frame()
	}
	c := dial(t, s.url)
	for _, want := range []string{"hello", "status", "init"} {
		if m := read(t, c); m.Type != want {
			t.Fatalf("got %q, want %q", m.Type, want)
		}
	}
	initSeg := read(t, c)
	if initSeg.Type != "binary" || !strings.Contains(string(initSeg.bin[:32]), "ftyp") {
		t.Fatal("no init segment after the init message")
	}
	media := read(t, c)
	frags, err := fmp4.ParseFragments(media.bin)
	if err != nil || len(frags) != 2 {
		t.Fatalf("first media: %d fragments, %v; want the GOP cache's 2 frames", len(frags), err)
	}
	if !fmp4.IsSync(frags[0].Tracks[0].Samples[0].Flags) || frags[0].Tracks[0].BaseDecodeTime != 5*3000 {
		t.Fatal("first media is not the newest keyframe")
	}
	if len(frags[0].PRFTs) != 1 {
		t.Fatal("video fragment without prft")
	}

	if _, err := s.hub.Stream("s").PostCue(hub.Cue{Type: "poll.opened", Data: json.RawMessage(`{"q":1}`)}); err != nil {
		t.Fatal(err)
	}
	s.frame()
	// The cue goes with the next frame, or alone if that frame is late
	// (AudioHold): either way the emsg comes before the frame's moof.
	buf := read(t, c).bin
	frags, err = fmp4.ParseFragments(buf)
	if err != nil {
		buf = append(buf, read(t, c).bin...)
		frags, err = fmp4.ParseFragments(buf)
	}
	if err != nil || len(frags) != 1 || len(frags[0].Events) != 1 {
		t.Fatalf("cue and next frame: %d fragments, %v", len(frags), err)
	}
	if e := frags[0].Events[0]; e.SchemeIDURI != CueScheme || e.Value != "poll.opened" || !strings.Contains(string(e.Data), `"payload":{"q":1}`) {
		t.Fatalf("emsg %+v", e)
	}

	s.pub.Close()
	if m := read(t, c); m.Type != "status" || m.State != "waiting" {
		t.Fatalf("after the publisher left: %+v", m)
	}
	s.hub.Close()
	if m := read(t, c); m.Type != "status" || m.State != "ended" {
		t.Fatalf("after the stream ended: %+v", m)
	}
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseNormal {
		t.Fatalf("close: %v", err)
	}
}

func TestUnknownStreamAndPing(t *testing.T) {
	s := newTestStream(t)
	c := dial(t, strings.TrimSuffix(s.url, "/s")+"/nope")
	read(t, c)
	if m := read(t, c); m.Type != "error" || m.Code != "not_found" {
		t.Fatalf("got %+v, want error not_found", m)
	}

	s.frame()
	c = dial(t, s.url)
	if err := c.WriteText([]byte(`{"type":"ping","clientTime":42.5}`)); err != nil {
		t.Fatal(err)
	}
	for {
		op, b, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if op != websocket.OpText {
			continue
		}
		var pong struct {
			Type       string
			ClientTime float64
			ServerTime float64
		}
		json.Unmarshal(b, &pong)
		if pong.Type == "pong" {
			now := float64(time.Now().UnixMilli())
			if pong.ClientTime != 42.5 || pong.ServerTime < now-5000 || pong.ServerTime > now+1 {
				t.Fatalf("pong %+v", pong)
			}
			return
		}
	}
}

func TestMimeType(t *testing.T) {
	v := &media.Track{Kind: media.KindVideo, CodecString: "avc1.64001f"}
	a := &media.Track{Kind: media.KindAudio, CodecString: "mp4a.40.2"}
	for _, tc := range []struct {
		tracks []*media.Track
		want   string
	}{
		{[]*media.Track{v, a}, `video/mp4; codecs="avc1.64001f,mp4a.40.2"`},
		{[]*media.Track{a}, `audio/mp4; codecs="mp4a.40.2"`},
	} {
		if got := MimeType(tc.tracks); got != tc.want {
			t.Errorf("MimeType = %s, want %s", got, tc.want)
		}
	}
}

package rtmp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveloop/liveloop/flv"
	"github.com/liveloop/liveloop/flv/amf0"
	"github.com/liveloop/liveloop/media"
)

// recordSink is a media.Sink that records everything, for tests.
type recordSink struct {
	stream string
	done   chan struct{}
	closed chan struct{}

	mu        sync.Mutex
	announced [][]*media.Track
	frames    []*media.Frame
	closeOnce sync.Once
}

func newRecordSink(stream string) *recordSink {
	return &recordSink{stream: stream, done: make(chan struct{}), closed: make(chan struct{})}
}

func (s *recordSink) SetTracks(t []*media.Track) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.announced = append(s.announced, t)
	return nil
}

func (s *recordSink) WriteFrame(f *media.Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, f)
	return nil
}

func (s *recordSink) Done() <-chan struct{} { return s.done }
func (s *recordSink) Close()                { s.closeOnce.Do(func() { close(s.closed) }) }

func (s *recordSink) snapshot() ([][]*media.Track, []*media.Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]*media.Track(nil), s.announced...), append([]*media.Frame(nil), s.frames...)
}

func (s *recordSink) track(i int) []*media.Frame {
	_, frames := s.snapshot()
	var out []*media.Frame
	for _, f := range frames {
		if f.Track == i {
			out = append(out, f)
		}
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("timed out waiting for %s", what)
	}
}

type testServer struct {
	*Server
	mu    sync.Mutex
	sinks map[string]*recordSink
}

func (ts *testServer) sink(name string) *recordSink {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.sinks[name]
}

// startServer runs a Server on 127.0.0.1:0 until the test ends, then
// checks that Run returned and left no goroutine behind.
func startServer(t *testing.T, publish func(string) (media.Sink, error)) *testServer {
	t.Helper()
	ts := &testServer{sinks: map[string]*recordSink{}}
	if publish == nil {
		publish = func(stream string) (media.Sink, error) {
			s := newRecordSink(stream)
			ts.mu.Lock()
			ts.sinks[stream] = s
			ts.mu.Unlock()
			return s, nil
		}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv, err := New(Config{Addr: "127.0.0.1:0", Publish: publish, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ts.Server = srv
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-runErr:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return")
		}
		checkNoLeaks(t)
	})
	return ts
}

// checkNoLeaks fails if a goroutine of this package is still running.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	var stacks string
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		leaked := false
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "ingest/rtmp.(*") && !strings.Contains(g, "checkNoLeaks") {
				leaked = true
			}
		}
		if !leaked {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("goroutines leaked:\n%s", stacks)
}

func (ts *testServer) url(key string) string {
	return "rtmp://" + ts.Addr().String() + "/live/" + key
}

// readTestFile reads the FLV test file shared with package flv.
func readTestFile(t *testing.T) []flv.Tag {
	t.Helper()
	f, err := os.Open("../../flv/testdata/testsrc.flv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := flv.ReadHeader(f); err != nil {
		t.Fatal(err)
	}
	var tags []flv.Tag
	r := flv.NewReader(f)
	for {
		tag, err := r.ReadTag()
		if err == io.EOF {
			return tags
		}
		if err != nil {
			t.Fatal(err)
		}
		tags = append(tags, tag)
	}
}

func TestClientPublishesToServer(t *testing.T) {
	ts := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, ts.url("cam1?token=abc"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMetadata(amf0.ECMAArray{{Key: "videocodecid", Value: 7.0}, {Key: "audiocodecid", Value: 10.0}}); err != nil {
		t.Fatal(err)
	}
	for _, tag := range readTestFile(t) {
		if tag.Type == flv.TagScript {
			continue
		}
		if err := c.WriteTag(tag.Type, tag.Timestamp, tag.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	sink := ts.sink("cam1")
	if sink == nil {
		t.Fatal("no publish for stream cam1")
	}
	waitClosed(t, sink.closed, 5*time.Second, "Sink.Close")
	announced, _ := sink.snapshot()
	if len(announced) != 1 || len(announced[0]) != 2 {
		t.Fatalf("announcements %v", announced)
	}
	if v := announced[0][0]; v.Width != 160 || v.Height != 90 {
		t.Fatalf("video %+v", v)
	}
	if n := len(sink.track(0)); n != 30 {
		t.Fatalf("%d video frames, want 30", n)
	}
	if n := len(sink.track(1)); n < 40 {
		t.Fatalf("%d audio frames", n)
	}
	st := ts.Stats()
	if st.Published != 1 || st.BytesIn < 40000 || st.MessagesIn < 70 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPublishRefused(t *testing.T) {
	busy := errors.New("stream busy")
	ts := startServer(t, func(stream string) (media.Sink, error) { return nil, busy })
	for _, c := range []struct {
		name, url, code string
	}{
		{"hook refuses", "/live/taken", "NetStream.Publish.BadName"},
		{"wrong app", "/other/key", "NetStream.Publish.Unauthorized"},
		{"empty key", "/live/?x=1", "NetStream.Publish.Unauthorized"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cl, err := Dial(ctx, "rtmp://"+ts.Addr().String()+c.url)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			err = cl.Publish(ctx)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.code) {
				t.Fatalf("got %v, want refusal %s", err, c.code)
			}
		})
	}
	if st := ts.Stats(); st.Refused != 3 || st.Published != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSinkDoneDisconnects(t *testing.T) {
	ts := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, ts.url("show"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	sink := ts.sink("show")
	close(sink.done) // the hub hands the stream to someone else
	waitClosed(t, c.Done(), 5*time.Second, "client disconnect")
	waitClosed(t, sink.closed, 5*time.Second, "Sink.Close")
}

func TestServerStopClosesSessions(t *testing.T) {
	ts := &testServer{sinks: map[string]*recordSink{}}
	srv, err := New(Config{Addr: "127.0.0.1:0", Publish: func(s string) (media.Sink, error) {
		sk := newRecordSink(s)
		ts.mu.Lock()
		ts.sinks[s] = sk
		ts.mu.Unlock()
		return sk, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ts.Server = srv
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- srv.Run(ctx) }()
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	c, err := Dial(dctx, ts.url("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(dctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "one session", func() bool { return len(srv.Sessions()) == 1 && srv.Sessions()[0].Stream == "x" })
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c.Done(), 5*time.Second, "client disconnect")
	waitClosed(t, ts.sink("x").closed, time.Second, "Sink.Close")
	if n := srv.Stats().Active; n != 0 {
		t.Fatalf("%d sessions after Run", n)
	}
	checkNoLeaks(t)
}

func TestDeadPublisherTimesOut(t *testing.T) {
	srv, err := New(Config{Addr: "127.0.0.1:0", ReadTimeout: 200 * time.Millisecond,
		Publish: func(s string) (media.Sink, error) { return newRecordSink(s), nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- srv.Run(ctx) }()
	defer func() { cancel(); <-runErr; checkNoLeaks(t) }()
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	c, err := Dial(dctx, "rtmp://"+srv.Addr().String()+"/live/quiet")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(dctx); err != nil {
		t.Fatal(err)
	}
	// The client sends nothing more: the server must hang up.
	waitClosed(t, c.Done(), 5*time.Second, "server hang-up")
}

// TestPingAndAcknowledgement speaks raw protocol control messages to the
// server: a Ping Request gets a Ping Response, and once the bytes sent pass
// the window the client announced, the server acknowledges them.
func TestPingAndAcknowledgement(t *testing.T) {
	ts := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, ts.url("k"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	for _, m := range []*Message{WindowAckSizeMessage(100), UserControlMessage(EventPingRequest, 4242)} {
		if err := c.cw.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	var pong, ack bool
	for !pong || !ack {
		m, err := c.cr.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		switch m.Type {
		case TypeUserControl:
			ev, v, _ := ParseUserControl(m.Payload)
			pong = pong || (ev == EventPingResponse && v == 4242)
		case TypeAcknowledgement:
			n, _ := ParseU32(m.Payload)
			ack = n >= 100
		}
	}
}

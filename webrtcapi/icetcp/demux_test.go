package icetcp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/liveloop/liveloop/internal/webrtctest"
)

// newDemux starts a Demux on a free loopback port with an HTTP server on
// its Other listener, all stopped when the test ends.
func newDemux(t *testing.T, cfg Config) *Demux {
	t.Helper()
	webrtctest.CheckLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(ln, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(d.Other()) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
		d.Close()
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.pending) != 0 {
			t.Errorf("%d connections still pending after Close", len(d.pending))
		}
	})
	return d
}

func dial(t *testing.T, d *Demux) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", d.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitClosed fails the test unless the server closes c within d.
func waitClosed(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

func httpGet(t *testing.T, d *Demux) {
	t.Helper()
	resp, err := http.Get("http://" + d.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || string(b) != "ok" {
		t.Fatalf("GET: %s %q", resp.Status, b)
	}
}

func TestDemuxRoutes(t *testing.T) {
	d := newDemux(t, Config{PeekTimeout: 5 * time.Second})
	httpGet(t, d)

	// An ICE-TCP connection whose first frame arrives in pieces reaches
	// the ICE listener untouched: the same *net.TCPConn, every byte.
	bind := bindingRequest(t)
	c := dial(t, d)
	accepted := make(chan net.Conn, 1)
	go func() {
		ac, err := d.ICE().Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- ac
	}()
	for _, piece := range [][]byte{bind[:3], bind[3:9], bind[9:]} {
		if _, err := c.Write(piece); err != nil {
			t.Fatal(err)
		}
	}
	ac := <-accepted
	if ac == nil {
		t.FailNow()
	}
	defer ac.Close()
	if _, ok := ac.(*net.TCPConn); !ok {
		t.Errorf("ICE connection is a %T, want *net.TCPConn", ac)
	}
	got := make([]byte, len(bind))
	ac.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(ac, got); err != nil || !bytes.Equal(got, bind) {
		t.Fatalf("ICE side read %x, %v; want %x", got, err, bind)
	}
	httpGet(t, d)
	if st := d.Stats(); st.ICE != 1 || st.Other == 0 || st.Unclassified != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestDemuxClosesUndecided(t *testing.T) {
	d := newDemux(t, Config{PeekTimeout: 200 * time.Millisecond})
	silent := dial(t, d)
	partial := dial(t, d)
	partial.Write(bindingRequest(t)[:5])
	waitClosed(t, silent, 5*time.Second)
	waitClosed(t, partial, 5*time.Second)
	// Garbage that is not ICE is HTTP's to refuse.
	garbage := dial(t, d)
	garbage.Write([]byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\r\n\r\n"))
	waitClosed(t, garbage, 5*time.Second)
	httpGet(t, d)
	webrtctest.WaitFor(t, 5*time.Second, "two unclassified", func() bool { return d.Stats().Unclassified == 2 })
}

func TestDemuxICEQueueFull(t *testing.T) {
	d := newDemux(t, Config{QueueLen: 1})
	bind := bindingRequest(t)
	first := dial(t, d)
	first.Write(bind)
	webrtctest.WaitFor(t, 5*time.Second, "the first ICE connection queued", func() bool { return d.Stats().ICE == 1 })
	second := dial(t, d)
	second.Write(bind)
	waitClosed(t, second, 5*time.Second)
	if st := d.Stats(); st.Dropped != 1 {
		t.Errorf("stats %+v, want one dropped", st)
	}
	// Close closes the queued one, never accepted.
	d.Close()
	waitClosed(t, first, 5*time.Second)
	if _, err := d.ICE().Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
}

// A connection being classified holds one of MaxPending slots: with one
// slot, an HTTP request waits for a silent connection's PeekTimeout.
func TestDemuxMaxPending(t *testing.T) {
	d := newDemux(t, Config{MaxPending: 1, PeekTimeout: 300 * time.Millisecond})
	silent := dial(t, d)
	webrtctest.WaitFor(t, 5*time.Second, "the silent connection pending", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.pending) == 1
	})
	httpGet(t, d)
	silent.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the silent connection was not closed before the HTTP request was served: %v", err)
	}
}

// Close does not wait for PeekTimeout: it closes the connections being
// classified.
func TestDemuxCloseWhilePeeking(t *testing.T) {
	d := newDemux(t, Config{PeekTimeout: time.Hour})
	c := dial(t, d)
	webrtctest.WaitFor(t, 5*time.Second, "the connection pending", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.pending) == 1
	})
	d.Close()
	waitClosed(t, c, 5*time.Second)
}

package whep_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/liveloop/liveloop/deliver/whep"
	"github.com/liveloop/liveloop/internal/webrtctest"
)

// TestViewersJoinAndLeave: viewers join and leave a stream's live writer
// in any order, some at once, while the others keep getting frames; the
// writer stops when the last leaves and starts again for the next; the
// end of the stream ends its sessions; no goroutine outlives them.
func TestViewersJoinAndLeave(t *testing.T) {
	webrtctest.CheckLeaks(t)
	p := newPipeline(t, false)
	p.publishDemo(t, "demo")
	p.waitTracks(t, "demo", 2)

	join := func(n int) []*whepClient {
		t.Helper()
		cs := make([]*whepClient, n)
		for i := range cs {
			cs[i] = newClient(t, clientOpts{})
		}
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Go(func() { c.play(p.url, "demo") })
		}
		wg.Wait()
		for _, c := range cs {
			if err := wait(c.connected, 10*time.Second); err != nil {
				t.Fatal("never connected")
			}
		}
		return cs
	}
	leave := func(cs ...*whepClient) {
		t.Helper()
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Go(func() {
				if code := c.delete(p.url); code != http.StatusOK {
					t.Errorf("DELETE: %d", code)
				}
			})
		}
		wg.Wait()
	}
	// receiving waits until each of cs has had 15 more video frames.
	receiving := func(what string, cs ...*whepClient) {
		t.Helper()
		vs := make([]int64, len(cs))
		for i, c := range cs {
			vs[i] = c.videoFrames.Load()
		}
		webrtctest.WaitFor(t, 10*time.Second, what, func() bool {
			for i, c := range cs {
				if c.videoFrames.Load() < vs[i]+15 {
					return false
				}
			}
			return true
		})
	}
	// viewers waits until the live writers serve n viewers. DELETE has
	// already waited for the writer to let go of the session (its hold).
	viewers := func(n int) {
		t.Helper()
		webrtctest.WaitFor(t, 10*time.Second, fmt.Sprint(n, " viewers served"), func() bool { return whep.LiveViewers(p.whep) == n })
	}
	sessions := func(n int) {
		t.Helper()
		webrtctest.WaitFor(t, 10*time.Second, fmt.Sprint(n, " sessions"), func() bool { return p.whep.Stats().Sessions == n })
	}

	a := join(1)[0]
	receiving("the first viewer's frames", a)
	bcd := join(3) // at once
	b, c, d := bcd[0], bcd[1], bcd[2]
	receiving("frames for all four", a, b, c, d)
	if n := whep.LiveWriters(p.whep); n != 1 {
		t.Fatalf("%d live writers for one stream", n)
	}
	viewers(4)
	leave(a) // the first to join
	viewers(3)
	receiving("frames for the others after the first left", b, c, d)
	leave(c) // one in the middle, as two join
	ef := join(2)
	e, f := ef[0], ef[1]
	receiving("frames after one left and two joined", b, d, e, f)
	viewers(4)
	leave(f, b) // the last and the first at once
	receiving("frames for the two left", d, e)
	sessions(2)
	viewers(2)
	leave(d, e)
	sessions(0)
	webrtctest.WaitFor(t, 5*time.Second, "the live writer to stop", func() bool { return whep.LiveWriters(p.whep) == 0 })

	// The next viewer starts a writer again.
	g := join(1)[0]
	receiving("frames for a viewer after the writer stopped", g)
	if n := whep.LiveWriters(p.whep); n != 1 {
		t.Fatalf("%d live writers", n)
	}
	// The stream's end ends the session, and the writer stops.
	p.hub.Close()
	sessions(0)
	webrtctest.WaitFor(t, 5*time.Second, "the live writer to stop", func() bool { return whep.LiveWriters(p.whep) == 0 })
	if n := whep.HeldSSRCs(p.whep); n != 0 {
		t.Errorf("%d SSRCs held", n)
	}
}

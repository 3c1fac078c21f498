package whep_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/liveloop/liveloop/deliver/whep"
	"github.com/liveloop/liveloop/internal/webrtctest"
	"github.com/liveloop/liveloop/media/h264"
)

// TestICETCPOnHTTPPort: a viewer whose network carries TCP alone plays
// over ICE-TCP on the HTTP port: the answer's passive TCP candidate
// announces that port, the selected pair is TCP, the first frame is a
// keyframe, and the port still serves HTTP.
func TestICETCPOnHTTPPort(t *testing.T) {
	webrtctest.CheckLeaks(t)
	p := newPipeline(t, false)
	p.publishDemo(t, "demo")
	p.waitTracks(t, "demo", 2)
	_, httpPort, err := net.SplitHostPort(strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}

	c := newClient(t, clientOpts{noAudio: true, tcpOnly: true})
	c.play(p.url, "demo")
	if !hasTCPCandidate(c.answer, httpPort) {
		t.Fatalf("the answer has no passive TCP candidate on the HTTP port %s:\n%s", httpPort, c.answer)
	}
	// The listener is bound to loopback: no candidate names another of the
	// host's addresses, where nothing listens.
	for _, a := range tcpCandidateAddrs(c.answer) {
		if a != "127.0.0.1" {
			t.Errorf("a TCP candidate on %s; the listener is on 127.0.0.1", a)
		}
	}
	if err := wait(c.connected, 10*time.Second); err != nil {
		t.Fatal("peer never connected")
	}
	pair, err := c.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("selected pair %v, %v", pair, err)
	}
	if pair.Local.Protocol != webrtc.ICEProtocolTCP || fmt.Sprint(pair.Remote.Port) != httpPort {
		t.Errorf("selected pair %s, want TCP to port %s", pair, httpPort)
	}
	webrtctest.WaitFor(t, 10*time.Second, "30 video frames", func() bool { return c.videoFrames.Load() >= 30 })
	// Served by the stream's live writer, as over UDP.
	if n := whep.LiveViewers(p.whep); n != 1 {
		t.Errorf("an ICE-TCP viewer: %d viewers of live writers, want 1", n)
	}
	c.mu.Lock()
	first := c.firstNALs
	c.mu.Unlock()
	if !slices.Contains(first, h264.NALUTypeIDR) || !slices.Contains(first, h264.NALUTypeSPS) {
		t.Errorf("first frame's NAL unit types %v: want SPS, PPS and IDR", first)
	}

	resp, err := http.Get(p.url + "/whep/demo")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /whep/demo on the shared port: %s, want 405", resp.Status)
	}
	if code := c.delete(p.url); code != http.StatusOK {
		t.Errorf("DELETE: %d", code)
	}
}

// tcpCandidateAddrs returns the addresses of the TCP candidates in sdp.
func tcpCandidateAddrs(sdp string) []string {
	var out []string
	for _, line := range strings.Split(sdp, "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "a=candidate:"))
		if len(f) >= 6 && strings.HasPrefix(strings.TrimSpace(line), "a=candidate:") && strings.EqualFold(f[2], "tcp") {
			out = append(out, f[4])
		}
	}
	return out
}

// hasTCPCandidate reports whether sdp has a passive TCP host candidate on
// port.
func hasTCPCandidate(sdp, port string) bool {
	for _, line := range strings.Split(sdp, "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "a=candidate:"))
		// foundation component transport priority address port typ host tcptype passive
		if len(f) >= 10 && strings.EqualFold(f[2], "tcp") && f[5] == port && f[7] == "host" && f[8] == "tcptype" && f[9] == "passive" {
			return true
		}
	}
	return false
}

// TestUDPViewerReleasesICETCP: a viewer that connects over UDP while the
// server also offers ICE-TCP on the HTTP port has its passive TCP
// candidate closed once connected (no goroutine of pion's TCP mux waits on
// it any more), and plays on.
func TestUDPViewerReleasesICETCP(t *testing.T) {
	webrtctest.CheckLeaks(t)
	p := newPipeline(t, false)
	p.publishDemo(t, "demo")
	p.waitTracks(t, "demo", 2)
	_, httpPort, err := net.SplitHostPort(strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}

	c := newClient(t, clientOpts{noAudio: true})
	c.play(p.url, "demo")
	if !hasTCPCandidate(c.answer, httpPort) {
		t.Fatalf("the answer has no passive TCP candidate on the HTTP port %s:\n%s", httpPort, c.answer)
	}
	// The listener is bound to loopback: no candidate names another of the
	// host's addresses, where nothing listens.
	for _, a := range tcpCandidateAddrs(c.answer) {
		if a != "127.0.0.1" {
			t.Errorf("a TCP candidate on %s; the listener is on 127.0.0.1", a)
		}
	}
	if err := wait(c.connected, 10*time.Second); err != nil {
		t.Fatal("peer never connected")
	}
	pair, err := c.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Protocol != webrtc.ICEProtocolUDP {
		t.Fatalf("selected pair %v, %v: want UDP", pair, err)
	}
	webrtctest.WaitFor(t, 10*time.Second, "the TCP candidate closed", func() bool {
		return tcpMuxWaiters() == 0
	})
	frames := c.videoFrames.Load()
	webrtctest.WaitFor(t, 10*time.Second, "30 more video frames", func() bool { return c.videoFrames.Load() >= frames+30 })
	if n := whep.LiveViewers(p.whep); n != 1 {
		t.Errorf("a UDP viewer: %d viewers of live writers, want 1", n)
	}
	if code := c.delete(p.url); code != http.StatusOK {
		t.Errorf("DELETE: %d", code)
	}
}

// tcpMuxWaiters counts the goroutines with which pion's ICE-TCP mux waits
// for one of its candidate connections to close.
func tcpMuxWaiters() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "ice/v4.(*TCPMuxDefault).createConn.func1")
}

// Package webrtctest holds what the tests of Liveloop's WebRTC endpoints
// (deliver/whep, ingest/whip) share: pion peers set up to reach a server on
// the loopback interface, HTTP requests to its session resources, waiting
// on conditions with a deadline, and goroutine-leak checks.
package webrtctest

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// Logger returns a logger for a test's server: debug output on stderr if
// the environment variable env is set (e.g. WHEP_LOG=1), else nothing.
func Logger(env string) *slog.Logger {
	if os.Getenv(env) != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// NewPeerConnection returns a pion PeerConnection with the codecs of me
// that gathers UDP4 candidates on the loopback interface too, so it
// reaches a server listening on 127.0.0.1; each of configure may change
// its settings further (e.g. TCP4 alone, to connect to the server's
// passive ICE-TCP candidates from active ones as a browser whose network
// blocks UDP does). It is closed when the test ends.
func NewPeerConnection(t testing.TB, me *webrtc.MediaEngine, configure ...func(*webrtc.SettingEngine)) *webrtc.PeerConnection {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	for _, f := range configure {
		f(&se)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// GatheredOffer makes pc's offer, sets it as its local description and
// returns it once it holds all of pc's candidates (WHIP and WHEP clients
// send no trickle).
func GatheredOffer(t testing.TB, pc *webrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-g
	return pc.LocalDescription().SDP
}

// Do sends a request with the headers hdr and returns the response and
// its body.
func Do(t testing.TB, method, url string, hdr map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// WaitFor polls cond until it holds, or fails the test when d has passed.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// CheckLeaks fails the test if goroutines of pion or Liveloop outlive it
// (by 10 s at the most). Call it first, so that it runs after every other
// cleanup.
func CheckLeaks(t testing.TB) {
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			leaked := leakedGoroutines()
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// leakedGoroutines returns the stacks of the goroutines running pion's or
// Liveloop's code, but for the test framework's and this one.
func leakedGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "leakedGoroutines") || strings.Contains(g, "testing.tRunner") ||
			strings.Contains(g, "testing.(*T).Run") || strings.Contains(g, "testing.runTests") ||
			strings.Contains(g, "testing.(*M)") || strings.Contains(g, "testing.runFuzz") {
			continue
		}
		if strings.Contains(g, "github.com/pion/") || strings.Contains(g, "github.com/liveloop/") {
			out = append(out, g)
		}
	}
	return out
}

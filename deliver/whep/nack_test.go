package whep_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/liveloop/liveloop/internal/webrtctest"
)

// TestNACKRetransmits: a viewer that NACKs packets still in its
// retransmission history gets each again, identical to the first copy:
// sequence number, timestamp, marker, abs-capture-time and payload. The
// oldest asked for is about 100 packets back, so a history whose packets
// shared a reused header or payload buffer would show it.
func TestNACKRetransmits(t *testing.T) {
	webrtctest.CheckLeaks(t)
	p := newPipeline(t, false)
	p.publishDemo(t, "demo")
	p.waitTracks(t, "demo", 2)
	c := newClient(t, clientOpts{noAudio: true, keepRTP: true})
	c.play(p.url, "demo")
	if err := wait(c.connected, 10*time.Second); err != nil {
		t.Fatal("never connected")
	}
	webrtctest.WaitFor(t, 10*time.Second, "200 video packets", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.rtp) >= 200
	})
	c.mu.Lock()
	var ssrc uint32
	var newest uint16
	for seq, pkt := range c.rtp {
		ssrc = pkt.SSRC
		if int16(seq-newest) > 0 || newest == 0 {
			newest = seq
		}
	}
	// Ten recent packets and ten about 100 back (within the default
	// history of 128 packets).
	var want []uint16
	for _, back := range []uint16{100, 0} {
		for i := range uint16(10) {
			if _, ok := c.rtp[newest-back-i]; ok {
				want = append(want, newest-back-i)
			}
		}
	}
	c.mu.Unlock()
	var pairs []rtcp.NackPair
	for _, seq := range want {
		pairs = append(pairs, rtcp.NackPair{PacketID: seq})
	}
	if err := c.pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: pairs}}); err != nil {
		t.Fatal(err)
	}
	webrtctest.WaitFor(t, 5*time.Second, "the retransmissions", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		n := 0
		for _, r := range c.resent {
			if slices.Contains(want, r.SequenceNumber) {
				n++
			}
		}
		return n >= len(want)
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	withAbs := 0
	for _, r := range c.resent {
		if !slices.Contains(want, r.SequenceNumber) {
			continue
		}
		orig := c.rtp[r.SequenceNumber]
		if !sameRTP(&orig, &r) {
			t.Errorf("retransmission of %d differs:\n got  %v\n want %v", r.SequenceNumber, r.Header, orig.Header)
		}
		if len(orig.Extensions) > 0 {
			withAbs++
		}
	}
	if withAbs == 0 {
		t.Errorf("no retransmitted packet carried abs-capture-time (first packets of frames)")
	}
	if st := p.whep.Stats(); st.NACKs == 0 {
		t.Errorf("no NACK counted")
	}
}

func sameRTP(a, b *rtp.Packet) bool {
	if a.SequenceNumber != b.SequenceNumber || a.Timestamp != b.Timestamp || a.Marker != b.Marker ||
		a.PayloadType != b.PayloadType || !bytes.Equal(a.Payload, b.Payload) || len(a.Extensions) != len(b.Extensions) {
		return false
	}
	for _, id := range a.GetExtensionIDs() {
		if !bytes.Equal(a.GetExtension(id), b.GetExtension(id)) {
			return false
		}
	}
	return true
}

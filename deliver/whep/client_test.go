package whep_test

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/liveloop/liveloop/deliver/whep"
	"github.com/liveloop/liveloop/internal/webrtctest"
	"github.com/liveloop/liveloop/media/h264"
)

// whepClient is a WHEP player made with pion: it offers H.264 and Opus
// with abs-capture-time, and records what it receives.
type whepClient struct {
	t        *testing.T
	pc       *webrtc.PeerConnection
	location string
	answer   string

	connected chan struct{}
	mu        sync.Mutex
	firstNALs []uint8 // NAL unit types of the first video frame
	firstAt   time.Time
	connAt    time.Time
	latencies []time.Duration // now - abs-capture-time, video frames

	videoFrames, audioPackets atomic.Int64
	videoAbs, audioAbs        atomic.Int64
	frames                    []frameInfo // every video frame received

	keepRTP bool                  // record every video packet, opts.keepRTP
	rtp     map[uint16]rtp.Packet // video packets by sequence number, the first copy
	resent  []rtp.Packet          // video packets received again

	cueOpen chan struct{} // the cue channel opened, if opts.cues
	cueMsgs []string      // messages on the cue channel
}

type clientOpts struct {
	h264Fmtp []string // fmtp lines of the offered H.264 payload types
	noAudio  bool
	noVideo  bool
	cues     bool // open the cue data channel
	tcpOnly  bool // ICE over TCP alone, as on a network that blocks UDP
	keepRTP  bool // record the video packets and their retransmissions
}

func newClient(t *testing.T, o clientOpts) *whepClient {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if o.h264Fmtp == nil {
		// What Chromium offers first.
		o.h264Fmtp = []string{
			"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
			"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f",
			"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f",
		}
	}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	for i, f := range o.h264Fmtp {
		mime := webrtc.MimeTypeH264
		if strings.HasPrefix(f, "vp8") {
			mime, f = webrtc.MimeTypeVP8, ""
		}
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000, SDPFmtpLine: f, RTCPFeedback: fb},
			PayloadType:        webrtc.PayloadType(96 + i),
		}, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: whep.AbsCaptureTimeURI}, k)
	}
	pc := webrtctest.NewPeerConnection(t, me, func(se *webrtc.SettingEngine) {
		if o.tcpOnly {
			se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
		}
		// Retransmissions of packets received already must reach the
		// track, not be refused as replays.
		se.DisableSRTPReplayProtection(o.keepRTP)
	})
	c := &whepClient{t: t, pc: pc, connected: make(chan struct{}), keepRTP: o.keepRTP, rtp: map[uint16]rtp.Packet{}}
	if !o.noVideo {
		pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	}
	if !o.noAudio {
		pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	}
	if o.cues {
		c.cueOpen = make(chan struct{})
		dc, err := pc.CreateDataChannel(whep.CueChannel, nil)
		if err != nil {
			t.Fatal(err)
		}
		dc.OnOpen(func() { close(c.cueOpen) })
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			if !m.IsString {
				t.Errorf("binary message on the cue channel")
			}
			c.mu.Lock()
			c.cueMsgs = append(c.cueMsgs, string(m.Data))
			c.mu.Unlock()
		})
	}
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() {
				c.mu.Lock()
				c.connAt = time.Now()
				c.mu.Unlock()
				close(c.connected)
			})
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			c.readVideo(tr)
		} else {
			c.readAudio(tr)
		}
	})
	return c
}

// offer makes the client's offer, with all of its candidates.
func (c *whepClient) offer() string { return webrtctest.GatheredOffer(c.t, c.pc) }

// play POSTs the offer to url and applies the answer.
func (c *whepClient) play(base, stream string) {
	c.t.Helper()
	resp, err := http.Post(base+"/whep/"+stream, "application/sdp", strings.NewReader(c.offer()))
	if err != nil {
		c.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		c.t.Fatalf("POST: %s: %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" {
		c.t.Fatalf("answer Content-Type %q", ct)
	}
	c.location = resp.Header.Get("Location")
	if !strings.HasPrefix(c.location, "/whep/session/") {
		c.t.Fatalf("Location %q", c.location)
	}
	c.answer = string(body)
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: c.answer}); err != nil {
		c.t.Fatal(err)
	}
}

// extID returns the ID the answer gave an extension in the section of
// kind, or 0.
func (c *whepClient) extID(kind, uri string) uint8 {
	in := false
	for _, line := range strings.Split(c.answer, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "m=") {
			in = strings.HasPrefix(line, "m="+kind)
		}
		if v, ok := strings.CutPrefix(line, "a=extmap:"); ok && in && strings.HasSuffix(line, " "+uri) {
			id, _ := strconv.Atoi(strings.Fields(v)[0])
			return uint8(id)
		}
	}
	return 0
}

func (c *whepClient) readVideo(tr *webrtc.TrackRemote) {
	absID := c.extID("video", whep.AbsCaptureTimeURI)
	var dep codecs.H264Packet
	var frame []byte
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if c.keepRTP {
			c.mu.Lock()
			if _, seen := c.rtp[pkt.SequenceNumber]; seen {
				c.resent = append(c.resent, *pkt.Clone())
				c.mu.Unlock()
				continue
			}
			c.rtp[pkt.SequenceNumber] = *pkt.Clone()
			c.mu.Unlock()
		}
		if absID != 0 {
			if ext := pkt.GetExtension(absID); ext != nil {
				var a rtp.AbsCaptureTimeExtension
				if a.Unmarshal(ext) == nil {
					c.videoAbs.Add(1)
					c.mu.Lock()
					c.latencies = append(c.latencies, time.Since(a.CaptureTime()))
					c.mu.Unlock()
				}
			}
		}
		b, err := dep.Unmarshal(pkt.Payload)
		if err != nil {
			continue
		}
		frame = append(frame, b...)
		if !pkt.Marker {
			continue
		}
		var types []uint8
		for _, n := range h264.SplitAnnexB(frame) {
			types = append(types, h264.NALUType(n))
		}
		c.mu.Lock()
		if c.videoFrames.Add(1) == 1 {
			c.firstNALs = types
			c.firstAt = time.Now()
		}
		c.frames = append(c.frames, frameInfo{ts: pkt.Timestamp, types: types, at: time.Now()})
		c.mu.Unlock()
		frame = frame[:0]
	}
}

func (c *whepClient) readAudio(tr *webrtc.TrackRemote) {
	absID := c.extID("audio", whep.AbsCaptureTimeURI)
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if absID != 0 && pkt.GetExtension(absID) != nil {
			c.audioAbs.Add(1)
		}
		if len(pkt.Payload) > 0 {
			c.audioPackets.Add(1)
		}
	}
}

// delete ends the session with DELETE.
func (c *whepClient) delete(base string) int {
	req, _ := http.NewRequest(http.MethodDelete, base+c.location, nil)
	// Bounded: a session the server cannot finish fails the test rather
	// than hanging it. Error, not Fatal: tests call this from goroutines.
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		c.t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

var errTimeout = errors.New("timeout")

func wait(ch <-chan struct{}, d time.Duration) error {
	select {
	case <-ch:
		return nil
	case <-time.After(d):
		return errTimeout
	}
}

// frameInfo is a received video frame.
type frameInfo struct {
	ts    uint32
	types []uint8
	at    time.Time
}

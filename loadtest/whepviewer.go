package loadtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/transport/v4/stdnet"
	"github.com/pion/webrtc/v4"
)

// The WHEP viewer, as a browser plays over WebRTC: it offers receive-only
// H.264 (packetization-mode 1, the profiles Chromium offers) and Opus,
// POSTs the offer with all of its candidates to /whep/{stream}, applies
// the 201 answer, and reads both tracks: the video's RTP payloads just far
// enough to find each access unit's stamp SEI and IDR slices (rtpframe.go),
// the audio's packets counted. A frame's delivery latency is the arrival
// of its last packet (the RTP marker) minus the stamp's send time. At the
// end the viewer DELETEs its session resource, then closes its peer.
//
// All viewers share one webrtc.API and one DTLS certificate. Its
// SettingEngine gathers only loopback UDP4 host candidates, without mDNS,
// so gathering is immediate. Its sockets receive with UDP GRO on Linux
// (whepgro_linux.go): a run of packets the server sent with GSO arrives
// whole and the viewer cuts it into its packets, so the kernel's work per
// packet, which loopback charges to the server, is not counted as the
// server's. Each peer has a UDP socket of its own: pion's
// ICE UDP mux tells peers apart by their remote address, and every viewer
// talks to the server's one UDP port, so one client socket cannot carry
// more than one of them. The interceptors are a browser's minimum: NACK
// generator, receiver reports.

// whepAudience is the WHEP viewers of one point.
type whepAudience struct {
	cfg     *Config
	api     *webrtc.API
	cert    webrtc.Certificate
	tr      *http.Transport
	client  *http.Client
	base    string // http://host
	viewers []*whepViewer
}

// The H.264 profiles the viewer offers, Chromium's first ones.
var whepH264Profiles = []string{"42001f", "42e01f", "4d001f", "64001f"}

// absCaptureTimeURI is the header extension browsers negotiate, so the
// server's cost includes writing it.
const absCaptureTimeURI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"

// newWHEPAPI returns the webrtc.API that every viewer shares.
func newWHEPAPI() (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	for i, plid := range whepH264Profiles {
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: fb,
				SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + plid,
			},
			PayloadType: webrtc.PayloadType(96 + 2*i),
		}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: absCaptureTimeURI}, k); err != nil {
			return nil, err
		}
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(me, ir); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	ifs, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetNet(groNet{ifs}) // see whepgro_linux.go
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

func newWHEPAudience(cfg *Config, n int) (*whepAudience, error) {
	api, err := newWHEPAPI()
	if err != nil {
		return nil, fmt.Errorf("loadtest: WHEP media engine: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: cfg.ConnectTimeout}).DialContext,
		MaxIdleConns:        n + 16,
		MaxIdleConnsPerHost: n + 16,
		IdleConnTimeout:     90 * time.Second,
	}
	return &whepAudience{
		cfg: cfg, api: api, cert: *cert, tr: tr, client: &http.Client{Transport: tr},
		base: "http://" + cfg.HTTPAddr, viewers: make([]*whepViewer, 0, n),
	}, nil
}

// gone waits until the hub has no more subscribers than when no viewer was
// connected: every session of the previous point has ended.
func (a *whepAudience) gone(ctx context.Context, timeout time.Duration) error {
	idle := a.cfg.idleSubscribers
	return waitMetric(ctx, a.cfg, timeout, "hub subscribers above the idle count", func(m Metrics) float64 {
		return max(0, m.Subscribers-idle)
	})
}

func (a *whepAudience) add(int) (*member, func(context.Context)) {
	v := &whepViewer{a: a, member: newMember()}
	a.viewers = append(a.viewers, v)
	return &v.member, v.run
}

func (a *whepAudience) begin(context.Context, *sync.WaitGroup) error { return nil }

func (a *whepAudience) reset() {
	for _, v := range a.viewers {
		v.mu.Lock()
		v.st = viewerStats{}
		v.ws = whepStats{}
		v.mu.Unlock()
	}
}

func (a *whepAudience) collect(p *Point, wall float64) {
	var (
		total                        viewerStats
		lat                          Histogram
		ws                           whepStats
		answers, connects, firstKeys []time.Duration
		noAudio                      int
	)
	for _, v := range a.viewers {
		v.mu.Lock()
		total.add(&v.st)
		lat.Merge(&v.st.lat)
		ws.add(&v.ws)
		if v.answered {
			answers = append(answers, v.answer)
		}
		if v.connected {
			connects = append(connects, v.connect)
		}
		if v.keyed {
			firstKeys = append(firstKeys, v.firstKey)
			if v.ws.audioPackets == 0 {
				noAudio++
			}
		}
		v.mu.Unlock()
	}
	// The delivered bytes are the RTP packets of both tracks (after
	// SRTP), the messages the packets.
	total.bytes = ws.videoBytes + ws.audioBytes
	total.messages = ws.videoPackets + ws.audioPackets
	total.fill(p, &lat, wall)
	viewers := float64(max(p.Connected, 1))
	p.WHEP = &WHEPFigures{
		Answer:              exactQuantiles(answers),
		Connect:             exactQuantiles(connects),
		FirstKeyframe:       exactQuantiles(firstKeys),
		VideoPackets:        ws.videoPackets,
		AudioPackets:        ws.audioPackets,
		PacketsMissing:      ws.missing,
		PacketsLate:         ws.late,
		Malformed:           ws.malformed,
		VideoMbpsPerViewer:  float64(ws.videoBytes) * 8 / wall / 1e6 / viewers,
		AudioKbpsPerViewer:  float64(ws.audioBytes) * 8 / wall / 1e3 / viewers,
		AudioPacketsPerVSec: float64(ws.audioPackets) / wall / viewers,
		ViewersWithoutAudio: noAudio,
	}
}

func (a *whepAudience) close() { a.tr.CloseIdleConnections() }

// WHEPFigures are the WHEP mode's own figures, all viewers together. The
// startup figures are of the point's ramp; the counts are of the measured
// window.
type WHEPFigures struct {
	// Answer: POST of the offer to the 201 answer. Connect: POST to DTLS
	// connected (ICE and DTLS done). FirstKeyframe: DTLS connected to the
	// arrival of the first keyframe's last packet. (Point.Startup is POST
	// to that arrival.)
	Answer        Quantiles `json:"answerMs"`
	Connect       Quantiles `json:"connectMs"`
	FirstKeyframe Quantiles `json:"firstKeyframeMs"`
	// RTP packets received, and those missing from sequence gaps (before
	// any retransmission) or arriving late (retransmitted or reordered).
	VideoPackets   uint64 `json:"videoPackets"`
	AudioPackets   uint64 `json:"audioPackets"`
	PacketsMissing uint64 `json:"packetsMissing"`
	PacketsLate    uint64 `json:"packetsLate"`
	// Malformed counts RTP packets or H.264 payloads that did not parse.
	Malformed           uint64  `json:"malformed"`
	VideoMbpsPerViewer  float64 `json:"videoMbpsPerViewer"`
	AudioKbpsPerViewer  float64 `json:"audioKbpsPerViewer"`
	AudioPacketsPerVSec float64 `json:"audioPacketsPerViewerSecond"`
	// ViewersWithoutAudio started but received no Opus in the window.
	ViewersWithoutAudio int `json:"viewersWithoutAudio"`
}

// whepStats are one viewer's RTP counters over the measured window.
type whepStats struct {
	videoPackets, audioPackets uint64
	videoBytes, audioBytes     uint64 // whole RTP packets, after SRTP
	missing, late, malformed   uint64
}

func (w *whepStats) add(o *whepStats) {
	w.videoPackets += o.videoPackets
	w.audioPackets += o.audioPackets
	w.videoBytes += o.videoBytes
	w.audioBytes += o.audioBytes
	w.missing += o.missing
	w.late += o.late
	w.malformed += o.malformed
}

// whepViewer is one WHEP viewer. Its goroutine (run) owns the session;
// pion runs a reader goroutine per track, which run waits for. The
// counters and startup figures are guarded by mu.
type whepViewer struct {
	a *whepAudience
	member

	mu        sync.Mutex
	st        viewerStats
	ws        whepStats
	t0        time.Time     // the offer's POST
	connAt    time.Time     // connected (ICE and DTLS)
	answer    time.Duration // POST to the answer
	connect   time.Duration // POST to DTLS connected
	firstKey  time.Duration // DTLS connected to the first keyframe
	answered  bool
	connected bool
	keyed     bool
	closing   bool // no more track readers may start
	readers   sync.WaitGroup
}

// Errors of the WHEP viewer.
var (
	errPeerFailed = errors.New("loadtest: ICE or DTLS failed")
	errDelete     = errors.New("loadtest: DELETE of the WHEP session")
)

// run plays until ctx ends or the session fails, then ends the session.
// A failed DELETE is an error even when ctx ended the play.
func (v *whepViewer) run(ctx context.Context) {
	defer close(v.exited)
	err := v.play(ctx)
	if ctx.Err() != nil && !errors.Is(err, errDelete) {
		err = nil
	}
	v.err = err
}

func (v *whepViewer) play(ctx context.Context) (err error) {
	a := v.a
	pc, err := a.api.NewPeerConnection(webrtc.Configuration{Certificates: []webrtc.Certificate{a.cert}})
	if err != nil {
		return err
	}
	defer v.closePeer(pc)
	var dtls *webrtc.DTLSTransport // the peer's one, bundled
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		t, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		if err != nil {
			return err
		}
		dtls = t.Receiver().Transport()
	}
	failed := make(chan error, 3)
	// The DTLS transport reports its state synchronously, before SRTP
	// starts (the peer connection's handler runs later, on a goroutine of
	// its own, perhaps after the first keyframe).
	dtls.OnStateChange(func(s webrtc.DTLSTransportState) {
		if s != webrtc.DTLSTransportStateConnected {
			return
		}
		v.mu.Lock()
		if !v.connected {
			v.connAt = a.cfg.Now()
			v.connect, v.connected = v.connAt.Sub(v.t0), true
		}
		v.mu.Unlock()
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed {
			select {
			case failed <- errPeerFailed:
			default:
			}
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.mu.Lock()
		if v.closing {
			v.mu.Unlock()
			return
		}
		v.readers.Add(1)
		v.mu.Unlock()
		defer v.readers.Done()
		var err error
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			err = v.readVideo(tr)
		} else {
			err = v.readAudio(tr)
		}
		select {
		case failed <- fmt.Errorf("loadtest: %s track: %w", tr.Kind(), err):
		default:
		}
	})

	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, a.cfg.ConnectTimeout)
	defer cancel()
	select {
	case <-gathered:
	case <-dctx.Done():
		return fmt.Errorf("loadtest: ICE gathering: %w", dctx.Err())
	}
	t0 := a.cfg.Now()
	v.mu.Lock()
	v.t0 = t0
	v.mu.Unlock()
	loc, answer, err := v.post(dctx, pc.LocalDescription().SDP)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.answer, v.answered = a.cfg.Now().Sub(t0), true
	v.mu.Unlock()
	defer func() {
		if derr := v.delete(ctx, loc); derr != nil && err == nil {
			err = derr
		}
	}()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("loadtest: WHEP answer: %w", err)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		return err
	}
}

// closePeer closes pc and waits for the track readers.
func (v *whepViewer) closePeer(pc *webrtc.PeerConnection) {
	pc.Close()
	v.mu.Lock()
	v.closing = true
	v.mu.Unlock()
	v.readers.Wait()
}

// whepError is the server's error body.
type whepError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// post sends the offer and returns the session's URL and the answer.
func (v *whepViewer) post(ctx context.Context, offer string) (string, string, error) {
	url := v.a.base + "/whep/" + v.a.cfg.Stream
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(offer))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := v.a.client.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusCreated {
		var e whepError
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return "", "", fmt.Errorf("loadtest: WHEP offer: HTTP %d %s: %s", resp.StatusCode, e.Error, e.Message)
		}
		return "", "", fmt.Errorf("loadtest: WHEP offer: HTTP %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", "", errors.New("loadtest: WHEP answer without Location")
	}
	return resolve(url, loc), string(body), nil
}

// delete ends the session at loc; the server answers once it has ended.
func (v *whepViewer) delete(ctx context.Context, loc string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, loc, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", errDelete, err)
	}
	resp, err := v.a.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", errDelete, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("%w: HTTP %d", errDelete, resp.StatusCode)
	}
	return nil
}

// A frame's arrival is the instant the viewer's socket read returned its
// last packet (the one with the marker bit), not the later instant its
// track reader gets it from pion: between the two the packet waits in the
// tool, for pion's goroutines (the socket's reader, the SRTP session's,
// the track's: three hand-offs, each a wake-up on one of the two cores
// the server runs on) and SRTP decryption. That is the viewer's own work,
// which a browser elsewhere does on its own CPU; on this machine it waited
// behind the server's fan-out and the other viewers' reads, and added
// 0.9 ms at the median and 4.4 ms at the 99th percentile to the frame's
// measured latency at 100 viewers. The socket reader (groConn on Linux)
// notes when each marked RTP packet was read, by SSRC and sequence
// number, in the arrival log of a viewer that watches that SSRC (the RTP
// header is not encrypted in SRTP); the track reader takes the frame's
// arrival from there, or its own clock where no log has it (no GRO, or a
// frame whose marked packet was lost).

// arrivalLogs are the logs of the video SSRCs that viewers watch.
var arrivalLogs struct {
	mu   sync.Mutex
	logs map[uint32]*arrivalLog
}

// arrivalLog is the read times of one SSRC's newest marked packets. The
// socket reader adds to it; the track reader looks up.
type arrivalLog struct {
	mu   sync.Mutex
	next int
	seq  [32]uint16
	at   [32]time.Time
	set  [32]bool
}

// watchArrivals starts the arrival log of ssrc; stop ends it.
func watchArrivals(ssrc uint32) (l *arrivalLog, stop func()) {
	l = &arrivalLog{}
	arrivalLogs.mu.Lock()
	if arrivalLogs.logs == nil {
		arrivalLogs.logs = make(map[uint32]*arrivalLog)
	}
	arrivalLogs.logs[ssrc] = l
	arrivalLogs.mu.Unlock()
	return l, func() {
		arrivalLogs.mu.Lock()
		if arrivalLogs.logs[ssrc] == l {
			delete(arrivalLogs.logs, ssrc)
		}
		arrivalLogs.mu.Unlock()
	}
}

// arrivalLogOf returns the log of ssrc, or nil if no viewer watches it.
func arrivalLogOf(ssrc uint32) *arrivalLog {
	arrivalLogs.mu.Lock()
	defer arrivalLogs.mu.Unlock()
	return arrivalLogs.logs[ssrc]
}

func (l *arrivalLog) add(seq uint16, at time.Time) {
	l.mu.Lock()
	i := l.next
	l.seq[i], l.at[i], l.set[i] = seq, at, true
	l.next = (i + 1) % len(l.seq)
	l.mu.Unlock()
}

// arrival returns when the packet seq was read from the socket.
func (l *arrivalLog) arrival(seq uint16) (time.Time, bool) {
	if l == nil {
		return time.Time{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.seq {
		if l.set[i] && l.seq[i] == seq {
			return l.at[i], true
		}
	}
	return time.Time{}, false
}

// readVideo reads the video track until it fails.
func (v *whepViewer) readVideo(tr *webrtc.TrackRemote) error {
	now := v.a.cfg.Now
	arrivals, stop := watchArrivals(uint32(tr.SSRC()))
	defer stop()
	buf := make([]byte, 1500)
	var (
		pkt rtp.Packet
		au  auAssembler
		seq rtpSeq
		st  seqTracker
	)
	frame := func(f auFrame, recv time.Time) {
		// Called with v.mu held.
		if f.stamped {
			st.record(&v.st, f.stamp, recv)
		} else {
			v.st.unstamp++
		}
		if f.key && !v.keyed {
			v.keyed = true
			v.startup = recv.Sub(v.t0)
			v.firstKey = recv.Sub(v.connAt)
			close(v.started)
		}
	}
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return err
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			v.mu.Lock()
			v.ws.malformed++
			v.mu.Unlock()
			continue
		}
		missing, late := seq.next(pkt.SequenceNumber)
		if late {
			// A retransmission or reordered packet: its frame has been
			// counted (or given up) already.
			v.mu.Lock()
			v.ws.late++
			v.ws.videoPackets++
			v.ws.videoBytes += uint64(n)
			v.mu.Unlock()
			continue
		}
		prev, ended := au.begin(pkt.Timestamp)
		bad := au.malformed
		au.payload(pkt.Payload)
		v.mu.Lock()
		v.ws.videoPackets++
		v.ws.videoBytes += uint64(n)
		v.ws.missing += missing
		v.ws.malformed += au.malformed - bad
		if ended || pkt.Marker {
			recv := now()
			if ended {
				frame(prev, recv)
			}
			if pkt.Marker {
				if at, ok := arrivals.arrival(pkt.SequenceNumber); ok {
					recv = at
				}
				frame(au.finish(), recv)
			}
		}
		v.mu.Unlock()
	}
}

// readAudio counts the audio track's packets until it fails.
func (v *whepViewer) readAudio(tr *webrtc.TrackRemote) error {
	buf := make([]byte, 1500)
	var (
		hdr rtp.Header
		seq rtpSeq
	)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return err
		}
		if _, err := hdr.Unmarshal(buf[:n]); err != nil {
			v.mu.Lock()
			v.ws.malformed++
			v.mu.Unlock()
			continue
		}
		missing, late := seq.next(hdr.SequenceNumber)
		v.mu.Lock()
		v.ws.audioPackets++
		v.ws.audioBytes += uint64(n)
		v.ws.missing += missing
		if late {
			v.ws.late++
		}
		v.mu.Unlock()
	}
}

// prepareWHEP waits (up to the connect timeout) for the stream's Opus
// companion, which the server's transcoder makes from the publisher's AAC,
// so that every viewer gets audio; without it the viewers get video only,
// and a warning says so. It then reads the hub's idle subscriber count.
func prepareWHEP(ctx context.Context, cfg *Config) error {
	want := cfg.Stream + "/opus"
	wctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for found := false; !found; {
		found = streamLive(wctx, cfg.HTTPAddr, want)
		if found {
			break
		}
		select {
		case <-tick.C:
		case <-wctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			cfg.Logger.Warn("no Opus companion stream: is the server transcoding (ffmpeg)? WHEP viewers get video only", "stream", want)
			found = true
		}
	}
	m, err := ScrapeMetrics(ctx, cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("loadtest: /metrics: %w", err)
	}
	cfg.idleSubscribers = m.Subscribers
	return nil
}

// streamLive reports whether the server lists stream name with tracks.
func streamLive(ctx context.Context, httpAddr, name string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/api/v1/streams", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var list struct {
		Streams []struct {
			Name   string            `json:"name"`
			Tracks []json.RawMessage `json:"tracks"`
		} `json:"streams"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&list) != nil {
		return false
	}
	for _, s := range list.Streams {
		if s.Name == name && len(s.Tracks) > 0 {
			return true
		}
	}
	return false
}

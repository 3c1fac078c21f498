package webrtcapi

import (
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// OfferedCodec is one payload type of an offered media section.
type OfferedCodec struct {
	PayloadType uint8
	Name        string // encoding name as written, e.g. "H264"
	ClockRate   uint32
	Channels    uint16
	Fmtp        string
	Feedback    []string // rtcp-fb values, e.g. "nack pli"
}

// Param returns the value of a key=value parameter of the fmtp line.
func (c OfferedCodec) Param(key string) (string, bool) {
	for _, kv := range strings.Split(c.Fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// RTCPFeedback returns the codec's rtcp-fb values as pion takes them.
func (c OfferedCodec) RTCPFeedback() []webrtc.RTCPFeedback {
	fb := make([]webrtc.RTCPFeedback, 0, len(c.Feedback))
	for _, f := range c.Feedback {
		typ, param, _ := strings.Cut(f, " ")
		fb = append(fb, webrtc.RTCPFeedback{Type: typ, Parameter: param})
	}
	return fb
}

// Parameters returns the codec as pion's codec parameters, of MIME type
// mimeType (e.g. webrtc.MimeTypeH264): for
// RTPTransceiver.SetCodecPreferences, to answer with exactly this payload
// type, fmtp and feedback.
func (c OfferedCodec) Parameters(mimeType string) webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: mimeType, ClockRate: c.ClockRate, Channels: c.Channels, SDPFmtpLine: c.Fmtp,
			RTCPFeedback: c.RTCPFeedback(),
		},
		PayloadType: webrtc.PayloadType(c.PayloadType),
	}
}

// HasCodec reports whether codecs has one of encoding name (compared
// without case, RFC 4855 3) and clockRate.
func HasCodec(codecs []OfferedCodec, name string, clockRate uint32) bool {
	for _, c := range codecs {
		if strings.EqualFold(c.Name, name) && c.ClockRate == clockRate {
			return true
		}
	}
	return false
}

// OfferedCodecs lists the payload types of a media section with their
// rtpmap, fmtp and rtcp-fb attributes, in the offer's order of preference.
func OfferedCodecs(md *sdp.MediaDescription) []OfferedCodec {
	byPT := map[uint8]*OfferedCodec{}
	var out []*OfferedCodec
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 8)
		if err != nil {
			continue
		}
		c := &OfferedCodec{PayloadType: uint8(pt)}
		byPT[uint8(pt)] = c
		out = append(out, c)
	}
	for _, a := range md.Attributes {
		ptStr, rest, _ := strings.Cut(a.Value, " ")
		pt, err := strconv.ParseUint(ptStr, 10, 8)
		if err != nil {
			continue
		}
		c := byPT[uint8(pt)]
		if c == nil {
			continue
		}
		switch a.Key {
		case "rtpmap":
			parts := strings.Split(rest, "/")
			c.Name = parts[0]
			if len(parts) > 1 {
				r, _ := strconv.ParseUint(parts[1], 10, 32)
				c.ClockRate = uint32(r)
			}
			if len(parts) > 2 {
				n, _ := strconv.ParseUint(parts[2], 10, 16)
				c.Channels = uint16(n)
			}
		case "fmtp":
			c.Fmtp = strings.TrimSpace(rest)
		case "rtcp-fb":
			c.Feedback = append(c.Feedback, strings.TrimSpace(rest))
		}
	}
	res := make([]OfferedCodec, 0, len(out))
	for _, c := range out {
		res = append(res, *c)
	}
	return res
}

// RegisterOpus registers Opus with me as WebRTC endpoints offer it (RFC
// 7587): payload type 111, 48 kHz, signalled as stereo, with in-band FEC.
func RegisterOpus(me *webrtc.MediaEngine) error {
	return me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio)
}

// AddTrickleCandidates adds the candidates of a trickle ICE SDP fragment
// (RFC 8840, the body of a WHIP or WHEP PATCH) to pc: each a=candidate
// line, for the media section of the a=mid line before it.
func AddTrickleCandidates(pc *webrtc.PeerConnection, frag string) error {
	mid := ""
	for _, line := range strings.Split(frag, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "a=mid:"); ok {
			mid = v
		}
		if c, ok := strings.CutPrefix(line, "a=candidate:"); ok {
			m := mid
			if err := pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: "candidate:" + c, SDPMid: &m}); err != nil {
				return err
			}
		}
	}
	return nil
}

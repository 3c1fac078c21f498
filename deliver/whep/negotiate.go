package whep

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/liveloop/liveloop/webrtcapi"
)

// H.264 offer/answer (RFC 6184 8.2.2, 8.1): the configuration of a payload
// type is its packetization-mode and the profile part of profile-level-id;
// only the level may differ between the two sides, and only upwards from
// the answerer when the offer says level-asymmetry-allowed=1 (RFC 6184
// 8.1). Liveloop passes the publisher's bitstream through, so it answers
// only a payload type whose decoder can decode that bitstream.

// profile is an H.264 profile as WebRTC endpoints negotiate it: the
// profile_idc and the constraint flags of profile-level-id, classified as
// libwebrtc's api/video_codecs/h264_profile_level_id.cc does.
type profile uint8

const (
	profileUnknown profile = iota
	profileConstrainedBaseline
	profileBaseline
	profileMain
	profileConstrainedHigh
	profileHigh
	profilePredictiveHigh444
)

func (p profile) String() string {
	switch p {
	case profileConstrainedBaseline:
		return "Constrained Baseline"
	case profileBaseline:
		return "Baseline"
	case profileMain:
		return "Main"
	case profileConstrainedHigh:
		return "Constrained High"
	case profileHigh:
		return "High"
	case profilePredictiveHigh444:
		return "Predictive High 4:4:4"
	}
	return "unknown"
}

// profilePatterns map profile_idc and a pattern of the constraint flags
// byte (constraint_set0_flag first; 'x' matches either bit) to a profile.
var profilePatterns = []struct {
	idc     byte
	pattern string
	profile profile
}{
	{0x42, "x1xx0000", profileConstrainedBaseline},
	{0x4D, "1xxx0000", profileConstrainedBaseline},
	{0x58, "11xx0000", profileConstrainedBaseline},
	{0x42, "x0xx0000", profileBaseline},
	{0x58, "10xx0000", profileBaseline},
	{0x4D, "0x0x0000", profileMain},
	{0x64, "00000000", profileHigh},
	{0x64, "00001100", profileConstrainedHigh},
	{0xF4, "00000000", profilePredictiveHigh444},
}

func matchBits(pattern string, b byte) bool {
	for i := 0; i < 8; i++ {
		bit := b>>(7-i)&1 == 1
		switch pattern[i] {
		case '1':
			if !bit {
				return false
			}
		case '0':
			if bit {
				return false
			}
		}
	}
	return true
}

// classify returns the profile of profile_idc and constraint flags.
func classify(idc, flags byte) profile {
	for _, p := range profilePatterns {
		if p.idc == idc && matchBits(p.pattern, flags) {
			return p.profile
		}
	}
	return profileUnknown
}

// classifyStream returns the profile a decoder needs for a bitstream whose
// SPS has profile_idc and constraint flags. Encoders set constraint flags
// loosely (x264 writes constraint_set1 on Main, constraint_set4 on
// progressive High), so the reserved bits are ignored and the stream falls
// back on its profile_idc.
func classifyStream(idc, flags byte) profile {
	if p := classify(idc, flags&0xf0); p != profileUnknown {
		return p
	}
	switch idc {
	case 66:
		return profileBaseline
	case 77:
		return profileMain
	case 100:
		return profileHigh
	}
	return profileUnknown
}

// decodes reports whether a decoder of profile dec decodes streams of
// profile src: Constrained Baseline is the common subset of Baseline and
// Main, Main of High, Constrained High of High, and a Predictive High
// 4:4:4 decoder decodes the High family below it (H.264 A.2.7), which is
// how Chromium without hardware decoding offers High: as f4001f.
func decodes(dec, src profile) bool {
	if dec == src {
		return src != profileUnknown
	}
	switch src {
	case profileConstrainedBaseline:
		return dec == profileBaseline || dec == profileMain || dec == profileConstrainedHigh || dec == profileHigh || dec == profilePredictiveHigh444
	case profileMain, profileConstrainedHigh, profileHigh:
		return dec == profileHigh || dec == profilePredictiveHigh444
	}
	return false
}

// sourceH264 is what negotiation needs to know of the publisher's video.
type sourceH264 struct {
	ProfileIDC, Flags, Level byte
}

func (s sourceH264) profile() profile { return classifyStream(s.ProfileIDC, s.Flags) }

// offeredCodec is one payload type of an offered media section.
type offeredCodec = webrtcapi.OfferedCodec

// h264Offer is an offered H.264 payload type, parsed.
type h264Offer struct {
	offeredCodec
	profile profile
	level   byte
	asym    bool // level-asymmetry-allowed=1
}

// parseH264Offer parses an offered H.264 payload type of packetization
// mode 1. A missing profile-level-id means 42000A (RFC 6184 8.1).
func parseH264Offer(c offeredCodec) (h264Offer, bool) {
	if !strings.EqualFold(c.Name, "H264") || c.ClockRate != 90000 {
		return h264Offer{}, false
	}
	if pm, _ := c.Param("packetization-mode"); pm != "1" {
		return h264Offer{}, false
	}
	plid, ok := c.Param("profile-level-id")
	if !ok {
		plid = "42000a"
	}
	b, err := hex.DecodeString(plid)
	if err != nil || len(b) != 3 {
		return h264Offer{}, false
	}
	asym, _ := c.Param("level-asymmetry-allowed")
	return h264Offer{offeredCodec: c, profile: classify(b[0], b[1]), level: b[2], asym: asym == "1"}, true
}

// chooseH264 picks the payload type to send src on, from the codecs of an
// offered video section: one whose decoder decodes src's profile at src's
// level (or any level if the offer allows asymmetry), preferring the same
// profile, then the offer's order. It fails with ErrNoCodec.
func chooseH264(codecs []offeredCodec, src sourceH264) (h264Offer, error) {
	want := src.profile()
	var best h264Offer
	found := false
	for _, c := range codecs {
		o, ok := parseH264Offer(c)
		if !ok || !decodes(o.profile, want) || (o.level < src.Level && !o.asym) {
			continue
		}
		if !found || (o.profile == want && best.profile != want) {
			best, found = o, true
		}
	}
	if !found {
		return h264Offer{}, fmt.Errorf("whep: %w: the stream is H.264 %s (profile-level-id %02x%02x%02x); the offer has no H.264 payload type with packetization-mode=1 that decodes it",
			ErrNoCodec, want, src.ProfileIDC, src.Flags, src.Level)
	}
	return best, nil
}

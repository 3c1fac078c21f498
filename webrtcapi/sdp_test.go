package webrtcapi

import (
	"reflect"
	"testing"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// chromeVideo is the start of the video section of a Chromium offer, with
// an rtpmap for a payload type not in the m= line and one of another
// payload type's attributes out of order.
const chromeVideo = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 111\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=rtpmap:96 VP8/90000\r\n" +
	"a=rtcp-fb:96 nack\r\n" +
	"a=rtpmap:97 rtx/90000\r\n" +
	"a=fmtp:97 apt=96\r\n" +
	"a=rtcp-fb:102 goog-remb\r\n" +
	"a=rtpmap:102 H264/90000\r\n" +
	"a=rtcp-fb:102 nack pli\r\n" +
	"a=fmtp:102 level-asymmetry-allowed=1; packetization-mode=1;profile-level-id=42e01f\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n" +
	"a=rtpmap:120 H264/90000\r\n" +
	"a=mid:0\r\n"

func TestOfferedCodecs(t *testing.T) {
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(chromeVideo); err != nil {
		t.Fatal(err)
	}
	got := OfferedCodecs(desc.MediaDescriptions[0])
	want := []OfferedCodec{
		{PayloadType: 96, Name: "VP8", ClockRate: 90000, Feedback: []string{"nack"}},
		{PayloadType: 97, Name: "rtx", ClockRate: 90000, Fmtp: "apt=96"},
		{PayloadType: 102, Name: "H264", ClockRate: 90000, Fmtp: "level-asymmetry-allowed=1; packetization-mode=1;profile-level-id=42e01f",
			Feedback: []string{"goog-remb", "nack pli"}},
		{PayloadType: 111, Name: "opus", ClockRate: 48000, Channels: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	h264 := got[2]
	for _, tc := range []struct {
		key, val string
		ok       bool
	}{
		{"packetization-mode", "1", true},
		{"Profile-Level-Id", "42e01f", true},
		{"level-asymmetry-allowed", "1", true},
		{"sprop-parameter-sets", "", false},
	} {
		if v, ok := h264.Param(tc.key); v != tc.val || ok != tc.ok {
			t.Errorf("Param(%q) = %q, %v; want %q, %v", tc.key, v, ok, tc.val, tc.ok)
		}
	}

	p := h264.Parameters(webrtc.MimeTypeH264)
	wantP := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264.Fmtp,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "nack", Parameter: "pli"}}},
		PayloadType: 102,
	}
	if !reflect.DeepEqual(p, wantP) {
		t.Errorf("Parameters: %+v, want %+v", p, wantP)
	}

	for _, tc := range []struct {
		name string
		rate uint32
		want bool
	}{{"OPUS", 48000, true}, {"opus", 90000, false}, {"h264", 90000, true}, {"AV1", 90000, false}} {
		if HasCodec(got, tc.name, tc.rate) != tc.want {
			t.Errorf("HasCodec(%s/%d) != %v", tc.name, tc.rate, tc.want)
		}
	}
}

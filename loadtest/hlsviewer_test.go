package loadtest

import "testing"

func TestParseMediaPlaylist(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want mediaPlaylist
	}{
		{"open segment", `#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.000,PART-HOLD-BACK=0.600
#EXT-X-PART-INF:PART-TARGET=0.200
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-MAP:URI="init-k2-0.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-11-21T16:00:00.000Z
#EXT-X-PART:DURATION=0.200,URI="part-k2-7-0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.200,URI="part-k2-7-1.m4s"
#EXTINF:2.000,
seg-k2-7.m4s
#EXT-X-PART:DURATION=0.200,URI="part-k2-8-0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.200,URI="part-k2-8-1.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-k2-8-2.m4s"
`, mediaPlaylist{mapURI: "init-k2-0.mp4", hintURI: "part-k2-8-2.m4s", hintMSN: 8, hintPart: 2}},
		{"segment just closed, skip", "#EXTM3U\r\n#EXT-X-MEDIA-SEQUENCE:3\r\n#EXT-X-SKIP:SKIPPED-SEGMENTS=2\r\n#EXT-X-MAP:URI=\"init-a-1.mp4\"\r\n#EXTINF:2.0,\r\nseg-a-5.m4s\r\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-a-6-0.m4s\"\r\n",
			mediaPlaylist{mapURI: "init-a-1.mp4", hintURI: "part-a-6-0.m4s", hintMSN: 6, hintPart: 0}},
		{"ended", "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-MAP:URI=\"i.mp4\"\n#EXTINF:2.0,\ns.m4s\n#EXT-X-ENDLIST\n",
			mediaPlaylist{mapURI: "i.mp4", hintMSN: 1, ended: true}},
		{"map hint of another type", "#EXT-X-PRELOAD-HINT:TYPE=MAP,URI=\"m.mp4\"\n", mediaPlaylist{}},
		{"empty", "", mediaPlaylist{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseMediaPlaylist([]byte(tc.in)); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAttr(t *testing.T) {
	line := []byte(`#EXT-X-PART:DURATION=0.200,URI="a,b=c.m4s",INDEPENDENT=YES`)
	for name, want := range map[string]string{"DURATION": "0.200", "URI": "a,b=c.m4s", "INDEPENDENT": "YES", "GAP": ""} {
		if got := attr(line, name); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	if got := attr([]byte(`#X:URI="unterminated`), "URI"); got != "" {
		t.Errorf("unterminated: %q", got)
	}
}

func TestFirstVariantAndResolve(t *testing.T) {
	mv := []byte("#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.64001f\"\nmedia.m3u8\n")
	if got := firstVariant(mv); got != "media.m3u8" {
		t.Errorf("firstVariant: %q", got)
	}
	for _, tc := range []struct{ base, uri, want string }{
		{"http://h:1/hls/s/index.m3u8", "media.m3u8", "http://h:1/hls/s/media.m3u8"},
		{"http://h:1/hls/s/", "720p/media.m3u8", "http://h:1/hls/s/720p/media.m3u8"},
		{"http://h:1/hls/s/media.m3u8", "/hls/t/x.m4s", "http://h:1/hls/t/x.m4s"},
		{"http://h:1/hls/s/media.m3u8", "http://o/x.m4s", "http://o/x.m4s"},
	} {
		if got := resolve(tc.base, tc.uri); got != tc.want {
			t.Errorf("resolve(%q, %q) = %q, want %q", tc.base, tc.uri, got, tc.want)
		}
	}
}

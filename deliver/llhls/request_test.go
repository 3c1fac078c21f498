package llhls

import (
	"errors"
	"path"
	"strings"
	"testing"
)

// requestCases feed the parser test and the fuzz seeds.
var requestCases = []struct {
	path, query string
	want        request
	err         error
}{
	{"cam/index.m3u8", "", request{stream: "cam", kind: kindMultivariant}, nil},
	{"a/b.c/index.m3u8", "", request{stream: "a/b.c", kind: kindMultivariant}, nil},
	{"cam/media.m3u8", "", request{stream: "cam", kind: kindMedia}, nil},
	{"cam/media.m3u8", "_HLS_msn=12", request{stream: "cam", kind: kindMedia, hasMSN: true, msn: 12}, nil},
	{"cam/media.m3u8", "_HLS_msn=12&_HLS_part=3&_HLS_skip=YES", request{stream: "cam", kind: kindMedia, hasMSN: true, msn: 12, hasPart: true, msnPart: 3, skip: true}, nil},
	{"cam/media.m3u8", "_HLS_skip=v2&foo=bar&_HLS_other=1", request{stream: "cam", kind: kindMedia, skip: true}, nil},
	{"cam/media.m3u8", "_HLS_part=3", request{}, errBadRequest},
	{"cam/media.m3u8", "_HLS_msn=-1", request{}, errBadRequest},
	{"cam/media.m3u8", "_HLS_msn=01", request{}, errBadRequest},
	{"cam/media.m3u8", "_HLS_msn=1&_HLS_msn=2", request{}, errBadRequest},
	{"cam/media.m3u8", "_HLS_msn=99999999999999999999", request{}, errBadRequest},
	{"cam/media.m3u8", "_HLS_msn=9007199254740993", request{}, errBadRequest},
	{"cam/media.m3u8", "_HLS_skip=NO", request{}, errBadRequest},
	{"cam/init-lx3k9a1-2.mp4", "", request{stream: "cam", kind: kindInit, run: "lx3k9a1", n: 2}, nil},
	{"cam/seg-lx3k9a1-40.m4s", "", request{stream: "cam", kind: kindSegment, run: "lx3k9a1", n: 40}, nil},
	{"x/y/part-r1-40-7.m4s", "", request{stream: "x/y", kind: kindPart, run: "r1", n: 40, part: 7}, nil},
	{"cam/part-r1-40.m4s", "", request{}, errNotFound},
	{"cam/part-R1-40-1.m4s", "", request{}, errNotFound},
	{"cam/seg-r1-+4.m4s", "", request{}, errNotFound},
	{"cam/seg-r1-4.mp4", "", request{}, errNotFound},
	{"index.m3u8", "", request{}, errNotFound},
	{"/index.m3u8", "", request{}, errNotFound},
	{".hidden/index.m3u8", "", request{}, errNotFound},
	{"cam/", "", request{}, errNotFound},
	{"cam/other.m3u8", "", request{}, errNotFound},
}

func TestParseRequest(t *testing.T) {
	for _, c := range requestCases {
		t.Run(c.path+"?"+c.query, func(t *testing.T) {
			got, err := parseRequest(c.path, c.query)
			if !errors.Is(err, c.err) || (err == nil) != (c.err == nil) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			if err == nil && got != c.want {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// FuzzParseRequest: any input parses without panicking, and what parses
// names itself: rendering the parsed resource gives back the path.
func FuzzParseRequest(f *testing.F) {
	for _, c := range requestCases {
		f.Add(c.path, c.query)
	}
	f.Fuzz(func(t *testing.T, p, q string) {
		r, err := parseRequest(p, q)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, r.stream+"/") {
			t.Fatalf("stream %q is not a prefix of %q", r.stream, p)
		}
		base := path.Base("/" + p)
		var name string
		switch r.kind {
		case kindMultivariant:
			name = multivariantName
		case kindMedia:
			name = mediaName
			if r.hasPart && !r.hasMSN {
				t.Fatal("_HLS_part without _HLS_msn accepted")
			}
		case kindInit:
			name = initName(r.run, int(r.n))
		case kindSegment:
			name = segmentName(r.run, r.n)
		case kindPart:
			name = partName(r.run, r.n, int(r.part))
		default:
			t.Fatalf("kind %d", r.kind)
		}
		if r.kind != kindInit && r.kind != kindPart && name != base {
			t.Fatalf("parsed %q as %+v, which renders as %q", p, r, name)
		}
		if (r.kind == kindInit || r.kind == kindPart) && r.n <= 1<<31 && r.part <= 1<<31 && name != base {
			t.Fatalf("parsed %q as %+v, which renders as %q", p, r, name)
		}
	})
}

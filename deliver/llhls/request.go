package llhls

import (
	"errors"
	"strconv"
	"strings"

	"github.com/liveloop/liveloop/hub"
)

// The URL scheme, under the handler's prefix (/hls/):
//
//	{stream}/index.m3u8              multivariant playlist (players open this)
//	{stream}/media.m3u8              media playlist: muxed audio+video, LL-HLS
//	{stream}/init-{run}-{v}.mp4      init segment of track set version v
//	{stream}/seg-{run}-{msn}.m4s     media segment msn
//	{stream}/part-{run}-{msn}-{p}.m4s  partial segment p of segment msn
//
// A stream name may contain '/', so the resource is always the last path
// element and the stream is everything before it. {run} names one run of a
// stream's muxer (base 36): media sequence numbers restart when a muxer
// restarts, so {run} keeps every segment URL unique for ever, which lets
// CDNs cache segments, parts and init segments as immutable. A later ABR
// ladder lists renditions, which are hub streams named {stream}/{rendition},
// as "{rendition}/media.m3u8" relative to the multivariant playlist.

// Resource names.
const (
	multivariantName = "index.m3u8"
	mediaName        = "media.m3u8"
)

// kind is what a request asks for.
type kind uint8

const (
	kindMultivariant kind = iota + 1
	kindMedia
	kindInit
	kindSegment
	kindPart
)

// request is a parsed request path and query.
type request struct {
	stream string
	kind   kind
	run    string // init, segment, part
	n      uint64 // init: track set version; segment, part: media sequence number
	part   uint64 // part index

	// Delivery directives (RFC 8216bis 6.2.5), media playlist only.
	hasMSN, hasPart bool
	msn, msnPart    uint64
	skip            bool
}

// Errors from parseRequest. They reach clients as 400 or 404 bodies.
var (
	errNotFound   = errors.New("llhls: no such resource")
	errBadRequest = errors.New("llhls: bad delivery directive")
)

// maxDirective bounds _HLS_msn and _HLS_part so arithmetic on them cannot
// overflow.
const maxDirective = 1 << 53

// parseRequest parses the path below the handler's prefix (unescaped, as
// in url.URL.Path) and the raw query. It returns errNotFound for a path
// that names nothing this handler serves and errBadRequest for invalid
// delivery directives.
func parseRequest(path, rawQuery string) (request, error) {
	var r request
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return r, errNotFound
	}
	r.stream, path = path[:i], path[i+1:]
	if !hub.ValidName(r.stream) {
		return r, errNotFound
	}
	switch {
	case path == multivariantName:
		r.kind = kindMultivariant
		return r, nil
	case path == mediaName:
		r.kind = kindMedia
		return r, parseDirectives(&r, rawQuery)
	case strings.HasPrefix(path, "init-") && strings.HasSuffix(path, ".mp4"):
		r.kind = kindInit
		var ok bool
		if r.run, r.n, ok = parseRunN(path[len("init-") : len(path)-len(".mp4")]); !ok {
			return r, errNotFound
		}
		return r, nil
	case strings.HasPrefix(path, "seg-") && strings.HasSuffix(path, ".m4s"):
		r.kind = kindSegment
		var ok bool
		if r.run, r.n, ok = parseRunN(path[len("seg-") : len(path)-len(".m4s")]); !ok {
			return r, errNotFound
		}
		return r, nil
	case strings.HasPrefix(path, "part-") && strings.HasSuffix(path, ".m4s"):
		r.kind = kindPart
		f := path[len("part-") : len(path)-len(".m4s")]
		i := strings.LastIndexByte(f, '-')
		if i < 0 {
			return r, errNotFound
		}
		var ok1, ok2 bool
		r.run, r.n, ok1 = parseRunN(f[:i])
		r.part, ok2 = parseUint(f[i+1:])
		if !ok1 || !ok2 {
			return r, errNotFound
		}
		return r, nil
	}
	return r, errNotFound
}

// parseRunN parses "{run}-{n}".
func parseRunN(s string) (run string, n uint64, ok bool) {
	run, num, found := strings.Cut(s, "-")
	if !found || !validRun(run) {
		return "", 0, false
	}
	n, ok = parseUint(num)
	return run, n, ok
}

// parseDirectives reads _HLS_msn, _HLS_part and _HLS_skip (RFC 8216bis
// 6.2.5). Other parameters, including unknown _HLS_ ones, are ignored. A
// repeated directive, a malformed value, or _HLS_part without _HLS_msn
// (6.2.5.2: MUST return Bad Request) is errBadRequest.
func parseDirectives(r *request, rawQuery string) error {
	for rawQuery != "" {
		var kv string
		kv, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "_HLS_msn":
			n, ok := parseUint(v)
			if !ok || r.hasMSN || n > maxDirective {
				return errBadRequest
			}
			r.msn, r.hasMSN = n, true
		case "_HLS_part":
			n, ok := parseUint(v)
			if !ok || r.hasPart || n > maxDirective {
				return errBadRequest
			}
			r.msnPart, r.hasPart = n, true
		case "_HLS_skip":
			// v2 also asks to skip old date ranges; this server does not
			// advertise CAN-SKIP-DATERANGES, so it answers both alike.
			if v != "YES" && v != "v2" {
				return errBadRequest
			}
			r.skip = true
		}
	}
	if r.hasPart && !r.hasMSN {
		return errBadRequest
	}
	return nil
}

// parseUint parses a decimal-integer (RFC 8216bis 4.2): digits only, no
// sign, no leading zeros except "0" itself, at most 19 digits.
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// validRun reports whether s can be a run identifier: 1 to 16 characters of
// [0-9a-z].
func validRun(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// Resource names, the inverse of parseRequest.
func initName(run string, v int) string {
	return "init-" + run + "-" + strconv.Itoa(v) + ".mp4"
}

func segmentName(run string, msn uint64) string {
	return "seg-" + run + "-" + strconv.FormatUint(msn, 10) + ".m4s"
}

func partName(run string, msn uint64, p int) string {
	return "part-" + run + "-" + strconv.FormatUint(msn, 10) + "-" + strconv.Itoa(p) + ".m4s"
}

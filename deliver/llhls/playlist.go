package llhls

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Playlist rendering, RFC 8216bis (HLS 2nd edition). Pure: values in, bytes
// out.

// playlistInput is what a media playlist shows.
type playlistInput struct {
	Run            string
	TargetDuration int // seconds
	PartTarget     time.Duration
	// Segments are the listed segments, oldest first; the last may be open.
	Segments []*segment
	// DiscSeq is the Discontinuity Sequence Number of the first segment.
	DiscSeq uint64
	Cues    []cueEntry
	Ended   bool
}

// Versions (RFC 8216bis 8): EXT-X-MAP in a playlist without
// EXT-X-I-FRAMES-ONLY needs 6; EXT-X-SKIP needs 9.
const (
	versionBase  = 6
	versionDelta = 9
)

// skipBoundary is CAN-SKIP-UNTIL for a target duration: the least the spec
// allows, six target durations (4.4.3.8).
func skipBoundary(td int) time.Duration { return 6 * time.Duration(td) * time.Second }

// partHoldBack is PART-HOLD-BACK: three part targets, the spec's
// recommendation (4.4.3.8: at least two, should be three).
func partHoldBack(pt time.Duration) time.Duration { return 3 * pt }

// segEnd returns where a segment's content ends: its end if complete,
// else the end of its last complete part.
func segEnd(s *segment) time.Duration {
	if s.complete {
		return s.start + s.dur
	}
	end := s.start
	for _, p := range s.parts {
		if p.complete {
			end = p.start + p.dur
		}
	}
	return end
}

// renderMedia renders a media playlist; with skip (and a live stream) a
// Playlist Delta Update (6.2.5.1) that replaces the segments older than the
// skip boundary with EXT-X-SKIP.
//
// Tag order: the header (version, target duration, server control, part
// info, media sequence, discontinuity sequence), EXT-X-SKIP, the date
// ranges, then per segment EXT-X-DISCONTINUITY, EXT-X-MAP,
// EXT-X-PROGRAM-DATE-TIME, its EXT-X-PART tags (only for segments within
// three target durations of the end, 6.2.2), EXTINF and its URI; last the
// EXT-X-PRELOAD-HINT for the open part, or EXT-X-ENDLIST.
func renderMedia(in playlistInput, skip bool) []byte {
	segs := in.Segments
	var end time.Duration
	if n := len(segs); n > 0 {
		end = segEnd(segs[n-1])
	}
	td := time.Duration(in.TargetDuration) * time.Second
	skipped := 0
	if skip && !in.Ended {
		for _, s := range segs {
			if !s.complete || end-segEnd(s) < skipBoundary(in.TargetDuration) {
				break
			}
			skipped++
		}
	}
	version := versionBase
	if skipped > 0 {
		version = versionDelta
	}

	var b strings.Builder
	b.Grow(256 + 64*len(segs) + 96*len(in.Cues))
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:")
	b.WriteString(strconv.Itoa(version))
	b.WriteString("\n#EXT-X-TARGETDURATION:")
	b.WriteString(strconv.Itoa(in.TargetDuration))
	b.WriteString("\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=")
	b.WriteString(seconds(skipBoundary(in.TargetDuration)))
	b.WriteString(",PART-HOLD-BACK=")
	b.WriteString(seconds(partHoldBack(in.PartTarget)))
	b.WriteString("\n#EXT-X-PART-INF:PART-TARGET=")
	b.WriteString(seconds(in.PartTarget))
	b.WriteString("\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	if len(segs) > 0 {
		b.WriteString("#EXT-X-MEDIA-SEQUENCE:")
		b.WriteString(strconv.FormatUint(segs[0].msn, 10))
		b.WriteByte('\n')
	}
	if in.DiscSeq > 0 {
		b.WriteString("#EXT-X-DISCONTINUITY-SEQUENCE:")
		b.WriteString(strconv.FormatUint(in.DiscSeq, 10))
		b.WriteByte('\n')
	}
	if skipped > 0 {
		b.WriteString("#EXT-X-SKIP:SKIPPED-SEGMENTS=")
		b.WriteString(strconv.Itoa(skipped))
		b.WriteByte('\n')
	}
	for _, c := range in.Cues {
		writeDateRange(&b, c)
	}

	partsFrom := end - 3*td
	mapVersion := -1
	for i, s := range segs {
		if i < skipped {
			continue
		}
		listed := 0
		for _, p := range s.parts {
			if p.complete {
				listed++
			}
		}
		if !s.complete && listed == 0 {
			break // nothing of it to list yet; the hint follows
		}
		if s.disc {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if s.tracks.Version != mapVersion {
			mapVersion = s.tracks.Version
			b.WriteString(`#EXT-X-MAP:URI="`)
			b.WriteString(initName(in.Run, mapVersion))
			b.WriteString("\"\n")
		}
		if !s.wall.IsZero() {
			b.WriteString("#EXT-X-PROGRAM-DATE-TIME:")
			b.WriteString(s.wall.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
			b.WriteByte('\n')
		}
		if !s.complete || segEnd(s) > partsFrom {
			for j, p := range s.parts {
				if !p.complete {
					break
				}
				b.WriteString("#EXT-X-PART:DURATION=")
				b.WriteString(seconds(p.dur))
				b.WriteString(`,URI="`)
				b.WriteString(partName(in.Run, s.msn, j))
				b.WriteByte('"')
				if p.independent {
					b.WriteString(",INDEPENDENT=YES")
				}
				b.WriteByte('\n')
			}
		}
		if s.complete {
			b.WriteString("#EXTINF:")
			b.WriteString(seconds(s.dur))
			b.WriteString(",\n")
			b.WriteString(segmentName(in.Run, s.msn))
			b.WriteByte('\n')
		}
	}
	if in.Ended {
		b.WriteString("#EXT-X-ENDLIST\n")
	} else if n := len(segs); n > 0 && !segs[n-1].complete {
		s := segs[n-1]
		if p := s.parts[len(s.parts)-1]; !p.complete {
			b.WriteString(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="`)
			b.WriteString(partName(in.Run, s.msn, len(s.parts)-1))
			b.WriteString("\"\n")
		}
	}
	return []byte(b.String())
}

// writeDateRange writes a cue as an EXT-X-DATERANGE (4.4.5.1). Client
// attributes: X-TYPE, the cue's type; X-DATA, its JSON payload in base64
// (a quoted-string cannot hold JSON's quotes).
func writeDateRange(b *strings.Builder, c cueEntry) {
	b.WriteString(`#EXT-X-DATERANGE:ID="`)
	b.WriteString(quotable(c.ID))
	b.WriteString(`",CLASS="` + CueScheme + `",START-DATE="`)
	b.WriteString(c.start.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	b.WriteByte('"')
	if c.Duration > 0 {
		b.WriteString(",DURATION=")
		b.WriteString(seconds(c.Duration))
	}
	if c.Type != "" {
		b.WriteString(`,X-TYPE="`)
		b.WriteString(quotable(c.Type))
		b.WriteByte('"')
	}
	if d := validJSON(c.Data); d != nil {
		b.WriteString(`,X-DATA="`)
		b.WriteString(base64.StdEncoding.EncodeToString(d))
		b.WriteByte('"')
	}
	b.WriteByte('\n')
}

// quotable makes s fit in a quoted-string (4.2): no double quote, CR, LF,
// or other control character (4.1), each replaced by '_'.
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			return '_'
		}
		return r
	}, strings.ToValidUTF8(s, "_"))
}

// seconds formats d as a decimal-floating-point number of seconds with
// millisecond precision.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

// variant is one Variant Stream of a multivariant playlist.
type variant struct {
	URI           string
	Bandwidth     int // peak, bits per second
	Codecs        []string
	Width, Height int
}

// renderMultivariant renders a multivariant playlist (4.4.6): one
// EXT-X-STREAM-INF per variant. Today a stream has one variant, its media
// playlist; the ABR ladder adds its renditions here.
func renderMultivariant(vs []variant) []byte {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for _, v := range vs {
		b.WriteString("#EXT-X-STREAM-INF:BANDWIDTH=")
		b.WriteString(strconv.Itoa(max(v.Bandwidth, 1)))
		if len(v.Codecs) > 0 {
			b.WriteString(`,CODECS="`)
			b.WriteString(quotable(strings.Join(v.Codecs, ",")))
			b.WriteByte('"')
		}
		if v.Width > 0 && v.Height > 0 {
			b.WriteString(",RESOLUTION=")
			b.WriteString(strconv.Itoa(v.Width))
			b.WriteByte('x')
			b.WriteString(strconv.Itoa(v.Height))
		}
		b.WriteByte('\n')
		b.WriteString(v.URI)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

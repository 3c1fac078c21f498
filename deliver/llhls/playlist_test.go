package llhls

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/hub"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (run with -update and review the diff):\n%s", name, got)
	}
}

// playlistCases are segmenter states, each rendered full and as a delta
// update, checked against the spec's rules and golden files.
var playlistCases = []struct {
	name  string
	build func(s *segmenter)
	ended bool
}{
	{"live", func(s *segmenter) {
		feed(s, newSynth(1, true, true, 3000, 30), 7500*time.Millisecond)
	}, false},
	{"long_window", func(s *segmenter) {
		feed(s, newSynth(1, true, true, 3000, 30), 30100*time.Millisecond)
	}, false},
	{"cues", func(s *segmenter) {
		src := newSynth(1, true, true, 3000, 30)
		feed(s, src, 3300*time.Millisecond)
		s.push(&hub.Packet{Cue: &hub.Cue{ID: "poll-1", Type: "poll.opened", Time: 3300 * time.Millisecond,
			Duration: 15 * time.Second, Data: json.RawMessage(`{"q":"Who \"wins\"?"}`), Wall: epoch.Add(3300 * time.Millisecond)}})
		s.push(&hub.Packet{Cue: &hub.Cue{ID: "lot\n2", Type: "lot.sold", Time: 3310 * time.Millisecond}})
		feed(s, src, 4500*time.Millisecond)
	}, false},
	{"discontinuity", func(s *segmenter) {
		feed(s, newSynth(1, true, true, 3000, 30), 3*time.Second)
		b := newSynth(2, true, true, 3000, 30)
		b.from = 3 * time.Second
		feed(s, b, 6100*time.Millisecond)
	}, false},
	{"ended", func(s *segmenter) {
		feed(s, newSynth(1, true, true, 3000, 30), 5*time.Second)
		s.flush()
	}, true},
	{"audio_only", func(s *segmenter) {
		feed(s, newSynth(1, false, true, 0, 1), 2500*time.Millisecond)
	}, false},
}

func feed(s *segmenter, src *synth, until time.Duration) {
	for _, p := range src.until(until) {
		s.push(p)
	}
}

func TestRenderMedia(t *testing.T) {
	for _, tc := range playlistCases {
		for _, skip := range []bool{false, true} {
			name := tc.name
			if skip {
				name += "_delta"
			}
			t.Run(name, func(t *testing.T) {
				s := newSegmenter(segmenterConfig{PartTarget: 200 * time.Millisecond, SegmentTarget: 2 * time.Second, Window: 10, Keep: 14})
				tc.build(s)
				got := renderMedia(s.playlist("run1", tc.ended), skip)
				checkPlaylistRules(t, string(got), s)
				checkGolden(t, name+".m3u8", got)
			})
		}
	}
}

func TestRenderMultivariant(t *testing.T) {
	got := renderMultivariant([]variant{{URI: "media.m3u8", Bandwidth: 1234567, Codecs: []string{"avc1.42c01e", "mp4a.40.2"}, Width: 640, Height: 360}})
	checkGolden(t, "multivariant.m3u8", got)
}

// checkPlaylistRules checks a media playlist against RFC 8216bis rules
// independently of how it was rendered.
func checkPlaylistRules(t *testing.T, text string, s *segmenter) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(text))
	var (
		lines                           []string
		version, td                     int
		partTarget, holdBack, skipUntil float64
		msn                             uint64
		haveMSN                         bool
		partIdx                         int
		inSegment                       bool // media segment tags seen since the last URI
		nextPart                        string
		ended, hint, pdt, daterange     bool
	)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) == 0 || lines[0] != "#EXTM3U" {
		t.Fatalf("playlist does not start with #EXTM3U:\n%s", text)
	}
	attr := func(line, key string) string {
		_, rest, _ := strings.Cut(line, ":")
		for _, kv := range splitAttrs(rest) {
			k, v, _ := strings.Cut(kv, "=")
			if k == key {
				return strings.Trim(v, `"`)
			}
		}
		return ""
	}
	num := func(s string) float64 {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("bad number %q", s)
		}
		return f
	}
	segTags := func(line string) bool {
		for _, p := range []string{"#EXTINF", "#EXT-X-PART:", "#EXT-X-MAP", "#EXT-X-PROGRAM-DATE-TIME", "#EXT-X-DISCONTINUITY\n"} {
			if strings.HasPrefix(line+"\n", p) {
				return true
			}
		}
		return false
	}
	for i, line := range lines[1:] {
		header := strings.HasPrefix(line, "#EXT-X-VERSION") || strings.HasPrefix(line, "#EXT-X-TARGETDURATION") ||
			strings.HasPrefix(line, "#EXT-X-SERVER-CONTROL") || strings.HasPrefix(line, "#EXT-X-PART-INF") ||
			strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE") || strings.HasPrefix(line, "#EXT-X-DISCONTINUITY-SEQUENCE")
		if header && (inSegment || nextPart != "") {
			t.Errorf("line %d: header tag %q after media segments", i+2, line)
		}
		if hint && line != "" && line != "#EXT-X-ENDLIST" {
			t.Errorf("line %d: %q after the preload hint", i+2, line)
		}
		switch {
		case strings.HasPrefix(line, "#EXT-X-VERSION:"):
			version = int(num(line[len("#EXT-X-VERSION:"):]))
		case strings.HasPrefix(line, "#EXT-X-TARGETDURATION:"):
			td = int(num(line[len("#EXT-X-TARGETDURATION:"):]))
		case strings.HasPrefix(line, "#EXT-X-SERVER-CONTROL:"):
			holdBack = num(attr(line, "PART-HOLD-BACK"))
			skipUntil = num(attr(line, "CAN-SKIP-UNTIL"))
			if attr(line, "CAN-BLOCK-RELOAD") != "YES" {
				t.Errorf("no CAN-BLOCK-RELOAD=YES")
			}
		case strings.HasPrefix(line, "#EXT-X-PART-INF:"):
			partTarget = num(attr(line, "PART-TARGET"))
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			msn = uint64(num(line[len("#EXT-X-MEDIA-SEQUENCE:"):]))
			haveMSN = true
		case strings.HasPrefix(line, "#EXT-X-SKIP:"):
			if version < 9 {
				t.Errorf("EXT-X-SKIP in a version %d playlist", version)
			}
			if inSegment {
				t.Errorf("EXT-X-SKIP after segments")
			}
			msn += uint64(num(attr(line, "SKIPPED-SEGMENTS")))
		case strings.HasPrefix(line, "#EXT-X-DATERANGE:"):
			daterange = true
			if attr(line, "ID") == "" || attr(line, "START-DATE") == "" {
				t.Errorf("date range without ID or START-DATE: %s", line)
			}
			if _, err := time.Parse(time.RFC3339Nano, attr(line, "START-DATE")); err != nil {
				t.Errorf("START-DATE: %v", err)
			}
		case strings.HasPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"):
			pdt = true
			if _, err := time.Parse(time.RFC3339Nano, line[len("#EXT-X-PROGRAM-DATE-TIME:"):]); err != nil {
				t.Errorf("PROGRAM-DATE-TIME: %v", err)
			}
		case strings.HasPrefix(line, "#EXT-X-PART:"):
			if !haveMSN {
				t.Fatal("EXT-X-PART before EXT-X-MEDIA-SEQUENCE")
			}
			want := partName("run1", msn, partIdx)
			if uri := attr(line, "URI"); uri != want {
				t.Errorf("part URI %s, want %s (consecutive part numbering)", uri, want)
			}
			if d := num(attr(line, "DURATION")); d > partTarget {
				t.Errorf("part %s lasts %.3f, more than PART-TARGET %.3f", want, d, partTarget)
			}
			partIdx++
			inSegment = true
			nextPart = partName("run1", msn, partIdx)
		case strings.HasPrefix(line, "#EXTINF:"):
			d := num(strings.TrimSuffix(line[len("#EXTINF:"):], ","))
			if int(math.Round(d)) > td {
				t.Errorf("segment of %.3f s exceeds the target duration %d", d, td)
			}
			inSegment = true
		case strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT:"):
			hint = true
			if attr(line, "TYPE") != "PART" {
				t.Errorf("hint type %q", attr(line, "TYPE"))
			}
			if want := nextPart; attr(line, "URI") != want && attr(line, "URI") != partName("run1", msn, 0) {
				t.Errorf("hint %s is not the next part %s", attr(line, "URI"), want)
			}
		case line == "#EXT-X-ENDLIST":
			ended = true
		case line == "" || strings.HasPrefix(line, "#"):
			if segTags(line) {
				inSegment = true
			}
		default: // a segment URI
			if want := segmentName("run1", msn); line != want {
				t.Errorf("segment URI %s, want %s", line, want)
			}
			msn++
			partIdx = 0
			inSegment = false
			nextPart = partName("run1", msn, 0)
		}
	}
	if ended && hint {
		t.Error("EXT-X-PRELOAD-HINT with EXT-X-ENDLIST")
	}
	if daterange && !pdt {
		t.Error("EXT-X-DATERANGE without EXT-X-PROGRAM-DATE-TIME")
	}
	if holdBack < 2*partTarget-1e-9 {
		t.Errorf("PART-HOLD-BACK %.3f < 2 x PART-TARGET %.3f", holdBack, partTarget)
	}
	if skipUntil < 6*float64(td) {
		t.Errorf("CAN-SKIP-UNTIL %.3f < 6 x target duration %d", skipUntil, td)
	}
	if want := fmt.Sprint(s.targetDuration()); fmt.Sprint(td) != want {
		t.Errorf("target duration %d, segmenter says %s", td, want)
	}
}

// splitAttrs splits an attribute-list at commas outside quotes.
func splitAttrs(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func TestQuotable(t *testing.T) {
	for in, want := range map[string]string{
		"plain":       "plain",
		`a"b`:         "a_b",
		"a\nb\rc\x00": "a_b_c_",
		"\xff":        "_",
		"é":           "é",
	} {
		if got := quotable(in); got != want {
			t.Errorf("quotable(%q) = %q, want %q", in, got, want)
		}
	}
}

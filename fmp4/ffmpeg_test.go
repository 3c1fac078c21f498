package fmp4

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/media/aac"
	"github.com/liveloop/liveloop/media/h264"
)

// TestFFmpeg is the real-peer check: ffmpeg encodes H.264 (with and without
// B-frames) and AAC, the stream is muxed here as init segment + one
// prft/emsg/moof/mdat per frame, and ffprobe and ffmpeg must read the file
// without a single warning and report exactly the codecs, sizes, frame
// counts and timestamps that were written. ffmpeg is required, not
// optional: CI installs it.
func TestFFmpeg(t *testing.T) {
	for _, c := range []struct {
		name    string
		bframes int
		offset  int64 // added to every decode time, in 90 kHz ticks
		// audioPart > 1 muxes audio in fragments of that many frames
		// (AppendFragmentFrames), as LL-HLS parts do.
		audioPart int
	}{
		{"bframes", 2, 0, 1},
		{"no_bframes", 0, 0, 1},
		{"bframes_large_timestamps_audio_parts", 2, 1 << 33, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			testFFmpeg(t, c.bframes, c.offset, c.audioPart)
		})
	}
}

func run(t *testing.T, name string, args ...string) (stdout, stderr []byte) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required for this test (apt-get install ffmpeg): %v", name, err)
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.Bytes())
	}
	return out.Bytes(), errb.Bytes()
}

type probePacket struct {
	PTS   *int64 `json:"pts"`
	DTS   *int64 `json:"dts"`
	Flags string `json:"flags"`
}

func probePackets(t *testing.T, file, stream string) []probePacket {
	t.Helper()
	out, _ := run(t, "ffprobe", "-v", "error", "-select_streams", stream,
		"-show_entries", "packet=pts,dts,flags", "-of", "json", file)
	var v struct{ Packets []probePacket }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	return v.Packets
}

// source holds the tracks and frames made from ffmpeg's output.
type source struct {
	video, audio     *media.Track
	vframes, aframes []media.Frame
}

// encode makes 2 s of 640x360 30 fps H.264 and 48 kHz AAC with ffmpeg, in
// MPEG-TS (90 kHz timestamps, Annex B video, ADTS audio); takes the
// timestamps from ffprobe and the bitstreams from raw .h264 and .adts
// copies; and turns them into media.Tracks and media.Frames with the
// media/h264 and media/aac packages, as ingest does.
func encode(t *testing.T, dir string, bframes int) *source {
	ts := filepath.Join(dir, "src.ts")
	run(t, "ffmpeg", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "2", "-pix_fmt", "yuv420p",
		"-c:v", "libx264", "-preset", "veryfast", "-bf", strconv.Itoa(bframes), "-g", "30",
		"-x264-params", "aud=1", "-c:a", "aac", "-b:a", "96k", "-f", "mpegts", ts)
	vfile, afile := filepath.Join(dir, "v.h264"), filepath.Join(dir, "a.adts")
	run(t, "ffmpeg", "-v", "error", "-nostdin", "-i", ts,
		"-map", "0:v", "-c", "copy", "-f", "h264", vfile,
		"-map", "0:a", "-c", "copy", "-f", "adts", afile)
	packets := probePackets(t, ts, "v:0")

	src := &source{}
	// Video: one access unit per AUD (x264 aud=1), parameter sets into the
	// decoder configuration, the rest into AVCC frames.
	annexB, err := os.ReadFile(vfile)
	if err != nil {
		t.Fatal(err)
	}
	var sps, pps [][]byte
	var aus [][][]byte
	for _, nal := range h264.SplitAnnexB(annexB) {
		switch h264.NALUType(nal) {
		case h264.NALUTypeAUD:
			aus = append(aus, nil)
		case h264.NALUTypeSPS:
			if sps == nil {
				sps = [][]byte{nal}
			}
		case h264.NALUTypePPS:
			if pps == nil {
				pps = [][]byte{nal}
			}
		default:
			if len(aus) == 0 {
				t.Fatal("NAL unit before the first access unit delimiter")
			}
			aus[len(aus)-1] = append(aus[len(aus)-1], nal)
		}
	}
	if len(aus) != len(packets) || len(aus) != 60 {
		t.Fatalf("%d access units, %d packets; want 60", len(aus), len(packets))
	}
	cfg, err := h264.NewDecoderConfig(sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	s, err := h264.ParseSPS(sps[0])
	if err != nil {
		t.Fatal(err)
	}
	src.video = &media.Track{ID: 1, Kind: media.KindVideo, Codec: media.CodecH264,
		Config: cfg.Marshal(), CodecString: s.CodecString(), ClockRate: 90000,
		Width: s.Width, Height: s.Height}
	dts0 := *packets[0].DTS
	for i, au := range aus {
		p := packets[i]
		data := h264.AppendAVCC(nil, au...)
		key := h264.IsKeyframe(data)
		if key != strings.Contains(p.Flags, "K") {
			t.Fatalf("frame %d: IsKeyframe %v, ffprobe flags %q", i, key, p.Flags)
		}
		src.vframes = append(src.vframes, media.Frame{
			DTS: *p.DTS - dts0, PTS: *p.PTS - dts0, Duration: 3000, Key: key, Data: data,
		})
	}
	reordered := 0
	for i := 1; i < len(src.vframes); i++ {
		if src.vframes[i].PTS < src.vframes[i-1].PTS {
			reordered++
		}
	}
	if (bframes > 0) != (reordered > 0) {
		t.Fatalf("%d frames presented before their predecessor, with %d B-frames", reordered, bframes)
	}

	// Audio: raw AAC frames out of ADTS, 1024 samples each.
	adts, err := os.ReadFile(afile)
	if err != nil {
		t.Fatal(err)
	}
	for len(adts) > 0 {
		hdr, payload, rest, err := aac.ParseADTS(adts)
		if err != nil {
			t.Fatal(err)
		}
		if src.audio == nil {
			c := hdr.Config()
			src.audio = &media.Track{ID: 2, Kind: media.KindAudio, Codec: media.CodecAAC,
				Config: c.Marshal(), CodecString: c.CodecString(), ClockRate: uint32(c.SampleRate),
				SampleRate: c.SampleRate, Channels: c.Channels}
		}
		n := int64(len(src.aframes)) * 1024
		src.aframes = append(src.aframes, media.Frame{Track: 1, DTS: n, PTS: n, Duration: 1024, Key: true, Data: payload})
		adts = rest
	}
	if len(src.aframes) < 90 {
		t.Fatalf("%d AAC frames, want about 94", len(src.aframes))
	}
	return src
}

func testFFmpeg(t *testing.T, bframes int, offset int64, audioPart int) {
	dir := t.TempDir()
	src := encode(t, dir, bframes)
	for i := range src.vframes {
		src.vframes[i].DTS += offset
		src.vframes[i].PTS += offset
	}
	aoffset := offset * int64(src.audio.ClockRate) / 90000

	init, err := InitSegment([]*media.Track{src.video, src.audio})
	if err != nil {
		t.Fatal(err)
	}
	out := init
	wall0 := time.Date(2025, 11, 21, 16, 0, 0, 0, time.UTC)
	seq := uint32(0)
	vi, ai, nfrags := 0, 0, 0
	for vi < len(src.vframes) || ai < len(src.aframes) {
		seq++
		// Interleave by decode time, as the hub delivers.
		vt := float64(src.vframes[min(vi, len(src.vframes)-1)].DTS-offset) / 90000
		at := float64(src.aframes[min(ai, len(src.aframes)-1)].DTS) / float64(src.audio.ClockRate)
		if ai >= len(src.aframes) || (vi < len(src.vframes) && vt <= at) {
			f := &src.vframes[vi]
			wall := wall0.Add(media.TicksToDuration(f.DTS-offset, 90000))
			out = AppendPRFT(out, src.video.ID, wall, uint64(f.PTS))
			if vi == 10 {
				out = AppendEmsg(out, Event{SchemeIDURI: "urn:liveloop:cue:2025", Value: "poll",
					Timescale: 90000, PresentationTime: uint64(f.PTS), ID: 7, Data: []byte(`{"q":"?"}`)})
			}
			out = AppendFragment(out, seq, src.video, f)
			vi++
			nfrags++
		} else {
			var part []*media.Frame
			for ; ai < len(src.aframes) && len(part) < audioPart; ai++ {
				f := src.aframes[ai]
				f.DTS += aoffset
				f.PTS += aoffset
				part = append(part, &f)
			}
			out = AppendFragmentFrames(out, seq, src.audio, part)
			nfrags++
		}
	}
	file := filepath.Join(dir, "out.mp4")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}

	// Not a single warning from the demuxer or the decoders.
	if o, e := run(t, "ffprobe", "-v", "warning", "-hide_banner", file); len(o)+len(e) > 0 {
		t.Errorf("ffprobe -v warning printed:\n%s%s", o, e)
	}
	if o, e := run(t, "ffmpeg", "-v", "warning", "-hide_banner", "-nostats", "-nostdin", "-i", file, "-f", "null", "-"); len(o)+len(e) > 0 {
		t.Errorf("ffmpeg -v warning printed:\n%s%s", o, e)
	}

	// Codecs, sizes and frame counts (frames counted by decoding).
	o, _ := run(t, "ffprobe", "-v", "error", "-count_frames", "-show_entries",
		"stream=codec_name,width,height,sample_rate,channels,time_base,nb_read_frames", "-of", "json", file)
	var probe struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			SampleRate   string `json:"sample_rate"`
			Channels     int    `json:"channels"`
			TimeBase     string `json:"time_base"`
			NbReadFrames string `json:"nb_read_frames"`
		}
	}
	if err := json.Unmarshal(o, &probe); err != nil {
		t.Fatal(err)
	}
	if len(probe.Streams) != 2 {
		t.Fatalf("ffprobe found %d streams, want 2: %s", len(probe.Streams), o)
	}
	v, a := probe.Streams[0], probe.Streams[1]
	if got, want := fmt.Sprintf("%s %dx%d %s %s", v.CodecName, v.Width, v.Height, v.TimeBase, v.NbReadFrames),
		fmt.Sprintf("h264 640x360 1/90000 %d", len(src.vframes)); got != want {
		t.Errorf("video stream: %s, want %s", got, want)
	}
	if got, want := fmt.Sprintf("%s %s %d %s", a.CodecName, a.SampleRate, a.Channels, a.NbReadFrames),
		fmt.Sprintf("aac %d %d %d", src.audio.SampleRate, src.audio.Channels, len(src.aframes)); got != want {
		t.Errorf("audio stream: %s, want %s", got, want)
	}

	// Every packet's timestamps and key flag, as written.
	check := func(stream string, frames []media.Frame, shift int64) {
		packets := probePackets(t, file, stream)
		if len(packets) != len(frames) {
			t.Fatalf("%s: %d packets, want %d", stream, len(packets), len(frames))
		}
		for i, p := range packets {
			f := frames[i]
			if p.PTS == nil || p.DTS == nil || *p.PTS != f.PTS+shift || *p.DTS != f.DTS+shift ||
				strings.Contains(p.Flags, "K") != f.Key {
				t.Fatalf("%s packet %d: pts %v dts %v flags %q, want pts %d dts %d key %v",
					stream, i, deref(p.PTS), deref(p.DTS), p.Flags, f.PTS+shift, f.DTS+shift, f.Key)
			}
		}
	}
	check("v:0", src.vframes, 0)
	check("a:0", src.aframes, aoffset)

	// And our own parser agrees with ffmpeg on the same bytes.
	frags, err := ParseFragments(out[len(init):])
	if err != nil {
		t.Fatal(err)
	}
	if len(frags) != nfrags {
		t.Fatalf("parsed %d fragments, want %d", len(frags), nfrags)
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

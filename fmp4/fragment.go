package fmp4

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/liveloop/liveloop/media"
)

// Sample flags (ISO/IEC 14496-12 8.8.3.1):
//
//	bit(4) reserved=0; unsigned int(2) is_leading;
//	unsigned int(2) sample_depends_on; unsigned int(2) sample_is_depended_on;
//	unsigned int(2) sample_has_redundancy; bit(3) sample_padding_value;
//	bit(1) sample_is_non_sync_sample; unsigned int(16) sample_degradation_priority;
const (
	// SampleFlagsSync marks a sync sample: sample_depends_on = 2 (does not
	// depend on others), sample_is_non_sync_sample = 0.
	SampleFlagsSync uint32 = 2 << 24
	// SampleFlagsNonSync marks a sample that depends on others:
	// sample_depends_on = 1, sample_is_non_sync_sample = 1.
	SampleFlagsNonSync uint32 = 1<<24 | 1<<16
)

// IsSync reports whether sample flags mark a sync sample.
func IsSync(flags uint32) bool { return flags&(1<<16) == 0 }

// tfhd and trun flags (14496-12 8.8.7.1, 8.8.8.1).
const (
	tfhdBaseDataOffset         = 0x000001
	tfhdSampleDescriptionIndex = 0x000002
	tfhdDefaultDuration        = 0x000008
	tfhdDefaultSize            = 0x000010
	tfhdDefaultFlags           = 0x000020
	tfhdDefaultBaseIsMoof      = 0x020000

	trunDataOffset       = 0x000001
	trunFirstSampleFlags = 0x000004
	trunDuration         = 0x000100
	trunSize             = 0x000200
	trunFlags            = 0x000400
	trunCTSOffset        = 0x000800
)

// Sizes of the boxes AppendFragment writes.
const (
	mfhdSize        = 16
	tfhdSize        = 16
	tfdtSize        = 20
	trunHeaderSize  = 20 // header, sample_count, data_offset
	trunEntrySize   = 16 // duration, size, flags, composition offset
	moofFixedSize   = 8 + mfhdSize + 8 + tfhdSize + tfdtSize + trunHeaderSize
	mdatHeaderSize  = 8
	mdatLargeHeader = 16
)

// FragmentHeaderSize returns the size of the moof and mdat header that
// AppendFragment writes before a payload of n bytes.
func FragmentHeaderSize(n int) int {
	if uint64(n)+mdatHeaderSize > math.MaxUint32 {
		return moofFixedSize + trunEntrySize + mdatLargeHeader
	}
	return moofFixedSize + trunEntrySize + mdatHeaderSize
}

// AppendFragment appends one CMAF fragment, moof+mdat, that holds exactly one
// sample: frame f of track. seq is the mfhd sequence_number; it should
// increase by one per fragment of a track. The sample's decode time is
// f.DTS, its composition offset f.PTS-f.DTS, its duration f.Duration or,
// when that is not positive, a default for the codec (DefaultDuration).
// A negative DTS is written as 0: the hub keeps timelines non-negative.
//
// AppendFragment does not allocate when dst has room for
// FragmentHeaderSize(len(f.Data))+len(f.Data) more bytes.
func AppendFragment(dst []byte, seq uint32, track *media.Track, f *media.Frame) []byte {
	frames := [1]*media.Frame{f}
	return appendFragment(dst, seq, track, frames[:], true)
}

// AppendFragmentHeader appends what AppendFragment would, except the sample
// data: the moof and the mdat header. Sending its output followed by f.Data
// (e.g. with net.Buffers) gives the same bytes without copying the payload.
func AppendFragmentHeader(dst []byte, seq uint32, track *media.Track, f *media.Frame) []byte {
	frames := [1]*media.Frame{f}
	return appendFragment(dst, seq, track, frames[:], false)
}

// AppendFragmentFrames appends one fragment holding frames, consecutive
// frames of track in decode order, as one track run (an LL-HLS part, a
// recording's segment). Each sample but the last lasts until the next one's
// DTS; the last lasts its Duration (or the default). With no frames it
// appends nothing.
func AppendFragmentFrames(dst []byte, seq uint32, track *media.Track, frames []*media.Frame) []byte {
	if len(frames) == 0 {
		return dst
	}
	return appendFragment(dst, seq, track, frames, true)
}

// DefaultDuration returns the sample duration used for a frame of track
// whose Duration is unknown: 1024 samples for AAC (14496-3 frame length),
// 20 ms for Opus, 1/30 s for video, on the track's clock.
func DefaultDuration(track *media.Track) uint32 {
	rate := track.ClockRate
	var d uint32
	switch {
	case track.Codec == media.CodecAAC:
		d = 1024
	case track.Codec == media.CodecOpus:
		d = rate / 50
	default:
		d = rate / 30
	}
	return max(d, 1)
}

func clampU32(v int64) uint32 {
	return uint32(min(max(v, 0), math.MaxUint32))
}

func clampI32(v int64) int32 {
	return int32(min(max(v, math.MinInt32), math.MaxInt32))
}

// appendFragment writes moof and the mdat header, and the sample data when
// withData is set. Sizes are computed first so the output is written in one
// pass into a buffer grown at most once.
//
//	moof                      14496-12 8.8.4
//	  mfhd                    8.8.5
//	  traf                    8.8.6
//	    tfhd                  8.8.7   default-base-is-moof
//	    tfdt (version 1)      8.8.12  64-bit baseMediaDecodeTime
//	    trun (version 1)      8.8.8   data offset; per sample: duration, size, flags, cts offset
//	mdat                      8.1.1
func appendFragment(dst []byte, seq uint32, track *media.Track, frames []*media.Frame, withData bool) []byte {
	payload := 0
	for _, f := range frames {
		payload += len(f.Data)
	}
	moofSize := moofFixedSize + trunEntrySize*len(frames)
	mdatHdr := mdatHeaderSize
	if uint64(payload)+mdatHeaderSize > math.MaxUint32 {
		mdatHdr = mdatLargeHeader
	}
	n := moofSize + mdatHdr
	if withData {
		n += payload
	}
	b := slices.Grow(dst, n)

	b = appendHeader(b, moofSize, "moof")
	b = appendFullHeader(b, mfhdSize, "mfhd", 0, 0)
	b = appendU32(b, seq) // sequence_number
	b = appendHeader(b, moofSize-8-mfhdSize, "traf")
	// default-base-is-moof (14496-12 8.8.7.1): data offsets count from the
	// start of this moof, so a fragment is self-contained wherever it lands
	// in a file or a stream; CMAF requires it and forbids base_data_offset.
	b = appendFullHeader(b, tfhdSize, "tfhd", 0, tfhdDefaultBaseIsMoof)
	b = appendU32(b, uint32(track.ID))
	b = appendFullHeader(b, tfdtSize, "tfdt", 1, 0)
	b = appendU64(b, uint64(max(frames[0].DTS, 0))) // baseMediaDecodeTime
	// trun version 1 (14496-12 8.8.8.2): sample_composition_time_offset is
	// signed. CMAF (23000-19 clause 7, TrackRunBox) requires version 1 for
	// video tracks other than track files. For PTS >= DTS, all a valid
	// stream produces, its bytes equal version 0's; a PTS < DTS from a
	// broken publisher is carried as the small negative offset it is, not
	// as a huge unsigned one. Offsets are clamped to 32 bits (over 6 hours
	// at 90 kHz). Chromium's and Firefox's MSE, ffmpeg and GStreamer read
	// version 1.
	b = appendFullHeader(b, trunHeaderSize+trunEntrySize*len(frames), "trun", 1,
		trunDataOffset|trunDuration|trunSize|trunFlags|trunCTSOffset)
	b = appendU32(b, uint32(len(frames)))      // sample_count
	b = appendU32(b, uint32(moofSize+mdatHdr)) // data_offset: first byte of mdat payload
	for i, f := range frames {
		d := f.Duration
		if i+1 < len(frames) {
			if next := frames[i+1].DTS - f.DTS; next > 0 {
				d = next
			}
		}
		dur := clampU32(d)
		if d <= 0 {
			dur = DefaultDuration(track)
		}
		flags := SampleFlagsNonSync
		if f.Key {
			flags = SampleFlagsSync
		}
		b = appendU32(b, dur)
		b = appendU32(b, uint32(len(f.Data))) // a frame is far below 4 GiB
		b = appendU32(b, flags)
		b = appendU32(b, uint32(clampI32(f.PTS-f.DTS)))
	}
	if mdatHdr == mdatLargeHeader {
		b = appendHeader(b, 1, "mdat")
		b = appendU64(b, uint64(payload)+mdatLargeHeader) // largesize
	} else {
		b = appendHeader(b, payload+mdatHeaderSize, "mdat")
	}
	if withData {
		for _, f := range frames {
			b = append(b, f.Data...)
		}
	}
	return b
}

// prftSize is the size of a version 1 prft.
const prftSize = 8 + 4 + 4 + 8 + 8

// AppendPRFT appends a version 1 ProducerReferenceTimeBox (ISO/IEC 14496-12
// 8.16.5) for the track trackID: wall, as an NTP timestamp (NTPTime), is the
// instant of media time mediaTime, in the track's timescale.
//
// Write it before the moof (and any emsg) of the fragment it describes. By the
// specification mediaTime is a presentation time: pass the PTS of the
// fragment's sample, so that a player comparing it with video.currentTime
// gets the ingest instant of the very frame on screen. Flags are
// PRFTFlagEncoderOutput: Liveloop stamps frames when they arrive from the
// publisher's encoder.
func AppendPRFT(dst []byte, trackID int, wall time.Time, mediaTime uint64) []byte {
	b := slices.Grow(dst, prftSize)
	b = appendFullHeader(b, prftSize, "prft", 1, PRFTFlagEncoderOutput)
	b = appendU32(b, uint32(trackID)) // reference_track_ID
	b = appendU64(b, NTPTime(wall))   // ntp_timestamp
	return appendU64(b, mediaTime)    // media_time
}

// cString returns s up to its first NUL byte.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// AppendEmsg appends a version 1 DASHEventMessageBox (ISO/IEC 23009-1
// 5.10.3.3) carrying e. Version 1 stamps the event with an absolute
// presentation time on e.Timescale, so the box can precede any fragment
// without depending on where a segment starts. Write it before the moof,
// after the prft if there is one: CMAF orders a chunk as
// [styp] [prft] [emsg...] moof mdat.
//
//	aligned(8) class DASHEventMessageBox extends FullBox('emsg', version = 1, flags = 0) {
//	    unsigned int(32) timescale;
//	    unsigned int(64) presentation_time;
//	    unsigned int(32) event_duration;
//	    unsigned int(32) id;
//	    string scheme_id_uri;
//	    string value;
//	    unsigned int(8) message_data[];
//	}
func AppendEmsg(dst []byte, e Event) []byte {
	scheme, value := cString(e.SchemeIDURI), cString(e.Value)
	size := 8 + 4 + 4 + 8 + 4 + 4 + len(scheme) + 1 + len(value) + 1 + len(e.Data)
	b := slices.Grow(dst, size)
	if uint64(size) > math.MaxUint32 {
		// Unreachable for cues; keep the box well-formed anyway.
		b = appendHeader(b, 1, "emsg")
		b = appendU64(b, uint64(size)+8)
		b = appendU32(b, 1<<24)
	} else {
		b = appendFullHeader(b, size, "emsg", 1, 0)
	}
	b = appendU32(b, e.Timescale)
	b = appendU64(b, e.PresentationTime)
	b = appendU32(b, e.Duration)
	b = appendU32(b, e.ID)
	b = append(b, scheme...)
	b = append(b, 0)
	b = append(b, value...)
	b = append(b, 0)
	return append(b, e.Data...)
}

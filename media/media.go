// Package media holds the codec-neutral types that every part of Liveloop
// exchanges: tracks with their codec parameters, and frames (one access unit
// of one track) stamped on the track's clock.
//
// Codec-specific parsing and conversion live in sub-packages (media/h264,
// media/aac). Nothing here does I/O.
package media

import "time"

// Kind tells a video track from an audio track.
type Kind uint8

// Track kinds.
const (
	KindVideo Kind = iota + 1
	KindAudio
)

func (k Kind) String() string {
	switch k {
	case KindVideo:
		return "video"
	case KindAudio:
		return "audio"
	}
	return "unknown"
}

// Codec names a coding format.
type Codec uint8

// Codecs Liveloop knows about.
const (
	CodecH264 Codec = iota + 1
	CodecH265
	CodecAV1
	CodecAAC
	CodecOpus
)

func (c Codec) String() string {
	switch c {
	case CodecH264:
		return "H264"
	case CodecH265:
		return "H265"
	case CodecAV1:
		return "AV1"
	case CodecAAC:
		return "AAC"
	case CodecOpus:
		return "Opus"
	}
	return "unknown"
}

// Track describes one elementary stream and the parameters a decoder needs.
// A Track is immutable once it has been handed to the hub: a change of codec
// parameters is announced as a new set of tracks.
type Track struct {
	// ID numbers the track within its stream, from 1; it is the track_ID in
	// fMP4 output.
	ID   int
	Kind Kind
	// Codec is the coding format; Config holds its decoder configuration:
	//   H264: an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1)
	//   AAC:  an AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1)
	//   Opus: an OpusHead-like config (RFC 7845 5.1), when known.
	Codec  Codec
	Config []byte
	// CodecString is the RFC 6381 codecs parameter, e.g. "avc1.64001f" or
	// "mp4a.40.2".
	CodecString string
	// ClockRate is the number of clock ticks per second of this track's
	// timestamps: 90000 for video, the sample rate for audio.
	ClockRate uint32

	// Video only.
	Width, Height int
	// Audio only.
	SampleRate, Channels int
}

// Frame is one access unit of one track: a whole video picture (all of its
// slices) or one audio frame. Frames are immutable once published; the hub
// shares one Frame among every subscriber.
type Frame struct {
	// Track is the index of the frame's track in the stream's track list.
	Track int
	// DTS and PTS are on the track's clock (Track.ClockRate ticks per second).
	DTS, PTS int64
	// Duration is the frame's expected duration on the track's clock: exact
	// for audio, the last observed frame interval for video. Zero if unknown.
	Duration int64
	// Key is set on frames a decoder can start from (IDR pictures; every
	// audio frame).
	Key bool
	// Data is the payload: for H.264, NAL units each prefixed by a 4-byte
	// big-endian length (AVCC); for AAC, one raw access unit without ADTS.
	Data []byte
	// Wall is the wall-clock instant at which the frame was ingested. It maps
	// media time to real time for latency measurement (fMP4 prft).
	Wall time.Time
}

// PTSDuration returns the frame's presentation time as a duration.
func (f *Frame) PTSDuration(clockRate uint32) time.Duration {
	return TicksToDuration(f.PTS, clockRate)
}

// TicksToDuration converts a timestamp on a clock of rate ticks per second to
// a time.Duration without overflowing for any practical stream length.
func TicksToDuration(ticks int64, rate uint32) time.Duration {
	if rate == 0 {
		return 0
	}
	sec := ticks / int64(rate)
	rem := ticks % int64(rate)
	return time.Duration(sec)*time.Second + time.Duration(rem)*time.Second/time.Duration(rate)
}

// DurationToTicks converts a duration to ticks of a clock of rate ticks per
// second, rounding to the nearest tick.
func DurationToTicks(d time.Duration, rate uint32) int64 {
	sec := int64(d / time.Second)
	rem := int64(d % time.Second)
	return sec*int64(rate) + (rem*int64(rate)+int64(time.Second)/2)/int64(time.Second)
}

// Sink receives one publisher's media: it is the hub's ingest side, seen
// from a protocol's ingest package.
type Sink interface {
	// SetTracks announces the publisher's tracks. It is called before the
	// first frame and again whenever codec parameters change; frames after it
	// refer to the new list.
	SetTracks(tracks []*Track) error
	// WriteFrame hands over one frame. The Sink keeps the Frame and its Data;
	// the caller must not modify them afterwards.
	WriteFrame(f *Frame) error
	// Done is closed when the hub ends this publisher (another publisher took
	// over the stream, or the server is shutting down). The ingest session
	// should then disconnect its client.
	Done() <-chan struct{}
	// Close ends the publication. Viewers are kept for a grace period in case
	// the publisher comes back.
	Close()
}

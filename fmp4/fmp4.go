// Package fmp4 is Liveloop's one CMAF muxer: it writes the init segment
// (ftyp+moov) for a set of media.Tracks, one moof+mdat fragment per frame (or
// per group of frames), and the prft and emsg boxes that carry wall-clock
// mapping and timed metadata in band. deliver/ws, deliver/llhls and record
// all share its output: the bytes of a fragment are made once per frame and
// sent to every viewer.
//
// The writers append to a caller's buffer and do not allocate when the buffer
// has room. The package also holds a small, hostile-input-safe parser
// (ReadBox, Boxes, ParseFragment) for tests, the load tool and fuzzing.
//
// Specifications: ISO/IEC 14496-12 (ISO base media file format, "ISOBMFF"),
// 14496-14 (MP4, esds), 14496-15 (avcC), 23000-19 (CMAF), 23009-1 5.10.3.3
// (emsg), and "Encapsulation of Opus in ISO Base Media File Format" (dOps).
// Clause numbers in comments refer to these.
//
// Nothing here does I/O.
package fmp4

import (
	"errors"
	"time"
)

// Errors returned by this package. They are wrapped with context; check them
// with errors.Is.
var (
	// ErrUnsupportedCodec means the muxer has no sample entry for a codec.
	ErrUnsupportedCodec = errors.New("fmp4: unsupported codec")
	// ErrInvalidTrack means a track's parameters cannot be written.
	ErrInvalidTrack = errors.New("fmp4: invalid track")
	// ErrTruncated means a box or field extends past the end of the input.
	ErrTruncated = errors.New("fmp4: truncated input")
	// ErrMalformed means the input breaks a rule of the box syntax.
	ErrMalformed = errors.New("fmp4: malformed input")
)

// Event is one DASH event message (ISO/IEC 23009-1 5.10.3.3), Liveloop's
// in-band carrier for timed metadata cues.
type Event struct {
	// SchemeIDURI identifies the message scheme, e.g.
	// "urn:liveloop:cue:2025". Value distinguishes events within the scheme.
	// Neither may contain a NUL byte: a string is cut at its first NUL.
	SchemeIDURI, Value string
	// Timescale is the number of ticks per second of PresentationTime and
	// Duration; use the track's ClockRate to stamp a cue on the media clock.
	Timescale uint32
	// PresentationTime is the event's start on the media timeline (version 1
	// emsg). When parsed from a version 0 box it holds
	// presentation_time_delta, relative to the segment's earliest
	// presentation time.
	PresentationTime uint64
	// Duration is the event's duration; 0xFFFFFFFF means unknown.
	Duration uint32
	// ID identifies the event instance: equal IDs within a scheme are the
	// same event (a player fires it once).
	ID uint32
	// Data is the message payload (the cue, as JSON in Liveloop).
	Data []byte
}

// PRFT is a parsed ProducerReferenceTimeBox (ISO/IEC 14496-12 8.16.5).
type PRFT struct {
	// Version is 0 (32-bit media time) or 1 (64-bit media time).
	Version uint8
	// Flags says which instant NTP marks; see the PRFTFlag constants.
	Flags uint32
	// TrackID is the reference_track_ID.
	TrackID uint32
	// NTP is the ntp_timestamp: seconds since 1900 in the high 32 bits and
	// the binary fraction of a second in the low 32.
	NTP uint64
	// MediaTime is the presentation time, in the reference track's
	// timescale, that NTP corresponds to.
	MediaTime uint64
}

// Wall returns the wall-clock instant of p.NTP.
func (p PRFT) Wall() time.Time { return TimeFromNTP(p.NTP) }

// Values of the prft flags field (ISO/IEC 14496-12:2022 8.16.5.3): which
// instant the NTP timestamp marks for the sample whose presentation time is
// media_time.
const (
	PRFTFlagEncoderInput  = 0  // the frame was input to the encoder
	PRFTFlagEncoderOutput = 1  // the frame was output from the encoder
	PRFTFlagFinalized     = 2  // the following moof was finalized
	PRFTFlagWritten       = 4  // the following moof was written
	PRFTFlagConsistent    = 8  // arbitrary but consistent instant
	PRFTFlagCaptured      = 24 // the frame was captured
)

// ntpEpochOffset is the number of seconds from 1900-01-01 (NTP epoch, RFC
// 5905) to 1970-01-01 (Unix epoch).
const ntpEpochOffset = 2208988800

// NTPTime returns t as a 64-bit NTP timestamp (RFC 5905 6): seconds since
// 1900-01-01 UTC in the high 32 bits, the fraction of a second in the low 32.
// Seconds wrap modulo 2^32 (NTP era 1 begins in 2036). Instants before 1900,
// including the zero time.Time, give 0.
func NTPTime(t time.Time) uint64 {
	sec := t.Unix() + ntpEpochOffset
	if sec < 0 || t.IsZero() {
		return 0
	}
	ns := uint64(t.Nanosecond())
	// Round to the nearest 2^-32 s; ns < 1e9 keeps frac below 2^32.
	frac := (ns<<32 + 500_000_000) / 1_000_000_000
	return uint64(uint32(sec))<<32 | frac
}

// TimeFromNTP converts a 64-bit NTP timestamp to a time.Time. Following RFC
// 4330 3, a seconds field with its top bit clear is taken to be in NTP era 1
// (2036 to 2104), so the result lies between 1968 and 2104. Zero gives the
// zero time.Time.
func TimeFromNTP(ntp uint64) time.Time {
	if ntp == 0 {
		return time.Time{}
	}
	sec := int64(ntp >> 32)
	if sec&0x80000000 == 0 {
		sec += 1 << 32
	}
	ns := (ntp&0xFFFFFFFF*1_000_000_000 + 1<<31) >> 32
	return time.Unix(sec-ntpEpochOffset, int64(ns)).UTC()
}

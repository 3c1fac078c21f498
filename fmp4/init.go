package fmp4

import (
	"fmt"

	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/media/opus"
)

// maxConfigSize bounds a track's codec configuration. Real ones are tens of
// bytes; the bound keeps every init segment box far below 4 GiB.
const maxConfigSize = 1 << 20

// InitSegment returns the CMAF header (ftyp+moov) for tracks: one trak per
// track, with track_ID = Track.ID and timescale = Track.ClockRate. It returns
// an error wrapping ErrInvalidTrack for unusable parameters and
// ErrUnsupportedCodec for codecs without a sample entry here (H.265, AV1).
func InitSegment(tracks []*media.Track) ([]byte, error) {
	return AppendInit(nil, tracks)
}

// AppendInit appends the CMAF header for tracks to dst; see InitSegment.
// On error dst is returned unchanged.
func AppendInit(dst []byte, tracks []*media.Track) ([]byte, error) {
	if err := checkTracks(tracks); err != nil {
		return dst, err
	}
	b := appendFtyp(dst)
	b, moov := beginBox(b, "moov") // 14496-12 8.2.1
	b = appendMvhd(b, tracks)
	for _, t := range tracks {
		var err error
		if b, err = appendTrak(b, t); err != nil {
			return dst, err
		}
	}
	b, mvex := beginBox(b, "mvex") // 8.8.1: movie fragments follow
	for _, t := range tracks {
		b = appendTrex(b, t)
	}
	b = endBox(b, mvex)
	return endBox(b, moov), nil
}

func checkTracks(tracks []*media.Track) error {
	if len(tracks) == 0 {
		return fmt.Errorf("no tracks: %w", ErrInvalidTrack)
	}
	seen := make(map[int]bool, len(tracks))
	for i, t := range tracks {
		switch {
		case t == nil:
			return fmt.Errorf("track %d is nil: %w", i, ErrInvalidTrack)
		case t.ID <= 0 || int64(t.ID) > 0xFFFFFFFF:
			return fmt.Errorf("track %d: ID %d out of range: %w", i, t.ID, ErrInvalidTrack)
		case seen[t.ID]:
			return fmt.Errorf("track %d: duplicate ID %d: %w", i, t.ID, ErrInvalidTrack)
		case t.ClockRate == 0:
			return fmt.Errorf("track %d: zero ClockRate: %w", i, ErrInvalidTrack)
		case len(t.Config) > maxConfigSize:
			return fmt.Errorf("track %d: %d-byte codec config: %w", i, len(t.Config), ErrInvalidTrack)
		case t.Kind != media.KindVideo && t.Kind != media.KindAudio:
			return fmt.Errorf("track %d: kind %v: %w", i, t.Kind, ErrInvalidTrack)
		case t.Width < 0 || t.Width > 0xFFFF || t.Height < 0 || t.Height > 0xFFFF:
			return fmt.Errorf("track %d: size %dx%d: %w", i, t.Width, t.Height, ErrInvalidTrack)
		}
		seen[t.ID] = true
	}
	return nil
}

// appendFtyp writes the FileTypeBox (14496-12 4.3). The major brand is
// 'cmfc', the CMAF structural brand (23000-19 7.2), which 23000-19 7.3.2.1
// requires among the compatible brands of a CMAF header; 'iso6' because the
// fragments use tfdt and trun version 1 (14496-12 E.7 lists them under iso6);
// 'mp41' for players that look for an MP4 brand. MSE accepts any brands.
func appendFtyp(b []byte) []byte {
	b = appendHeader(b, 8+8+4*3, "ftyp")
	b = append(b, "cmfc"...) // major_brand
	b = appendU32(b, 0)      // minor_version
	return append(b, "iso6cmfcmp41"...)
}

// unityMatrix is the identity transformation matrix of mvhd and tkhd
// (14496-12 8.2.2.3), in 16.16 and 2.30 fixed point.
var unityMatrix = [9]uint32{0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000}

func appendMatrix(b []byte) []byte {
	for _, v := range unityMatrix {
		b = appendU32(b, v)
	}
	return b
}

// appendMvhd writes the MovieHeaderBox (14496-12 8.2.2), version 0. Duration
// is 0: the duration of a fragmented movie is unknown (23000-19 7.5.1).
func appendMvhd(b []byte, tracks []*media.Track) []byte {
	next := 0
	for _, t := range tracks {
		next = max(next, t.ID)
	}
	b, start := beginFullBox(b, "mvhd", 0, 0)
	b = appendU32(b, 0)          // creation_time
	b = appendU32(b, 0)          // modification_time
	b = appendU32(b, 1000)       // timescale
	b = appendU32(b, 0)          // duration
	b = appendU32(b, 0x00010000) // rate 1.0
	b = appendU16(b, 0x0100)     // volume 1.0
	b = appendZeros(b, 2+4*2)    // reserved
	b = appendMatrix(b)
	b = appendZeros(b, 4*6)          // pre_defined
	b = appendU32(b, uint32(next+1)) // next_track_ID
	return endBox(b, start)
}

func appendTrak(b []byte, t *media.Track) ([]byte, error) {
	b, trak := beginBox(b, "trak") // 14496-12 8.3.1
	b = appendTkhd(b, t)
	b, mdia := beginBox(b, "mdia") // 8.4.1
	b = appendMdhd(b, t)
	b = appendHdlr(b, t)
	b, minf := beginBox(b, "minf") // 8.4.4
	if t.Kind == media.KindVideo {
		b = appendFullHeader(b, 20, "vmhd", 0, 1) // 12.1.2: flags = 1
		b = appendZeros(b, 2+3*2)                 // graphicsmode, opcolor
	} else {
		b = appendFullHeader(b, 16, "smhd", 0, 0) // 12.2.2
		b = appendZeros(b, 2+2)                   // balance, reserved
	}
	// 8.7.1, 8.7.2: one data entry, flag 1 = media in this file.
	b = appendHeader(b, 36, "dinf")
	b = appendFullHeader(b, 28, "dref", 0, 0)
	b = appendU32(b, 1) // entry_count
	b = appendFullHeader(b, 12, "url ", 0, 1)
	b, stbl := beginBox(b, "stbl") // 8.5.1
	var err error
	if b, err = appendStsd(b, t); err != nil {
		return b, err
	}
	// Empty sample tables: every sample is in a movie fragment (8.8.1).
	b = appendFullHeader(b, 16, "stts", 0, 0) // 8.6.1.2
	b = appendU32(b, 0)
	b = appendFullHeader(b, 16, "stsc", 0, 0) // 8.7.4
	b = appendU32(b, 0)
	b = appendFullHeader(b, 20, "stsz", 0, 0) // 8.7.3.2
	b = appendU32(b, 0)                       // sample_size
	b = appendU32(b, 0)                       // sample_count
	b = appendFullHeader(b, 16, "stco", 0, 0) // 8.7.5
	b = appendU32(b, 0)
	b = endBox(b, stbl)
	b = endBox(b, minf)
	b = endBox(b, mdia)
	return endBox(b, trak), nil
}

// appendTkhd writes the TrackHeaderBox (14496-12 8.3.2), version 0, flags
// track_enabled|track_in_movie.
func appendTkhd(b []byte, t *media.Track) []byte {
	b, start := beginFullBox(b, "tkhd", 0, 0x000003)
	b = appendU32(b, 0)            // creation_time
	b = appendU32(b, 0)            // modification_time
	b = appendU32(b, uint32(t.ID)) // track_ID
	b = appendU32(b, 0)            // reserved
	b = appendU32(b, 0)            // duration
	b = appendZeros(b, 4*2)        // reserved
	b = appendU16(b, 0)            // layer
	b = appendU16(b, 0)            // alternate_group
	if t.Kind == media.KindAudio { // volume
		b = appendU16(b, 0x0100)
	} else {
		b = appendU16(b, 0)
	}
	b = appendU16(b, 0) // reserved
	b = appendMatrix(b)
	b = appendU32(b, uint32(t.Width)<<16) // width, 16.16
	b = appendU32(b, uint32(t.Height)<<16)
	return endBox(b, start)
}

// appendMdhd writes the MediaHeaderBox (14496-12 8.4.2), version 0, language
// 'und' (ISO 639-2/T packed as three 5-bit letters minus 0x60).
func appendMdhd(b []byte, t *media.Track) []byte {
	const und = ('u'-0x60)<<10 | ('n'-0x60)<<5 | ('d' - 0x60)
	b = appendFullHeader(b, 32, "mdhd", 0, 0)
	b = appendU32(b, 0)           // creation_time
	b = appendU32(b, 0)           // modification_time
	b = appendU32(b, t.ClockRate) // timescale
	b = appendU32(b, 0)           // duration
	b = appendU16(b, und)         // pad, language
	return appendU16(b, 0)        // pre_defined
}

// appendHdlr writes the HandlerBox (14496-12 8.4.3).
func appendHdlr(b []byte, t *media.Track) []byte {
	handler, name := "soun", "SoundHandler"
	if t.Kind == media.KindVideo {
		handler, name = "vide", "VideoHandler"
	}
	b, start := beginFullBox(b, "hdlr", 0, 0)
	b = appendU32(b, 0) // pre_defined
	b = append(b, handler...)
	b = appendZeros(b, 4*3) // reserved
	b = append(b, name...)
	b = append(b, 0) // name is a null-terminated UTF-8 string
	return endBox(b, start)
}

// appendTrex writes the TrackExtendsBox (14496-12 8.8.3). Fragments carry
// every sample's duration, size and flags, so the defaults are zero.
func appendTrex(b []byte, t *media.Track) []byte {
	b = appendFullHeader(b, 32, "trex", 0, 0)
	b = appendU32(b, uint32(t.ID)) // track_ID
	b = appendU32(b, 1)            // default_sample_description_index
	b = appendU32(b, 0)            // default_sample_duration
	b = appendU32(b, 0)            // default_sample_size
	return appendU32(b, 0)         // default_sample_flags
}

// appendStsd writes the SampleDescriptionBox (14496-12 8.5.2) with the
// track's one sample entry.
func appendStsd(b []byte, t *media.Track) ([]byte, error) {
	b, start := beginFullBox(b, "stsd", 0, 0)
	b = appendU32(b, 1) // entry_count
	var err error
	switch t.Codec {
	case media.CodecH264:
		b, err = appendAVC1(b, t)
	case media.CodecAAC:
		b, err = appendMP4A(b, t)
	case media.CodecOpus:
		b, err = appendOpus(b, t)
	default:
		// H.265 ('hvc1' + hvcC, 14496-15 8.4.1) and AV1 ('av01' + av1C,
		// AV1-ISOBMFF 2.3) slot in here once the hub carries their configs.
		err = fmt.Errorf("track %d: %v: %w", t.ID, t.Codec, ErrUnsupportedCodec)
	}
	if err != nil {
		return b, err
	}
	return endBox(b, start), nil
}

// appendSampleEntryHeader writes the SampleEntry fields (14496-12 8.5.2.2).
func appendSampleEntryHeader(b []byte) []byte {
	b = appendZeros(b, 6)  // reserved
	return appendU16(b, 1) // data_reference_index
}

// appendAVC1 writes an AVCSampleEntry (14496-15 5.4.2.1), a VisualSampleEntry
// (14496-12 12.1.3.2) holding the AVCConfigurationBox with Track.Config, an
// AVCDecoderConfigurationRecord (14496-15 5.3.3.1), as is.
func appendAVC1(b []byte, t *media.Track) ([]byte, error) {
	c := t.Config
	// configurationVersion = 1, then profile, compatibility, level, and
	// lengthSizeMinusOne, numOfSequenceParameterSets at least.
	if len(c) < 7 || c[0] != 1 {
		return b, fmt.Errorf("track %d: H264 config is not an AVCDecoderConfigurationRecord: %w", t.ID, ErrInvalidTrack)
	}
	b, start := beginBox(b, "avc1")
	b = appendSampleEntryHeader(b)
	b = appendU16(b, 0)                   // pre_defined
	b = appendU16(b, 0)                   // reserved
	b = appendZeros(b, 4*3)               // pre_defined
	b = appendU16(b, uint16(t.Width))     // width
	b = appendU16(b, uint16(t.Height))    // height
	b = appendU32(b, 0x00480000)          // horizresolution 72 dpi
	b = appendU32(b, 0x00480000)          // vertresolution 72 dpi
	b = appendU32(b, 0)                   // reserved
	b = appendU16(b, 1)                   // frame_count
	b = appendZeros(b, 32)                // compressorname (empty)
	b = appendU16(b, 0x0018)              // depth
	b = appendU16(b, 0xFFFF)              // pre_defined = -1
	b = appendHeader(b, 8+len(c), "avcC") // 14496-15 5.4.2.1
	b = append(b, c...)
	return endBox(b, start), nil
}

// appendAudioSampleEntry writes an AudioSampleEntry header (14496-12
// 12.2.3.2) in the given box, leaving it open for its child boxes.
func appendAudioSampleEntry(b []byte, typ string, channels, rate int) ([]byte, int) {
	b, start := beginBox(b, typ)
	b = appendSampleEntryHeader(b)
	b = appendZeros(b, 4*2)            // reserved
	b = appendU16(b, uint16(channels)) // channelcount
	b = appendU16(b, 16)               // samplesize
	b = appendU16(b, 0)                // pre_defined
	b = appendU16(b, 0)                // reserved
	// samplerate is 16.16 fixed point; rates above 65535 Hz do not fit and
	// are written as 0 (decoders take the rate from the codec config).
	if rate > 0xFFFF || rate < 0 {
		rate = 0
	}
	b = appendU32(b, uint32(rate)<<16)
	return b, start
}

func audioParams(t *media.Track) (channels, rate int) {
	channels, rate = t.Channels, t.SampleRate
	if channels <= 0 || channels > 0xFFFF {
		channels = 2
	}
	if rate <= 0 {
		rate = int(t.ClockRate)
	}
	return channels, rate
}

// appendMP4A writes an MP4AudioSampleEntry (14496-14 5.6.1) whose esds holds
// Track.Config, an AudioSpecificConfig (14496-3 1.6.2.1).
func appendMP4A(b []byte, t *media.Track) ([]byte, error) {
	if len(t.Config) < 2 {
		return b, fmt.Errorf("track %d: AAC config is not an AudioSpecificConfig: %w", t.ID, ErrInvalidTrack)
	}
	channels, rate := audioParams(t)
	b, start := appendAudioSampleEntry(b, "mp4a", channels, rate)
	b = appendEsds(b, t.Config)
	return endBox(b, start), nil
}

// Descriptor tags (14496-1 7.2.2.1).
const (
	tagES            = 0x03
	tagDecoderConfig = 0x04
	tagDecSpecific   = 0x05
	tagSLConfig      = 0x06
)

// descHeaderSize is the size of a descriptor's tag and its expandable size
// field (14496-1 8.3.3: 7 bits per byte, high bit = more bytes follow).
func descHeaderSize(n int) int {
	size := 2
	for n >= 0x80 {
		n >>= 7
		size++
	}
	return size
}

func appendDescHeader(b []byte, tag byte, n int) []byte {
	b = append(b, tag)
	shift := 0
	for n>>shift >= 0x80 {
		shift += 7
	}
	for ; shift > 0; shift -= 7 {
		b = append(b, byte(n>>shift)|0x80)
	}
	return append(b, byte(n&0x7F))
}

// appendEsds writes the ESDBox (14496-14 5.6.1): an ES_Descriptor (14496-1
// 7.2.6.5) holding a DecoderConfigDescriptor (7.2.6.6) for AAC with the
// AudioSpecificConfig as its DecoderSpecificInfo (7.2.6.7), and an
// SLConfigDescriptor (7.3.2.3) with the predefined value MP4 files use.
func appendEsds(b []byte, asc []byte) []byte {
	dsi := descHeaderSize(len(asc)) + len(asc)
	dcd := 13 + dsi
	sl := 1
	es := 3 + descHeaderSize(dcd) + dcd + descHeaderSize(sl) + sl
	b, start := beginFullBox(b, "esds", 0, 0)
	b = appendDescHeader(b, tagES, es)
	b = appendU16(b, 0) // ES_ID: 0 in MP4 files (14496-14 3.1.2)
	b = append(b, 0)    // streamDependenceFlag, URL_Flag, OCRstreamFlag, streamPriority
	b = appendDescHeader(b, tagDecoderConfig, dcd)
	b = append(b, 0x40)    // objectTypeIndication: Audio ISO/IEC 14496-3
	b = append(b, 0x15)    // streamType 5 (audio) << 2 | upStream 0 | reserved 1
	b = append(b, 0, 0, 0) // bufferSizeDB (unknown)
	b = appendU32(b, 0)    // maxBitrate (unknown)
	b = appendU32(b, 0)    // avgBitrate (unknown)
	b = appendDescHeader(b, tagDecSpecific, len(asc))
	b = append(b, asc...)
	b = appendDescHeader(b, tagSLConfig, sl)
	b = append(b, 0x02) // predefined: reserved for use in MP4 files
	return endBox(b, start)
}

// opusHead returns the track's Opus ID header (RFC 7845 5.1), or one made
// from the track's channel count when Config is empty.
func opusHead(t *media.Track) (opus.Head, error) {
	if len(t.Config) == 0 {
		channels, _ := audioParams(t)
		if channels > 2 {
			return opus.Head{}, fmt.Errorf("track %d: %d-channel Opus needs an OpusHead config: %w", t.ID, channels, ErrInvalidTrack)
		}
		return opus.Head{Channels: uint8(channels), InputRate: opus.SampleRate}, nil
	}
	h, err := opus.ParseHead(t.Config)
	if err != nil {
		return opus.Head{}, fmt.Errorf("track %d: Opus config: %w: %w", t.ID, err, ErrInvalidTrack)
	}
	return h, nil
}

// appendOpus writes an OpusSampleEntry with its OpusSpecificBox ("Encapsulation
// of Opus in ISO Base Media File Format" 4.3.1, 4.3.2). Unlike the Ogg ID
// header, dOps is big-endian and has version 0.
func appendOpus(b []byte, t *media.Track) ([]byte, error) {
	h, err := opusHead(t)
	if err != nil {
		return b, err
	}
	b, start := appendAudioSampleEntry(b, "Opus", int(h.Channels), 48000) // 4.3.1: samplerate 48000
	b, dops := beginBox(b, "dOps")
	b = append(b, 0)          // Version
	b = append(b, h.Channels) // OutputChannelCount
	b = appendU16(b, h.PreSkip)
	b = appendU32(b, h.InputRate)
	b = appendU16(b, uint16(h.OutputGain))
	b = append(b, h.MappingFamily)
	if h.MappingFamily != 0 {
		b = append(b, h.StreamCount, h.CoupledCount)
		b = append(b, h.ChannelMapping...)
	}
	b = endBox(b, dops)
	return endBox(b, start), nil
}

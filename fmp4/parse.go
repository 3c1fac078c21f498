package fmp4

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
)

// Fragment is what ParseFragment finds in one fragment: the boxes before its
// moof (prft, emsg), the moof, and the samples in the mdat after it.
type Fragment struct {
	// Size is the number of input bytes the fragment spans, from its first
	// leading box to the end of its mdat.
	Size int
	// Sequence is the mfhd sequence_number.
	Sequence uint32
	// Tracks holds one entry per traf, in order.
	Tracks []TrackFragment
	// PRFTs and Events are the prft and emsg boxes found before the moof.
	PRFTs  []PRFT
	Events []Event
}

// TrackFragment is one traf of a Fragment.
type TrackFragment struct {
	TrackID uint32
	// BaseDecodeTime is the tfdt baseMediaDecodeTime (0 without a tfdt).
	BaseDecodeTime uint64
	// Samples in decode order; all trun boxes of the traf are concatenated.
	Samples []Sample
}

// Sample is one sample of a track run. Fields not present in the trun take
// the tfhd defaults, or zero (the trex defaults are in the init segment,
// which ParseFragment does not see).
type Sample struct {
	Duration uint32
	Size     uint32
	// Flags are the sample flags (ISO/IEC 14496-12 8.8.3.1); see IsSync.
	Flags uint32
	// CompositionOffset is PTS-DTS: signed in a version 1 trun, unsigned in
	// version 0.
	CompositionOffset int64
	// Data is the sample's bytes, a sub-slice of the input.
	Data []byte
}

// ParseFragment parses the fragment at the start of b: any leading boxes
// (styp, sidx, prft, emsg, or others, which are skipped), one moof and the
// mdat that follows it. It stops after that mdat; Fragment.Size says where
// the next fragment starts (see ParseFragments). Sample data and strings
// alias b.
//
// It returns an error wrapping ErrTruncated when b ends before the fragment
// does and ErrMalformed for input that breaks the box syntax, and never
// panics, whatever b holds. tfhd base_data_offset values are taken as
// offsets from the start of b.
func ParseFragment(b []byte) (*Fragment, error) {
	f := &Fragment{}
	var moof Box
	moofStart := -1
	mdatStart, mdatEnd := 0, 0
	pos := 0
loop:
	for pos < len(b) {
		box, err := ReadBox(b[pos:])
		if err != nil {
			return nil, err
		}
		switch box.Type {
		case typeMoof:
			if moofStart >= 0 {
				return nil, fmt.Errorf("moof without mdat: %w", ErrMalformed)
			}
			moof, moofStart = box, pos
		case typeMdat:
			if moofStart < 0 {
				return nil, fmt.Errorf("mdat before moof: %w", ErrMalformed)
			}
			mdatStart = pos + box.HeaderSize
			mdatEnd = pos + box.Size()
			pos += box.Size()
			break loop
		case typePrft:
			if moofStart < 0 {
				p, err := parsePRFT(box.Payload)
				if err != nil {
					return nil, err
				}
				f.PRFTs = append(f.PRFTs, p)
			}
		case typeEmsg:
			if moofStart < 0 {
				e, err := parseEmsg(box.Payload)
				if err != nil {
					return nil, err
				}
				f.Events = append(f.Events, e)
			}
		}
		pos += box.Size()
	}
	if moofStart < 0 {
		return nil, fmt.Errorf("no moof: %w", ErrTruncated)
	}
	if mdatEnd == 0 {
		return nil, fmt.Errorf("no mdat after moof: %w", ErrTruncated)
	}
	f.Size = pos
	p := moofParser{
		b:         b,
		moofStart: moofStart,
		mdatStart: mdatStart,
		mdatEnd:   mdatEnd,
		budget:    len(b),
		prevEnd:   moofStart,
	}
	for child, err := range Boxes(moof.Payload) {
		if err != nil {
			return nil, fmt.Errorf("moof: %w", err)
		}
		switch child.Type {
		case typeMfhd:
			_, _, rest, err := readFullBox(child.Payload)
			if err != nil || len(rest) < 4 {
				return nil, fmt.Errorf("mfhd: %w", ErrTruncated)
			}
			f.Sequence = binary.BigEndian.Uint32(rest)
		case typeTraf:
			tf, err := p.traf(child.Payload)
			if err != nil {
				return nil, err
			}
			f.Tracks = append(f.Tracks, tf)
		}
	}
	return f, nil
}

// ParseFragments parses consecutive fragments filling b, as a WebSocket
// media message or an LL-HLS part holds them.
func ParseFragments(b []byte) ([]*Fragment, error) {
	var out []*Fragment
	for len(b) > 0 {
		f, err := ParseFragment(b)
		if err != nil {
			return out, err
		}
		out = append(out, f)
		b = b[f.Size:]
	}
	return out, nil
}

// moofParser resolves one moof's track runs against the input.
type moofParser struct {
	b                  []byte
	moofStart          int
	mdatStart, mdatEnd int
	// budget bounds the samples allocated for runs whose entries take no
	// bytes, so hostile sample counts cannot exhaust memory.
	budget int
	// prevEnd is where the previous traf's data ended: the base offset of a
	// traf with neither base_data_offset nor default-base-is-moof (8.8.7.1).
	prevEnd int
}

// traf parses a TrackFragmentBox (14496-12 8.8.6).
func (p *moofParser) traf(payload []byte) (TrackFragment, error) {
	var tf TrackFragment
	var hd tfhd
	seenTfhd := false
	var dataEnd int // end of the previous trun's data in this traf
	for box, err := range Boxes(payload) {
		if err != nil {
			return tf, fmt.Errorf("traf: %w", err)
		}
		switch box.Type {
		case typeTfhd:
			if hd, err = p.tfhd(box.Payload); err != nil {
				return tf, err
			}
			seenTfhd = true
			tf.TrackID = hd.trackID
			dataEnd = hd.base
		case typeTfdt:
			v, _, rest, err := readFullBox(box.Payload)
			if err != nil {
				return tf, fmt.Errorf("tfdt: %w", err)
			}
			switch {
			case v == 1 && len(rest) >= 8:
				tf.BaseDecodeTime = binary.BigEndian.Uint64(rest)
			case v == 0 && len(rest) >= 4:
				tf.BaseDecodeTime = uint64(binary.BigEndian.Uint32(rest))
			default:
				return tf, fmt.Errorf("tfdt version %d, %d bytes: %w", v, len(rest), ErrMalformed)
			}
		case typeTrun:
			if !seenTfhd {
				return tf, fmt.Errorf("trun before tfhd: %w", ErrMalformed)
			}
			if tf.Samples, dataEnd, err = p.trun(box.Payload, &hd, dataEnd, tf.Samples); err != nil {
				return tf, err
			}
		}
	}
	if !seenTfhd {
		return tf, fmt.Errorf("traf without tfhd: %w", ErrMalformed)
	}
	p.prevEnd = dataEnd
	return tf, nil
}

// tfhd holds a TrackFragmentHeaderBox (14496-12 8.8.7) with its base offset
// resolved to a position in the input.
type tfhd struct {
	trackID                        uint32
	base                           int
	defDuration, defSize, defFlags uint32
}

func (p *moofParser) tfhd(payload []byte) (tfhd, error) {
	var h tfhd
	_, flags, r, err := readFullBox(payload)
	if err != nil {
		return h, fmt.Errorf("tfhd: %w", err)
	}
	need := 4
	for _, f := range [...]struct {
		flag uint32
		n    int
	}{{tfhdBaseDataOffset, 8}, {tfhdSampleDescriptionIndex, 4}, {tfhdDefaultDuration, 4}, {tfhdDefaultSize, 4}, {tfhdDefaultFlags, 4}} {
		if flags&f.flag != 0 {
			need += f.n
		}
	}
	if len(r) < need {
		return h, fmt.Errorf("tfhd: %w", ErrTruncated)
	}
	h.trackID = binary.BigEndian.Uint32(r)
	r = r[4:]
	switch {
	case flags&tfhdBaseDataOffset != 0:
		off := binary.BigEndian.Uint64(r)
		r = r[8:]
		if off > uint64(len(p.b)) {
			return h, fmt.Errorf("tfhd base_data_offset %d: %w", off, ErrMalformed)
		}
		h.base = int(off)
	case flags&tfhdDefaultBaseIsMoof != 0:
		h.base = p.moofStart
	default:
		h.base = p.prevEnd
	}
	if flags&tfhdSampleDescriptionIndex != 0 {
		r = r[4:]
	}
	if flags&tfhdDefaultDuration != 0 {
		h.defDuration, r = binary.BigEndian.Uint32(r), r[4:]
	}
	if flags&tfhdDefaultSize != 0 {
		h.defSize, r = binary.BigEndian.Uint32(r), r[4:]
	}
	if flags&tfhdDefaultFlags != 0 {
		h.defFlags = binary.BigEndian.Uint32(r)
	}
	return h, nil
}

// trun parses a TrackRunBox (14496-12 8.8.8), appending its samples to
// samples. dataEnd is where the previous run's data ended (or the traf's
// base offset); it returns where this run's data ends.
func (p *moofParser) trun(payload []byte, h *tfhd, dataEnd int, samples []Sample) ([]Sample, int, error) {
	version, flags, r, err := readFullBox(payload)
	if err != nil {
		return samples, 0, fmt.Errorf("trun: %w", err)
	}
	need := 4
	if flags&trunDataOffset != 0 {
		need += 4
	}
	if flags&trunFirstSampleFlags != 0 {
		need += 4
	}
	if len(r) < need {
		return samples, 0, fmt.Errorf("trun: %w", ErrTruncated)
	}
	count := binary.BigEndian.Uint32(r)
	r = r[4:]
	pos := int64(dataEnd)
	if flags&trunDataOffset != 0 {
		pos = int64(h.base) + int64(int32(binary.BigEndian.Uint32(r)))
		r = r[4:]
	}
	firstFlags, hasFirst := uint32(0), flags&trunFirstSampleFlags != 0
	if hasFirst {
		firstFlags, r = binary.BigEndian.Uint32(r), r[4:]
	}
	entry := 4 * bits.OnesCount32(flags&(trunDuration|trunSize|trunFlags|trunCTSOffset))
	if uint64(count)*uint64(entry) > uint64(len(r)) {
		return samples, 0, fmt.Errorf("trun: %d samples: %w", count, ErrTruncated)
	}
	if uint64(count) > uint64(p.budget) {
		return samples, 0, fmt.Errorf("trun: implausible sample count %d: %w", count, ErrMalformed)
	}
	p.budget -= int(count)
	samples = slices.Grow(samples, int(count))
	for i := range int(count) {
		s := Sample{Duration: h.defDuration, Size: h.defSize, Flags: h.defFlags}
		if i == 0 && hasFirst {
			s.Flags = firstFlags
		}
		if flags&trunDuration != 0 {
			s.Duration, r = binary.BigEndian.Uint32(r), r[4:]
		}
		if flags&trunSize != 0 {
			s.Size, r = binary.BigEndian.Uint32(r), r[4:]
		}
		if flags&trunFlags != 0 {
			s.Flags, r = binary.BigEndian.Uint32(r), r[4:]
		}
		if flags&trunCTSOffset != 0 {
			v := binary.BigEndian.Uint32(r)
			r = r[4:]
			if version == 0 {
				s.CompositionOffset = int64(v)
			} else {
				s.CompositionOffset = int64(int32(v))
			}
		}
		end := pos + int64(s.Size)
		if s.Size > 0 && (pos < int64(p.mdatStart) || end > int64(p.mdatEnd)) {
			return samples, 0, fmt.Errorf("trun: sample %d at [%d,%d) outside mdat [%d,%d): %w",
				i, pos, end, p.mdatStart, p.mdatEnd, ErrMalformed)
		}
		if s.Size > 0 {
			s.Data = p.b[pos:end:end]
		}
		samples = append(samples, s)
		pos = end // stays within the mdat: only sized samples move it
	}
	return samples, int(pos), nil
}

// parsePRFT parses a ProducerReferenceTimeBox payload (14496-12 8.16.5).
func parsePRFT(payload []byte) (PRFT, error) {
	version, flags, r, err := readFullBox(payload)
	if err != nil {
		return PRFT{}, fmt.Errorf("prft: %w", err)
	}
	p := PRFT{Version: version, Flags: flags}
	switch {
	case version == 0 && len(r) >= 16:
		p.MediaTime = uint64(binary.BigEndian.Uint32(r[12:]))
	case version == 1 && len(r) >= 20:
		p.MediaTime = binary.BigEndian.Uint64(r[12:])
	default:
		return PRFT{}, fmt.Errorf("prft version %d, %d bytes: %w", version, len(r), ErrMalformed)
	}
	p.TrackID = binary.BigEndian.Uint32(r)
	p.NTP = binary.BigEndian.Uint64(r[4:])
	return p, nil
}

// cut splits a null-terminated string off the front of b.
func cut(b []byte) (string, []byte, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", nil, false
	}
	return string(b[:i]), b[i+1:], true
}

// parseEmsg parses a DASHEventMessageBox payload (23009-1 5.10.3.3),
// version 0 or 1.
func parseEmsg(payload []byte) (Event, error) {
	version, _, r, err := readFullBox(payload)
	if err != nil {
		return Event{}, fmt.Errorf("emsg: %w", err)
	}
	var e Event
	var ok bool
	switch version {
	case 0:
		if e.SchemeIDURI, r, ok = cut(r); !ok {
			return Event{}, fmt.Errorf("emsg scheme_id_uri: %w", ErrMalformed)
		}
		if e.Value, r, ok = cut(r); !ok {
			return Event{}, fmt.Errorf("emsg value: %w", ErrMalformed)
		}
		if len(r) < 16 {
			return Event{}, fmt.Errorf("emsg: %w", ErrTruncated)
		}
		e.Timescale = binary.BigEndian.Uint32(r)
		e.PresentationTime = uint64(binary.BigEndian.Uint32(r[4:])) // presentation_time_delta
		e.Duration = binary.BigEndian.Uint32(r[8:])
		e.ID = binary.BigEndian.Uint32(r[12:])
		r = r[16:]
	case 1:
		if len(r) < 20 {
			return Event{}, fmt.Errorf("emsg: %w", ErrTruncated)
		}
		e.Timescale = binary.BigEndian.Uint32(r)
		e.PresentationTime = binary.BigEndian.Uint64(r[4:])
		e.Duration = binary.BigEndian.Uint32(r[12:])
		e.ID = binary.BigEndian.Uint32(r[16:])
		r = r[20:]
		if e.SchemeIDURI, r, ok = cut(r); !ok {
			return Event{}, fmt.Errorf("emsg scheme_id_uri: %w", ErrMalformed)
		}
		if e.Value, r, ok = cut(r); !ok {
			return Event{}, fmt.Errorf("emsg value: %w", ErrMalformed)
		}
	default:
		return Event{}, fmt.Errorf("emsg version %d: %w", version, ErrMalformed)
	}
	if len(r) > 0 {
		e.Data = r[:len(r):len(r)]
	}
	return e, nil
}

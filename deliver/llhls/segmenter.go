package llhls

import (
	"encoding/json"
	"hash/fnv"
	"time"

	"github.com/liveloop/liveloop/fmp4"
	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/media"
)

// CueScheme is the scheme_id_uri of the emsg boxes that carry cues in parts
// and segments (as in deliver/ws), and the CLASS of their EXT-X-DATERANGE
// tags.
const CueScheme = "urn:liveloop:cue"

// segmenterConfig configures a segmenter.
type segmenterConfig struct {
	// PartTarget and SegmentTarget are the aimed-for durations.
	PartTarget, SegmentTarget time.Duration
	// Window is the number of complete segments a media playlist lists;
	// Keep (>= Window) the number kept in memory.
	Window, Keep int
	// Chunked writes each video frame's fragment as the frame arrives (with
	// the audio that came before it) instead of one fragment per track per
	// part when the part closes, so an open part's bytes can be streamed.
	Chunked bool
}

// segment is one media segment: a whole number of parts, starting with a
// keyframe. Its bytes are the concatenation of its parts' bytes.
type segment struct {
	msn   uint64
	start time.Duration // stream timeline, from the first frame's DTS
	dur   time.Duration // valid once complete
	wall  time.Time     // EXT-X-PROGRAM-DATE-TIME: ingest time of the first frame
	// pts is the first frame's presentation time (Packet.Time), which
	// wall dates: players date a segment from its first presented frame,
	// and cues are on that timeline. With B-frames it is later than start.
	pts      time.Duration
	tracks   *hub.TrackSet
	disc     bool // new track set: EXT-X-DISCONTINUITY
	complete bool
	// buf only grows; slices of it handed out earlier stay valid and
	// unchanged.
	buf   []byte
	parts []part
}

// part is one partial segment of a segment; the last part of an open
// segment may be open (incomplete).
type part struct {
	start, dur  time.Duration
	off, end    int // bytes of the part in the segment's buf; end valid once complete
	independent bool
	complete    bool
}

// cueEntry is a cue placed on the timeline, for EXT-X-DATERANGE.
type cueEntry struct {
	hub.Cue
	start time.Time // START-DATE
}

// segmenter cuts a stream's packets into CMAF parts and segments and keeps
// the newest of them. It is a pure state machine: no I/O, no goroutines,
// no locks (its owner serialises access).
//
// Part and segment boundaries fall on frames of the driving track (the
// first video track; every frame of an audio-only stream): a part ends when
// the next driving frame would start at or after PartTarget (less half a
// frame) from the part's start, or is a keyframe; a segment ends at the
// first keyframe at or after SegmentTarget. Every segment and every part
// that starts with a keyframe is independent. Frames of the other tracks go
// into the part that is open when they arrive.
type segmenter struct {
	cfg segmenterConfig

	segs       []*segment // oldest first; the last may be open
	nextMSN    uint64
	discGone   uint64 // discontinuities in segments dropped from memory
	tracks     *hub.TrackSet
	inits      map[int][]byte // by TrackSet.Version
	needKey    bool           // drop until a driving keyframe
	driveEnd   int64          // DTS at which the newest driving frame ends
	pend       [][]*media.Frame
	pendCues   []hub.Cue
	cues       []cueEntry
	fragSeq    uint32
	maxSegDur  time.Duration
	maxPartDur time.Duration

	// Counters.
	parts, segments, dropped, initErrors uint64
}

func newSegmenter(cfg segmenterConfig) *segmenter {
	if cfg.Keep < cfg.Window {
		cfg.Keep = cfg.Window
	}
	return &segmenter{cfg: cfg, inits: make(map[int][]byte), needKey: true}
}

// open returns the open segment, or nil.
func (s *segmenter) open() *segment {
	if n := len(s.segs); n > 0 && !s.segs[n-1].complete {
		return s.segs[n-1]
	}
	return nil
}

// openPart returns the open part, or nil.
func (s *segmenter) openPart() *part {
	if seg := s.open(); seg != nil && len(seg.parts) > 0 {
		if p := &seg.parts[len(seg.parts)-1]; !p.complete {
			return p
		}
	}
	return nil
}

func driving(ts *hub.TrackSet, track int) bool {
	return ts.Video < 0 || track == ts.Video
}

// push adds one packet: a frame, or a cue.
func (s *segmenter) push(p *hub.Packet) {
	f := p.Frame
	if f == nil {
		if p.Cue != nil {
			s.pushCue(*p.Cue)
		}
		return
	}
	ts := p.Tracks
	if f.Track < 0 || f.Track >= len(ts.Tracks) {
		s.dropped++
		return
	}
	track := ts.Tracks[f.Track]
	drive := driving(ts, f.Track)
	newTracks := ts != s.tracks
	if (newTracks || s.needKey) && !(drive && f.Key) {
		s.dropped++
		return
	}
	if newTracks {
		if _, ok := s.inits[ts.Version]; !ok {
			b, err := fmp4.InitSegment(ts.Tracks)
			if err != nil {
				s.initErrors++
				s.dropped++
				return
			}
			s.inits[ts.Version] = b
		}
	}
	if drive {
		t := media.TicksToDuration(f.DTS, track.ClockRate)
		tol := media.TicksToDuration(f.Duration, track.ClockRate) / 2
		seg, cur := s.open(), s.openPart()
		cutSeg := seg == nil || newTracks || (f.Key && t-seg.start >= s.cfg.SegmentTarget-tol)
		// A video keyframe starts a part, so that the part is independent
		// from its first byte; in audio-only streams every frame is one.
		keyPart := f.Key && ts.Video >= 0
		cutPart := cutSeg || cur == nil || keyPart || t-cur.start >= s.cfg.PartTarget-tol
		if cutPart {
			s.closePart(t, f.DTS, true)
		}
		if cutSeg {
			s.closeSegment()
			s.openSegment(t, p.Time, f.Wall, ts, newTracks && s.tracks != nil)
			s.tracks = ts
			s.pend = make([][]*media.Frame, len(ts.Tracks))
		}
		if cutPart {
			s.startPart(t, f.Key)
		}
		s.needKey = false
		s.driveEnd = f.DTS + max(f.Duration, int64(fmp4.DefaultDuration(track)))
	}
	s.pend[f.Track] = append(s.pend[f.Track], f)
	if s.cfg.Chunked && drive {
		s.writePending(ts, nil)
	}
}

// pushCue queues a cue for the start of the next part and adds it to the
// playlist's date ranges.
func (s *segmenter) pushCue(c hub.Cue) {
	for _, e := range s.cues {
		if e.ID == c.ID {
			return // the same cue again: a date range ID is never reused
		}
	}
	s.pendCues = append(s.pendCues, c)
	e := cueEntry{Cue: c, start: c.Wall}
	for i := len(s.segs) - 1; i >= 0; i-- {
		if seg := s.segs[i]; seg.pts <= c.Time && !seg.wall.IsZero() {
			e.start = seg.wall.Add(c.Time - seg.pts)
			break
		}
	}
	if e.start.IsZero() {
		return // no date: it still goes in band
	}
	s.cues = append(s.cues, e)
}

// flush closes the open part and segment with what they hold: the
// publisher left, the stream ended, or packets were skipped. The next
// segment starts at a keyframe.
func (s *segmenter) flush() {
	s.closePart(0, 0, false)
	s.closeSegment()
	s.needKey = true
}

func (s *segmenter) openSegment(t, pts time.Duration, wall time.Time, ts *hub.TrackSet, disc bool) {
	seg := &segment{msn: s.nextMSN, start: t, pts: pts, wall: wall, tracks: ts, disc: disc}
	if n := len(s.segs); n > 0 {
		// Room for a segment like the previous one, so that appending
		// rarely copies (and never doubles) the buffer.
		seg.buf = make([]byte, 0, len(s.segs[n-1].buf)*9/8)
	}
	s.segs = append(s.segs, seg)
	s.nextMSN++
}

// startPart opens a part at t in the open segment, beginning with the cues
// that arrived since the previous part.
func (s *segmenter) startPart(t time.Duration, key bool) {
	seg := s.open()
	seg.parts = append(seg.parts, part{start: t, off: len(seg.buf), independent: key})
	for _, c := range s.pendCues {
		seg.buf = fmp4.AppendEmsg(seg.buf, cueEvent(c, seg.tracks))
	}
	s.pendCues = s.pendCues[:0]
}

// closePart completes the open part. If haveEnd, the part ends where the
// driving frame of DTS endDTS (at timeline t) begins; otherwise it ends
// with its last driving frame.
func (s *segmenter) closePart(t time.Duration, endDTS int64, haveEnd bool) {
	seg, p := s.open(), s.openPart()
	if p == nil {
		return
	}
	ts := seg.tracks
	dt := ts.Video
	if dt < 0 {
		dt = 0
	}
	if !haveEnd {
		// The end of the last driving frame.
		endDTS = s.driveEnd
		t = media.TicksToDuration(endDTS, ts.Tracks[dt].ClockRate)
	}
	var endOf []int64
	if !s.cfg.Chunked {
		endOf = make([]int64, len(ts.Tracks))
		endOf[dt] = endDTS
	}
	s.writePending(ts, endOf)
	p.dur = t - p.start
	p.end = len(seg.buf)
	p.complete = true
	s.maxPartDur = max(s.maxPartDur, p.dur)
	s.parts++
}

// writePending muxes the pending frames of every track into the open
// segment's buffer, one fragment per track: in chunked mode the other
// tracks first and the driving track last (its newest frame was just
// added), otherwise in track order. endOf, if not nil, gives for a track
// the DTS at which its last pending frame ends (0: use its duration).
func (s *segmenter) writePending(ts *hub.TrackSet, endOf []int64) {
	seg := s.open()
	dt := ts.Video
	if dt < 0 {
		dt = 0
	}
	write := func(i int) {
		fs := s.pend[i]
		if len(fs) == 0 {
			return
		}
		if endOf != nil && endOf[i] > fs[len(fs)-1].DTS {
			last := *fs[len(fs)-1]
			last.Duration = endOf[i] - last.DTS
			fs[len(fs)-1] = &last
		}
		s.fragSeq++
		seg.buf = fmp4.AppendFragmentFrames(seg.buf, s.fragSeq, ts.Tracks[i], fs)
		clear(fs)
		s.pend[i] = fs[:0]
	}
	if s.cfg.Chunked {
		for i := range s.pend {
			if i != dt {
				write(i)
			}
		}
		write(dt)
		return
	}
	for i := range s.pend {
		write(i)
	}
}

// closeSegment completes the open segment (its parts must be complete) and
// drops the segments, init segments and cues that fall out of memory.
func (s *segmenter) closeSegment() {
	seg := s.open()
	if seg == nil {
		return
	}
	if len(seg.parts) == 0 {
		// Nothing in it: forget it.
		s.segs = s.segs[:len(s.segs)-1]
		s.nextMSN--
		return
	}
	last := seg.parts[len(seg.parts)-1]
	seg.dur = last.start + last.dur - seg.start
	seg.complete = true
	s.maxSegDur = max(s.maxSegDur, seg.dur)
	s.segments++
	for len(s.segs) > s.cfg.Keep {
		if s.segs[0].disc {
			s.discGone++
		}
		s.segs[0] = nil
		s.segs = s.segs[1:]
	}
	// Init segments no kept segment refers to.
	for v := range s.inits {
		used := s.tracks != nil && s.tracks.Version == v
		for _, sg := range s.segs {
			used = used || sg.tracks.Version == v
		}
		if !used {
			delete(s.inits, v)
		}
	}
	// Date ranges whose end is before the first listed segment (RFC 8216bis
	// 6.2.1: a date range stays while any of its dates maps to a listed
	// segment).
	if first := s.listed(); len(first) > 0 && !first[0].wall.IsZero() {
		from := first[0].wall
		keep := s.cues[:0]
		for _, c := range s.cues {
			if !c.start.Add(c.Duration).Before(from) {
				keep = append(keep, c)
			}
		}
		clear(s.cues[len(keep):])
		s.cues = keep
	}
}

// listed returns the segments a media playlist lists: the newest Window
// complete segments and the open one.
func (s *segmenter) listed() []*segment {
	n := len(s.segs)
	complete := n
	if s.open() != nil {
		complete--
	}
	if complete > s.cfg.Window {
		return s.segs[complete-s.cfg.Window:]
	}
	return s.segs
}

// segment returns the segment msn if it is in memory.
func (s *segmenter) segment(msn uint64) *segment {
	if len(s.segs) == 0 || msn < s.segs[0].msn {
		return nil
	}
	if i := msn - s.segs[0].msn; i < uint64(len(s.segs)) {
		return s.segs[i]
	}
	return nil
}

// last returns the media sequence number and index of the newest complete
// part, ok false if there is none.
func (s *segmenter) last() (msn uint64, idx int, ok bool) {
	for i := len(s.segs) - 1; i >= 0; i-- {
		seg := s.segs[i]
		for j := len(seg.parts) - 1; j >= 0; j-- {
			if seg.parts[j].complete {
				return seg.msn, j, true
			}
		}
	}
	return 0, 0, false
}

// has reports whether a blocking request for part idx of segment msn
// (RFC 8216bis 6.2.5.2) can be answered: that part exists, or a later
// segment has a part (an index past the segment's last part means part 0
// of the next segment). With wantPart false, segment msn or a later one
// must be complete.
func (s *segmenter) has(msn uint64, idx uint64, wantPart bool) bool {
	lm, li, ok := s.last()
	if !ok {
		return false
	}
	if !wantPart {
		for i := len(s.segs) - 1; i >= 0; i-- {
			if s.segs[i].complete {
				return s.segs[i].msn >= msn
			}
		}
		return false
	}
	if lm != msn {
		return lm > msn
	}
	if idx <= uint64(li) {
		return true
	}
	// Past the last part: satisfied once the segment is complete and the
	// next has begun (then lm would be > msn), so not yet.
	return false
}

// targetDuration is EXT-X-TARGETDURATION: the configured segment target
// rounded up to whole seconds, or more if a segment was longer: RFC 8216bis
// 6.2.1 requires every segment's duration, rounded to the nearest second, to
// be at most the target duration. It never decreases; it changes only when
// the publisher's keyframe interval exceeds the segment target.
func (s *segmenter) targetDuration() int {
	td := int((s.cfg.SegmentTarget + time.Second - 1) / time.Second)
	return max(td, int((s.maxSegDur+time.Second/2)/time.Second))
}

// partTarget is PART-TARGET: the configured part target or the longest
// part so far, to the millisecond. It never decreases. (A frame rate that
// does not divide the part target, 24 fps with 200 ms, makes parts a little
// longer than the target, and the advertised target follows.)
func (s *segmenter) partTarget() time.Duration {
	d := max(s.cfg.PartTarget, s.maxPartDur)
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// cueEvent returns the emsg of a cue, as deliver/ws writes it: stamped on
// the driving track's clock, the cue's type as the value, the cue as JSON
// ({"id", "type", "payload"}) as the message. The emsg id is a hash of the
// cue's ID, the same in every muxer run.
func cueEvent(c hub.Cue, ts *hub.TrackSet) fmp4.Event {
	rate := ts.Tracks[max(ts.Video, 0)].ClockRate
	c.Data = validJSON(c.Data)
	data, _ := json.Marshal(c)
	h := fnv.New32a()
	h.Write([]byte(c.ID))
	return fmp4.Event{
		SchemeIDURI:      CueScheme,
		Value:            c.Type,
		Timescale:        rate,
		PresentationTime: uint64(media.DurationToTicks(max(c.Time, 0), rate)),
		Duration:         uint32(min(media.DurationToTicks(c.Duration, rate), 0xFFFFFFFE)),
		ID:               h.Sum32(),
		Data:             data,
	}
}

// validJSON returns b if it is valid JSON, else nil (so marshalling the
// envelope cannot fail).
func validJSON(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return b
}

// playlist returns what the media playlist shows now.
func (s *segmenter) playlist(run string, ended bool) playlistInput {
	segs := s.listed()
	disc := s.discGone
	for _, sg := range s.segs {
		if len(segs) == 0 || sg == segs[0] {
			break
		}
		if sg.disc {
			disc++
		}
	}
	return playlistInput{
		Run:            run,
		TargetDuration: s.targetDuration(),
		PartTarget:     s.partTarget(),
		Segments:       segs,
		DiscSeq:        disc,
		Cues:           s.cues,
		Ended:          ended,
	}
}

// bandwidth estimates the peak bit rate for BANDWIDTH: the highest of the
// complete segments in memory, or of the parts while there is none.
func (s *segmenter) bandwidth() int {
	peak := 0.0
	for _, sg := range s.segs {
		if sg.complete && sg.dur > 0 {
			peak = max(peak, float64(len(sg.buf))*8/sg.dur.Seconds())
		}
	}
	if peak == 0 {
		for _, sg := range s.segs {
			for _, p := range sg.parts {
				if p.complete && p.dur > 0 {
					peak = max(peak, float64(p.end-p.off)*8/p.dur.Seconds())
				}
			}
		}
	}
	return int(peak)
}

package flv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/liveloop/liveloop/flv/amf0"
	"github.com/liveloop/liveloop/media"
	"github.com/liveloop/liveloop/media/aac"
	"github.com/liveloop/liveloop/media/h264"
)

// ErrSink wraps an error the media.Sink returned; the Demuxer cannot go on
// after it and the caller should end the publication.
var ErrSink = errors.New("flv: sink")

// Demuxer turns FLV tag bodies, from RTMP audio, video and data messages or
// from an FLV file, into media tracks and frames written to a media.Sink.
//
// Life cycle: tags are fed in arrival order with WriteTag from one goroutine.
// Tracks are announced with Sink.SetTracks once every track onMetaData
// declared has its sequence header, or at the first coded frame if metadata
// is absent or incomplete; a sequence header whose bytes differ from the
// previous one announces the track list again. Coded frames that arrive
// before their track is announced are dropped and counted. Problems with
// individual tags (malformed, unsupported codec) are counted in Stats, never
// returned: WriteTag only fails when the Sink does.
//
// Timestamps:
//   - video: DTS = ms*90, PTS = (ms+cts)*90 on a 90 kHz clock;
//   - audio: on the sample-rate clock, counting aac.SamplesPerFrame (or 960) per frame from
//     the first frame's timestamp, re-anchored when the count drifts from the
//     tag timestamps by more than one frame (jitter-free, never drifting);
//   - 32-bit millisecond tag timestamps are unwrapped to int64.
//
// Stats may be called from any goroutine.
type Demuxer struct {
	sink media.Sink
	now  func() time.Time

	meta        []amf0.Property
	haveMeta    bool
	expectVideo bool
	expectAudio bool

	video     videoState
	audio     audioState
	announced bool
	changed   bool

	mu    sync.Mutex
	stats DemuxerStats
}

// DemuxerStats counts what a Demuxer did, for metrics.
type DemuxerStats struct {
	Tags          uint64 // tags fed
	VideoFrames   uint64 // video frames written to the Sink
	AudioFrames   uint64 // audio frames written to the Sink
	Dropped       uint64 // coded frames dropped: before their track was announced, or empty
	Malformed     uint64 // tags that did not parse
	Unsupported   uint64 // tags of a codec or kind the Demuxer does not handle
	Announcements uint64 // calls to Sink.SetTracks
	Reanchors     uint64 // audio timestamp re-anchorings after the first
	// LastError describes the last malformed or unsupported tag.
	LastError string
}

type videoState struct {
	config     []byte
	lengthSize int
	track      *media.Track
	index      int // in the announced list; -1 when absent
	ts         unwrapper
}

type audioState struct {
	config   []byte
	track    *media.Track
	index    int
	ts       unwrapper
	anchored bool
	anchor   int64 // ticks at the anchor frame
	count    int64 // frames since the anchor
	spf      int64 // samples per frame
}

// NewDemuxer returns a Demuxer writing to sink. now supplies Frame.Wall (the
// instant a tag was received); nil means time.Now.
func NewDemuxer(sink media.Sink, now func() time.Time) *Demuxer {
	if now == nil {
		now = time.Now
	}
	return &Demuxer{sink: sink, now: now, video: videoState{index: -1}, audio: audioState{index: -1}}
}

// Stats returns a snapshot of the counters.
func (d *Demuxer) Stats() DemuxerStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Metadata returns the properties of the last onMetaData seen, if any.
func (d *Demuxer) Metadata() []amf0.Property { return d.meta }

func (d *Demuxer) count(f func(*DemuxerStats)) {
	d.mu.Lock()
	f(&d.stats)
	d.mu.Unlock()
}

func (d *Demuxer) fail(unsupported bool, err error) {
	d.count(func(s *DemuxerStats) {
		if unsupported {
			s.Unsupported++
		} else {
			s.Malformed++
		}
		s.LastError = err.Error()
	})
}

func (d *Demuxer) failErr(err error) {
	d.fail(errors.Is(err, ErrUnsupported), err)
}

// WriteTag feeds one tag body: tagType is TagAudio, TagVideo or TagScript,
// timestamp the tag's (or RTMP message's) timestamp in milliseconds. The
// Demuxer keeps body (frames alias it): the caller must not modify it
// afterwards. The error is non-nil only when the Sink failed (ErrSink).
func (d *Demuxer) WriteTag(tagType uint8, timestamp uint32, body []byte) error {
	d.count(func(s *DemuxerStats) { s.Tags++ })
	now := d.now()
	switch tagType {
	case TagVideo:
		return d.writeVideo(timestamp, body, now)
	case TagAudio:
		return d.writeAudio(timestamp, body, now)
	case TagScript:
		sd, err := ParseScriptData(body)
		if err != nil {
			d.fail(false, err)
			return nil
		}
		if sd.Name == "onMetaData" {
			d.setMetadata(sd.Props)
		}
		return nil
	}
	d.fail(true, fmt.Errorf("%w: tag type %d", ErrUnsupported, tagType))
	return nil
}

// setMetadata notes which tracks onMetaData declares (videocodecid,
// audiocodecid: a legacy codec id, a FourCC as a number, or a string).
func (d *Demuxer) setMetadata(props []amf0.Property) {
	d.meta = props
	d.haveMeta = true
	declared := func(key string) bool {
		v, _ := amf0.ECMAArray(props).Get(key)
		switch v := v.(type) {
		case float64:
			return v != 0
		case string:
			return v != ""
		}
		return false
	}
	d.expectVideo = declared("videocodecid")
	d.expectAudio = declared("audiocodecid")
}

func (d *Demuxer) writeVideo(ts uint32, body []byte, now time.Time) error {
	t, err := ParseVideoTag(body)
	if err != nil {
		d.failErr(err)
		return nil
	}
	if t.FrameType == FrameCommand || t.PacketType == PacketSequenceEnd || t.PacketType == PacketMetadata {
		return nil
	}
	if t.FourCC != FourCCAVC {
		d.fail(true, fmt.Errorf("%w: video codec %v", ErrUnsupported, t.FourCC))
		return nil
	}
	switch t.PacketType {
	case PacketSequenceStart:
		return d.videoConfig(t.Data)
	case PacketCodedFrames, PacketCodedFramesX:
	default:
		d.fail(true, fmt.Errorf("%w: video packet type %d", ErrUnsupported, t.PacketType))
		return nil
	}
	if err := d.announceAtFrame(); err != nil {
		return err
	}
	if d.video.index < 0 {
		d.count(func(s *DemuxerStats) { s.Dropped++ })
		return nil
	}
	data, err := toAVCC4(t.Data, d.video.lengthSize)
	if err != nil {
		d.fail(false, err)
		return nil
	}
	if len(data) == 0 {
		d.count(func(s *DemuxerStats) { s.Dropped++ })
		return nil
	}
	ms := d.video.ts.unwrap(ts)
	f := &media.Frame{
		Track: d.video.index,
		DTS:   ms * 90,
		PTS:   (ms + int64(t.CompositionTime)) * 90,
		Key:   (t.FrameType == FrameKey || t.FrameType == FrameGeneratedKey) && h264.IsKeyframe(data),
		Data:  data,
		Wall:  now,
	}
	if err := d.sink.WriteFrame(f); err != nil {
		return fmt.Errorf("%w: %w", ErrSink, err)
	}
	d.count(func(s *DemuxerStats) { s.VideoFrames++ })
	return nil
}

func (d *Demuxer) videoConfig(rec []byte) error {
	if bytes.Equal(rec, d.video.config) {
		return nil
	}
	cfg, err := h264.ParseDecoderConfig(rec)
	if err != nil {
		d.fail(false, fmt.Errorf("flv: AVC sequence header: %w", err))
		return nil
	}
	if len(cfg.SPS) == 0 {
		d.fail(false, errors.New("flv: AVC sequence header without SPS"))
		return nil
	}
	sps, err := h264.ParseSPS(cfg.SPS[0])
	if err != nil {
		d.fail(false, fmt.Errorf("flv: AVC SPS: %w", err))
		return nil
	}
	rec = bytes.Clone(rec)
	d.video.config = rec
	d.video.lengthSize = cfg.LengthSize
	d.video.track = &media.Track{
		Kind:        media.KindVideo,
		Codec:       media.CodecH264,
		Config:      rec,
		CodecString: sps.CodecString(),
		ClockRate:   90000,
		Width:       sps.Width,
		Height:      sps.Height,
	}
	d.changed = true
	return d.announceAtConfig()
}

func (d *Demuxer) writeAudio(ts uint32, body []byte, now time.Time) error {
	t, err := ParseAudioTag(body)
	if err != nil {
		d.failErr(err)
		return nil
	}
	if t.AACPacketType == AACSequenceHeader {
		return d.audioConfig(t.Data)
	}
	if err := d.announceAtFrame(); err != nil {
		return err
	}
	a := &d.audio
	if a.index < 0 || len(t.Data) == 0 {
		d.count(func(s *DemuxerStats) { s.Dropped++ })
		return nil
	}
	// Count samples from an anchor; re-anchor on drift beyond one frame.
	rate := int64(a.track.ClockRate)
	spf := a.spf
	actual := a.ts.unwrap(ts) * rate / 1000
	pts := a.anchor + a.count*spf
	if !a.anchored || abs(actual-pts) > spf {
		if a.anchored {
			d.count(func(s *DemuxerStats) { s.Reanchors++ })
		}
		a.anchored, a.anchor, a.count, pts = true, actual, 0, actual
	}
	a.count++
	f := &media.Frame{Track: a.index, DTS: pts, PTS: pts, Key: true, Data: t.Data, Wall: now}
	if err := d.sink.WriteFrame(f); err != nil {
		return fmt.Errorf("%w: %w", ErrSink, err)
	}
	d.count(func(s *DemuxerStats) { s.AudioFrames++ })
	return nil
}

func (d *Demuxer) audioConfig(asc []byte) error {
	if bytes.Equal(asc, d.audio.config) {
		return nil
	}
	cfg, err := aac.ParseConfig(asc)
	if err != nil {
		d.fail(false, fmt.Errorf("flv: AAC sequence header: %w", err))
		return nil
	}
	if cfg.SampleRate <= 0 {
		d.fail(false, errors.New("flv: AAC sequence header: no sample rate"))
		return nil
	}
	asc = bytes.Clone(asc)
	d.audio.config = asc
	d.audio.track = &media.Track{
		Kind:        media.KindAudio,
		Codec:       media.CodecAAC,
		Config:      asc,
		CodecString: cfg.CodecString(),
		ClockRate:   uint32(cfg.SampleRate),
		SampleRate:  cfg.SampleRate,
		Channels:    cfg.Channels,
	}
	d.audio.spf = int64(cfg.FrameSamples())
	d.audio.anchored = false
	d.changed = true
	return d.announceAtConfig()
}

// announceAtConfig announces after a sequence header: at once if tracks were
// announced before (a change), otherwise when every declared track is ready.
func (d *Demuxer) announceAtConfig() error {
	if d.announced {
		return d.announce()
	}
	if !d.haveMeta || !(d.expectVideo || d.expectAudio) {
		return nil
	}
	if (d.expectVideo && d.video.track == nil) || (d.expectAudio && d.audio.track == nil) {
		return nil
	}
	return d.announce()
}

// announceAtFrame announces, at a coded frame, whatever tracks are known.
func (d *Demuxer) announceAtFrame() error {
	if d.announced && !d.changed {
		return nil
	}
	if d.video.track == nil && d.audio.track == nil {
		return nil
	}
	return d.announce()
}

func (d *Demuxer) announce() error {
	var tracks []*media.Track
	d.video.index, d.audio.index = -1, -1
	// Fresh Track values each time: announced tracks are immutable.
	if d.video.track != nil {
		t := *d.video.track
		t.ID = len(tracks) + 1
		d.video.index = len(tracks)
		tracks = append(tracks, &t)
	}
	if d.audio.track != nil {
		t := *d.audio.track
		t.ID = len(tracks) + 1
		d.audio.index = len(tracks)
		tracks = append(tracks, &t)
	}
	d.announced, d.changed = true, false
	d.count(func(s *DemuxerStats) { s.Announcements++ })
	if err := d.sink.SetTracks(tracks); err != nil {
		return fmt.Errorf("%w: %w", ErrSink, err)
	}
	return nil
}

// toAVCC4 checks length-prefixed NAL units with n-byte lengths and returns
// them with 4-byte lengths (aliasing b when n is already 4).
func toAVCC4(b []byte, n int) ([]byte, error) {
	if n < 1 || n > 4 {
		return nil, fmt.Errorf("flv: NAL length size %d", n)
	}
	var out []byte
	if n != 4 {
		out = make([]byte, 0, len(b)+len(b)/8+8)
	}
	for p := b; len(p) > 0; {
		if len(p) < n {
			return nil, fmt.Errorf("%w: NAL unit length", ErrShort)
		}
		var l uint64
		for _, c := range p[:n] {
			l = l<<8 | uint64(c)
		}
		p = p[n:]
		if l > uint64(len(p)) {
			return nil, fmt.Errorf("%w: NAL unit of %d bytes, %d left", ErrShort, l, len(p))
		}
		if n != 4 {
			out = binary.BigEndian.AppendUint32(out, uint32(l))
			out = append(out, p[:l]...)
		}
		p = p[l:]
	}
	if n == 4 {
		return b, nil
	}
	return out, nil
}

// unwrapper extends 32-bit millisecond timestamps to int64: each timestamp
// is taken as the value nearest the previous one (within ±2^31 ms), so a
// wrap after about 49.7 days continues upward.
type unwrapper struct {
	cur     int64
	started bool
}

func (u *unwrapper) unwrap(ts uint32) int64 {
	if !u.started {
		u.started, u.cur = true, int64(ts)
		return u.cur
	}
	u.cur += int64(int32(ts - uint32(u.cur)))
	return u.cur
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

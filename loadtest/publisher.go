package loadtest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/liveloop/liveloop/demo"
	"github.com/liveloop/liveloop/flv"
	"github.com/liveloop/liveloop/ingest/rtmp"
	"github.com/liveloop/liveloop/media/h264"
)

// Publisher loops a clip over RTMP in real time with continuous timestamps
// (loop k adds k*Period ms; metadata and sequence headers go once), and
// stamps every video frame with a timing SEI (see Stamp) just before it is
// sent.
//
// Life cycle: NewPublisher prepares the clip; Run dials, publishes and
// streams until its context ends or the connection fails, then closes the
// connection. Sent, Bytes and Started may be read from any goroutine.
type Publisher struct {
	url   string
	clip  *demo.Clip
	now   func() time.Time
	plan  []tagPlan
	lsize int

	sent    atomic.Uint32 // video frames sent: the next frame's Seq
	bytes   atomic.Uint64 // tag body bytes sent
	started chan struct{}
}

// tagPlan is one clip tag with where its stamp goes (-1: unstamped).
type tagPlan struct {
	flv.Tag
	stampAt int
	config  bool
}

// NewPublisher prepares clip for publishing to url
// (rtmp://host:port/live/{stream}). now is the clock the stamps use (nil:
// time.Now).
func NewPublisher(url string, clip *demo.Clip, now func() time.Time) (*Publisher, error) {
	if now == nil {
		now = time.Now
	}
	p := &Publisher{url: url, clip: clip, now: now, started: make(chan struct{})}
	// The NAL unit length size comes from the first AVC sequence header.
	for _, t := range clip.Tags {
		if t.Type != flv.TagVideo {
			continue
		}
		vt, err := flv.ParseVideoTag(t.Body)
		if err == nil && vt.FourCC == flv.FourCCAVC && vt.PacketType == flv.PacketSequenceStart {
			cfg, err := h264.ParseDecoderConfig(vt.Data)
			if err != nil {
				return nil, fmt.Errorf("loadtest: clip sequence header: %w", err)
			}
			p.lsize = cfg.LengthSize
			break
		}
	}
	if p.lsize == 0 {
		return nil, errors.New("loadtest: clip has no AVC sequence header")
	}
	frames := 0
	for _, t := range clip.Tags {
		tp := tagPlan{Tag: t, stampAt: -1, config: isConfig(t)}
		if t.Type != flv.TagScript && t.Timestamp >= clip.Period {
			continue // audio past the loop point
		}
		if t.Type == flv.TagVideo && !tp.config {
			off, err := StampOffset(t.Body, p.lsize)
			if err == nil {
				tp.stampAt = off
				frames++
			} else if !errors.Is(err, ErrNotCoded) {
				return nil, fmt.Errorf("loadtest: clip video tag at %d ms: %w", t.Timestamp, err)
			}
		}
		p.plan = append(p.plan, tp)
	}
	if frames == 0 {
		return nil, errors.New("loadtest: clip has no AVC frames")
	}
	return p, nil
}

// isConfig reports whether t is metadata or a codec sequence header, sent
// once only.
func isConfig(t flv.Tag) bool {
	switch t.Type {
	case flv.TagScript:
		return true
	case flv.TagVideo:
		vt, err := flv.ParseVideoTag(t.Body)
		return err == nil && vt.PacketType == flv.PacketSequenceStart
	case flv.TagAudio:
		at, err := flv.ParseAudioTag(t.Body)
		return err == nil && at.AACPacketType == flv.AACSequenceHeader
	}
	return false
}

// Sent returns the number of video frames sent so far; the next frame's
// stamp has this Seq.
func (p *Publisher) Sent() uint32 { return p.sent.Load() }

// Bytes returns the tag body bytes sent so far.
func (p *Publisher) Bytes() uint64 { return p.bytes.Load() }

// Started is closed once the publication is accepted and the first tags
// are on their way.
func (p *Publisher) Started() <-chan struct{} { return p.started }

// Run publishes until ctx is done (returning nil) or publishing fails.
func (p *Publisher) Run(ctx context.Context) error {
	c, err := rtmp.Dial(ctx, p.url)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Publish(ctx); err != nil {
		return err
	}
	err = p.stream(ctx, c)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (p *Publisher) stream(ctx context.Context, c *rtmp.Client) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var buf []byte
	start := p.now()
	first := true
	for loop := uint32(0); ; loop++ {
		base := loop * p.clip.Period
		for i := range p.plan {
			t := &p.plan[i]
			if loop > 0 && t.config {
				continue
			}
			ts := base + t.Timestamp
			if wait := start.Add(time.Duration(ts) * time.Millisecond).Sub(p.now()); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-c.Done():
					return errors.New("loadtest: server closed the RTMP connection")
				case <-timer.C:
				}
			}
			body := t.Body
			if t.stampAt >= 0 {
				sei := MarshalStampSEI(Stamp{SendTime: p.now().UnixNano(), Seq: p.sent.Load()})
				buf = AppendStamped(buf[:0], t.Body, t.stampAt, p.lsize, sei)
				body = buf
			}
			// WriteTag writes the whole message before it returns, so buf
			// is free again afterwards.
			if err := c.WriteTag(t.Type, ts, body); err != nil {
				return err
			}
			if t.stampAt >= 0 {
				p.sent.Add(1)
			}
			p.bytes.Add(uint64(len(body)))
			if first {
				first = false
				close(p.started)
			}
		}
	}
}

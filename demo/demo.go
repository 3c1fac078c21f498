// Package demo publishes Liveloop's built-in test stream: a short H.264+AAC
// clip embedded in the binary (clip.flv, made by clip.sh), looped in real
// time with continuous timestamps, so that `liveloop serve --demo` has
// something to watch on a machine with no encoder installed.
package demo

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/liveloop/liveloop/flv"
	"github.com/liveloop/liveloop/media"
)

//go:embed clip.flv
var clip []byte

// StreamName is the name the demo publishes under.
const StreamName = "demo"

// Clip is a parsed FLV clip ready to loop.
type Clip struct {
	Tags []flv.Tag
	// Period is the loop length in milliseconds: the time after the last
	// video frame's start at which the clip begins again.
	Period uint32
}

// Builtin returns the embedded clip.
func Builtin() (*Clip, error) { return Parse(clip) }

// Parse reads an FLV file into a Clip. The clip must hold video.
func Parse(b []byte) (*Clip, error) {
	r := bytes.NewReader(b)
	if _, err := flv.ReadHeader(r); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	tr := flv.NewReader(r)
	c := &Clip{}
	var lastVideo, prevVideo uint32
	videos := 0
	for {
		t, err := tr.ReadTag()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		if t.Type == flv.TagVideo {
			prevVideo, lastVideo = lastVideo, t.Timestamp
			videos++
		}
		c.Tags = append(c.Tags, t)
	}
	if videos < 2 {
		return nil, errors.New("demo: clip has no video")
	}
	c.Period = lastVideo + (lastVideo - prevVideo)
	return c, nil
}

// Publisher opens the hub side of a stream; hub.Hub.Publish fits once
// wrapped.
type Publisher func(stream string) (media.Sink, error)

// Run publishes the clip as stream until ctx is done, looping it in real
// time. A real publisher on the stream (the studio page, an encoder) takes
// it over; the demo gives way and comes back only once the stream has no
// publisher, as busy reports.
func Run(ctx context.Context, c *Clip, stream string, publish Publisher, busy func(stream string) bool, log *slog.Logger) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if !busy(stream) {
			sink, err := publish(stream)
			if err != nil {
				log.Warn("demo cannot publish", "err", err)
			} else {
				err = play(ctx, c, sink)
				sink.Close()
				if ctx.Err() != nil {
					return nil
				}
				log.Info("demo publisher stopped; it resumes when the stream is free", "reason", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// play loops the clip into sink until ctx is done or the sink ends.
func play(ctx context.Context, c *Clip, sink media.Sink) error {
	d := flv.NewDemuxer(sink, time.Now)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for loop := uint32(0); ; loop++ {
		base := loop * c.Period
		for _, t := range c.Tags {
			if t.Type != flv.TagScript && t.Timestamp >= c.Period {
				continue // audio past the loop point
			}
			if loop > 0 && isConfig(t) {
				continue // sequence headers and metadata once
			}
			ts := base + t.Timestamp
			if wait := time.Until(start.Add(time.Duration(ts) * time.Millisecond)); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-sink.Done():
					return errors.New("replaced by another publisher")
				case <-timer.C:
				}
			}
			if err := d.WriteTag(t.Type, ts, t.Body); err != nil {
				return err
			}
		}
	}
}

// isConfig reports whether t is metadata or a codec sequence header.
func isConfig(t flv.Tag) bool {
	switch t.Type {
	case flv.TagScript:
		return true
	case flv.TagVideo:
		return len(t.Body) > 1 && t.Body[0]&0x0f == 7 && t.Body[1] == 0
	case flv.TagAudio:
		return len(t.Body) > 1 && t.Body[0]>>4 == 10 && t.Body[1] == 0
	}
	return false
}

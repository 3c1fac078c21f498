package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Limits of a cue.
const (
	// MaxCueData is the largest cue payload, in bytes of JSON.
	MaxCueData = 16 << 10
	// MaxCueType is the longest cue type.
	MaxCueType = 64
)

// Errors of PostCue.
var (
	ErrBadCue  = errors.New("hub: invalid cue")
	ErrNotLive = errors.New("hub: stream is not live")
)

// Cue is timed metadata on a stream's timeline: an event that belongs to a
// moment of the picture (a poll opened, a lot sold). Cues travel in the
// stream's ring with its frames, so every delivery path carries them in
// order, in band, and players show each with the frame it was stamped on.
type Cue struct {
	// ID is unique within the stream.
	ID string `json:"id"`
	// Type is the application's name for the cue, e.g. "poll.opened".
	Type string `json:"type"`
	// Time is the cue's instant on the stream's timeline (the same
	// timeline as Packet.Time).
	Time time.Duration `json:"-"`
	// Duration is how long the cue applies; 0 for an instant.
	Duration time.Duration `json:"-"`
	// Data is the application's JSON payload.
	Data json.RawMessage `json:"payload,omitempty"`
	// Wall is the wall-clock instant that Time corresponds to (when the
	// frame at Time was ingested).
	Wall time.Time `json:"-"`
}

// PostCue stamps c on the stream's media clock and sends it in band to every
// subscriber. If c.Time is zero and c.Wall is zero, the cue is stamped with
// the presentation time of the newest frame; if only c.Wall is set, that
// wall-clock instant is mapped to the media clock. A missing ID is assigned.
// It returns the cue as stamped.
func (s *Stream) PostCue(c Cue) (Cue, error) {
	if c.Type == "" || len(c.Type) > MaxCueType {
		return Cue{}, fmt.Errorf("%w: type must be 1 to %d characters", ErrBadCue, MaxCueType)
	}
	if len(c.Data) > MaxCueData {
		return Cue{}, fmt.Errorf("%w: data over %d bytes", ErrBadCue, MaxCueData)
	}
	if len(c.Data) > 0 && !json.Valid(c.Data) {
		return Cue{}, fmt.Errorf("%w: data is not JSON", ErrBadCue)
	}
	if c.Duration < 0 {
		return Cue{}, fmt.Errorf("%w: negative duration", ErrBadCue)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != StateLive || s.tracks == nil || s.lastAt.IsZero() {
		return Cue{}, fmt.Errorf("%w: %q", ErrNotLive, s.name)
	}
	switch {
	case c.Time == 0 && c.Wall.IsZero():
		c.Time, c.Wall = s.lastPTS, s.lastAt
	case c.Time == 0:
		// Map the wall-clock instant through the newest frame.
		c.Time = s.lastPTS + c.Wall.Sub(s.lastAt)
		if c.Time < 0 {
			c.Time = 0
		}
	case c.Wall.IsZero():
		c.Wall = s.lastAt.Add(c.Time - s.lastPTS)
	}
	s.cues++
	if c.ID == "" {
		c.ID = s.name + "-" + strconv.FormatUint(s.cues, 10) + "-" + strconv.FormatInt(s.started.UnixMilli(), 36)
	}
	cue := c
	s.appendLocked(&Packet{Cue: &cue, Tracks: s.tracks, Time: c.Time})
	return c, nil
}

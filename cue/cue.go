// Package cue is the API of timed metadata: POST /api/v1/streams/{stream}/cues
// stamps an application's event on a stream's media clock and sends it in
// band with the video (hub.Stream.PostCue), so each viewer sees it with the
// frame it belongs to. Poster offers the same to other packages (the
// interactive rooms emit poll results as cues, and stamp chat messages on
// the same media clock).
package cue

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/liveloop/liveloop/hub"
)

// Errors of Poster.
var (
	ErrNotFound    = errors.New("cue: no such stream")
	ErrRateLimited = errors.New("cue: too many cues for this stream")
)

// Config sets the limits of the cue API.
type Config struct {
	Hub *hub.Hub
	// Rate and Burst bound the cues posted to one stream, per second.
	// Defaults 20 and 50.
	Rate  float64
	Burst int
	// MaxStreams bounds the per-stream limiters kept; default 10000.
	MaxStreams int
}

// Poster posts cues to the hub's streams with a rate limit per stream.
type Poster struct {
	cfg Config

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

// New returns a Poster.
func New(cfg Config) *Poster {
	if cfg.Rate <= 0 {
		cfg.Rate = 20
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 50
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 10000
	}
	return &Poster{cfg: cfg, limiters: make(map[string]*rate.Limiter)}
}

// Post stamps c on the stream's media clock and sends it in band.
func (p *Poster) Post(stream string, c hub.Cue) (hub.Cue, error) {
	st := p.cfg.Hub.Stream(stream)
	if st == nil {
		return hub.Cue{}, fmt.Errorf("%w: %q", ErrNotFound, stream)
	}
	if !p.limiter(stream).Allow() {
		return hub.Cue{}, ErrRateLimited
	}
	return st.PostCue(c)
}

// PostCue posts a cue of type typ with JSON data at the stream's newest
// frame. It fits the interactive rooms' CuePoster.
func (p *Poster) PostCue(stream, typ string, data json.RawMessage) error {
	_, err := p.Post(stream, hub.Cue{Type: typ, Data: data})
	return err
}

// MediaTime returns the stream's media clock, the time PostCue stamps a
// cue with by default (the newest ingested frame), and false when the
// stream does not exist, has no frame yet or has ended. It fits the
// interactive rooms' CuePoster: chat messages are stamped on it.
func (p *Poster) MediaTime(stream string) (time.Duration, bool) {
	st := p.cfg.Hub.Stream(stream)
	if st == nil {
		return 0, false
	}
	inf := st.Info()
	if inf.LastFrame.IsZero() || inf.State == hub.StateEnded {
		return 0, false
	}
	return inf.MediaTime, true
}

func (p *Poster) limiter(stream string) *rate.Limiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.limiters[stream]
	if l == nil {
		if len(p.limiters) >= p.cfg.MaxStreams {
			clear(p.limiters) // rare: forget the buckets rather than grow
		}
		l = rate.NewLimiter(rate.Limit(p.cfg.Rate), p.cfg.Burst)
		p.limiters[stream] = l
	}
	return l
}

// Request is the body of POST /api/v1/streams/{stream}/cues.
type Request struct {
	// Type is the application's name for the cue, e.g. "poll.opened".
	Type string `json:"type"`
	// Data is any JSON value, at most hub.MaxCueData bytes.
	Data json.RawMessage `json:"data,omitempty"`
	// At, if set, is the wall-clock instant the cue belongs to (RFC 3339);
	// by default the cue belongs to the newest frame.
	At *time.Time `json:"at,omitempty"`
	// Duration in seconds, if the cue applies for a while.
	Duration float64 `json:"duration,omitempty"`
	// ID, if set, must be unique within the stream; one is assigned if not.
	ID string `json:"id,omitempty"`
}

// Response is the cue as stamped: 201 Created.
type Response struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
	// MediaTime is the cue's time on the stream's timeline, in seconds:
	// the player's video.currentTime at which it fires.
	MediaTime float64 `json:"mediaTime"`
	// At is the wall-clock instant of MediaTime (ingest time).
	At       time.Time `json:"at"`
	Duration float64   `json:"duration,omitempty"`
}

// ServeHTTP handles POST /api/v1/streams/{stream}/cues.
func (p *Poster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, hub.MaxCueData+4096))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over %d bytes", hub.MaxCueData+4096))
		return
	}
	var req Request
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "body must be a JSON object {type, data, at, duration, id}: "+err.Error())
		return
	}
	if req.Duration < 0 || req.Duration > 24*3600 {
		writeError(w, http.StatusBadRequest, "bad_request", "duration must be between 0 and 86400 seconds")
		return
	}
	if len(req.ID) > 128 {
		writeError(w, http.StatusBadRequest, "bad_request", "id over 128 characters")
		return
	}
	c := hub.Cue{ID: req.ID, Type: req.Type, Data: req.Data, Duration: time.Duration(req.Duration * float64(time.Second))}
	if req.At != nil {
		c.Wall = *req.At
	}
	out, err := p.Post(stream, c)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such stream")
	case errors.Is(err, hub.ErrNotLive):
		writeError(w, http.StatusConflict, "not_live", "the stream has no media yet: cues are stamped on its media clock")
	case errors.Is(err, ErrRateLimited):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "rate_limited", err.Error())
	case errors.Is(err, hub.ErrBadCue):
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(Response{
			ID: out.ID, Type: out.Type, Data: out.Data,
			MediaTime: out.Time.Seconds(), At: out.Wall, Duration: out.Duration.Seconds(),
		})
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

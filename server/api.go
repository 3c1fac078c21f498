package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/transcode"
)

// streamJSON is a stream as the API shows it.
type streamJSON struct {
	Name        string      `json:"name"`
	State       string      `json:"state"`
	Viewers     int         `json:"viewers"`
	MediaTime   float64     `json:"mediaTime"` // seconds on the stream's timeline
	Started     time.Time   `json:"started"`
	LastFrameAt *time.Time  `json:"lastFrameAt,omitempty"`
	Tracks      []trackJSON `json:"tracks"`
	// BFrames: the video has B-frames, which WebRTC in browsers does not
	// play; its WebRTC viewers are refused, and players use another
	// transport.
	BFrames bool `json:"bframes,omitempty"`
}

type trackJSON struct {
	ID         int    `json:"id"`
	Kind       string `json:"kind"`
	Codec      string `json:"codec"`
	Width      int    `json:"width,omitempty"`
	Height     int    `json:"height,omitempty"`
	SampleRate int    `json:"sampleRate,omitempty"`
	Channels   int    `json:"channels,omitempty"`
}

func toJSON(inf hub.Info) streamJSON {
	out := streamJSON{
		Name:      inf.Name,
		State:     inf.State.String(),
		Viewers:   inf.Subscribers,
		MediaTime: inf.MediaTime.Seconds(),
		Started:   inf.Started,
		Tracks:    []trackJSON{},
		BFrames:   inf.Reordered,
	}
	if !inf.LastFrame.IsZero() {
		t := inf.LastFrame
		out.LastFrameAt = &t
	}
	for _, t := range inf.Tracks {
		out.Tracks = append(out.Tracks, trackJSON{
			ID: t.ID, Kind: t.Kind.String(), Codec: t.CodecString,
			Width: t.Width, Height: t.Height, SampleRate: t.SampleRate, Channels: t.Channels,
		})
	}
	return out
}

func (s *Server) listStreams(w http.ResponseWriter, r *http.Request) {
	list := []streamJSON{}
	for _, st := range s.hub.Streams() {
		if strings.HasSuffix(st.Name(), transcode.DefaultSuffix) {
			continue // an internal companion (Opus for WebRTC), not a stream of its own
		}
		list = append(list, toJSON(st.Info()))
	}
	writeJSON(w, http.StatusOK, map[string]any{"streams": list})
}

func (s *Server) getStream(w http.ResponseWriter, r *http.Request) {
	st := s.hub.Stream(r.PathValue("stream"))
	if st == nil {
		writeError(w, http.StatusNotFound, "not_found", "no such stream")
		return
	}
	writeJSON(w, http.StatusOK, toJSON(st.Info()))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError writes the API's error shape: {"error": {"code", "message"}}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// serverTime answers GET /api/v1/time with the server's wall clock in
// milliseconds since the Unix epoch, so players on the WebRTC and LL-HLS
// paths (which have no clock-sync messages) can measure their latency
// against the clock that stamped the media.
func serverTime(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]float64{"serverTime": float64(time.Now().UnixMicro()) / 1000})
}

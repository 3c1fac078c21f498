package server

import (
	"encoding/json"
	"net/http"
)

// serverPaths documents the node's own API routes (streams and cues); the
// rooms' routes come from roomapi, made from the table that registers them.
var serverPaths = map[string]any{
	"/api/v1/streams": map[string]any{
		"get": map[string]any{
			"summary": "List live streams (live or waiting for their publisher) with their tracks and viewers.", "operationId": "listStreams", "tags": []string{"streams"},
			"responses": map[string]any{"200": map[string]any{"description": "The streams."}},
		},
	},
	"/api/v1/time": map[string]any{
		"get": map[string]any{
			"summary": "The server's wall clock, {\"serverTime\": milliseconds since the Unix epoch}, for players' latency measurement.", "operationId": "getTime", "tags": []string{"streams"},
			"responses": map[string]any{"200": map[string]any{"description": "The server's clock."}},
		},
	},
	"/api/v1/streams/{stream}": map[string]any{
		"get": map[string]any{
			"summary": "One stream: state, tracks, viewers and media clock.", "operationId": "getStream", "tags": []string{"streams"},
			"parameters": []any{streamParam},
			"responses": map[string]any{
				"200": map[string]any{"description": "The stream."},
				"404": map[string]any{"description": "No such stream (code not_found)."},
			},
		},
	},
	"/api/v1/streams/{stream}/cues": map[string]any{
		"post": map[string]any{
			"summary":     "Post a cue: timed metadata stamped on the stream's media clock and delivered in band with the video.",
			"operationId": "postCue", "tags": []string{"cues"},
			"parameters": []any{streamParam},
			"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{
				"type": "object", "required": []string{"type"}, "additionalProperties": false,
				"properties": map[string]any{
					"type":     map[string]any{"type": "string", "minLength": 1, "maxLength": 64},
					"data":     map[string]any{"description": "Any JSON value, at most 16 KiB."},
					"at":       map[string]any{"type": "string", "format": "date-time", "description": "Wall-clock instant the cue belongs to; default: the newest frame."},
					"duration": map[string]any{"type": "number", "minimum": 0, "maximum": 86400},
					"id":       map[string]any{"type": "string", "maxLength": 128},
				},
			}}}},
			"responses": map[string]any{
				"201": map[string]any{"description": "The cue as stamped: id, type, data, mediaTime (seconds on the stream's timeline), at, duration."},
				"400": map[string]any{"description": "Invalid body (code bad_request)."},
				"404": map[string]any{"description": "No such stream (code not_found)."},
				"409": map[string]any{"description": "The stream has no media yet (code not_live)."},
				"413": map[string]any{"description": "Body too large (code too_large)."},
				"429": map[string]any{"description": "Over 20 cues/s for this stream (code rate_limited)."},
			},
		},
	},
}

var streamParam = map[string]any{"name": "stream", "in": "path", "required": true, "schema": map[string]any{"type": "string"}}

// openAPI serves the OpenAPI document of every /api/v1 route.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	doc := s.api.OpenAPI()
	paths, _ := doc["paths"].(map[string]any)
	if paths == nil {
		paths = map[string]any{}
		doc["paths"] = paths
	}
	for p, item := range serverPaths {
		paths[p] = item
	}
	if info, ok := doc["info"].(map[string]any); ok {
		info["version"] = Version
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc)
}

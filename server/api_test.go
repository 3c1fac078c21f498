package server_test

import (
	"encoding/json"
	"io/fs"
	"math"
	"net/http"
	"path"
	"testing"
	"time"

	"github.com/liveloop/liveloop/config"
	"github.com/liveloop/liveloop/web"
)

func getJSON(t *testing.T, url string, v any) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp
}

func TestServerTime(t *testing.T) {
	srv := startServer(t, nil)
	var got struct{ ServerTime float64 }
	before := float64(time.Now().UnixMilli())
	getJSON(t, "http://"+srv.HTTPAddr().String()+"/api/v1/time", &got)
	after := float64(time.Now().UnixMilli())
	if got.ServerTime < before-1 || got.ServerTime > after+1 || math.IsNaN(got.ServerTime) {
		t.Fatalf("serverTime %v not within [%v, %v]", got.ServerTime, before, after)
	}
}

// TestOpenAPIListsEveryRoute: the node's own routes and the rooms' are in
// the document.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	srv := startServer(t, nil)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	getJSON(t, "http://"+srv.HTTPAddr().String()+"/api/v1/openapi.json", &doc)
	for path, method := range map[string]string{
		"/api/v1/streams":                           "get",
		"/api/v1/streams/{stream}":                  "get",
		"/api/v1/streams/{stream}/cues":             "post",
		"/api/v1/time":                              "get",
		"/api/v1/session":                           "post",
		"/api/v1/streams/{stream}/polls":            "post",
		"/api/v1/streams/{stream}/live":             "get",
		"/api/v1/streams/{stream}/chat":             "post",
		"/api/v1/streams/{stream}/questions":        "post",
		"/api/v1/streams/{stream}/reactions":        "post",
		"/api/v1/streams/{stream}/polls/{id}/close": "post",
	} {
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("openapi.json lacks %s %s", method, path)
		}
	}
	if doc.OpenAPI == "" {
		t.Error("no openapi version")
	}
}

// TestAssetsAreCacheable: hashed chunks are immutable; other assets carry
// an ETag and a revalidation answers 304.
func TestAssetsAreCacheable(t *testing.T) {
	srv := startServer(t, nil)
	base := "http://" + srv.HTTPAddr().String() + "/assets/"
	resp, err := http.Get(base + "player.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("player.js: %s, ETag %q, Cache-Control %q", resp.Status, etag, resp.Header.Get("Cache-Control"))
	}
	req, _ := http.NewRequest(http.MethodGet, base+"player.js", nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %s, want 304", resp.Status)
	}
	chunks, _ := fs.Glob(web.Dist, "dist/hls.light-*.js")
	if len(chunks) == 0 {
		t.Fatal("no hashed chunk in the build")
	}
	resp, err = http.Get(base + path.Base(chunks[0]))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Fatalf("%s: Cache-Control %q, want immutable", chunks[0], cc)
	}
}

// TestStreamListShowsViewersNotInternals: the demo's Opus companion is not
// listed, and the server's own consumers (the transcoder) are not viewers.
func TestStreamListShowsViewersNotInternals(t *testing.T) {
	requireTools(t, "ffmpeg")
	srv := startServer(t, func(c *config.Config) { c.Demo = true })
	url := "http://" + srv.HTTPAddr().String() + "/api/v1/streams"
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Wait until the transcoder's companion stream exists in the hub.
		if srv.Hub().Stream("demo/opus") != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no Opus companion stream")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var got struct {
		Streams []struct {
			Name    string `json:"name"`
			Viewers int    `json:"viewers"`
		} `json:"streams"`
	}
	getJSON(t, url, &got)
	if len(got.Streams) != 1 || got.Streams[0].Name != "demo" || got.Streams[0].Viewers != 0 {
		t.Fatalf("streams %+v, want only demo with 0 viewers", got.Streams)
	}
}

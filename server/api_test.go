package server_test

import (
	"encoding/json"
	"math"
	"net/http"
	"testing"
	"time"
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

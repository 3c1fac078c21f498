package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metrics is what the load tool reads from the server's /metrics.
type Metrics struct {
	HeapInuse  float64 // go_memstats_heap_inuse_bytes
	StackInuse float64 // go_memstats_stack_inuse_bytes
	HeapLive   float64 // go_gc_heap_live_bytes: marked live by the last GC
	Skips      float64 // liveloop_subscriber_skips_total
	WSViewers  float64 // liveloop_ws_viewers
	// Subscribers counts the hub's subscribers of every kind
	// (liveloop_subscribers): WHEP sessions have no gauge of their own.
	Subscribers float64
	Goroutines  float64 // go_goroutines
	HLSBlocked  float64 // liveloop_hls_blocked_requests
	HLSBytes    float64 // liveloop_hls_bytes_sent_total
}

// ScrapeMetrics reads the server's Prometheus text exposition.
func ScrapeMetrics(ctx context.Context, httpAddr string) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/metrics", nil)
	if err != nil {
		return Metrics{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Metrics{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Metrics{}, fmt.Errorf("loadtest: /metrics: %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return Metrics{}, err
	}
	return ParseMetrics(b), nil
}

// ParseMetrics picks the gauges the tool uses out of a Prometheus text
// exposition; missing ones stay zero.
func ParseMetrics(b []byte) Metrics {
	var m Metrics
	want := map[string]*float64{
		"go_memstats_heap_inuse_bytes":    &m.HeapInuse,
		"go_memstats_stack_inuse_bytes":   &m.StackInuse,
		"go_gc_heap_live_bytes":           &m.HeapLive,
		"liveloop_subscriber_skips_total": &m.Skips,
		"liveloop_ws_viewers":             &m.WSViewers,
		"liveloop_subscribers":            &m.Subscribers,
		"go_goroutines":                   &m.Goroutines,
		"liveloop_hls_blocked_requests":   &m.HLSBlocked,
		"liveloop_hls_bytes_sent_total":   &m.HLSBytes,
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if p := want[name]; ok && p != nil {
			if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
				*p = f
			}
		}
	}
	return m
}
